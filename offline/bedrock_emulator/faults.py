"""Fault injection: latency, throttling (the next N calls, or a seeded rate), any service error for the
next N calls, and planned failures of the next job or throughput. ``operation`` is botocore's operation name
(``InvokeModel``, ``GetModelCustomizationJob``...); None means every operation. The admin endpoints under
``/_emulator/`` are never delayed or failed. Not thread-safe by itself: the emulator holds its lock."""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, field
from typing import Any

from offline.bedrock_emulator.errors import ServiceError
from offline.bedrock_emulator.protocol import operations

THROTTLING = "ThrottlingException"
THROTTLING_MESSAGE = "Too many requests, please wait before trying again."


def check_operation(operation: str | None) -> str | None:
    if operation is not None and operation not in {op.name for op in operations()}:
        raise ValueError(f"unknown operation {operation!r}: use botocore's name, such as 'InvokeModel'")
    return operation


@dataclass
class InjectedError:
    code: str
    message: str
    remaining: int
    operation: str | None = None


@dataclass
class Faults:
    seed: int = 0
    latency_ms: dict[str, float] = field(default_factory=dict)  # "*" for every operation
    errors: list[InjectedError] = field(default_factory=list)
    throttle_rates: dict[str, float] = field(default_factory=dict)  # "*" for every operation
    next_job_failure: str | None = None
    next_job_stops: bool = False
    next_throughput_failure: str | None = None
    _rng: random.Random = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def set_latency(self, ms: float, operation: str | None = None) -> None:
        if ms < 0:
            raise ValueError("latency must not be negative")
        self.latency_ms[check_operation(operation) or "*"] = float(ms)

    def add_error(self, code: str, message: str, count: int, operation: str | None = None) -> None:
        if count < 1:
            raise ValueError("count must be at least 1")
        self.errors.append(InjectedError(code, message, count, check_operation(operation)))

    def set_throttle_rate(self, rate: float, operation: str | None = None, seed: int | None = None) -> None:
        if not 0.0 <= rate <= 1.0:
            raise ValueError("rate must be between 0 and 1")
        self.throttle_rates[check_operation(operation) or "*"] = float(rate)
        if seed is not None:
            self.seed = seed
            self._rng = random.Random(seed)

    def latency_for(self, operation: str) -> float:
        return self.latency_ms.get(operation, self.latency_ms.get("*", 0.0))

    def error_for(self, operation: str) -> ServiceError | None:
        """The error this call gets, if any; consumes one of an injected error's calls."""
        for injected in self.errors:
            if injected.remaining > 0 and injected.operation in (None, operation):
                injected.remaining -= 1
                self.errors = [e for e in self.errors if e.remaining > 0]
                return ServiceError(injected.code, injected.message)
        rate = self.throttle_rates.get(operation, self.throttle_rates.get("*", 0.0))
        if rate > 0 and self._rng.random() < rate:
            return ServiceError(THROTTLING, THROTTLING_MESSAGE)
        return None

    def describe(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "latency_ms": dict(self.latency_ms),
            "errors": [asdict(e) for e in self.errors],
            "throttle_rates": dict(self.throttle_rates),
            "next_job_failure": self.next_job_failure,
            "next_job_stops": self.next_job_stops,
            "next_throughput_failure": self.next_throughput_failure,
        }
