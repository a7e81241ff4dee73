"""The offline AWS: moto (S3, DynamoDB, SNS, SQS, IAM, KMS, Lambda, Step Functions with its ASL
interpreter) in server mode on a loopback port, the project's Bedrock emulator on another, the
synthesized stack created on them, and Lambda invocations routed to the real handlers in-process.

The handlers reach both through the standard SDK settings only: ``AWS_ENDPOINT_URL`` (moto) and
``AWS_ENDPOINT_URL_BEDROCK`` / ``AWS_ENDPOINT_URL_BEDROCK_RUNTIME`` (the emulator), with fake credentials."""

from __future__ import annotations

import json
import logging
import os
import socket
import time
import urllib.request
import uuid
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from moto.server import ThreadedMotoServer

from offline.bedrock_authority import MotoAuthority
from offline.bedrock_emulator import EmulatorServer
from offline.cloud import ACCOUNT, REGION, DeployedStack, Deployer
from offline.events import StatusChangeEvents
from offline.iam_enforcement import assume, create_operator, enforcing
from offline.moto_patches import offline_patches
from offline.router import LambdaRouter
from offline.synth import synthesize

TERMINAL = ("SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class StateEvent:
    name: str
    elapsed: float


@dataclass
class RunResult:
    execution_arn: str
    status: str
    output: dict[str, Any] | None
    states: list[StateEvent]
    seconds: float
    error: str | None = None
    cause: str | None = None


class OfflineRuntime:
    """Use as a context manager: ``with OfflineRuntime() as aws: aws.start_console_run({...})``."""

    def __init__(
        self,
        pipeline_overrides: dict[str, Any] | None = None,
        moto_port: int | None = None,
        emulator_port: int | None = None,
        quiet: bool = False,
        enforce_iam: bool | None = None,
    ) -> None:
        self.quiet = quiet
        # IAM enforcement (offline.iam_enforcement, and the Bedrock emulator's authorization): on unless
        # enforce_iam=False or OFFLINE_ENFORCE_IAM=0 (the tests, the demo and the chaos suite run with it).
        self.enforce_iam = enforce_iam if enforce_iam is not None else os.environ.get("OFFLINE_ENFORCE_IAM") != "0"
        self._enforcing_cm: Any = None
        self.pipeline_overrides = pipeline_overrides
        self.moto_port = moto_port or free_port()
        self.emulator_port = emulator_port or 0
        self.router = LambdaRouter()
        self._saved_env: dict[str, str | None] = {}
        self._router_cm: Any = None
        self._patches_cm: Any = None
        self.moto: ThreadedMotoServer | None = None
        self.emulator: EmulatorServer | None = None
        self.stack: DeployedStack | None = None
        self.events: StatusChangeEvents | None = None

    # ---- lifecycle ----
    def _set_env(self, values: dict[str, str]) -> None:
        for key, value in values.items():
            self._saved_env.setdefault(key, os.environ.get(key))
            os.environ[key] = value

    def __enter__(self) -> OfflineRuntime:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no access log lines from the servers
        template = synthesize(self.pipeline_overrides)
        self.moto = ThreadedMotoServer(ip_address="127.0.0.1", port=self.moto_port, verbose=False)
        self.moto.start()
        self.emulator = EmulatorServer(port=self.emulator_port, host="127.0.0.1")
        self.emulator.start()
        moto_url = f"http://127.0.0.1:{self.moto_port}"
        self._set_env(
            {
                "MOTO_PORT": str(self.moto_port),  # where moto's ASL interpreter sends its own SDK calls
                "AWS_ENDPOINT_URL": moto_url,
                "AWS_ENDPOINT_URL_BEDROCK": self.emulator.endpoint_url,
                "AWS_ENDPOINT_URL_BEDROCK_RUNTIME": self.emulator.endpoint_url,
                "AWS_ACCESS_KEY_ID": "offline",
                "AWS_SECRET_ACCESS_KEY": "offline",
                "AWS_SESSION_TOKEN": "offline",
                "AWS_DEFAULT_REGION": REGION,
                "AWS_REGION": REGION,
                "AWS_RETRY_MODE": "standard",
            }
        )
        os.environ.pop("AWS_PROFILE", None)
        request = urllib.request.Request(  # noqa: S310 - loopback moto server
            f"{moto_url}/moto-api/config",
            data=json.dumps(
                {"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}
            ).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        urllib.request.urlopen(request).read()  # noqa: S310
        self._router_cm = self.router.installed()
        self._router_cm.__enter__()
        self._patches_cm = offline_patches()
        self._patches_cm.__enter__()
        self.stack = Deployer(template).deploy()
        if self.enforce_iam:
            self._enforce_iam()
        self.events = StatusChangeEvents(self.stack)
        self._set_env(self._function_environment())
        if self.quiet:
            # Standard Powertools settings: the handlers' JSON logs and metrics stay out of the console.
            self._set_env({"POWERTOOLS_LOG_LEVEL": "ERROR", "POWERTOOLS_METRICS_DISABLED": "true"})
            warnings.filterwarnings("ignore", message="No application metrics to publish")
        self._subscribe_outcomes()
        from customizer import aws

        aws.client.cache_clear()  # handler clients must see this runtime's endpoints
        self.events.start()

    def _enforce_iam(self) -> None:
        """Each function's role assumed through moto's STS, the operator user made, then access control on."""
        operator = create_operator(boto3.client("iam"))
        sts, lam = boto3.client("sts"), boto3.client("lambda")
        for resource in self.deployed.of_type("AWS::Lambda::Function"):
            role_arn = lam.get_function_configuration(FunctionName=resource.ref)["Role"]
            self.router.identities[resource.ref] = assume(sts, role_arn, resource.ref)
        role_keys = frozenset(i.access_key for i in self.router.identities.values())
        self._enforcing_cm = enforcing(operator, self.moto_port, role_keys)
        self._enforcing_cm.__enter__()
        # The Bedrock emulator authorizes its calls by the same identities and the stack's policies (key policy
        # included), and runs each job as the job's service role (offline.bedrock_authority).
        assert self.emulator is not None
        self.emulator.emulator.authorize_with(MotoAuthority(ACCOUNT, REGION))
        self._set_env({"AWS_ACCESS_KEY_ID": operator.access_key, "AWS_SECRET_ACCESS_KEY": operator.secret_key})
        os.environ.pop("AWS_SESSION_TOKEN", None)

    def _function_environment(self) -> dict[str, str]:
        """The deployed functions' variables, for the handlers running in this process. Functions that
        share a variable share its value (the stack is one deployment), so their union is well defined."""
        merged: dict[str, str] = {}
        lam = boto3.client("lambda")
        for resource in self.deployed.of_type("AWS::Lambda::Function"):
            variables = (
                lam.get_function_configuration(FunctionName=resource.ref).get("Environment", {}).get("Variables", {})
            )
            for key, value in variables.items():
                if merged.get(key, value) != value:
                    raise RuntimeError(f"functions disagree on {key}: {merged[key]!r} vs {value!r}")
                merged[key] = value
        merged.setdefault("POWERTOOLS_METRICS_NAMESPACE", "BedrockCustomization")
        return merged

    def stop(self) -> None:
        if self.events is not None:
            self.events.stop()
            self.events = None
        if self._router_cm is not None:
            self._router_cm.__exit__(None, None, None)
            self._router_cm = None
        if self._patches_cm is not None:
            self._patches_cm.__exit__(None, None, None)
            self._patches_cm = None
        if self._enforcing_cm is not None:
            if self.emulator is not None:
                self.emulator.emulator.authorize_with(None)
            self._enforcing_cm.__exit__(None, None, None)
            self._enforcing_cm = None
        self.router.identities.clear()
        if self.emulator is not None:
            self.emulator.stop()
        if self.moto is not None:
            self.moto.stop()
        for key, value in self._saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        self._saved_env.clear()

    # ---- the stack ----
    @property
    def deployed(self) -> DeployedStack:
        if self.stack is None:
            raise RuntimeError("the offline runtime is not started")
        return self.stack

    def _one(self, resource_type: str, hint: str = "") -> str:
        matches = [r for r in self.deployed.of_type(resource_type) if hint.lower() in r.logical_id.lower()]
        if len(matches) != 1:
            raise LookupError(
                f"expected one {resource_type} matching {hint!r}, found {[m.logical_id for m in matches]}"
            )
        return matches[0].ref

    @property
    def data_bucket(self) -> str:
        return os.environ["DATA_BUCKET"]

    @property
    def artifacts_bucket(self) -> str:
        return os.environ["ARTIFACTS_BUCKET"]

    @property
    def state_machine_arn(self) -> str:
        return self._one("AWS::StepFunctions::StateMachine")

    @property
    def topic_arn(self) -> str:
        return os.environ["TOPIC_ARN"]

    @property
    def run_prefix(self) -> str:
        return os.environ.get("RUN_PREFIX", "runs/")

    def write_endpoints(self, path: Path | None = None) -> Path:
        """Where this offline stack is, for tools in other processes (``make runs OFFLINE=1``)."""
        target = path or Path(__file__).resolve().parent.parent / ".offline" / "endpoints.json"
        target.parent.mkdir(parents=True, exist_ok=True)
        keys = (
            "AWS_ENDPOINT_URL",
            "AWS_ENDPOINT_URL_BEDROCK",
            "AWS_ENDPOINT_URL_BEDROCK_RUNTIME",
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_SESSION_TOKEN",
            "AWS_DEFAULT_REGION",
        )
        environment = {k: os.environ[k] for k in keys if k in os.environ}
        target.write_text(json.dumps({"environment": environment, "outputs": self.deployed.outputs}, indent=2))
        return target

    # ---- starting runs ----
    def upload(self, key: str, body: bytes | str) -> str:
        """Put an object in the data bucket; its s3:// URI."""
        data = body.encode() if isinstance(body, str) else body
        boto3.client("s3").put_object(Bucket=self.data_bucket, Key=key, Body=data)
        return f"s3://{self.data_bucket}/{key}"

    def upload_run(self, run_name: str, files: Mapping[str, bytes | str], manifest: dict[str, Any]) -> list[str]:
        """Upload a run the way users do: its files, then ``manifest.json`` last. Returns the executions the
        upload started (found by name prefix, since the trigger names them)."""
        folder = f"{self.run_prefix}{run_name}/"
        for name, body in files.items():
            self.upload(folder + name, body)
        before = set(self.execution_arns())
        self.upload(folder + "manifest.json", json.dumps(manifest))
        return [arn for arn in self.execution_arns() if arn not in before]

    def start_console_run(self, execution_input: dict[str, Any], name: str | None = None) -> str:
        # Step Functions names an unnamed execution with a UUID; moto's ASL interpreter leaves it None (ARN
        # ":None", $$.Execution.Name null, and a second unnamed start collides with the first), so name it here.
        return str(
            boto3.client("stepfunctions").start_execution(
                stateMachineArn=self.state_machine_arn,
                name=name or str(uuid.uuid4()),
                input=json.dumps(execution_input),
            )["executionArn"]
        )

    def execution_arns(self) -> list[str]:
        response = boto3.client("stepfunctions").list_executions(stateMachineArn=self.state_machine_arn)
        return [e["executionArn"] for e in response["executions"]]

    # ---- watching runs ----
    def wait(
        self, execution_arn: str, on_state: Callable[[StateEvent], None] | None = None, timeout: float = 120.0
    ) -> RunResult:
        sfn = boto3.client("stepfunctions")
        started = time.monotonic()
        seen = 0
        states: list[StateEvent] = []

        def read_history() -> None:
            nonlocal seen
            history = sfn.get_execution_history(executionArn=execution_arn, maxResults=1000)["events"]
            first = history[0]["timestamp"] if history else None
            for event in history[seen:]:
                if event["type"].endswith("StateEntered"):
                    details = event.get("stateEnteredEventDetails", {})
                    state = StateEvent(details.get("name", "?"), (event["timestamp"] - first).total_seconds())
                    states.append(state)
                    if on_state:
                        on_state(state)
            seen = len(history)

        while True:
            read_history()
            description = sfn.describe_execution(executionArn=execution_arn)
            if description["status"] in TERMINAL:
                read_history()  # the states entered between the history read above and the end
                output = json.loads(description["output"]) if description.get("output") else None
                return RunResult(
                    execution_arn,
                    description["status"],
                    output,
                    states,
                    time.monotonic() - started,
                    description.get("error"),
                    description.get("cause"),
                )
            if time.monotonic() - started > timeout:
                raise TimeoutError(f"{execution_arn} still {description['status']} after {timeout} s")
            time.sleep(0.05)

    # ---- reading results ----
    def read_artifact(self, uri: str) -> bytes:
        bucket, key = uri.removeprefix("s3://").split("/", 1)
        return bytes(boto3.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read())

    def _subscribe_outcomes(self) -> None:
        """An SQS queue subscribed to the outcome topic, as an operator's e-mail would be."""
        sqs = boto3.client("sqs")
        self._outcome_queue = sqs.create_queue(QueueName="offline-outcomes")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=self._outcome_queue, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        boto3.client("sns").subscribe(
            TopicArn=self.topic_arn, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "true"}
        )
        self._outcomes: list[dict[str, Any]] = []

    def notifications(self) -> list[dict[str, Any]]:
        """Every outcome published to the topic so far, oldest first."""
        sqs = boto3.client("sqs")
        while True:
            messages = sqs.receive_message(QueueUrl=self._outcome_queue, MaxNumberOfMessages=10).get("Messages", [])
            if not messages:
                return list(self._outcomes)
            for message in messages:
                self._outcomes.append(json.loads(message["Body"]))
                sqs.delete_message(QueueUrl=self._outcome_queue, ReceiptHandle=message["ReceiptHandle"])


@contextmanager
def offline_runtime(pipeline_overrides: dict[str, Any] | None = None) -> Iterator[OfflineRuntime]:
    runtime = OfflineRuntime(pipeline_overrides)
    with runtime:
        yield runtime


def sample_dir() -> Path:
    return Path(__file__).resolve().parent / "sample"
