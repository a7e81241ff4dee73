"""The emulator's time. Resources move through their states lazily, when a request (or ``state()``) reads
them, by comparing this clock with their deadlines: a test freezes the clock and advances it instead of
sleeping, and a running server can be pushed forward the same way through ``/_emulator/advance``."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta


class Clock:
    """Wall time, or time frozen at ``start``; ``advance`` moves it forward in both cases."""

    def __init__(self, start: datetime | None = None) -> None:
        if start is not None and start.tzinfo is None:
            start = start.replace(tzinfo=UTC)
        self._frozen = start
        self._offset = timedelta()
        self._lock = threading.Lock()

    @classmethod
    def frozen(cls, start: datetime | None = None) -> Clock:
        return cls(start or datetime(2025, 1, 1, tzinfo=UTC))

    @property
    def is_frozen(self) -> bool:
        return self._frozen is not None

    def now(self) -> datetime:
        with self._lock:
            base = self._frozen if self._frozen is not None else datetime.now(UTC)
            return base + self._offset

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        with self._lock:
            self._offset += timedelta(seconds=seconds)
