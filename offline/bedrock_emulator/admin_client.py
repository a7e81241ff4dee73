"""Steering an emulator that runs in another process, through its ``/_emulator/`` endpoints. The methods
mirror ``BedrockEmulator``'s fault-injection and inspection API."""

from __future__ import annotations

import http.client
import json
from typing import Any
from urllib.parse import urlsplit

from offline.bedrock_emulator.faults import THROTTLING_MESSAGE


class EmulatorAdminError(RuntimeError):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message


class EmulatorAdmin:
    def __init__(self, endpoint_url: str, timeout: float = 10.0) -> None:
        parts = urlsplit(endpoint_url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"{endpoint_url!r} is not an http://host:port endpoint")
        self._host, self._port, self._timeout = parts.hostname, parts.port or 80, timeout

    def _call(self, method: str, route: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        connection = http.client.HTTPConnection(self._host, self._port, timeout=self._timeout)
        try:
            payload = json.dumps({k: v for k, v in (body or {}).items() if v is not None})
            headers = {"Content-Type": "application/json"}
            connection.request(
                method, f"/_emulator/{route}", body=payload if method == "POST" else None, headers=headers
            )
            response = connection.getresponse()
            data: dict[str, Any] = json.loads(response.read() or b"{}")
        finally:
            connection.close()
        if response.status >= 300:
            raise EmulatorAdminError(response.status, str(data.get("message", data)))
        return data

    def state(self) -> dict[str, Any]:
        return self._call("GET", "state")

    def faults(self) -> dict[str, Any]:
        return self._call("GET", "faults")

    def set_latency(self, ms: float, operation: str | None = None) -> None:
        self._call("POST", "latency", {"ms": ms, "operation": operation})

    def throttle(self, count: int = 1, operation: str | None = None, message: str = THROTTLING_MESSAGE) -> None:
        self._call("POST", "throttle", {"count": count, "operation": operation, "message": message})

    def set_throttle_rate(self, rate: float, operation: str | None = None, seed: int | None = None) -> None:
        self._call("POST", "throttle-rate", {"rate": rate, "operation": operation, "seed": seed})

    def inject_error(self, code: str, message: str | None = None, count: int = 1, operation: str | None = None) -> None:
        self._call("POST", "error", {"code": code, "message": message, "count": count, "operation": operation})

    def fail_job(self, message: str | None = None, job: str | None = None) -> None:
        self._call("POST", "fail-job", {"message": message, "job": job})

    def stop_job(self, job: str | None = None) -> None:
        self._call("POST", "stop-job", {"job": job})

    def fail_throughput(self, message: str | None = None, throughput: str | None = None) -> None:
        self._call("POST", "fail-throughput", {"message": message, "throughput": throughput})

    def fail_evaluation_job(self, message: str | None = None, job: str | None = None) -> None:
        self._call("POST", "fail-evaluation-job", {"message": message, "job": job})

    def set_durations(
        self,
        job_seconds: float | None = None,
        throughput_seconds: float | None = None,
        deployment_seconds: float | None = None,
        stop_seconds: float | None = None,
        evaluation_seconds: float | None = None,
    ) -> dict[str, float]:
        body = {
            "job_seconds": job_seconds,
            "throughput_seconds": throughput_seconds,
            "deployment_seconds": deployment_seconds,
            "stop_seconds": stop_seconds,
            "evaluation_seconds": evaluation_seconds,
        }
        return {k: float(v) for k, v in self._call("POST", "durations", body).items()}

    def set_foundation_model(self, model_id: str, **lifecycle: str | list[str] | None) -> None:
        """As BedrockEmulator.set_foundation_model: ``status``, ``legacy_time``, ``end_of_life_time`` (ISO 8601),
        ``public_extended_access_time``, ``customizations``."""
        self._call("POST", "foundation-model", {"model_id": model_id, **lifecycle})

    def hold(self, operation: str | None = None) -> None:
        self._call("POST", "hold", {"operation": operation})

    def release(self, operation: str | None = None) -> None:
        self._call("POST", "release", {"operation": operation})

    def wait_held(self, operation: str, count: int = 1, timeout: float = 60.0) -> dict[str, int]:
        # The connection waits as long as the emulator does.
        saved, self._timeout = self._timeout, max(self._timeout, timeout + 5)
        try:
            return {
                k: int(v)
                for k, v in self._call(
                    "POST", "wait-held", {"operation": operation, "count": count, "timeout": timeout}
                ).items()
            }
        finally:
            self._timeout = saved

    def advance(self, seconds: float) -> None:
        self._call("POST", "advance", {"seconds": seconds})

    def reset(self, state: bool = True) -> None:
        self._call("POST", "reset", {"state": state})
