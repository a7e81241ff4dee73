"""The pipeline's first step with the validator: the report in the artifacts bucket (JSON and Markdown),
where the failure names it, and the data read once, as uploaded, never modified."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from customizer.errors import DataNotFoundError
from customizer.run import DataValidationError, _S3Data, validate_run
from tests.unit.validation.corpus import jsonl, pair

KEEP = {"throughput_policy": "keep"}


@pytest.fixture
def put(s3, data_bucket):
    def upload(key: str, body: bytes) -> str:
        s3.put_object(Bucket=data_bucket, Key=key, Body=body)
        return f"s3://{data_bucket}/{key}"

    return upload


def _validate(request: dict[str, Any], data_bucket: str, artifacts_bucket: str) -> Any:
    return validate_run(
        request, execution_name="exec-7", defaults={}, data_bucket=data_bucket, artifacts_bucket=artifacts_bucket
    )


def _read(s3: Any, bucket: str, key: str) -> bytes:
    return bytes(s3.get_object(Bucket=bucket, Key=key)["Body"].read())


def test_a_valid_run_writes_its_report_under_the_run_id(s3, put, data_bucket, artifacts_bucket):
    train = put("runs/a/train.jsonl", jsonl([pair(1), pair(2), pair(2)]))
    run = _validate({"run_name": "a", "training_data": train, "settings": KEEP}, data_bucket, artifacts_bucket)
    prefix = f"runs/{run.run_id}/validation/"
    report = json.loads(_read(s3, artifacts_bucket, prefix + "report.json"))
    assert report["verdict"] == "valid, with warnings"
    assert report["warnings"][0]["examples"][0]["line"] == 3
    assert report["files"][0]["location"] == train
    page = _read(s3, artifacts_bucket, prefix + "report.md").decode()
    assert page.startswith("# Pre-flight check: valid, with warnings")
    head = s3.head_object(Bucket=artifacts_bucket, Key=prefix + "report.md")
    assert head["ContentType"] == "text/markdown; charset=utf-8"
    assert run.report_prefix == f"s3://{artifacts_bucket}/runs/{run.run_id}/"


def test_an_invalid_run_names_its_first_errors_and_its_report(s3, put, data_bucket, artifacts_bucket):
    body = jsonl([pair(1), {"prompt": "q"}, pair(3)])
    train = put("runs/b/train.jsonl", body)
    before = s3.list_object_versions(Bucket=data_bucket, Prefix="runs/b/")["Versions"]
    with pytest.raises(DataValidationError) as caught:
        _validate({"run_name": "b", "training_data": train, "settings": KEEP}, data_bucket, artifacts_bucket)
    location = f"s3://{artifacts_bucket}/runs/exec-7/validation/report.md"
    assert str(caught.value) == (
        "the data does not fit amazon.titan-text-express-v1 (FINE_TUNING): "
        f"input.training_data line 2: completion: required key is missing; report: {location}"
    )
    report = json.loads(_read(s3, artifacts_bucket, "runs/exec-7/validation/report.json"))
    assert report["verdict"] == "invalid"
    assert report["errors"][0]["examples"][0] == {
        "kind": "missing_key",
        "file": "input.training_data",
        "line": 2,
        "field": "completion",
        "message": "required key is missing",
    }
    # The upload is untouched: one version, same bytes.
    after = s3.list_object_versions(Bucket=data_bucket, Prefix="runs/b/")["Versions"]
    assert [(v["VersionId"], v["ETag"]) for v in after] == [(v["VersionId"], v["ETag"]) for v in before]
    assert _read(s3, data_bucket, "runs/b/train.jsonl") == body


def test_the_object_read_is_the_object_looked_up(s3, put, data_bucket):
    first = jsonl([pair(1)])
    uri = put("runs/c/train.jsonl", first)
    data = _S3Data(uri, "input.training_data", data_bucket)
    assert b"".join(data.chunks()) == first
    assert data.size == len(first)
    assert data.digest.hexdigest() == hashlib.sha256(first).hexdigest()
    assert data.version_id == s3.head_object(Bucket=data_bucket, Key="runs/c/train.jsonl")["VersionId"]


def test_an_object_replaced_between_look_up_and_read_stops_the_run(s3, put, data_bucket):
    uri = put("runs/c/train.jsonl", jsonl([pair(1)]))
    data = _S3Data(uri, "input.training_data", data_bucket)
    put("runs/c/train.jsonl", jsonl([pair(2), pair(3)]))  # a new version lands before the read
    with pytest.raises(DataNotFoundError, match=r"changed while the run was being checked"):
        b"".join(data.chunks())


def test_warnings_and_cost_do_not_stop_a_run(s3, put, data_bucket, artifacts_bucket):
    train = put("runs/d/train.jsonl", jsonl([pair(i, completion="no") for i in range(3)]))
    test = put("runs/d/test.jsonl", jsonl([pair(1, completion="no")]))
    run = _validate({"run_name": "d", "training_data": train, "test_data": test}, data_bucket, artifacts_bucket)
    report = json.loads(_read(s3, artifacts_bucket, f"runs/{run.run_id}/validation/report.json"))
    assert {w["kind"] for w in report["warnings"]} == {"short_completion", "leakage"}
    assert report["cost"]["training_usd"] >= 0
