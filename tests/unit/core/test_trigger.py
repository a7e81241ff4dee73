"""Starting a run from an uploaded manifest: parsing, naming, and at most one execution per upload
(moto S3 and Step Functions)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from customizer import aws
from customizer.errors import ResourceMissingError, RunInputError
from customizer.models import RunRequest
from customizer.run import parse_request
from customizer.trigger import execution_name, parse_manifest, run_name_for, start_from_upload

PREFIX = "runs/"


def manifest(body: Any, key: str = "runs/bot/manifest.json", bucket: str = "data") -> dict[str, Any]:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return parse_manifest(raw, bucket, key, PREFIX)


# ---- parse_manifest ----


def test_relative_file_names_are_resolved_next_to_the_manifest():
    request = manifest(
        {
            "training": "train.jsonl",
            "validation": "validation.jsonl",
            "test": "sub/test.jsonl",
            "config": "config.json",
            "settings": {"hyperparameters": {"epochCount": 2}},
        }
    )
    assert request == {
        "run_name": "bot",
        "training_data": "s3://data/runs/bot/train.jsonl",
        "validation_data": "s3://data/runs/bot/validation.jsonl",
        "test_data": "s3://data/runs/bot/sub/test.jsonl",
        "config_data": "s3://data/runs/bot/config.json",
        "settings": {"hyperparameters": {"epochCount": 2}},
    }
    # the request is one Validate accepts
    assert parse_request(request).run_name == "bot"


def test_s3_uris_are_kept_and_run_name_and_attempt_pass_through():
    request = manifest(
        {"training": "s3://shared/datasets/train.jsonl", "run_name": "nightly", "attempt": 3},
        key="runs/team/x/manifest.json",
    )
    assert request == {"run_name": "nightly", "training_data": "s3://shared/datasets/train.jsonl", "attempt": 3}


def test_optional_files_are_left_out_when_not_named():
    assert manifest({"training": "t.jsonl"}) == {"run_name": "bot", "training_data": "s3://data/runs/bot/t.jsonl"}


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"{oops", "s3://data/runs/bot/manifest.json: not valid JSON: "),
        (b"\xff", "s3://data/runs/bot/manifest.json: not valid JSON: "),
        (b'["train.jsonl"]', "s3://data/runs/bot/manifest.json: must be a JSON object"),
        (
            {"training": "t.jsonl", "hyperparameters": {}},
            "s3://data/runs/bot/manifest.json: unknown key 'hyperparameters'; allowed: attempt, config, run_name, "
            "settings, test, training, validation",
        ),
        (
            {"validation": "v.jsonl"},
            "s3://data/runs/bot/manifest.json: 'training' (the training file's name) is required",
        ),
        ({"training": ""}, "s3://data/runs/bot/manifest.json: 'training' must be a file name or an s3:// URI"),
        (
            {"training": "t.jsonl", "test": 5},
            "s3://data/runs/bot/manifest.json: 'test' must be a file name or an s3:// URI",
        ),
    ],
)
def test_bad_manifests_are_rejected_naming_the_manifest(body, expected):
    with pytest.raises(RunInputError) as caught:
        manifest(body)
    assert str(caught.value).startswith(expected)


# ---- names ----


@pytest.mark.parametrize(
    ("key", "name"),
    [
        ("runs/support-bot/manifest.json", "support-bot"),
        ("runs/my run/manifest.json", "my-run"),
        ("runs/team/v2.1/manifest.json", "team-v2-1"),
        ("runs/__x__/manifest.json", "x"),
        ("runs/___/manifest.json", "run"),
        ("other/place/manifest.json", "other-place"),
        (f"runs/{'a' * 39}-b/manifest.json", "a" * 39),
    ],
)
def test_the_run_name_comes_from_the_folder(key, name):
    assert run_name_for(key, PREFIX) == name


@given(st.text(min_size=1, max_size=80).filter(lambda s: "/" not in s))
def test_a_name_derived_from_any_folder_is_a_valid_run_name(folder):
    name = run_name_for(f"runs/{folder}/manifest.json", PREFIX)
    assert RunRequest(run_name=name, training_data="s3://b/k").run_name == name


def test_execution_names_are_deterministic_per_upload_and_fit_step_functions():
    first = execution_name("bot", "data", "runs/bot/manifest.json", "v1")
    assert first == execution_name("bot", "data", "runs/bot/manifest.json", "v1")
    assert first != execution_name("bot", "data", "runs/bot/manifest.json", "v2")
    assert first != execution_name("bot", "data", "runs/bot2/manifest.json", "v1")
    assert first.startswith("bot-")
    assert len(execution_name("x" * 100, "b", "k", "v")) <= 80


# ---- start_from_upload ----


@pytest.fixture
def machine(s3) -> str:
    sfn = aws.client("stepfunctions")
    definition = {"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}
    return str(
        sfn.create_state_machine(
            name="customization",
            definition=json.dumps(definition),
            roleArn="arn:aws:iam::123456789012:role/sfn",
        )["stateMachineArn"]
    )


@pytest.fixture
def upload(s3, data_bucket):
    def put(key: str, body: bytes) -> str | None:
        version: str | None = s3.put_object(Bucket=data_bucket, Key=key, Body=body).get("VersionId")
        return version

    return put


def executions(machine: str) -> list[dict[str, Any]]:
    return list(aws.client("stepfunctions").list_executions(stateMachineArn=machine)["executions"])


MANIFEST = json.dumps({"training": "train.jsonl", "settings": {"throughput_policy": "keep"}}).encode()


def start(data_bucket: str, key: str, version: str | None, machine: str, etag: str | None = None) -> dict[str, Any]:
    return start_from_upload(data_bucket, key, version, etag, prefix=PREFIX, state_machine_arn=machine)


def test_an_upload_starts_one_execution_with_the_manifests_request(upload, machine, data_bucket):
    # Given the data and then the manifest uploaded under a folder with a space in its name
    upload("runs/my run/train.jsonl", b'{"prompt": "q", "completion": "a"}\n')
    version = upload("runs/my run/manifest.json", MANIFEST)

    # When the S3 event arrives (its key URL-encoded, as S3 sends it)
    result = start(data_bucket, "runs/my+run/manifest.json", version, machine)

    # Then one execution runs the manifest's request, under a name derived from the upload
    assert result["started"] is True
    assert result["execution_name"] == execution_name("my-run", data_bucket, "runs/my run/manifest.json", version or "")
    (execution,) = executions(machine)
    assert execution["name"] == result["execution_name"]
    assert execution["executionArn"] == result["execution_arn"]
    described = aws.client("stepfunctions").describe_execution(executionArn=result["execution_arn"])
    assert json.loads(described["input"]) == {
        "run_name": "my-run",
        "training_data": f"s3://{data_bucket}/runs/my run/train.jsonl",
        "settings": {"throughput_policy": "keep"},
    }


def test_the_same_upload_delivered_twice_runs_once(upload, machine, data_bucket):
    upload("runs/bot/train.jsonl", b"{}\n")
    version = upload("runs/bot/manifest.json", MANIFEST)
    first = start(data_bucket, "runs/bot/manifest.json", version, machine)
    second = start(data_bucket, "runs/bot/manifest.json", version, machine)
    assert len(executions(machine)) == 1
    assert second["execution_name"] == first["execution_name"]


def test_a_redelivery_after_the_run_ended_starts_nothing(upload, machine, data_bucket):
    upload("runs/bot/train.jsonl", b"{}\n")
    version = upload("runs/bot/manifest.json", MANIFEST)
    first = start(data_bucket, "runs/bot/manifest.json", version, machine)
    aws.client("stepfunctions").stop_execution(executionArn=first["execution_arn"])

    again = start(data_bucket, "runs/bot/manifest.json", version, machine)

    assert again == {
        "execution_name": first["execution_name"],
        "started": False,
        "reason": "this upload already started a run",
    }
    assert len(executions(machine)) == 1


def test_a_new_version_of_the_manifest_starts_a_new_run(upload, machine, data_bucket):
    upload("runs/bot/train.jsonl", b"{}\n")
    v1 = upload("runs/bot/manifest.json", MANIFEST)
    v2 = upload("runs/bot/manifest.json", MANIFEST)
    assert v1 != v2
    start(data_bucket, "runs/bot/manifest.json", v1, machine)
    start(data_bucket, "runs/bot/manifest.json", v2, machine)
    assert len(executions(machine)) == 2


def test_without_a_version_the_etag_identifies_the_upload(s3, machine):
    s3.create_bucket(Bucket="unversioned-bucket")
    s3.put_object(Bucket="unversioned-bucket", Key="runs/bot/train.jsonl", Body=b"{}\n")
    etag = s3.put_object(Bucket="unversioned-bucket", Key="runs/bot/manifest.json", Body=MANIFEST)["ETag"]
    result = start("unversioned-bucket", "runs/bot/manifest.json", None, machine, etag=etag)
    assert result["execution_name"] == execution_name("bot", "unversioned-bucket", "runs/bot/manifest.json", etag)


@pytest.mark.parametrize("missing", ["training", "validation", "test", "config"])
def test_a_run_never_starts_on_half_an_upload(upload, machine, data_bucket, missing):
    # Given a manifest naming a file that is not (yet) uploaded
    files = {"training": "train.jsonl", "validation": "val.jsonl", "test": "test.jsonl", "config": "config.json"}
    for name, file in files.items():
        if name != missing:
            upload(f"runs/bot/{file}", b"{}\n")
    version = upload("runs/bot/manifest.json", json.dumps(files).encode())

    # When the trigger fires, Then it refuses, naming the missing file, and starts nothing
    with pytest.raises(RunInputError) as caught:
        start(data_bucket, "runs/bot/manifest.json", version, machine)
    message = str(caught.value)
    assert message.startswith(f"s3://{data_bucket}/runs/bot/manifest.json: '{missing}' ")
    assert f"s3://{data_bucket}/runs/bot/{files[missing]}" in message
    assert executions(machine) == []


def test_a_missing_manifest_is_a_missing_resource(machine, data_bucket):
    with pytest.raises(ResourceMissingError, match=r"^reading the manifest: NoSuchKey"):
        start(data_bucket, "runs/bot/manifest.json", None, machine)


def test_a_bad_manifest_starts_nothing(upload, machine, data_bucket):
    version = upload("runs/bot/manifest.json", b'{"train": "t.jsonl"}')
    with pytest.raises(RunInputError, match="unknown key 'train'"):
        start(data_bucket, "runs/bot/manifest.json", version, machine)
    assert executions(machine) == []


def test_files_named_by_s3_uri_are_checked_too(upload, machine, data_bucket):
    upload("shared/train.jsonl", b"{}\n")
    body = json.dumps(
        {"training": f"s3://{data_bucket}/shared/train.jsonl", "test": f"s3://{data_bucket}/shared/none.jsonl"}
    )
    version = upload("runs/bot/manifest.json", body.encode())
    with pytest.raises(RunInputError, match=f"'test' names s3://{data_bucket}/shared/none.jsonl, which does not exist"):
        start(data_bucket, "runs/bot/manifest.json", version, machine)
    version = upload(
        "runs/bot/manifest.json", json.dumps({"training": f"s3://{data_bucket}/shared/train.jsonl"}).encode()
    )
    assert start(data_bucket, "runs/bot/manifest.json", version, machine)["started"] is True
