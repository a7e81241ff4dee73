"""The first step: the request, the settings and the data, checked against moto S3 before money is spent."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from customizer.errors import DataNotFoundError, RunAlreadyRunningError, RunInputError, SettingsError
from customizer.models import DataObject, DataSet, Run
from customizer.run import MAX_ERRORS_SHOWN, DataValidationError, derive_names, parse_request, validate_run
from customizer.settings import resolve_run_settings

# botocore 1.44.8's patterns (bedrock service model): every name must pass them or Bedrock rejects the job.
JOB_NAME = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9+\-.])*")
MODEL_NAME = re.compile(r"([0-9a-zA-Z][_-]?){1,63}")
THROUGHPUT_NAME = re.compile(r"([0-9a-zA-Z][_-]?)+")
CLIENT_TOKEN = re.compile(r"[a-zA-Z0-9]([-a-zA-Z0-9]{0,254}[a-zA-Z0-9])?")

PAIRS = [{"prompt": f"question {i}?", "completion": f"answer {i}"} for i in range(200)]
CONVERSATIONS = [
    {
        "schemaVersion": "bedrock-conversation-2024",
        "messages": [
            {"role": "user", "content": [{"text": p["prompt"]}]},
            {"role": "assistant", "content": [{"text": p["completion"]}]},
        ],
    }
    for p in PAIRS[:120]
]
KEEP = {"throughput_policy": "keep"}


def jsonl(records: list[Any]) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in records).encode()


def conversation(i: int) -> dict[str, Any]:
    return {
        "schemaVersion": "bedrock-conversation-2024",
        "messages": [
            {"role": "user", "content": [{"text": f"q{i}"}]},
            {"role": "assistant", "content": [{"text": f"a{i}"}]},
        ],
    }


def assert_valid_names(run: Run) -> None:
    names = run.names
    assert JOB_NAME.fullmatch(names.job_name) and 1 <= len(names.job_name) <= 63
    assert MODEL_NAME.fullmatch(names.model_name) and 1 <= len(names.model_name) <= 63
    assert THROUGHPUT_NAME.fullmatch(names.throughput_name) and 1 <= len(names.throughput_name) <= 63
    assert CLIENT_TOKEN.fullmatch(names.client_token) and len(names.client_token) <= 256


@pytest.fixture
def upload(s3, data_bucket):
    """Put an object in the data bucket; return its s3:// URI, body and version id."""

    def put(key: str, body: bytes | list[Any], bucket: str | None = None) -> tuple[str, bytes, str | None]:
        raw = body if isinstance(body, bytes) else jsonl(body)
        response = s3.put_object(Bucket=bucket or data_bucket, Key=key, Body=raw)
        return f"s3://{bucket or data_bucket}/{key}", raw, response.get("VersionId")

    return put


@pytest.fixture
def validate(data_bucket, artifacts_bucket):
    def call(request: dict[str, Any], defaults: dict[str, Any] | None = None, execution_name: str = "exec-1") -> Run:
        return validate_run(
            request,
            execution_name=execution_name,
            defaults=defaults if defaults is not None else {},
            data_bucket=data_bucket,
            artifacts_bucket=artifacts_bucket,
        )

    return call


# ---- happy path ----


def test_a_valid_run_is_described_completely(upload, validate, artifacts_bucket):
    # Given training, validation and test files in the data bucket
    train_uri, train_body, train_version = upload("runs/bot/train.jsonl", PAIRS[:3])
    val_uri, val_body, val_version = upload("runs/bot/validation.jsonl", PAIRS[3:5])
    test_uri, test_body, _ = upload("runs/bot/test.jsonl", PAIRS[5:7])

    # When the run is validated with the default settings (keep_if_better, Titan Text Express)
    before = datetime.now(UTC)
    run = validate(
        {
            "run_name": "bot",
            "training_data": train_uri,
            "validation_data": val_uri,
            "test_data": test_uri,
            "settings": {"hyperparameters": {"epochCount": "2"}},
        }
    )

    # Then the data is described by content, the settings are resolved and the names derived
    assert run.data.training == DataObject(
        uri=train_uri,
        version_id=train_version,
        size=len(train_body),
        sha256=hashlib.sha256(train_body).hexdigest(),
        records=3,
    )
    assert run.data.validation is not None and run.data.validation.records == 2
    assert run.data.validation.sha256 == hashlib.sha256(val_body).hexdigest()
    assert run.data.validation.version_id == val_version
    assert run.data.test is not None and run.data.test.records == 2
    assert run.data.test.sha256 == hashlib.sha256(test_body).hexdigest()
    assert train_version  # the data bucket is versioned: the run pins the exact object version
    assert run.hyperparameters == {
        "epochCount": "2",
        "batchSize": "1",
        "learningRate": "1e-05",
        "learningRateWarmupSteps": "5",
    }
    assert run.settings.base_model_id == "amazon.titan-text-express-v1"
    assert run.run_name == "bot"
    assert run.execution_name == "exec-1"
    assert run.run_id == run.names.job_name
    assert run.names.job_name.startswith("bot-")
    assert run.names.model_name == f"{run.names.job_name}-model"
    assert run.names.throughput_name == f"{run.names.job_name}-pt"
    assert run.output_uri == f"s3://{artifacts_bucket}/runs/{run.run_id}/job-output/"
    assert run.report_prefix == f"s3://{artifacts_bucket}/runs/{run.run_id}/"
    assert before <= datetime.fromisoformat(run.started_at) <= datetime.now(UTC)
    assert_valid_names(run)
    # and the state survives the JSON trip through the state machine
    assert Run.model_validate_json(run.model_dump_json()) == run


def test_blank_lines_are_not_records(upload, validate):
    uri, _, _ = upload(
        "runs/a/train.jsonl", b'\n{"prompt": "q", "completion": "a"}\n\n  \n{"prompt": "q2", "completion": "a2"}'
    )
    run = validate({"run_name": "a", "training_data": uri, "settings": KEEP})
    assert run.data.training.records == 2


def test_a_conversation_model_run_with_a_prompt_completion_test_set(upload, validate):
    train, _, _ = upload("runs/n/train.jsonl", [conversation(i) for i in range(8)])
    test, _, _ = upload("runs/n/test.jsonl", PAIRS[:2])
    run = validate(
        {
            "run_name": "n",
            "training_data": train,
            "test_data": test,
            "settings": {"base_model_id": "amazon.nova-micro-v1:0"},
        }
    )
    assert run.data.training.records == 8
    assert run.hyperparameters["learningRateWarmupSteps"] == "10"


def test_a_continued_pre_training_run(upload, validate):
    train, _, _ = upload("runs/c/train.jsonl", [{"input": f"text {i}"} for i in range(3)])
    run = validate(
        {"run_name": "c", "training_data": train, "settings": {"customization_type": "CONTINUED_PRE_TRAINING", **KEEP}}
    )
    assert run.settings.customization_type.value == "CONTINUED_PRE_TRAINING"


# ---- names ----


def test_the_same_data_and_settings_give_the_same_names(upload, validate):
    train, _, _ = upload("runs/a/train.jsonl", PAIRS[:3])
    first = validate({"run_name": "a", "training_data": train, "settings": KEEP}, execution_name="e1")
    # the same content re-uploaded (a new version) is still the same data
    upload("runs/a/train.jsonl", PAIRS[:3])
    second = validate({"run_name": "a", "training_data": train, "settings": KEEP}, execution_name="e2")
    assert second.names == first.names
    assert second.run_id == first.run_id


def test_the_run_is_claimed_by_its_id_before_anything_is_written_under_it(upload, s3, data_bucket, artifacts_bucket):
    # A smoke test too: its sample is one more file the run would write under runs/<run id>/.
    train, _, _ = upload("runs/a/train.jsonl", PAIRS[:3])
    request = {"run_name": "a", "training_data": train, "settings": {**KEEP, "smoke_test": {"enabled": True}}}
    claimed: list[str] = []

    def refuse(run_id: str) -> None:
        claimed.append(run_id)
        raise RunAlreadyRunningError(f"run {run_id} is already running in execution first")

    kwargs = {"execution_name": "e2", "defaults": {}, "data_bucket": data_bucket, "artifacts_bucket": artifacts_bucket}
    with pytest.raises(RunAlreadyRunningError):
        validate_run(request, claim=refuse, **kwargs)
    assert s3.list_objects_v2(Bucket=artifacts_bucket).get("KeyCount") == 0
    run = validate_run(request, claim=claimed.append, **kwargs)
    assert claimed == [run.run_id, run.run_id]
    assert s3.list_objects_v2(Bucket=artifacts_bucket)["KeyCount"] > 0  # the report and the smoke sample


@pytest.mark.parametrize(
    "change",
    [
        {"records": PAIRS[1:4]},
        {"attempt": 2},
        {"hyperparameters": {"epochCount": 3}},
        {"run_name": "b"},
        {"base_model_id": "amazon.titan-text-lite-v1"},
        {"validation": PAIRS[10:12]},
    ],
    ids=["data", "attempt", "hyperparameters", "run-name", "base-model", "validation-data"],
)
def test_anything_that_shapes_the_job_changes_the_names(upload, validate, change):
    train, _, _ = upload("runs/a/train.jsonl", PAIRS[:3])
    baseline = validate({"run_name": "a", "training_data": train, "settings": KEEP})

    request: dict[str, Any] = {"run_name": change.get("run_name", "a"), "training_data": train, "settings": dict(KEEP)}
    if "records" in change:
        request["training_data"], _, _ = upload("runs/a/train2.jsonl", change["records"])
    if "attempt" in change:
        request["attempt"] = change["attempt"]
    if "hyperparameters" in change:
        request["settings"]["hyperparameters"] = change["hyperparameters"]
    if "base_model_id" in change:
        request["settings"]["base_model_id"] = change["base_model_id"]
    if "validation" in change:
        request["validation_data"], _, _ = upload("runs/a/validation.jsonl", change["validation"])
    changed = validate(request)

    assert changed.names.job_name != baseline.names.job_name
    assert changed.names.model_name != baseline.names.model_name
    assert changed.names.throughput_name != baseline.names.throughput_name
    assert changed.names.client_token != baseline.names.client_token
    assert_valid_names(changed)


def test_the_longest_run_name_still_gives_names_bedrock_accepts(upload, validate):
    train, _, _ = upload("runs/a/train.jsonl", PAIRS[:1])
    run = validate({"run_name": "R" * 40, "training_data": train, "settings": KEEP})
    assert_valid_names(run)


@pytest.mark.parametrize("run_name", ["a--b", "a-", "release-2024--v2", "x-" * 20])
def test_run_names_that_would_make_an_invalid_model_name_are_rejected_up_front(run_name):
    # customModelName and provisionedModelName allow one '-' or '_' between alphanumerics, never two in a row:
    # such a run would pass validation and fail later at CreateModelCustomizationJob.
    with pytest.raises(RunInputError, match=r"^input\.run_name: "):
        parse_request({"run_name": run_name, "training_data": "s3://b/k"})


_DATA = DataSet(training=DataObject(uri="s3://b/t.jsonl", size=1, sha256="0" * 64, records=1))
_SETTINGS = resolve_run_settings({}, KEEP)


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(alphabet="abcXYZ019-_ .", min_size=1, max_size=45), st.integers(min_value=1, max_value=999))
def test_every_accepted_run_name_gives_names_bedrock_accepts(run_name, attempt):
    try:
        request = parse_request({"run_name": run_name, "training_data": "s3://b/t.jsonl", "attempt": attempt})
    except RunInputError:
        return
    names = derive_names(request.run_name, _SETTINGS, {"epochCount": "1"}, _DATA, request.attempt)
    assert JOB_NAME.fullmatch(names.job_name) and len(names.job_name) <= 63
    assert MODEL_NAME.fullmatch(names.model_name) and len(names.model_name) <= 63
    assert THROUGHPUT_NAME.fullmatch(names.throughput_name) and len(names.throughput_name) <= 63
    assert CLIENT_TOKEN.fullmatch(names.client_token)


# ---- request ----


@pytest.mark.parametrize(
    ("request_", "expected"),
    [
        ({"training_data": "s3://b/k"}, "input.run_name: Field required"),
        ({"run_name": "", "training_data": "s3://b/k"}, "input.run_name: String should have at least 1 character"),
        ({"run_name": "my run", "training_data": "s3://b/k"}, "input.run_name: String should match pattern"),
        ({"run_name": "-run", "training_data": "s3://b/k"}, "input.run_name: String should match pattern"),
        (
            {"run_name": "r" * 41, "training_data": "s3://b/k"},
            "input.run_name: String should have at most 40 characters",
        ),
        ({"run_name": "r"}, "input.training_data: Field required"),
        ({"run_name": "r", "training_data": "s3://b/k", "trainig_data": "x"}, "input.trainig_data: unknown field"),
        (
            {"run_name": "r", "training_data": "s3://b/k", "attempt": 0},
            "input.attempt: Input should be greater than or equal to 1",
        ),
        (
            {"run_name": "r", "training_data": "s3://b/k", "settings": "fast"},
            "input.settings: Input should be a valid dictionary",
        ),
        ({"run_name": "r", "training_data": 5}, "input.training_data: Input should be a valid string"),
    ],
)
def test_invalid_request_fields_are_named(request_, expected, validate):
    with pytest.raises(RunInputError) as caught:
        validate(request_)
    assert str(caught.value).startswith(expected)


def test_all_invalid_request_fields_are_reported_together():
    with pytest.raises(RunInputError) as caught:
        parse_request({"run_name": "a b", "attempt": 0, "training_data": 5})
    fields = sorted(p.split(":")[0] for p in str(caught.value).split("; "))
    # input.training_data may be absent (settings.invocation_logs instead): validate_run requires one of them
    assert fields == ["input.attempt", "input.run_name", "input.training_data"]


def test_wrong_settings_in_the_request_are_named(upload, validate):
    train, _, _ = upload("runs/a/train.jsonl", PAIRS[:1])
    with pytest.raises(
        SettingsError, match=r"^settings\.throughput_policy: Input should be 'keep', 'delete' or 'keep_if_better'"
    ):
        validate({"run_name": "a", "training_data": train, "settings": {"throughput_policy": "always"}})
    with pytest.raises(SettingsError, match=r"^settings\.hyperparameters\.epochCount: 0 is out of range"):
        validate({"run_name": "a", "training_data": train, "settings": {**KEEP, "hyperparameters": {"epochCount": 0}}})


def test_keep_if_better_needs_a_test_set(upload, validate):
    train, _, _ = upload("runs/a/train.jsonl", PAIRS[:1])
    with pytest.raises(SettingsError) as caught:
        validate({"run_name": "a", "training_data": train})
    assert str(caught.value) == (
        "settings.throughput_policy: keep_if_better needs a test set to compare the models; "
        "give input.test_data or choose keep or delete"
    )
    assert (
        validate({"run_name": "a", "training_data": train, "settings": {"throughput_policy": "delete"}}).data.test
        is None
    )


def test_the_deployment_defaults_apply(upload, validate):
    train, _, _ = upload("runs/a/train.jsonl", PAIRS[:1])
    run = validate(
        {"run_name": "a", "training_data": train}, defaults={"throughput_policy": "delete", "model_units": 2}
    )
    assert run.settings.model_units == 2


def test_cohere_with_validation_data_does_not_send_eval_percentage(upload, validate):
    train, _, _ = upload("runs/a/train.jsonl", PAIRS[:2])
    val, _, _ = upload("runs/a/validation.jsonl", PAIRS[2:3])
    request = {
        "run_name": "a",
        "training_data": train,
        "settings": {**KEEP, "base_model_id": "cohere.command-text-v14"},
    }
    assert validate(request).hyperparameters["evalPercentage"] == "20"
    assert "evalPercentage" not in validate({**request, "validation_data": val}).hyperparameters


# ---- run config ----


def test_the_run_config_file_is_merged_between_defaults_and_input(upload, validate):
    train, _, _ = upload("runs/a/train.jsonl", PAIRS[:1])
    config, _, _ = upload(
        "runs/a/config.json", json.dumps({"model_units": 2, "hyperparameters": {"epochCount": 3}, **KEEP}).encode()
    )
    run = validate(
        {"run_name": "a", "training_data": train, "config_data": config, "settings": {"model_units": 4}},
        defaults={"model_units": 1, "hyperparameters": {"epochCount": 1, "batchSize": 2}},
    )
    assert run.settings.model_units == 4
    assert run.hyperparameters["epochCount"] == "3"
    assert run.hyperparameters["batchSize"] == "2"
    assert run.settings.throughput_policy.value == "keep"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"{not json", "is not valid JSON"),
        (b"\xff\xfe", "is not valid JSON"),
        (b"[1, 2]", "must hold a JSON object of settings"),
    ],
)
def test_a_bad_run_config_is_named(upload, validate, body, expected):
    train, _, _ = upload("runs/a/train.jsonl", PAIRS[:1])
    config, _, _ = upload("runs/a/config.json", body)
    with pytest.raises(SettingsError) as caught:
        validate({"run_name": "a", "training_data": train, "config_data": config})
    assert str(caught.value).startswith(f"input.config_data: {config} ")
    assert expected in str(caught.value)


def test_wrong_settings_in_the_run_config_are_named(upload, validate):
    train, _, _ = upload("runs/a/train.jsonl", PAIRS[:1])
    config, _, _ = upload("runs/a/config.json", b'{"model_unit": 2}')
    with pytest.raises(SettingsError, match=r"^settings\.model_unit: unknown setting"):
        validate({"run_name": "a", "training_data": train, "config_data": config})


def test_a_missing_run_config_is_named(upload, validate, data_bucket):
    train, _, _ = upload("runs/a/train.jsonl", PAIRS[:1])
    with pytest.raises(DataNotFoundError, match=r"^input\.config_data: s3://.*/runs/a/config\.json does not exist"):
        validate({"run_name": "a", "training_data": train, "config_data": f"s3://{data_bucket}/runs/a/config.json"})


# ---- data objects ----


@pytest.mark.parametrize("field", ["training_data", "validation_data", "test_data"])
def test_a_missing_object_names_its_field(upload, validate, data_bucket, field):
    train, _, _ = upload("runs/a/train.jsonl", PAIRS[:1])
    request = {"run_name": "a", "training_data": train, "settings": KEEP}
    missing = f"s3://{data_bucket}/runs/a/missing.jsonl"
    request[field] = missing
    with pytest.raises(DataNotFoundError) as caught:
        validate(request)
    assert str(caught.value) == f"input.{field}: {missing} does not exist or cannot be read"


def test_an_object_in_another_bucket_is_rejected(s3, upload, validate, data_bucket):
    s3.create_bucket(Bucket="someone-elses-bucket")
    uri, _, _ = upload("train.jsonl", PAIRS[:1], bucket="someone-elses-bucket")
    with pytest.raises(DataNotFoundError) as caught:
        validate({"run_name": "a", "training_data": uri, "settings": KEEP})
    assert str(caught.value) == f"input.training_data: {uri} is not in the pipeline's data bucket {data_bucket}"


@pytest.mark.parametrize("uri", ["train.jsonl", "https://bucket/train.jsonl", "s3://bucket-only", "s3:///key"])
def test_a_value_that_is_not_an_s3_uri_is_named(validate, uri, moto_aws):
    with pytest.raises(DataNotFoundError) as caught:
        validate({"run_name": "a", "training_data": uri, "settings": KEEP})
    assert str(caught.value) == f"input.training_data: {uri!r} is not an s3://bucket/key URI"


def test_bad_lines_are_reported_with_their_line_numbers_and_fields(upload, validate, artifacts_bucket):
    body = b"\n".join(
        [
            b'{"prompt": "q", "completion": "a"}',
            b'{"prompt": "q"}',
            b"",
            b"not json",
            b'{"prompt": "q", "completion": "a", "id": 4}',
            b'["prompt", "completion"]',
        ]
    )
    train, _, _ = upload("runs/a/train.jsonl", body)
    with pytest.raises(DataValidationError) as caught:
        validate({"run_name": "a", "training_data": train, "settings": KEEP})
    assert isinstance(caught.value, RunInputError)
    # New wording: the JSON problem itself (was "not a JSON object on one line (JSONDecodeError)"), and where
    # the full report is.
    assert str(caught.value) == (
        "the data does not fit amazon.titan-text-express-v1 (FINE_TUNING): "
        "input.training_data line 2: completion: required key is missing; "
        "input.training_data line 4: not valid JSON: Expecting value (column 1); "
        "input.training_data line 5: id: unknown key; allowed keys: completion, prompt; "
        "input.training_data line 6: (record): must be a JSON object, not list; "
        f"report: s3://{artifacts_bucket}/runs/exec-1/validation/report.md"
    )


def test_only_the_first_errors_are_shown_then_a_count(upload, validate, artifacts_bucket):
    body = jsonl([{"prompt": "q"}] * (MAX_ERRORS_SHOWN + 3))
    train, _, _ = upload("runs/a/train.jsonl", body)
    with pytest.raises(DataValidationError) as caught:
        validate({"run_name": "a", "training_data": train, "settings": KEEP})
    problems = str(caught.value).split(": ", 1)[1].split("; ")
    assert problems[:MAX_ERRORS_SHOWN] == [
        f"input.training_data line {n}: completion: required key is missing" for n in range(1, MAX_ERRORS_SHOWN + 1)
    ]
    # The count now covers every file ("3 more errors"; was "input.training_data: 3 more errors"), then the report.
    assert problems[MAX_ERRORS_SHOWN:] == [
        "3 more errors",
        f"report: s3://{artifacts_bucket}/runs/exec-1/validation/report.md",
    ]


def test_errors_of_every_file_are_reported_together(upload, validate):
    train, _, _ = upload("runs/a/train.jsonl", [{"prompt": "q", "completion": ""}])
    val, _, _ = upload("runs/a/validation.jsonl", [{"prompt": 1, "completion": "a"}])
    test, _, _ = upload("runs/a/test.jsonl", [{"input": "x"}])
    with pytest.raises(DataValidationError) as caught:
        validate({"run_name": "a", "training_data": train, "validation_data": val, "test_data": test})
    message = str(caught.value)
    assert "input.training_data line 1: completion: must not be empty" in message
    assert "input.validation_data line 1: prompt: must be a string, not int" in message
    assert "input.test_data line 1: input: unknown key" in message


def test_an_empty_file_holds_no_records(upload, validate, data_bucket):
    train, _, _ = upload("runs/a/train.jsonl", b"\n\n")
    with pytest.raises(DataValidationError) as caught:
        validate({"run_name": "a", "training_data": train, "settings": KEEP})
    assert f"input.training_data: s3://{data_bucket}/runs/a/train.jsonl holds no records" in str(caught.value)


def test_invalid_utf8_is_reported_as_a_bad_line(upload, validate):
    train, _, _ = upload("runs/a/train.jsonl", b'{"prompt": "q", "completion": "a"}\n\xff\xfe\xfa\n')
    # New wording names the byte (was "not a JSON object on one line (UnicodeDecodeError)").
    with pytest.raises(
        DataValidationError, match=r"input\.training_data line 2: not valid UTF-8: byte 0xff at byte 1 of the line"
    ):
        validate({"run_name": "a", "training_data": train, "settings": KEEP})


# ---- record counts ----

LLAMA = {"base_model_id": "meta.llama3-1-8b-instruct-v1:0", **KEEP}


def test_llama_needs_100_training_and_validation_records_combined(upload, validate, artifacts_bucket, offer):
    offer("meta.llama3-1-8b-instruct-v1:0", customizations=["FINE_TUNING"])  # as in us-west-2
    train, _, _ = upload("runs/l/train.jsonl", PAIRS[:60])
    short, _, _ = upload("runs/l/validation-short.jsonl", PAIRS[60:99])
    enough, _, _ = upload("runs/l/validation.jsonl", PAIRS[60:100])
    with pytest.raises(DataValidationError) as caught:
        validate({"run_name": "l", "training_data": train, "validation_data": short, "settings": LLAMA})
    assert str(caught.value) == (
        "the data does not fit meta.llama3-1-8b-instruct-v1:0 (FINE_TUNING): input.training_data: "
        "99 training and validation records; meta.llama3-1-8b-instruct-v1:0 needs at least 100; "
        f"report: s3://{artifacts_bucket}/runs/exec-1/validation/report.md"
    )
    run = validate({"run_name": "l", "training_data": train, "validation_data": enough, "settings": LLAMA})
    assert (run.data.training.records, run.data.validation and run.data.validation.records) == (60, 40)


def test_claude_needs_32_training_records(upload, validate, offer):
    offer("anthropic.claude-3-haiku-20240307-v1:0", customizations=["FINE_TUNING"])  # as in us-west-2
    claude = [{"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}] * 31
    train, _, _ = upload("runs/c/train.jsonl", claude)
    with pytest.raises(
        DataValidationError,
        match=r"input\.training_data: 31 records; anthropic\.claude-3-haiku-20240307-v1:0 needs at least 32; report: s3://\S+/report\.md$",
    ):
        validate(
            {
                "run_name": "c",
                "training_data": train,
                "settings": {"base_model_id": "anthropic.claude-3-haiku-20240307-v1:0", **KEEP},
            }
        )


def test_titan_takes_at_most_1000_validation_records(upload, validate):
    train, _, _ = upload("runs/t/train.jsonl", PAIRS[:1])
    val, _, _ = upload("runs/t/validation.jsonl", b'{"prompt": "q", "completion": "a"}\n' * 1001)
    with pytest.raises(
        DataValidationError,
        match=r"input\.validation_data: 1001 records; amazon\.titan-text-express-v1 takes at most 1000; report: s3://\S+/report\.md$",
    ):
        validate({"run_name": "t", "training_data": train, "validation_data": val, "settings": KEEP})


def test_cohere_takes_at_most_10000_training_records(upload, validate):
    train, _, _ = upload("runs/c/train.jsonl", b'{"prompt": "q", "completion": "a"}\n' * 10_001)
    with pytest.raises(
        DataValidationError,
        match=r"input\.training_data: 10001 records; cohere\.command-text-v14 takes at most 10000; report: s3://\S+/report\.md$",
    ):
        validate(
            {"run_name": "c", "training_data": train, "settings": {"base_model_id": "cohere.command-text-v14", **KEEP}}
        )


# ---- start small (settings.smoke_test) ----


def test_no_smoke_test_is_planned_by_default(upload, validate):
    train_uri, _, _ = upload("runs/bot/train.jsonl", PAIRS[:10])
    assert validate({"run_name": "bot", "training_data": train_uri, "settings": KEEP}).smoke is None


def test_a_smoke_test_writes_the_first_records_and_names_its_own_job(upload, validate, s3, artifacts_bucket):
    train_uri, _, _ = upload("runs/bot/train.jsonl", PAIRS[:50])
    settings = {**KEEP, "smoke_test": {"enabled": True, "records": 7}, "hyperparameters": {"epochCount": 3}}
    run = validate({"run_name": "bot", "training_data": train_uri, "settings": settings})

    smoke = run.smoke
    assert smoke is not None
    key = f"runs/{run.run_id}/smoke/train.jsonl"
    assert smoke.training_uri == f"s3://{artifacts_bucket}/{key}"
    assert s3.get_object(Bucket=artifacts_bucket, Key=key)["Body"].read() == jsonl(PAIRS[:7])
    assert smoke.records == 7
    assert smoke.job_name == smoke.model_name == f"{run.names.job_name}-smoke"
    assert smoke.client_token != run.names.client_token
    assert smoke.output_uri == f"s3://{artifacts_bucket}/runs/{run.run_id}/smoke/job-output/"
    assert smoke.hyperparameters == {**run.hyperparameters, "epochCount": "1"}
    assert run.hyperparameters["epochCount"] == "3"
    assert JOB_NAME.fullmatch(smoke.job_name) and len(smoke.job_name) <= 63
    assert MODEL_NAME.fullmatch(smoke.model_name) and len(smoke.model_name) <= 63
    assert CLIENT_TOKEN.fullmatch(smoke.client_token)


def test_the_smoke_sample_is_the_whole_file_when_it_is_shorter(upload, validate):
    train_uri, _, _ = upload("runs/bot/train.jsonl", PAIRS[:4])
    settings = {**KEEP, "smoke_test": {"enabled": True, "records": 100}}
    run = validate({"run_name": "bot", "training_data": train_uri, "settings": settings})
    assert run.smoke is not None and run.smoke.records == 4


def test_the_smoke_sample_is_raised_to_the_familys_minimum(upload, validate, offer):
    offer("meta.llama3-2-1b-instruct-v1:0", customizations=["FINE_TUNING"])  # as in us-west-2
    # Llama needs 100 records (training and validation combined): 10 asked, 100 taken.
    records = [conversation(i) for i in range(150)]
    train_uri, _, _ = upload("runs/llama/train.jsonl", records)
    settings = {
        **KEEP,
        "base_model_id": "meta.llama3-2-1b-instruct-v1:0",
        "smoke_test": {"enabled": True, "records": 10},
    }
    run = validate({"run_name": "llama", "training_data": train_uri, "settings": settings})
    assert run.smoke is not None and run.smoke.records == 100


def test_the_longest_run_name_gives_smoke_names_bedrock_accepts(upload, validate):
    train_uri, _, _ = upload("runs/bot/train.jsonl", PAIRS[:10])
    settings = {**KEEP, "smoke_test": {"enabled": True}}
    run = validate({"run_name": "r" * 40, "training_data": train_uri, "settings": settings})
    assert run.smoke is not None
    assert JOB_NAME.fullmatch(run.smoke.job_name) and len(run.smoke.job_name) <= 63
    assert MODEL_NAME.fullmatch(run.smoke.model_name) and len(run.smoke.model_name) <= 63


# ---- the base model's invocation id ----


def test_the_run_carries_what_the_evaluation_calls_the_base_by(upload, validate, monkeypatch, offer):
    # Fine-tuned in us-west-2 today; offered here too for this test of the profile's geography by region.
    offer("meta.llama3-2-1b-instruct-v1:0", customizations=["FINE_TUNING"])
    train_uri, _, _ = upload("runs/llama/train.jsonl", CONVERSATIONS)
    settings = {"base_model_id": "meta.llama3-2-1b-instruct-v1:0", "throughput_policy": "keep"}
    # In us-east-1 (the tests' region): the us profile
    run = validate({"run_name": "llama", "training_data": train_uri, "settings": settings})
    assert run.base_model_invoke_id == "us.meta.llama3-2-1b-instruct-v1:0"
    # Given by the settings: as given
    given = {**settings, "evaluation": {"base_invoke_id": "eu.meta.llama3-2-1b-instruct-v1:0"}}
    run = validate({"run_name": "llama", "training_data": train_uri, "settings": given})
    assert run.base_model_invoke_id == "eu.meta.llama3-2-1b-instruct-v1:0"
    # In a region with no known profile and none given: refused before anything is read or created
    monkeypatch.setenv("AWS_DEFAULT_REGION", "sa-east-1")
    monkeypatch.setenv("AWS_REGION", "sa-east-1")
    with pytest.raises(SettingsError, match=r"^settings\.evaluation\.base_invoke_id: "):
        validate({"run_name": "llama", "training_data": train_uri, "settings": settings})
