"""The S3 trigger handler: one run per uploaded manifest, however often S3 delivers the event."""

from __future__ import annotations

import json
from typing import Any

import pytest

from customizer import aws
from customizer.errors import RunInputError
from tests.unit.handlers.conftest import IDEMPOTENCY_TABLE

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning")


def s3_event(bucket: str, key: str, version: str | None, sequencer: str = "0065A1B2C3D4E5F601") -> dict[str, Any]:
    """An S3 ObjectCreated event as S3 delivers it (the key URL-encoded)."""
    return {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": "us-east-1",
                "eventTime": "2025-01-01T12:00:00.000Z",
                "eventName": "ObjectCreated:Put",
                "userIdentity": {"principalId": "AWS:AIDAEXAMPLE"},
                "requestParameters": {"sourceIPAddress": "192.0.2.10"},
                "responseElements": {"x-amz-request-id": "C3D13FE58DE4C810", "x-amz-id-2": "FMyUVURIY8"},
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "configurationId": "manifest-uploaded",
                    "bucket": {
                        "name": bucket,
                        "ownerIdentity": {"principalId": "A3NL1KOZZKExample"},
                        "arn": f"arn:aws:s3:::{bucket}",
                    },
                    "object": {
                        "key": key,
                        "size": 64,
                        "eTag": "d41d8cd98f00b204e9800998ecf8427e",
                        "versionId": version,
                        "sequencer": sequencer,
                    },
                },
            }
        ]
    }


@pytest.fixture
def uploaded(s3, data_bucket) -> str | None:
    """A run's data, then its manifest, under a folder whose name has a space; the manifest's version id."""
    s3.put_object(Bucket=data_bucket, Key="runs/my run/train.jsonl", Body=b'{"prompt": "q", "completion": "a"}\n')
    manifest = json.dumps({"training": "train.jsonl", "settings": {"throughput_policy": "keep"}}).encode()
    version: str | None = s3.put_object(Bucket=data_bucket, Key="runs/my run/manifest.json", Body=manifest).get(
        "VersionId"
    )
    return version


def executions(handler_env: dict[str, str]) -> list[dict[str, Any]]:
    sfn = aws.client("stepfunctions")
    return list(sfn.list_executions(stateMachineArn=handler_env["STATE_MACHINE_ARN"])["executions"])


def test_a_manifest_upload_starts_one_execution(load_handler, lambda_context, handler_env, uploaded, data_bucket):
    handler = load_handler("start_run").handler

    (result,) = handler(s3_event(data_bucket, "runs/my+run/manifest.json", uploaded), lambda_context)

    assert result["started"] is True
    (execution,) = executions(handler_env)
    assert execution["executionArn"] == result["execution_arn"]
    described = aws.client("stepfunctions").describe_execution(executionArn=result["execution_arn"])
    request = json.loads(described["input"])
    assert request["run_name"] == "my-run"
    assert request["training_data"] == f"s3://{data_bucket}/runs/my run/train.jsonl"


def test_a_duplicate_event_starts_nothing(load_handler, lambda_context, handler_env, uploaded, data_bucket):
    # Given the event was handled and its run has since ended
    handler = load_handler("start_run").handler
    event = s3_event(data_bucket, "runs/my+run/manifest.json", uploaded)
    (first,) = handler(event, lambda_context)
    aws.client("stepfunctions").stop_execution(executionArn=first["execution_arn"])

    # When S3 delivers the same event again
    (again,) = handler(event, lambda_context)

    # Then the handler answers from its idempotency record, without reaching Step Functions
    assert again == first
    assert len(executions(handler_env)) == 1
    items = aws.client("dynamodb").scan(TableName=IDEMPOTENCY_TABLE)["Items"]
    assert len(items) == 1


def test_a_manifest_naming_missing_files_raises_and_starts_nothing(
    load_handler, lambda_context, handler_env, s3, data_bucket
):
    version = s3.put_object(
        Bucket=data_bucket, Key="runs/bot/manifest.json", Body=json.dumps({"training": "train.jsonl"}).encode()
    ).get("VersionId")
    handler = load_handler("start_run").handler
    with pytest.raises(RunInputError, match="'training' names"):
        handler(s3_event(data_bucket, "runs/bot/manifest.json", version), lambda_context)
    assert executions(handler_env) == []
    # the failed attempt leaves no idempotency record, so S3's retry of the event is handled afresh
    assert aws.client("dynamodb").scan(TableName=IDEMPOTENCY_TABLE)["Items"] == []
