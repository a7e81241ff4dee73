"""Duplicate and leakage tracking in fixed memory.

Each record is reduced to a 64-bit key (Python's string hash of its texts, which CPython computes once per
string; keys are compared only within one process, so the per-process hash seed does not matter). Keys go
in open-addressing tables allocated once, sized from the family's maximum record count, with the line each
key was first seen on. Memory therefore depends on the model, not on the file: at most a few MB per table,
the same for a 100 MB file as for a 500 MB one.

A table holds keys for at most ``capacity`` records. Past that the file already has more records than the
model takes, so it fails on its count anyway; later records are no longer tracked and the report says so.
Two different records share a key with a probability of about n^2 / 2^65 (under 1e-9 at 100,000
records): a false "duplicate" warning is possible in principle, a missed error is not (these are
warnings only)."""

from __future__ import annotations

from array import array

from customizer.families.formats import Example

DEFAULT_CAPACITY = 100_000  # records tracked when the model states no maximum


def record_key(example: Example) -> int:
    """Key of the whole record: what the model reads and what it should answer. Never 0 (an empty slot)."""
    return hash((example.system, example.prompt, example.completion)) or 1


def prompt_key(example: Example) -> int:
    """Key of what the model reads (for a test prompt seen in training). Never 0."""
    return hash((example.system, example.prompt)) or 1


class KeyTable:
    """A set of nonzero signed 64-bit keys (Python hashes) with the line each was first added on; fixed
    capacity. ``key & mask`` picks the slot (Python's ``&`` on a negative int is two's complement)."""

    def __init__(self, capacity: int) -> None:
        size = 8
        while size < 2 * capacity:  # at most half full: short probe sequences
            size *= 2
        self.capacity = capacity
        self.count = 0
        self.untracked = 0
        self._mask = size - 1
        self._keys = array("q", bytes(8 * size))
        self._lines = array("I", bytes(4 * size))

    def add(self, key: int, line: int) -> int:
        """Add ``key`` first seen on ``line``; return the line it was first added on if present, else 0."""
        keys = self._keys
        mask = self._mask
        slot = key & mask
        while True:
            found = keys[slot]
            if found == key:
                return self._lines[slot]
            if not found:
                break
            slot = (slot + 1) & mask
        if self.count >= self.capacity:
            self.untracked += 1
            return 0
        keys[slot] = key
        self._lines[slot] = line
        self.count += 1
        return 0

    def find(self, key: int) -> int:
        """The line ``key`` was first added on, or 0."""
        keys = self._keys
        mask = self._mask
        slot = key & mask
        while True:
            found = keys[slot]
            if found == key:
                return self._lines[slot]
            if not found:
                return 0
            slot = (slot + 1) & mask

    @property
    def nbytes(self) -> int:
        return self._keys.itemsize * len(self._keys) + self._lines.itemsize * len(self._lines)
