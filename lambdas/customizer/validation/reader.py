"""Reading a JSON Lines file once, as a stream of byte chunks: lines with their numbers, file-level facts
(size, byte-order mark, line endings, final newline), and the JSON parser.

Memory stays flat however large the file: at most one chunk and one partial line are held, and a line
longer than ``MAX_LINE_BYTES`` is skipped to its end instead of being buffered (it is reported, by
number, as too long: no record that size fits any model's token limit).

The parser is orjson when it can be imported (the command line, with requirements-dev.txt) and the
standard library otherwise (in Lambda, whose asset packages no third-party code). The two give one verdict
(a property test checks it): the standard library is made to refuse what orjson refuses, an escaped lone
surrogate (``"\\ud800"``: no UTF-8 text holds it, so no model could be trained on it) and a number that is
infinite as a double (``1e400``); NaN and Infinity, which JSON does not allow, are refused by both. Integers
beyond 64 bits are taken by both (orjson as a float). One difference stays: nesting deeper than about 990
levels fails the standard library (Python's recursion limit) before orjson's 1,024; no record of any family
nests beyond a few levels. A line that fails either parser is explained by the standard library's message
(``validator._json_problem``), so the message is the same too."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

BOM = b"\xef\xbb\xbf"
# A record of 32,000 tokens (the largest limit of any family) is well under 1 MiB even with every
# character escaped; 8 MiB leaves room for any record that could fit and bounds what one line may hold.
MAX_LINE_BYTES = 8 * 1024 * 1024
CHUNK_BYTES = 64 * 1024  # small enough to stay in cache while it is split and parsed


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed in JSON")


def _finite_float(text: str) -> float:
    number = float(text)
    if math.isinf(number):
        raise ValueError(f"the number {text[:40]} is out of range (infinite as a double)")
    return number


_DECODER = json.JSONDecoder(parse_constant=_refuse_constant, parse_float=_finite_float)


def _check_surrogates(value: Any) -> None:
    """Raise ValueError for a string holding a lone surrogate (only an escape can put one there)."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            code = ord(value[exc.start])
            raise ValueError(f"a lone surrogate escape (\\u{code:04x}) in a string: no UTF-8 text holds it") from None
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_surrogates(key)
            _check_surrogates(item)
    elif isinstance(value, list):
        for item in value:
            _check_surrogates(item)


def _stdlib_loads(line: bytes) -> Any:
    # Decoding first: json.loads(bytes) would guess UTF-16/32 from the first bytes; JSON Lines is UTF-8.
    parsed = _DECODER.decode(line.decode("utf-8"))
    if b"\\u" in line:  # rare: only a \u escape can make a lone surrogate
        _check_surrogates(parsed)
    return parsed


def _pick_loads() -> tuple[Callable[[bytes], Any], str]:
    try:
        import orjson
    except ImportError:  # pragma: no cover - depends on what is installed
        return _stdlib_loads, "json (standard library)"
    return orjson.loads, f"orjson {orjson.__version__}"


loads, JSON_LIBRARY = _pick_loads()
stdlib_loads = _stdlib_loads


@dataclass
class FileFacts:
    """What the reader saw of the file as a whole."""

    bytes_read: int = 0
    lines: int = 0
    byte_order_mark: bool = False
    crlf_lines: int = 0
    final_newline: bool = True

    @property
    def line_endings(self) -> str:
        if not self.crlf_lines:
            return "LF"
        # The last line has no ending when the final newline is missing.
        return "CRLF" if self.crlf_lines >= self.lines - (0 if self.final_newline else 1) else "mixed LF and CRLF"


class _Splitter:
    """Splits chunks into lines, carrying a partial line from one chunk to the next."""

    def __init__(self, facts: FileFacts, max_line: int) -> None:
        self.facts = facts
        self.max_line = max_line
        self.pending = b""
        self.skipping = False  # inside a line longer than max_line: drop bytes up to its end
        self.number = 0

    def feed(self, chunk: bytes) -> list[bytes | None]:
        """The complete lines that ``chunk`` ends (``None`` for an over-long one)."""
        out: list[bytes | None] = []
        if self.skipping:
            end = chunk.find(b"\n")
            if end < 0:
                return out
            chunk = chunk[end + 1 :]
            self.skipping = False
            out.append(None)
        lines: list[bytes] = chunk.split(b"\n")
        if b"\r" in chunk:  # a quick scan; counting is slower, and most files have no CR at all
            self.facts.crlf_lines += chunk.count(b"\r\n")
        if self.pending:
            if self.pending.endswith(b"\r") and chunk.startswith(b"\n"):
                self.facts.crlf_lines += 1
            lines[0] = self.pending + lines[0]
        self.pending = lines.pop()
        if len(self.pending) > self.max_line:
            self.pending = b""
            self.skipping = True
        if lines and len(lines[0]) + len(chunk) > self.max_line:
            out.extend(None if len(line) > self.max_line else line for line in lines)
        elif out:
            out.extend(lines)
        else:
            return lines  # type: ignore[return-value]  # list is invariant; the hot path avoids a copy
        return out

    def close(self) -> list[bytes | None]:
        if self.skipping:
            self.facts.final_newline = False
            return [None]
        if self.pending:
            self.facts.final_newline = False
            return [self.pending]
        return []


def batches(
    chunks: Iterable[bytes], facts: FileFacts, max_line: int | None = None
) -> Iterator[tuple[int, list[bytes | None]]]:
    """Yield ``(number of the first line - 1, lines)`` per chunk; lines keep any trailing ``\\r``.

    An over-long line is yielded as ``None`` in its place. A byte-order mark at the start of the file is
    noted in ``facts`` and left out of the first line, so that line is still checked."""
    splitter = _Splitter(facts, MAX_LINE_BYTES if max_line is None else max_line)
    number = 0
    for i, chunk in enumerate(_head_first(chunks)):
        facts.bytes_read += len(chunk)
        lines = splitter.feed(chunk[len(BOM) :] if i == 0 and _starts_with_bom(chunk, facts) else chunk)
        if lines:
            yield number, lines
            number += len(lines)
    last = splitter.close()
    if last:
        yield number, last
        number += 1
    facts.lines = number


def _starts_with_bom(chunk: bytes, facts: FileFacts) -> bool:
    facts.byte_order_mark = chunk.startswith(BOM)
    return facts.byte_order_mark


def _head_first(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """The chunks, without empty ones, the first holding at least the length of a byte-order mark."""
    head = b""
    stream = iter(chunks)
    for chunk in stream:
        head += chunk
        if len(head) >= len(BOM):
            break
    if head:
        yield head
    for chunk in stream:
        if chunk:
            yield chunk


def file_chunks(path: str, size: int = CHUNK_BYTES) -> Iterator[bytes]:
    with open(path, "rb") as stream:
        while chunk := stream.read(size):
            yield chunk
