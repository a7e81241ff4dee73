"""Which stack the command talks to: the deployed one (CloudFormation outputs, your credentials) or the
offline one (``.offline/endpoints.json``, written by ``python -m offline demo --keep-running``)."""

from __future__ import annotations

import json
import os
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, NoRegionError

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_STACK = "BedrockCustomization"
OFFLINE_START = "python -m offline demo --keep-running"
REQUIRED_OUTPUTS = ("DataBucketName", "ArtifactsBucketName", "StateMachineArn", "RunsTableName")


class CliError(Exception):
    """A failure the command reports as one line (no traceback), exiting with ``code``."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def endpoints_path() -> Path:
    """Where the offline demo says where it is (``BEDROCK_CUSTOMIZE_ENDPOINTS`` overrides)."""
    return Path(os.environ.get("BEDROCK_CUSTOMIZE_ENDPOINTS") or ROOT / ".offline" / "endpoints.json")


@dataclass
class Stack:
    name: str
    region: str
    outputs: dict[str, str]
    session: boto3.session.Session
    endpoints: dict[str, str] = field(default_factory=dict)  # service -> URL (offline only)
    offline: bool = False
    _clients: dict[str, Any] = field(default_factory=dict, repr=False)

    def client(self, service: str) -> Any:
        if service not in self._clients:
            url = self.endpoints.get(service) or self.endpoints.get("*")
            self._clients[service] = self.session.client(
                service,
                endpoint_url=url,
                config=Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=5, read_timeout=30),
            )
        return self._clients[service]

    @property
    def data_bucket(self) -> str:
        return self.outputs["DataBucketName"]

    @property
    def artifacts_bucket(self) -> str:
        return self.outputs["ArtifactsBucketName"]

    @property
    def state_machine_arn(self) -> str:
        return self.outputs["StateMachineArn"]

    @property
    def runs_table(self) -> str:
        return self.outputs["RunsTableName"]

    @property
    def run_prefix(self) -> str:
        return self.outputs.get("RunPrefix") or "runs/"

    @property
    def where(self) -> str:
        return "the offline stack" if self.offline else f"stack {self.name} in {self.region}"

    def execution_arn(self, name: str) -> str:
        prefix, _, machine = self.state_machine_arn.partition(":stateMachine:")
        return f"{prefix}:execution:{machine}:{name}"


def connect(*, offline: bool, stack_name: str = DEFAULT_STACK, region: str | None = None) -> Stack:
    return _offline() if offline else _deployed(stack_name, region)


def _offline() -> Stack:
    path = endpoints_path()
    if not path.is_file():
        raise CliError(f"the offline stack is not running ({path} not found): start it with `{OFFLINE_START}`")
    try:
        saved = json.loads(path.read_text())
        environment, outputs = dict(saved["environment"]), dict(saved["outputs"])
        url = urlsplit(environment["AWS_ENDPOINT_URL"])
        address = (url.hostname or "127.0.0.1", url.port or 80)
    except (ValueError, KeyError, TypeError) as exc:
        raise CliError(f"{path} is not what the offline demo writes ({exc}): start it with `{OFFLINE_START}`") from None
    try:
        socket.create_connection(address, timeout=2).close()
    except OSError:
        raise CliError(
            f"the offline stack is not running (nothing answers at {url.geturl()}, as {path} says): "
            f"start it with `{OFFLINE_START}`"
        ) from None
    region = environment.get("AWS_DEFAULT_REGION", "us-east-1")
    session = boto3.session.Session(
        aws_access_key_id=environment.get("AWS_ACCESS_KEY_ID", "offline"),
        aws_secret_access_key=environment.get("AWS_SECRET_ACCESS_KEY", "offline"),
        aws_session_token=environment.get("AWS_SESSION_TOKEN"),
        region_name=region,
    )
    endpoints = {"*": environment["AWS_ENDPOINT_URL"]}
    if environment.get("AWS_ENDPOINT_URL_BEDROCK"):
        endpoints["bedrock"] = environment["AWS_ENDPOINT_URL_BEDROCK"]
    return _checked(Stack("offline", region, outputs, session, endpoints, offline=True))


def _deployed(stack_name: str, region: str | None) -> Stack:
    session = boto3.session.Session(region_name=region) if region else boto3.session.Session()
    if not session.region_name:
        raise CliError("no AWS region: give --region or set AWS_REGION (or AWS_DEFAULT_REGION)", 2)
    try:
        credentials = session.get_credentials()
    except BotoCoreError as exc:
        raise CliError(f"your AWS credentials could not be read: {exc}") from None
    if credentials is None:
        raise CliError(
            "no AWS credentials found: configure them (aws configure, AWS_PROFILE, or the AWS_ACCESS_KEY_ID "
            "variables), or use --offline against a running offline demo"
        )
    stack = Stack(stack_name, session.region_name, {}, session)
    try:
        described = stack.client("cloudformation").describe_stacks(StackName=stack_name)["Stacks"][0]
    except NoCredentialsError:
        raise CliError("no AWS credentials found: configure them (aws configure, AWS_PROFILE)") from None
    except NoRegionError:
        raise CliError("no AWS region: give --region or set AWS_REGION", 2) from None
    except ClientError as exc:
        error = exc.response.get("Error", {})
        if error.get("Code") == "ValidationError" and "does not exist" in str(error.get("Message", "")):
            raise CliError(
                f"no stack {stack_name} in {session.region_name}: deploy it (make deploy), or give --stack / --region"
            ) from None
        raise CliError(f"CloudFormation refused DescribeStacks for {stack_name}: {error.get('Message', exc)}") from None
    except BotoCoreError as exc:
        raise CliError(f"CloudFormation could not be reached in {session.region_name}: {exc}") from None
    stack.outputs = {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}
    return _checked(stack)


def _checked(stack: Stack) -> Stack:
    missing = [key for key in REQUIRED_OUTPUTS if not stack.outputs.get(key)]
    if missing:
        raise CliError(f"{stack.where} has no {', '.join(missing)} output: deploy the current version (make deploy)")
    return stack


def describe_error(exc: ClientError | BotoCoreError, doing: str) -> str:
    """One line for an AWS error the command did not expect."""
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return f"{doing}: {error.get('Code', 'error')}: {error.get('Message', exc)}"
    return f"{doing}: {exc}"
