"""Holds: a test stops every call of one operation at the door until it releases them, so that a race (a
duplicate start meeting the first run inside its create step, a stop arriving during the evaluation) is
forced by the test instead of being won by latency. A held call has been counted and has not been answered;
it then meets the operation's other faults as usual. ``reset`` and ``release_all`` open every hold, so a test
that fails while holding never blocks the next one.

Thread-safe on its own (the WSGI server answers each call on its own thread)."""

from __future__ import annotations

import threading
import time
from typing import Any

# A held call gives up waiting after this long and goes on, so a forgotten hold cannot hang a server for good.
MAX_HOLD_SECONDS = 300.0


class Holds:
    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._held: set[str] = set()  # operations ("*" for every one) whose calls wait
        self._waiting: dict[str, int] = {}  # operation -> calls waiting now
        self._arrived: dict[str, int] = {}  # operation -> calls that reached a hold since it was set

    def hold(self, operation: str) -> None:
        with self._condition:
            self._held.add(operation)
            self._arrived[operation] = 0

    def release(self, operation: str) -> None:
        with self._condition:
            self._held.discard(operation)
            self._condition.notify_all()

    def release_all(self) -> None:
        with self._condition:
            self._held.clear()
            self._condition.notify_all()

    def waiting(self, operation: str) -> int:
        with self._condition:
            return self._waiting.get(operation, 0)

    def arrived(self, operation: str) -> int:
        """Calls that reached the hold on ``operation`` since it was set (waiting or released since)."""
        with self._condition:
            return self._arrived.get(operation, 0)

    def wait_for(self, operation: str, count: int = 1, timeout: float = 60.0) -> int:
        """Block until ``count`` calls of ``operation`` are waiting at its hold; how many are. Raises
        TimeoutError naming the operation if they do not come within ``timeout`` (a broken test, not a slow
        machine: the bound is generous)."""
        deadline = time.monotonic() + timeout
        with self._condition:
            while self._waiting.get(operation, 0) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    waiting = self._waiting.get(operation, 0)
                    raise TimeoutError(f"{waiting} of {count} calls of {operation} reached its hold in {timeout} s")
                self._condition.wait(remaining)
            return self._waiting[operation]

    def pass_through(self, operation: str) -> None:
        """Called for every call before it is answered: wait here while its operation (or "*") is held."""
        with self._condition:
            keys = [k for k in (operation, "*") if k in self._held]
            if not keys:
                return
            for key in keys:
                self._arrived[key] = self._arrived.get(key, 0) + 1
            self._waiting[operation] = self._waiting.get(operation, 0) + 1
            self._condition.notify_all()  # wake wait_for
            deadline = time.monotonic() + MAX_HOLD_SECONDS
            try:
                while any(k in self._held for k in (operation, "*")) and time.monotonic() < deadline:
                    self._condition.wait(deadline - time.monotonic())
            finally:
                self._waiting[operation] -= 1

    def describe(self) -> dict[str, Any]:
        with self._condition:
            return {
                "held": sorted(self._held),
                "waiting": {k: v for k, v in self._waiting.items() if v},
                "arrived": dict(self._arrived),
            }
