"""Shared fixtures of the unit tests: an offline AWS (moto, fake credentials only) and valid runs.

Nothing here is autouse: a test gets AWS only by asking for ``moto_aws`` (or a fixture built on it). moto's
Bedrock has no GetFoundationModel: with ``moto_aws``, "Validate the run"'s catalog lookup is answered by the
Bedrock emulator's catalog (the families' knowledge, the same answers the end-to-end suite gets over HTTP);
``tests/unit/core/test_catalog.py`` tests the lookup itself against botocore's Stubber."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

import boto3
import botocore.session
import pytest
from botocore.loaders import create_loader
from botocore.stub import Stubber
from moto import mock_aws

import customizer.run
from customizer import aws
from customizer.catalog import Offering
from customizer.models import DataObject, DataSet, Run
from customizer.run import derive_names
from customizer.settings import check_family, resolve_run_settings
from offline.bedrock_emulator.catalog import Catalog
from offline.bedrock_emulator.errors import ServiceError

REGION = "us-east-1"
ACCOUNT = "123456789012"
DATA_BUCKET = "unit-data-bucket"
ARTIFACTS_BUCKET = "unit-artifacts-bucket"

# Anything that could send a call to a real endpoint or pick up real credentials.
_AWS_ENV_TO_CLEAR = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_BEDROCK",
    "AWS_ENDPOINT_URL_BEDROCK_RUNTIME",
    "AWS_ENDPOINT_URL_S3",
    "AWS_ENDPOINT_URL_SNS",
    "AWS_ENDPOINT_URL_SFN",
    "AWS_ENDPOINT_URL_DYNAMODB",
    "AWS_REGION",
)


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Fake credentials, one region, no shared config files, and fresh cached clients."""
    for name in _AWS_ENV_TO_CLEAR:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/aws-config")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/aws-credentials")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    aws.client.cache_clear()
    yield
    aws.client.cache_clear()


# moto starts every mock with a fresh boto3 default session, which re-reads each service's model JSON
# (0.1 to 0.3 s per client). One loader per process keeps the parsed models; everything else stays fresh.
_LOADER = create_loader()


@pytest.fixture
def moto_aws(aws_env: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """moto for every service; Bedrock calls are answered by Stubbers (``bedrock`` / ``runtime``)."""
    monkeypatch.setattr(customizer.run, "describe_offering", offered_in(REGION))
    with mock_aws():
        session = botocore.session.get_session()
        session.register_component("data_loader", _LOADER)
        boto3.setup_default_session(botocore_session=session)
        yield


@pytest.fixture
def offer(moto_aws: None, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Catalog]:
    """``offer(model_id, customizations=["FINE_TUNING"], status="LEGACY", ...)``: the catalog lookup of
    "Validate the run" says this of the model in the tests' region (a data rule tested on a base Bedrock
    offers elsewhere, a lifecycle)."""
    catalog = Catalog(REGION)
    monkeypatch.setattr(customizer.run, "describe_offering", offered_in(REGION, catalog))

    def set_model(model_id: str, **said: Any) -> Catalog:
        catalog.set_model(model_id, **said)
        return catalog

    return set_model


def offered_in(region: str, catalog: Catalog | None = None) -> Callable[[str], Offering | None]:
    """GetFoundationModel as the emulator's catalog answers it in ``region``."""
    known = catalog or Catalog(region)

    def describe(model_id: str) -> Offering | None:
        try:
            return Offering.from_details(known.get(model_id, datetime.now(UTC))["modelDetails"])
        except ServiceError:
            return None

    return describe


@pytest.fixture
def bedrock(moto_aws: None) -> Iterator[Stubber]:
    """A Stubber on the very client the core uses; every queued answer must be consumed."""
    stubber = Stubber(aws.client("bedrock"))
    with stubber:
        yield stubber
        stubber.assert_no_pending_responses()


@pytest.fixture
def runtime(moto_aws: None) -> Iterator[Stubber]:
    stubber = Stubber(aws.client("bedrock-runtime"))
    with stubber:
        yield stubber
        stubber.assert_no_pending_responses()


@pytest.fixture
def s3(moto_aws: None) -> Any:
    """moto S3 with the data bucket (versioned, as the stack creates it) and the artifacts bucket."""
    client = aws.client("s3")
    client.create_bucket(Bucket=DATA_BUCKET)
    client.put_bucket_versioning(Bucket=DATA_BUCKET, VersioningConfiguration={"Status": "Enabled"})
    client.create_bucket(Bucket=ARTIFACTS_BUCKET)
    return client


@pytest.fixture
def data_bucket() -> str:
    return DATA_BUCKET


@pytest.fixture
def artifacts_bucket() -> str:
    return ARTIFACTS_BUCKET


def build_run(
    settings: Mapping[str, Any] | None = None,
    *,
    run_name: str = "demo",
    validation: bool = False,
    test: bool = True,
    started_at: datetime | None = None,
    attempt: int = 1,
) -> Run:
    """A run as Validate would return it, without reading S3 (the data objects are described, not read)."""
    resolved = resolve_run_settings({"throughput_policy": "keep"}, dict(settings or {}))
    hyperparameters = check_family(resolved, has_validation_data=validation)
    folder = f"s3://{DATA_BUCKET}/runs/{run_name}"

    def obj(name: str, seed: str) -> DataObject:
        return DataObject(uri=f"{folder}/{name}", size=100, sha256=seed * 64, records=10)

    data = DataSet(
        training=obj("train.jsonl", "a"),
        validation=obj("validation.jsonl", "b") if validation else None,
        test=obj("test.jsonl", "c") if test else None,
    )
    names = derive_names(run_name, resolved, hyperparameters, data, attempt)
    return Run(
        run_id=names.job_name,
        run_name=run_name,
        execution_name=f"exec-{run_name}",
        settings=resolved,
        hyperparameters=hyperparameters,
        data=data,
        names=names,
        output_uri=f"s3://{ARTIFACTS_BUCKET}/runs/{names.job_name}/job-output/",
        report_prefix=f"s3://{ARTIFACTS_BUCKET}/runs/{names.job_name}/",
        started_at=(started_at or datetime.now(UTC)).isoformat(),
    )


@pytest.fixture
def make_run() -> Callable[..., Run]:
    return build_run


class FakeLambdaContext:
    """What Powertools reads from the Lambda context."""

    function_name = "unit-test-function"
    function_version = "$LATEST"
    memory_limit_in_mb = 256
    invoked_function_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:unit-test-function"
    aws_request_id = "00000000-0000-4000-8000-000000000000"
    log_group_name = "/aws/lambda/unit-test-function"
    log_stream_name = "2025/01/01/[$LATEST]unit"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


@pytest.fixture
def lambda_context() -> FakeLambdaContext:
    return FakeLambdaContext()
