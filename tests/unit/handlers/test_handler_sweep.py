"""The sweeper's handler (scheduled and manual runs), and the metrics the dashboard and the alarms read, as
the handlers emit them (Powertools' embedded metric format on stdout)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from customizer import aws
from customizer.errors import SettingsError
from customizer.models import Job, Throughput
from tests.unit.conftest import build_run
from tests.unit.core.stubs import JOB_ARN, MODEL_ARN, THROUGHPUT_ARN, job_response, throughput_response

# A rejected manual input adds no metric, and Powertools says so: expected here.
pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning")

SCHEDULED = {
    "version": "0",
    "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
    "detail-type": "Scheduled Event",
    "source": "aws.events",
    "account": "123456789012",
    "time": "2026-01-01T00:00:00Z",
    "region": "us-east-1",
    "resources": ["arn:aws:events:us-east-1:123456789012:rule/sweeper"],
    "detail": {},
}


@pytest.fixture
def sweep_env(handler_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    options = {"max_throughput_hours": 24, "delete_orphan_models": False, "dry_run": False}
    monkeypatch.setenv("SWEEP_OPTIONS", json.dumps(options))
    return handler_env


def state_of(run: Any, **parts: Any) -> dict[str, Any]:
    """The state as the state machine passes it: JSON, with what earlier steps stored."""
    return {"run_name": run.run_name, "run": run.model_dump(mode="json")} | {
        name: part.model_dump(mode="json") for name, part in parts.items()
    }


def metrics_emitted(captured: str) -> dict[str, list[float]]:
    """Metric name -> values, from the EMF documents Powertools printed."""
    found: dict[str, list[float]] = {}
    for line in captured.splitlines():
        if not line.startswith("{") or '"_aws"' not in line:
            continue
        document = json.loads(line)
        assert document["service"] == "bedrock-customization"
        for directive in document["_aws"]["CloudWatchMetrics"]:
            assert directive["Namespace"] == "BedrockCustomization"
            for metric in directive["Metrics"]:
                value = document[metric["Name"]]
                found.setdefault(metric["Name"], []).extend(value if isinstance(value, list) else [value])
    return found


def outcomes(handler_env: dict[str, str]) -> Any:
    sqs = aws.client("sqs")
    queue_url = sqs.create_queue(QueueName="sweeps")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    aws.client("sns").subscribe(TopicArn=handler_env["TOPIC_ARN"], Protocol="sqs", Endpoint=queue_arn)
    return lambda: [
        json.loads(json.loads(m["Body"])["Message"])
        for m in sqs.receive_message(QueueUrl=queue_url).get("Messages", [])
    ]


def summary(run: Any, age_hours: float) -> dict[str, Any]:
    created = datetime.now(UTC) - timedelta(hours=age_hours)
    return {**throughput_response(run, "InService", created=created)}


def tagged(bedrock, arn: str, **tags: str) -> None:
    found = [{"key": "pipeline", "value": "bedrock-customization"}, *({"key": k, "value": v} for k, v in tags.items())]
    bedrock.add_response("list_tags_for_resource", {"tags": found}, {"resourceARN": arn})


# ---- the sweeper ----


def test_a_scheduled_sweep_uses_the_configured_lifetime(load_handler, lambda_context, bedrock, sweep_env, capsys):
    received = outcomes(sweep_env)
    handler = load_handler("sweep").handler
    run_like = build_run()
    bedrock.add_response("list_provisioned_model_throughputs", {"provisionedModelSummaries": [summary(run_like, 2)]})
    bedrock.add_response("list_custom_model_deployments", {"modelDeploymentSummaries": []})

    body = handler(SCHEDULED, lambda_context)

    # A two-hour-old throughput is within the configured 24 hours: nothing is done, nothing is published
    assert body["status"] == "SWEEP"
    assert body["options"]["max_throughput_hours"] == 24
    assert body["deleted"] == []
    assert received() == []
    emitted = metrics_emitted(capsys.readouterr().out)
    assert emitted["ThroughputsOverLifetime"] == [0]
    assert emitted["ThroughputsSwept"] == [0]


def test_a_manual_run_sweeps_with_its_own_lifetime_and_reports(
    load_handler, lambda_context, bedrock, sweep_env, capsys
):
    received = outcomes(sweep_env)
    handler = load_handler("sweep").handler
    run_like = build_run()
    bedrock.add_response("list_provisioned_model_throughputs", {"provisionedModelSummaries": [summary(run_like, 2)]})
    tagged(bedrock, THROUGHPUT_ARN, **{"run-id": "bot-1"})
    bedrock.add_response("get_provisioned_model_throughput", summary(run_like, 2))
    bedrock.add_response("delete_provisioned_model_throughput", {}, {"provisionedModelId": THROUGHPUT_ARN})
    bedrock.add_response("list_custom_model_deployments", {"modelDeploymentSummaries": []})

    body = handler({"max_throughput_hours": 1, "dry_run": False}, lambda_context)

    (notice,) = received()
    assert notice == body
    assert notice["status"] == "SWEEP"
    assert [(d["name"], d["run_id"], d["detail"]) for d in notice["deleted"]] == [
        (run_like.names.throughput_name, "bot-1", f"deleted throughput {run_like.names.throughput_name}")
    ]
    emitted = metrics_emitted(capsys.readouterr().out)
    assert emitted["ThroughputsOverLifetime"] == [1]
    assert emitted["ThroughputsSwept"] == [1]
    assert emitted["DeletedThroughputHours"] == [pytest.approx(2, abs=0.01)]


def test_a_manual_dry_run_reports_what_it_would_delete(load_handler, lambda_context, bedrock, sweep_env):
    received = outcomes(sweep_env)
    handler = load_handler("sweep").handler
    run_like = build_run()
    bedrock.add_response("list_provisioned_model_throughputs", {"provisionedModelSummaries": [summary(run_like, 30)]})
    tagged(bedrock, THROUGHPUT_ARN)
    bedrock.add_response("list_custom_model_deployments", {"modelDeploymentSummaries": []})
    handler({"dry_run": True}, lambda_context)
    (notice,) = received()
    assert notice["status"] == "SWEEP_DRY_RUN"
    assert [d["name"] for d in notice["would_delete"]] == [run_like.names.throughput_name]


@pytest.mark.parametrize(
    ("event", "error"),
    [({"dry-run": True}, ValidationError), ({"delete_orphan_models": True}, SettingsError)],
)
def test_a_wrong_manual_input_sweeps_nothing(load_handler, lambda_context, bedrock, sweep_env, event, error):
    handler = load_handler("sweep").handler
    with pytest.raises(error):
        handler(event, lambda_context)  # no Bedrock call is queued: none may be made


# ---- the other metrics the dashboard shows ----


def test_check_job_emits_the_duration_of_a_completed_job(load_handler, lambda_context, bedrock, make_run, capsys):
    handler = load_handler("check_job").handler
    run = make_run()
    created = datetime(2025, 1, 1, tzinfo=UTC)
    bedrock.add_response(
        "get_model_customization_job",
        job_response(run, "Completed", creationTime=created, endTime=created + timedelta(minutes=90)),
    )
    result = handler(state_of(run, job=Job(job_arn=JOB_ARN, job_name="j", status="InProgress")), lambda_context)
    assert (result["created_at"], result["ended_at"]) == ("2025-01-01T00:00:00+00:00", "2025-01-01T01:30:00+00:00")
    emitted = metrics_emitted(capsys.readouterr().out)
    assert emitted["JobsCompleted"] == [1]
    assert emitted["JobDuration"] == [5400]


def test_validate_run_counts_a_rejected_run_and_still_raises(load_handler, lambda_context, capsys):
    handler = load_handler("validate_run").handler
    with pytest.raises(SettingsError):
        handler(
            {
                "request": {"run_name": "bot", "training_data": "s3://b/k", "settings": {"model_units": 0}},
                "execution_name": "e",
                "execution_arn": "arn:aws:states:us-east-1:123456789012:execution:customization:e",
            },
            lambda_context,
        )
    assert metrics_emitted(capsys.readouterr().out)["ValidationErrors"] == [1]


def _throughput_made(hours_ago: float) -> Throughput:
    created = (datetime.now(UTC) - timedelta(hours=hours_ago)).isoformat()
    return Throughput(arn=THROUGHPUT_ARN, name="pt", status="InService", model_units=1, created_at=created)


def test_apply_policy_emits_the_hours_of_the_throughput_it_deletes(
    load_handler, lambda_context, bedrock, make_run, capsys
):
    handler = load_handler("apply_policy").handler
    run = make_run({"throughput_policy": "keep_if_better"})
    # The custom model lost: it is marked for the sweeper before its throughput goes
    bedrock.add_response(
        "tag_resource", {}, {"resourceARN": MODEL_ARN, "tags": [{"key": "evaluation", "value": "lost"}]}
    )
    bedrock.add_response("get_provisioned_model_throughput", throughput_response(run, "InService"))
    bedrock.add_response("delete_provisioned_model_throughput", {}, {"provisionedModelId": THROUGHPUT_ARN})
    job = Job(job_arn=JOB_ARN, job_name="j", status="Completed", model_arn=MODEL_ARN)
    score = {"examples": 1, "correct": 0, "errors": 0, "accuracy": 0.0}
    evaluation = {
        "custom": {"model_id": THROUGHPUT_ARN, **score},
        "base": {"model_id": "b", **score, "correct": 1, "accuracy": 1.0},
        "custom_beats_base": False,
        "margin": 0.0,
        "report_uri": "s3://a/r.json",
        "report_markdown_uri": "s3://a/r.md",
    }
    event = {**state_of(run, job=job, throughput=_throughput_made(3)), "evaluation": evaluation}
    assert handler(event, lambda_context)["action"] == "deleted"
    assert metrics_emitted(capsys.readouterr().out)["DeletedThroughputHours"] == [pytest.approx(3, abs=0.01)]


def test_cleanup_emits_the_hours_of_the_throughput_it_deletes(load_handler, lambda_context, bedrock, make_run, capsys):
    handler = load_handler("cleanup").handler
    run = make_run()
    bedrock.add_client_error("get_model_customization_job", "ResourceNotFoundException", "no", 404)
    bedrock.add_response("get_provisioned_model_throughput", throughput_response(run, "InService"))
    tagged(bedrock, THROUGHPUT_ARN, execution=run.execution_name)
    bedrock.add_response("get_provisioned_model_throughput", throughput_response(run, "InService"))
    bedrock.add_response("delete_provisioned_model_throughput", {}, {"provisionedModelId": THROUGHPUT_ARN})
    event = {**state_of(run, throughput=_throughput_made(5)), "error": {"Error": "EvaluationError", "Cause": "{}"}}
    assert handler(event, lambda_context)["throughput"] == f"deleted throughput {run.names.throughput_name}"
    emitted = metrics_emitted(capsys.readouterr().out)
    assert emitted["Cleanups"] == [1]
    assert emitted["DeletedThroughputHours"] == [pytest.approx(5, abs=0.01)]
