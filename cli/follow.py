"""Following an execution: each state as it is entered, the job's sub-status (validation, data processing,
training), the throughput's status, the evaluation's progress (answers in / total), with elapsed time.

Reads only: Step Functions' history, GetModelCustomizationJob, and the evaluation's saved answers in the
artifacts bucket. Stopping the follower (Ctrl-C) never touches the run."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from cli.stack import Stack

TERMINAL = ("SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED")
JOB_STATES = ("Wait for the job", "Check the job", "Wait for the smoke job", "Check the smoke job")
EVALUATION_STATES = ("Evaluate custom against base", "Evaluate the test set in chunks", "Evaluate one chunk")


@dataclass
class Follower:
    """Call ``poll`` until it returns the execution's end; ``say`` gets each line to show."""

    stack: Stack
    execution_arn: str
    say: Callable[[str], None]
    clock: Callable[[], float] = time.monotonic
    _seen: int = 0
    _started: float | None = None
    _state: dict[str, Any] = field(default_factory=dict)
    _current: str = ""
    _shown: dict[str, str] = field(default_factory=dict)

    def _elapsed(self) -> str:
        if self._started is None:
            self._started = self.clock()
        return f"{self.clock() - self._started:7.1f}s"

    def _once(self, key: str, text: str) -> None:
        """Say ``text`` under ``key`` only when it changed."""
        if self._shown.get(key) != text:
            self._shown[key] = text
            self.say(f"{self._elapsed()}    {text}")

    def poll(self) -> dict[str, Any] | None:
        """Show what is new; the execution's description once it has ended, else None."""
        sfn = self.stack.client("stepfunctions")
        # Described before the history is read: an execution that has ended by then has all its events in the
        # history read after, so its last states are shown before the end (read the other way round, a run that
        # ended between the two calls lost them).
        description: dict[str, Any] = sfn.describe_execution(executionArn=self.execution_arn)
        events: list[dict[str, Any]] = []
        for page in sfn.get_paginator("get_execution_history").paginate(executionArn=self.execution_arn):
            events.extend(page.get("events", []))
        for event in events[self._seen :]:
            entered = event.get("stateEnteredEventDetails")
            if entered:
                self._current = entered["name"]
                self.say(f"{self._elapsed()}  {self._current}")
            output = (event.get("stateExitedEventDetails") or {}).get("output")
            if output:
                try:
                    parsed = json.loads(output)
                except ValueError:
                    parsed = None
                if isinstance(parsed, dict):
                    self._state = parsed
        self._seen = len(events)
        self._details()
        return description if description["status"] in TERMINAL else None

    def _details(self) -> None:
        try:
            if self._current in JOB_STATES:
                self._job()
            throughput = self._state.get("throughput") or {}
            if throughput.get("status"):
                self._once("throughput", f"throughput {throughput.get('name') or ''}: {throughput['status']}".strip())
            if self._current in EVALUATION_STATES:
                self._evaluation()
        except (ClientError, BotoCoreError, ValueError, KeyError):
            return  # a detail that cannot be read now is shown at the next poll

    def _job(self) -> None:
        key = "smoke_job" if "smoke" in self._current else "job"
        job = self._state.get(key) or {}
        if not job.get("job_arn"):
            return
        described = self.stack.client("bedrock").get_model_customization_job(jobIdentifier=job["job_arn"])
        details = described.get("statusDetails") or {}
        parts = [
            f"{label} {details[name]['status']}"
            for name, label in (
                ("validationDetails", "validation"),
                ("dataProcessingDetails", "data processing"),
                ("trainingDetails", "training"),
            )
            if (details.get(name) or {}).get("status")
        ]
        what = "smoke job" if key == "smoke_job" else "job"
        self._once(key, f"{what} {described['status']}" + (f": {', '.join(parts)}" if parts else ""))

    def _evaluation(self) -> None:
        plan = self._state.get("evaluation_plan") or {}
        run = self._state.get("run") or {}
        total = int(plan.get("examples") or 0) * 2  # both models answer each example
        prefix = str(run.get("report_prefix") or "").rstrip("/")
        if not total or not prefix.startswith("s3://"):
            return
        s3 = self.stack.client("s3")
        bucket, _, key_prefix = prefix.removeprefix("s3://").partition("/")
        keys = [f"{key_prefix}/evaluation/partial/answers.json"]
        if plan.get("fan_out"):
            keys = [
                str(c["uri"]).removeprefix(f"s3://{bucket}/").removesuffix(".json") + ".answers.json"
                for c in plan.get("chunks", [])
            ]
        answered = 0
        for key in keys:
            try:
                saved = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
            except ClientError:
                continue  # not saved yet
            answered += sum(len(found) for found in (saved.get("answers") or {}).values())
        self._once("evaluation", f"evaluation: {answered:,} / {total:,} answers in")


def pause(seconds: float) -> None:
    """Between two polls (a test interrupts here, as Ctrl-C would)."""
    time.sleep(seconds)


def follow(stack: Stack, execution_arn: str, say: Callable[[str], None], *, interval: float = 2.0) -> dict[str, Any]:
    """Follow until the execution ends; its description. KeyboardInterrupt propagates (the run goes on)."""
    follower = Follower(stack, execution_arn, say)
    while True:
        ended = follower.poll()
        if ended is not None:
            return ended
        pause(interval)
