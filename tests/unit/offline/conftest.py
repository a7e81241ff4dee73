"""Fixtures of the Bedrock emulator's tests: moto's server (S3 for the data), the emulator on a loopback port
with a frozen clock, and unmodified boto3 clients that reach it through the standard endpoint settings.
Fake credentials only; nothing can reach AWS."""

from __future__ import annotations

import http.client
import json
from collections.abc import Callable, Iterator, Sequence
from typing import Any
from urllib.parse import urlsplit

import boto3
import pytest
from botocore.config import Config
from moto.server import ThreadedMotoServer

from offline.bedrock_emulator import BedrockEmulator, Clock, EmulatorServer

REGION = "us-east-1"
ACCOUNT = "123456789012"
BUCKET = "emulator-data"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/bedrock-customization"
NO_RETRIES = Config(retries={"mode": "standard", "total_max_attempts": 1})

_ENV_TO_CLEAR = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_BEDROCK",
    "AWS_ENDPOINT_URL_BEDROCK_RUNTIME",
    "AWS_ENDPOINT_URL_S3",
    "AWS_REGION",
    "BEDROCK_EMULATOR_S3_ENDPOINT_URL",
)


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def _post(endpoint: str, path: str) -> None:
    parts = urlsplit(endpoint)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80, timeout=10)
    try:
        connection.request("POST", path)
        connection.getresponse().read()
    finally:
        connection.close()


@pytest.fixture
def offline_env(monkeypatch: pytest.MonkeyPatch, moto_endpoint: str) -> str:
    """Fake credentials, one region, S3 on moto (emptied), no shared config."""
    for name in _ENV_TO_CLEAR:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/aws-config")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/aws-credentials")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", moto_endpoint)
    _post(moto_endpoint, "/moto-api/reset")
    return moto_endpoint


@pytest.fixture
def s3(offline_env: str) -> Any:
    client = boto3.client("s3", region_name=REGION)
    client.create_bucket(Bucket=BUCKET)
    return client


@pytest.fixture
def server(offline_env: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[EmulatorServer]:
    """The emulator on a free loopback port, its clock frozen; clients find it through the standard settings."""
    with EmulatorServer(clock=Clock.frozen(), poll_interval=0.01) as running:
        for name, value in running.client_environment().items():
            monkeypatch.setenv(name, value)
        yield running


@pytest.fixture
def emulator(server: EmulatorServer) -> BedrockEmulator:
    return server.emulator


@pytest.fixture
def bedrock(server: EmulatorServer) -> Any:
    return boto3.client("bedrock", region_name=REGION, config=NO_RETRIES)


@pytest.fixture
def runtime(server: EmulatorServer) -> Any:
    return boto3.client("bedrock-runtime", region_name=REGION, config=NO_RETRIES)


def jsonl(records: Sequence[object]) -> bytes:
    return "\n".join(json.dumps(r) for r in records).encode() + b"\n"


def qa_records(count: int) -> list[dict[str, str]]:
    """Prompt/completion pairs with distinct, recognisable content."""
    topics = [
        ("reset my password", "Open Settings, choose Security, then Reset password."),
        ("change my billing address", "Go to Billing, choose Addresses and edit the default one."),
        ("export my invoices", "In Billing, choose Invoices and click Export as CSV."),
        ("enable two factor authentication", "Choose Security, then turn on Two-factor and scan the QR code."),
        ("cancel my subscription", "In Billing, choose Plan, then Cancel subscription at the bottom."),
        ("invite a teammate", "Open Team, click Invite and enter their e-mail address."),
        ("delete my account", "Contact support from Help; accounts are deleted within 30 days."),
        ("download the mobile app", "Search for Acme Desk in the App Store or Google Play."),
    ]
    records = []
    for i in range(count):
        topic, answer = topics[i % len(topics)]
        suffix = f" (case {i})" if i >= len(topics) else ""
        records.append({"prompt": f"How do I {topic}?{suffix}", "completion": answer + suffix})
    return records


def conversation_records(count: int) -> list[dict[str, object]]:
    return [
        {
            "schemaVersion": "bedrock-conversation-2024",
            "system": [{"text": "You are the Acme Desk support assistant."}],
            "messages": [
                {"role": "user", "content": [{"text": r["prompt"]}]},
                {"role": "assistant", "content": [{"text": r["completion"]}]},
            ],
        }
        for r in qa_records(count)
    ]


@pytest.fixture
def put_data(s3: Any) -> Callable[[str, Sequence[object] | bytes], str]:
    """Upload records (or raw bytes) as JSONL; return the object's s3:// URI."""

    def put(key: str, records: Sequence[object] | bytes) -> str:
        body = records if isinstance(records, bytes) else jsonl(records)
        s3.put_object(Bucket=BUCKET, Key=key, Body=body)
        return f"s3://{BUCKET}/{key}"

    return put


@pytest.fixture
def job_request(put_data: Callable[[str, Sequence[object] | bytes], str]) -> Callable[..., dict[str, Any]]:
    """A CreateModelCustomizationJob request for Titan Express on 20 records (5 for validation)."""

    def build(name: str = "job-1", *, validation: bool = True, **overrides: Any) -> dict[str, Any]:
        request: dict[str, Any] = {
            "jobName": name,
            "customModelName": f"{name}-model",
            "roleArn": ROLE_ARN,
            "baseModelIdentifier": "amazon.titan-text-express-v1",
            "trainingDataConfig": {"s3Uri": put_data(f"{name}/train.jsonl", qa_records(20))},
            "outputDataConfig": {"s3Uri": f"s3://{BUCKET}/{name}/output/"},
            "hyperParameters": {"epochCount": "2"},
        }
        if validation:
            request["validationDataConfig"] = {"validators": [{"s3Uri": put_data(f"{name}/val.jsonl", qa_records(5))}]}
        request.update(overrides)
        return request

    return build


@pytest.fixture
def completed_model(
    bedrock: Any, emulator: BedrockEmulator, job_request: Callable[..., dict[str, Any]]
) -> Callable[..., str]:
    """Run a job to Completed; return its custom model ARN."""

    def run(name: str = "job-1", **overrides: Any) -> str:
        arn = bedrock.create_model_customization_job(**job_request(name, **overrides))["jobArn"]
        emulator.advance(emulator.store.durations.job_seconds)
        job = bedrock.get_model_customization_job(jobIdentifier=arn)
        assert job["status"] == "Completed", job.get("failureMessage")
        return str(job["outputModelArn"])

    return run


@pytest.fixture
def in_service(bedrock: Any, emulator: BedrockEmulator) -> Callable[[str], str]:
    """Provision throughput for a model and bring it InService; return its ARN."""

    def provision(model_arn: str) -> str:
        name = "pt-" + model_arn.rsplit("/", 1)[-1]
        arn = bedrock.create_provisioned_model_throughput(modelUnits=1, provisionedModelName=name, modelId=model_arn)
        emulator.advance(emulator.store.durations.throughput_seconds)
        return str(arn["provisionedModelArn"])

    return provision
