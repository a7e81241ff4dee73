"""EventBridge's "Step Functions Execution Status Change" events, offline.

moto's Step Functions emits no EventBridge events and moto's EventBridge does not deliver to Lambda
targets, so this watcher plays both parts for the template's rules: it polls the state machines'
executions, and when one reaches a terminal status it builds the event AWS would send and invokes each
matching rule's Lambda targets (asynchronously, through moto's Lambda API, so the router runs the real
handler)."""

from __future__ import annotations

import json
import threading
import uuid
from datetime import UTC, datetime
from typing import Any

import boto3

from offline.cloud import ACCOUNT, REGION, DeployedStack

DETAIL_TYPE = "Step Functions Execution Status Change"
TERMINAL = ("SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED")


def matches(pattern: Any, event: Any) -> bool:
    """EventBridge pattern matching for what the pipeline's rules use: nested objects, and lists of allowed
    exact values."""
    if isinstance(pattern, dict):
        return isinstance(event, dict) and all(k in event and matches(v, event[k]) for k, v in pattern.items())
    if isinstance(pattern, list):
        return event in pattern
    return bool(pattern == event)


def status_change_event(execution: dict[str, Any]) -> dict[str, Any]:
    def stamp(value: Any) -> int | None:
        return int(value.timestamp() * 1000) if isinstance(value, datetime) else None

    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": DETAIL_TYPE,
        "source": "aws.states",
        "account": ACCOUNT,
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": REGION,
        "resources": [execution["executionArn"]],
        "detail": {
            "executionArn": execution["executionArn"],
            "stateMachineArn": execution["stateMachineArn"],
            "name": execution["name"],
            "status": execution["status"],
            "startDate": stamp(execution.get("startDate")),
            "stopDate": stamp(execution.get("stopDate")),
            "input": execution.get("input"),
            "output": execution.get("output"),
        },
    }


class StatusChangeEvents:
    """Delivers execution status changes to the stack's rules while started."""

    def __init__(self, stack: DeployedStack, interval: float = 0.1) -> None:
        self.interval = interval
        self.rules = self._rules(stack)
        self.delivered: list[dict[str, Any]] = []
        self._seen: dict[str, str] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="offline-eventbridge", daemon=True)

    @staticmethod
    def _rules(stack: DeployedStack) -> list[tuple[dict[str, Any], list[str]]]:
        from offline.cloud import Resolver

        resolve = Resolver(stack.resources)
        rules = []
        for resource in stack.of_type("AWS::Events::Rule"):
            props = stack.template["Resources"][resource.logical_id]["Properties"]
            pattern = resolve(props.get("EventPattern", {}))
            if pattern.get("detail-type") == [DETAIL_TYPE] and props.get("State", "ENABLED") == "ENABLED":
                rules.append((pattern, [resolve(t["Arn"]) for t in props.get("Targets", [])]))
        return rules

    def start(self) -> None:
        if self.rules:
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def poll_once(self) -> None:
        sfn, lam = boto3.client("stepfunctions"), boto3.client("lambda")
        for machine in sfn.list_state_machines()["stateMachines"]:
            for summary in sfn.list_executions(stateMachineArn=machine["stateMachineArn"])["executions"]:
                arn, status = summary["executionArn"], summary["status"]
                if status not in TERMINAL or self._seen.get(arn) == status:
                    continue
                self._seen[arn] = status
                event = status_change_event(sfn.describe_execution(executionArn=arn))
                for pattern, targets in self.rules:
                    if matches(pattern, event):
                        for target in targets:
                            lam.invoke(FunctionName=target, InvocationType="Event", Payload=json.dumps(event))
                        self.delivered.append(event)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.poll_once()
            except Exception:  # noqa: S112 - a poll that races the runtime's shutdown is retried or ends
                continue
