"""What the end-to-end tests share: starting runs the two ways users do, waiting for them, and finding what
a run left in the emulator (by the ``run-id`` tag the pipeline puts on everything), in moto and on the
outcome topic. The fixtures are in ``conftest.py``."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3

from offline.bedrock_emulator.emulator import BedrockEmulator
from offline.cloud import ACCOUNT, REGION
from offline.router import Invocation
from offline.runtime import OfflineRuntime, RunResult, sample_dir

JOB_SECONDS = 1.5
THROUGHPUT_SECONDS = 0.5
POLL = {"poll": {"job_seconds": 1, "throughput_seconds": 1}}
# The suite's runs are on the seed's model (Titan Text G1 Express, prompt/completion records, as the bundled
# sample): the stack's default is Nova Micro (cdk.json), which tests name where they run it.
SEED_MODEL = {"base_model_id": "amazon.titan-text-express-v1"}
# Most runs evaluate a slice of the test set: the full set is the happy path's business.
QUICK_EVALUATION = {"evaluation": {"max_examples": 30}}
# A bound on waiting for a run to end: a broken run meets it, a slow machine does not (runs take 3 to 15 s idle).
RUN_TIMEOUT = 180.0
DATA_FILES = {"train.jsonl": "training", "validation.jsonl": "validation", "test.jsonl": "test"}
# Users' own graders (settings.grader.lambda_arn) the tests create: the suite's stack lists them in
# pipeline.grader_lambda_arns, as a deployment lists its users' graders, so IAM lets the pipeline call them and
# nothing else. A test creates them by these names and deletes them when it ends.
USERS_GRADER_NAMES = tuple(f"users-grader-{n}" for n in range(1, 5))
USERS_GRADER_ARNS = [f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}" for name in USERS_GRADER_NAMES]
SUITE_DEPLOYMENT = {"grader_lambda_arns": USERS_GRADER_ARNS}


def merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def sample_files() -> dict[str, bytes]:
    return {name: (sample_dir() / name).read_bytes() for name in DATA_FILES}


def jsonl(records: Sequence[Mapping[str, Any]]) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in records).encode()


def path_of(result: RunResult) -> list[str]:
    return [s.name for s in result.states]


def matches_path(names: Sequence[str], pattern: str) -> bool:
    """Does the sequence of state names match ``pattern``, a regular expression over ``name;`` items?"""
    return re.fullmatch(pattern, "".join(f"{n};" for n in names)) is not None


class E2E:
    """The runtime plus the lookups the tests assert with."""

    def __init__(self, runtime: OfflineRuntime) -> None:
        self.runtime = runtime
        self.router = runtime.router
        assert runtime.emulator is not None
        self.emulator: BedrockEmulator = runtime.emulator.emulator
        self.s3 = boto3.client("s3")
        self.sfn = boto3.client("stepfunctions")
        self.lam = boto3.client("lambda")

    # ---- naming and settings ----
    @staticmethod
    def run_name(slug: str) -> str:
        """Unique per call: no two tests (or runs in one test) see each other's resources."""
        name = f"{slug}-{uuid.uuid4().hex[:8]}"
        assert len(name) <= 40, f"{name}: run names have at most 40 characters"
        return name

    @staticmethod
    def settings(*overrides: Mapping[str, Any], quick: bool = True) -> dict[str, Any]:
        merged = merge(merge(SEED_MODEL, POLL), QUICK_EVALUATION) if quick else merge(SEED_MODEL, POLL)
        for override in overrides:
            merged = merge(merged, override)
        return merged

    def function_name(self, module: str) -> str:
        """The deployed function whose handler is ``handlers.<module>.handler``."""
        handler = f"handlers.{module}.handler"
        names = [n for n, h in self.runtime.deployed.function_handlers().items() if h == handler]
        assert len(names) == 1, f"functions with handler {handler}: {names}"
        return names[0]

    # ---- starting runs ----
    def start_upload(self, run_name: str, settings: Mapping[str, Any], files: Mapping[str, bytes] | None = None) -> str:
        """Upload the files, then the manifest; the one execution the trigger started."""
        files = sample_files() if files is None else files
        manifest: dict[str, Any] = {DATA_FILES[n]: n for n in files}
        manifest["settings"] = dict(settings)
        started = self.runtime.upload_run(run_name, files, manifest)
        assert len(started) == 1, f"the upload of {run_name} started {len(started)} executions"
        return started[0]

    def upload_console_input(
        self, run_name: str, settings: Mapping[str, Any], files: Mapping[str, bytes] | None = None
    ) -> dict[str, Any]:
        """Upload the files and return the input a console start would give."""
        files = sample_files() if files is None else files
        request: dict[str, Any] = {"run_name": run_name, "settings": dict(settings)}
        for name, body in files.items():
            request[f"{DATA_FILES[name]}_data"] = self.runtime.upload(
                f"{self.runtime.run_prefix}{run_name}/{name}", body
            )
        return request

    def start_console(
        self, run_name: str, settings: Mapping[str, Any], files: Mapping[str, bytes] | None = None
    ) -> str:
        return self.runtime.start_console_run(self.upload_console_input(run_name, settings, files))

    def wait(self, execution_arn: str, timeout: float = RUN_TIMEOUT) -> RunResult:
        return self.runtime.wait(execution_arn, timeout=timeout)

    def wait_all(self, execution_arns: Sequence[str], timeout: float = RUN_TIMEOUT) -> list[RunResult]:
        with ThreadPoolExecutor(max_workers=max(1, len(execution_arns))) as pool:
            return list(pool.map(lambda arn: self.wait(arn, timeout), execution_arns))

    def run(self, start: Callable[[], str], timeout: float = RUN_TIMEOUT) -> RunResult:
        return self.wait(start(), timeout)

    # ---- moto ----
    def history(self, execution_arn: str) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = self.sfn.get_execution_history(executionArn=execution_arn, maxResults=1000)[
            "events"
        ]
        return events

    def entered(self, execution_arn: str, state: str) -> bool:
        """Has the execution entered ``state``?"""
        return any(e.get("stateEnteredEventDetails", {}).get("name") == state for e in self.history(execution_arn))

    def lambda_failures(self, execution_arn: str) -> list[str]:
        """The error names of the execution's failed Lambda invokes, in order."""
        return [
            e["lambdaFunctionFailedEventDetails"]["error"]
            for e in self.history(execution_arn)
            if "lambdaFunctionFailedEventDetails" in e
        ]

    def executions_for(self, run_name: str) -> list[str]:
        """Executions whose name is the run's (trigger: ``<run name>-<digest>``) or whose input names the run."""
        found = []
        pages = self.sfn.get_paginator("list_executions").paginate(stateMachineArn=self.runtime.state_machine_arn)
        for page in pages:
            for execution in page["executions"]:
                if execution["name"].startswith(f"{run_name}-"):
                    found.append(execution["executionArn"])
                    continue
                described = self.sfn.describe_execution(executionArn=execution["executionArn"])
                if json.loads(described.get("input") or "{}").get("run_name") == run_name:
                    found.append(execution["executionArn"])
        return found

    def object_versions(self, bucket: str, key: str) -> list[dict[str, Any]]:
        response = self.s3.list_object_versions(Bucket=bucket, Prefix=key)
        return [v for v in response.get("Versions", []) if v["Key"] == key]

    def keys(self, uri_prefix: str) -> list[str]:
        bucket, prefix = uri_prefix.removeprefix("s3://").split("/", 1)
        pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        return [o["Key"] for page in pages for o in page.get("Contents", [])]

    def invocations(self, module: str, run_name: str) -> list[Invocation]:
        """The router's calls of ``handlers.<module>`` for this run (found in the event's run or request)."""
        handler = f"handlers.{module}.handler"

        def of_run(call: Invocation) -> bool:
            text = json.dumps(call.event)
            return f'"run_name": "{run_name}"' in text

        return [c for c in list(self.router.invocations) if c.handler == handler and of_run(c)]

    # ---- the emulator ----
    def offer_here(self, model_id: str) -> None:
        """Make the emulator's catalog offer fine-tuning of ``model_id`` in the runtime's region (us-east-1) for
        this test: for tests of something else on a base Bedrock fine-tunes elsewhere today (Llama 3.2 in
        us-west-2). The region check itself has its own tests. Undone by the fixture's reset."""
        self.emulator.set_foundation_model(model_id, customizations=["FINE_TUNING"])

    def state(self) -> dict[str, Any]:
        return self.emulator.state()

    @staticmethod
    def _of_run(items: list[dict[str, Any]], run_name: str) -> list[dict[str, Any]]:
        pattern = re.compile(rf"{re.escape(run_name)}-[0-9a-f]{{12}}")
        return [i for i in items if pattern.fullmatch(i.get("tags", {}).get("run-id", ""))]

    def jobs_for(self, run_name: str) -> list[dict[str, Any]]:
        return self._of_run(self.state()["jobs"], run_name)

    def models_for(self, run_name: str) -> list[dict[str, Any]]:
        return self._of_run(self.state()["models"], run_name)

    def throughputs_for(self, run_name: str) -> list[dict[str, Any]]:
        return self._of_run(self.state()["throughputs"], run_name)

    def deployments_for(self, run_name: str) -> list[dict[str, Any]]:
        return self._of_run(self.state()["deployments"], run_name)

    def calls(self) -> dict[str, int]:
        return dict(self.state()["calls"])

    # ---- notifications ----
    def aftercare_notices(self, execution_name: str) -> list[dict[str, Any]]:
        """What aftercare published for the execution (its notices carry the execution ARN)."""
        return [n for n in self.runtime.notifications() if n.get("run_id") == execution_name and "execution" in n]

    def notifications_for(self, run_name: str) -> list[dict[str, Any]]:
        """Outcomes published for the run (run id ``<run name>-<digest>``, or the bare run name when the run
        failed before it had an id)."""
        pattern = re.compile(rf"{re.escape(run_name)}(-[0-9a-f]{{12}})?")
        return [n for n in self.runtime.notifications() if pattern.fullmatch(str(n.get("run_id")))]
