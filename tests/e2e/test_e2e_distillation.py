"""Distillation (issue 12, first part): a student learns from a teacher Bedrock pairs it with; a pair it does
not, or settings a distillation job does not take, are refused before any job."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.e2e.harness import E2E, jsonl, path_of, sample_files
from tests.e2e.test_e2e_runs import as_conversation

STUDENT = "amazon.nova-micro-v1:0"
TEACHER = "amazon.nova-pro-v1:0"


def _distillation(teacher: str = TEACHER, **extra: Any) -> dict[str, Any]:
    return {
        "base_model_id": STUDENT,
        "customization_type": "DISTILLATION",
        "distillation": {"teacher_model_id": teacher, "max_response_length": 500},
        **extra,
    }


def _prompts(with_answers_every: int = 2) -> dict[str, bytes]:
    """The sample as distillation prompts: every other one without its answer (the teacher writes it)."""
    files = {name: as_conversation(body) for name, body in sample_files().items() if name != "validation.jsonl"}
    records: list[dict[str, Any]] = [json.loads(line) for line in files["train.jsonl"].decode().splitlines()]
    for i, record in enumerate(records):
        if i % with_answers_every:
            record["messages"] = record["messages"][:1]
    files["train.jsonl"] = jsonl(records)
    return files


@pytest.mark.e2e
def test_a_student_learns_from_its_teacher_and_is_evaluated_against_its_base(e2e: E2E) -> None:
    run_name = e2e.run_name("distill")
    settings = _distillation(evaluation={"min_fraction_of_teacher": 0.9})
    result = e2e.run(lambda: e2e.start_console(run_name, e2e.settings(settings), _prompts()))

    assert result.status == "SUCCEEDED", (result.error, result.cause)
    (job,) = e2e.jobs_for(run_name)
    assert job["customizationType"] == "DISTILLATION"
    assert job["customizationConfig"] == {
        "distillationConfig": {
            "teacherModelConfig": {"teacherModelIdentifier": TEACHER, "maxResponseLengthForInference": 500}
        }
    }
    assert job.get("hyperParameters", {}) == {}
    output = result.output or {}
    # The estimate counts the teacher's answers: 1,200 prompts, each at most 500 tokens.
    run_id = output["run"]["run_id"]
    report = json.loads(
        e2e.runtime.read_artifact(f"s3://{e2e.runtime.artifacts_bucket}/runs/{run_id}/validation/report.json")
    )
    cost = report["cost"]
    assert cost["teacher_model_id"] == TEACHER and cost["teacher_usd"] > 0
    assert cost["training_tokens"] > 1200 * 500  # the student trains on the prompts and the teacher's answers
    evaluation = output["evaluation"]
    assert evaluation["custom"]["examples"] == evaluation["base"]["examples"] == evaluation["teacher"]["examples"] > 0
    # The third arm: the teacher answered every test example on demand, and the rule compared custom with it.
    assert evaluation["teacher"]["model_id"] == TEACHER and evaluation["teacher"]["errors"] == 0
    contains = next(t for t in evaluation["teacher_comparison"] if t["metric"] == "contains_match")
    assert contains["ci_low"] <= contains["difference"] <= contains["ci_high"]
    assert "of the teacher's" in evaluation["decision"]["reason"], evaluation["decision"]["reason"]
    markdown = e2e.runtime.read_artifact(evaluation["report_markdown_uri"]).decode()
    assert "## Student vs teacher" in markdown and "| metric | student (custom) | student base | teacher |" in markdown
    # The job's distillation outputs (the emulator's layout, a guess) in the run's job metrics, training health
    # and report: every prompt accepted (the sample repeats none), samples answered by the teacher and the data.
    outputs = output["job"]["metrics"]["distillation"]
    assert outputs["found"] and outputs["prompts"] == outputs["accepted"] == 1200 and outputs["rejected"] == 0
    assert {s["source"] for s in outputs["samples"]} <= {"teacher", "provided"} and outputs["synthetic_samples"] > 0
    assert evaluation["training"]["distillation"] == outputs
    assert "## Distillation outputs" in markdown and "1200 of 1200 prompts accepted, 0 rejected" in markdown


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (
            _distillation("amazon.nova-premier-v1:0", base_model_id="amazon.nova-pro-v1:0"),
            None,  # allowed: checked below to pass the pre-flight check
        ),
        (
            _distillation("meta.llama3-1-405b-instruct-v1:0"),
            "settings.distillation.teacher_model_id: amazon.nova-micro-v1:0 cannot learn from "
            "meta.llama3-1-405b-instruct-v1:0",
        ),
        (
            {**_distillation(), "hyperparameters": {"epochCount": 2}},
            "settings.hyperparameters.epochCount: a distillation job takes no hyperparameters",
        ),
        (
            {"base_model_id": STUDENT, "customization_type": "DISTILLATION"},
            "settings.distillation: required for DISTILLATION",
        ),
    ],
)
def test_a_pair_bedrock_does_not_allow_is_refused_before_any_job(
    e2e: E2E, settings: dict[str, Any], message: str | None
) -> None:
    if message is None:
        from customizer.settings import check_family, resolve_run_settings

        assert check_family(resolve_run_settings({}, settings), has_validation_data=False) == {}
        return
    run_name = e2e.run_name("distill-refused")
    creates_before = e2e.calls().get("CreateModelCustomizationJob", 0)
    result = e2e.run(lambda: e2e.start_console(run_name, e2e.settings(settings), _prompts()))

    assert result.status == "FAILED"
    assert path_of(result) == ["Validate the run", "Notify failure", "Run failed"]
    assert e2e.calls().get("CreateModelCustomizationJob", 0) == creates_before
    (note,) = e2e.notifications_for(run_name)
    assert message in note["reason"], note["reason"]


@pytest.mark.e2e
def test_fewer_than_100_prompts_are_refused_before_any_job(e2e: E2E) -> None:
    run_name = e2e.run_name("distill-few")
    files = _prompts()
    files["train.jsonl"] = b"".join(files["train.jsonl"].splitlines(keepends=True)[:99])
    result = e2e.run(lambda: e2e.start_console(run_name, e2e.settings(_distillation()), files))

    assert result.status == "FAILED"
    assert e2e.jobs_for(run_name) == []
    (note,) = e2e.notifications_for(run_name)
    assert "99 prompts; distillation needs at least 100" in note["reason"], note["reason"]


@pytest.mark.e2e
def test_a_teacher_not_offered_in_the_region_is_refused_before_any_job(e2e: E2E) -> None:
    # Given Llama 3.1 8B offered for distillation here, and its teacher Llama 3.1 405B, which Bedrock offers in
    # us-west-2 only (the emulator answers GetFoundationModel from the teachers' table)
    student, teacher = "meta.llama3-1-8b-instruct-v1:0", "meta.llama3-1-405b-instruct-v1:0"
    e2e.emulator.set_foundation_model(student, customizations=["FINE_TUNING", "DISTILLATION"])
    run_name = e2e.run_name("distill-region")
    creates_before = e2e.calls().get("CreateModelCustomizationJob", 0)
    settings = e2e.settings(_distillation(teacher, base_model_id=student))
    result = e2e.run(lambda: e2e.start_console(run_name, settings, _prompts()))

    assert result.status == "FAILED"
    assert path_of(result) == ["Validate the run", "Notify failure", "Run failed"]
    assert e2e.calls().get("CreateModelCustomizationJob", 0) == creates_before
    (note,) = e2e.notifications_for(run_name)
    assert (
        "settings.distillation.teacher_model_id: Bedrock does not offer meta.llama3-1-405b-instruct-v1:0 in "
        "us-east-1, so it cannot teach here; it is a teacher in us-west-2" in note["reason"]
    ), note["reason"]


@pytest.mark.e2e
def test_a_legacy_teacher_is_refused_before_any_job(e2e: E2E) -> None:
    e2e.emulator.set_foundation_model("amazon.nova-premier-v1:0", status="LEGACY")
    run_name = e2e.run_name("distill-legacy")
    result = e2e.run(
        lambda: e2e.start_console(run_name, e2e.settings(_distillation("amazon.nova-premier-v1:0")), _prompts())
    )

    assert result.status == "FAILED"
    assert e2e.jobs_for(run_name) == []
    (note,) = e2e.notifications_for(run_name)
    assert "settings.distillation.teacher_model_id: amazon.nova-premier-v1:0 is Legacy in us-east-1" in note["reason"]


def _logs(e2e: E2E, run_name: str, **metadata_every_other: str) -> str:
    """The sample's training prompts as Nova Pro's invocation logs in the data bucket (every other record with
    ``metadata_every_other`` as its requestMetadata, the rest {"project": "support"}); the log prefix's URI."""
    from offline.sample_data import as_invocation_logs

    train = sample_files()["train.jsonl"]
    objects = as_invocation_logs(
        train,
        TEACHER,
        metadata=lambda i: dict(metadata_every_other) if i % 2 and metadata_every_other else {"project": "support"},
    )
    prefix = f"logs/{run_name}/"
    for key, body in objects.items():
        e2e.runtime.upload(prefix + key, body)
    return f"s3://{e2e.runtime.data_bucket}/{prefix}"


def _without_training(files: dict[str, bytes]) -> dict[str, bytes]:
    return {name: body for name, body in files.items() if name != "train.jsonl"}


@pytest.mark.e2e
def test_a_student_learns_from_invocation_logs_filtered_by_request_metadata(e2e: E2E) -> None:
    run_name = e2e.run_name("distill-logs")
    uri = _logs(e2e, run_name, project="support", stage="prod")
    filters = {"andAll": [{"equals": {"project": "support"}}, {"notEquals": {"stage": "prod"}}]}
    settings = _distillation(invocation_logs={"s3_uri": uri, "request_metadata_filters": filters})
    result = e2e.run(lambda: e2e.start_console(run_name, e2e.settings(settings), _without_training(_prompts())))

    assert result.status == "SUCCEEDED", (result.error, result.cause)
    (job,) = e2e.jobs_for(run_name)
    assert job["trainingDataConfig"] == {
        "invocationLogsConfig": {
            "invocationLogSource": {"s3Uri": uri},
            "usePromptResponse": False,
            "requestMetadataFilters": filters,
        }
    }
    output = result.output or {}
    training = output["run"]["data"]["training"]
    assert training["uri"] == uri and training["records"] == 600  # the 1,200 prompts, half of them filtered out
    assert output["evaluation"]["teacher"]["examples"] > 0


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("empty", "settings.invocation_logs.s3_uri: no log objects under"),
        ("unmatched", "settings.invocation_logs.request_metadata_filters: none of the 1,200 records under"),
        ("not logs", "not a Bedrock invocation log record"),
    ],
)
def test_empty_or_unmatched_invocation_logs_are_refused_before_any_job(e2e: E2E, case: str, message: str) -> None:
    run_name = e2e.run_name("distill-nologs")
    uri = f"s3://{e2e.runtime.data_bucket}/logs/{run_name}/"
    filters = None
    if case == "unmatched":
        uri = _logs(e2e, run_name)
        filters = {"equals": {"stage": "prod"}}
    if case == "not logs":
        e2e.runtime.upload(f"logs/{run_name}/prompts.jsonl", _prompts()["train.jsonl"])
    logs: dict[str, Any] = {"s3_uri": uri, **({"request_metadata_filters": filters} if filters else {})}
    creates_before = e2e.calls().get("CreateModelCustomizationJob", 0)
    settings = e2e.settings(_distillation(invocation_logs=logs))
    result = e2e.run(lambda: e2e.start_console(run_name, settings, _without_training(_prompts())))

    assert result.status == "FAILED"
    assert path_of(result) == ["Validate the run", "Notify failure", "Run failed"]
    assert e2e.calls().get("CreateModelCustomizationJob", 0) == creates_before
    (note,) = e2e.notifications_for(run_name)
    assert message in note["reason"], note["reason"]
