"""The follower against a scripted Step Functions (no stack): an execution that ends between two reads still has
its last states shown before its end."""

from __future__ import annotations

from typing import Any

from cli.follow import Follower


def _entered(name: str) -> dict[str, Any]:
    return {"type": "TaskStateEntered", "stateEnteredEventDetails": {"name": name}}


class _EndsWhileRead:
    """An execution that runs "Validate the run" and ends with "Run succeeded" in the moment between the
    follower's first two calls (whichever two they are)."""

    def __init__(self) -> None:
        self.calls = 0

    def _ended(self) -> bool:
        self.calls += 1
        return self.calls > 1

    def describe_execution(self, executionArn: str) -> dict[str, Any]:
        return {"status": "SUCCEEDED" if self._ended() else "RUNNING"}

    def get_execution_history(self, executionArn: str) -> dict[str, Any]:
        events = [_entered("Validate the run")]
        if self._ended():
            events.append(_entered("Run succeeded"))
        return {"events": events}

    def get_paginator(self, name: str) -> Any:
        client = self

        class _Pages:
            def paginate(self, **kwargs: Any) -> list[dict[str, Any]]:
                return [client.get_execution_history(**kwargs)]

        return _Pages()


class _Stack:
    def __init__(self) -> None:
        self.sfn = _EndsWhileRead()

    def client(self, service: str) -> Any:
        assert service == "stepfunctions"
        return self.sfn


def test_a_run_that_ends_between_two_reads_has_its_last_state_shown_before_the_end() -> None:
    said: list[str] = []
    follower = Follower(_Stack(), "arn:aws:states:us-east-1:123456789012:execution:m:e", said.append)  # type: ignore[arg-type]
    ended = None
    for _ in range(3):
        ended = follower.poll()
        if ended is not None:
            break
    assert ended is not None and ended["status"] == "SUCCEEDED"
    shown = [line.strip().split("  ", 1)[1] for line in said]
    assert shown[-1] == "Run succeeded", said
