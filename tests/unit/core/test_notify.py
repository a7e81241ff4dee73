"""The outcome message, published to a moto SNS topic and read back through a subscribed SQS queue."""

from __future__ import annotations

import json
from typing import Any

import pytest

from customizer import aws
from customizer.models import (
    Decision,
    Evaluation,
    Job,
    JudgeSummary,
    MetricComparison,
    ModelScore,
    NotifyInput,
    Policy,
    Throughput,
    TrainingHealth,
)
from customizer.notify import compose, publish
from tests.unit.core.stubs import JOB_ARN, MODEL_ARN, THROUGHPUT_ARN


@pytest.fixture
def topic(moto_aws):
    """A topic with an SQS queue subscribed; returns (topic ARN, a function reading the next message)."""
    sns, sqs = aws.client("sns"), aws.client("sqs")
    topic_arn = sns.create_topic(Name="outcomes")["TopicArn"]
    queue_url = sqs.create_queue(QueueName="outcomes")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)

    def receive() -> dict[str, Any]:
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)["Messages"]
        assert len(messages) == 1
        envelope: dict[str, Any] = json.loads(messages[0]["Body"])
        return envelope

    return topic_arn, receive


def succeeded_state(run: Any) -> dict[str, Any]:
    def score(model_id: str, accuracy: float) -> ModelScore:
        return ModelScore(model_id=model_id, examples=10, correct=int(accuracy * 10), errors=0, accuracy=accuracy)

    return {
        "run": run,
        "job": Job(job_arn=JOB_ARN, job_name=run.names.job_name, status="Completed", model_arn=MODEL_ARN),
        "throughput": Throughput(arn=THROUGHPUT_ARN, name=run.names.throughput_name, status="InService", model_units=1),
        "evaluation": Evaluation(
            custom=score(THROUGHPUT_ARN, 0.8),
            base=score("amazon.titan-text-express-v1", 0.4),
            custom_beats_base=True,
            margin=0.0,
            report_uri="s3://artifacts/runs/x/evaluation/report.json",
            report_markdown_uri="s3://artifacts/runs/x/evaluation/report.md",
        ),
        "policy": Policy(action="kept", reason="keep_if_better: custom 80.0% beats base 40.0% by more than 0.0%"),
    }


def test_a_success_is_published_with_run_id_status_reason_and_report(topic, make_run):
    # Given a run that went all the way through
    topic_arn, receive = topic
    run = make_run()
    message = NotifyInput(outcome="SUCCEEDED", state=succeeded_state(run))

    # When its outcome is published
    body = publish(message, topic_arn)

    # Then the subscriber gets the run id, the status, why, and where the report is
    envelope = receive()
    assert envelope["Subject"] == f"Bedrock customization succeeded: {run.run_id}"
    assert envelope["MessageAttributes"]["status"] == {"Type": "String", "Value": "SUCCEEDED"}
    published = json.loads(envelope["Message"])
    assert published == body
    assert published == {
        "run_id": run.run_id,
        "status": "SUCCEEDED",
        "reason": "keep_if_better: custom 80.0% beats base 40.0% by more than 0.0%",
        "report": "s3://artifacts/runs/x/evaluation/report.md",
        "job": JOB_ARN,
        "custom_model": MODEL_ARN,
        "throughput": THROUGHPUT_ARN,
        "throughput_policy": "kept",
        "cleanup": None,
        "accuracy": {"custom": 0.8, "base": 0.4},
    }


def test_a_failure_gives_the_caught_errors_message(topic, make_run):
    topic_arn, receive = topic
    run = make_run()
    cause = json.dumps(
        {
            "errorType": "WaitTimeoutError",
            "errorMessage": "job demo still InProgress after settings.timeouts.job_hours=48.0",
            "stackTrace": ["..."],
        }
    )
    state = {
        "run": run.model_dump(mode="json"),
        "error": {"Error": "WaitTimeoutError", "Cause": cause},
        "cleanup": {"job": "stopped job demo", "throughput": "no throughput"},
    }
    publish(NotifyInput.model_validate({"outcome": "FAILED", "state": state}), topic_arn)

    envelope = receive()
    published = json.loads(envelope["Message"])
    assert envelope["Subject"] == f"Bedrock customization failed: {run.run_id}"
    assert published["status"] == "FAILED"
    assert published["run_id"] == run.run_id
    assert published["reason"] == "WaitTimeoutError: job demo still InProgress after settings.timeouts.job_hours=48.0"
    assert published["cleanup"] == {"job": "stopped job demo", "throughput": "no throughput"}
    assert published["report"] is None


@pytest.mark.parametrize(
    ("cause", "reason"),
    [
        ("States.Timeout", "States.Timeout: States.Timeout"),
        ('["not", "an object"]', 'SettingsError: ["not", "an object"]'),
        ('{"errorType": "X"}', 'SettingsError: {"errorType": "X"}'),
        ("", "SettingsError: "),
    ],
)
def test_a_cause_that_is_not_a_lambda_error_is_given_as_is(cause, reason):
    error = "States.Timeout" if cause == "States.Timeout" else "SettingsError"
    message = NotifyInput.model_validate({"outcome": "FAILED", "state": {"error": {"Error": error, "Cause": cause}}})
    assert compose(message)["reason"] == reason


def test_a_validation_failure_is_named_by_the_requested_run_name():
    # Validate failed: there is no $.run, the state is the execution input plus the caught error
    state = {
        "run_name": "support-bot",
        "training_data": "s3://data/runs/support-bot/train.jsonl",
        "error": {"Error": "DataNotFoundError", "Cause": json.dumps({"errorMessage": "input.training_data: missing"})},
    }
    body = compose(NotifyInput.model_validate({"outcome": "FAILED", "state": state}))
    assert body["run_id"] == "support-bot"
    assert body["reason"] == "DataNotFoundError: input.training_data: missing"
    assert body["job"] is None


@pytest.mark.parametrize("run_name", [42, ["a", "b"], {"name": "x"}, True])
def test_a_malformed_run_name_does_not_stop_the_failure_from_being_reported(run_name):
    # The request was wrong (that is why validation failed): the notification must still go out.
    state = {
        "run_name": run_name,
        "error": {"Error": "RunInputError", "Cause": '{"errorMessage": "input.run_name: bad"}'},
    }
    body = compose(NotifyInput.model_validate({"outcome": "FAILED", "state": state}))
    assert body["run_id"] == json.dumps(run_name)
    assert body["reason"] == "RunInputError: input.run_name: bad"


def test_a_failure_without_a_caught_error_explains_from_the_state(make_run):
    run = make_run()
    job = {"job_arn": JOB_ARN, "job_name": "j", "status": "Failed", "failure_message": "bad data"}
    failed_job = NotifyInput.model_validate({"outcome": "FAILED", "state": {"run": run, "job": job}})
    assert compose(failed_job)["reason"] == "customization job Failed: bad data"

    stopped = {**job, "status": "Stopped", "failure_message": None}
    assert compose(NotifyInput.model_validate({"outcome": "FAILED", "state": {"job": stopped}}))["reason"] == (
        "customization job Stopped: no message"
    )

    throughput = {
        "arn": THROUGHPUT_ARN,
        "name": "t",
        "status": "Failed",
        "model_units": 1,
        "failure_message": "capacity",
    }
    completed = {**job, "status": "Completed"}
    state = {"job": completed, "throughput": throughput}
    assert compose(NotifyInput.model_validate({"outcome": "FAILED", "state": state}))["reason"] == (
        "throughput Failed: capacity"
    )
    assert compose(NotifyInput.model_validate({"outcome": "FAILED", "state": {}}))["reason"] == "run failed"
    assert compose(NotifyInput.model_validate({"outcome": "FAILED", "state": {}}))["run_id"] == "unknown"


def test_a_success_without_a_policy_says_completed():
    body = compose(NotifyInput.model_validate({"outcome": "SUCCEEDED", "state": {"run_name": "r"}}))
    assert body["reason"] == "run completed"


def test_the_subject_fits_sns_limit(topic):
    topic_arn, receive = topic
    publish(NotifyInput.model_validate({"outcome": "FAILED", "state": {"run_name": "r" * 200}}), topic_arn)
    subject = receive()["Subject"]
    assert len(subject) == 100
    assert subject.startswith("Bedrock customization failed: rrr")


def test_a_failed_cleanup_is_named_so_the_operator_knows_something_may_still_bill(make_run):
    # Given a run whose cleanup itself failed (the state machine keeps that error apart, at $.cleanup_error)
    run = make_run()
    cause = json.dumps(
        {"errorType": "AwsServiceUnavailableError", "errorMessage": "DeleteProvisionedModelThroughput: 503"}
    )
    state = {
        "run": run.model_dump(mode="json"),
        "error": {"Error": "EvaluationError", "Cause": "{}"},
        "cleanup_error": {"Error": "AwsServiceUnavailableError", "Cause": cause},
    }
    # When the failure is composed
    body = compose(NotifyInput.model_validate({"outcome": "FAILED", "state": state}))
    # Then the notice says cleanup failed, and why
    assert body["cleanup_error"] == "AwsServiceUnavailableError: DeleteProvisionedModelThroughput: 503"


def test_a_clean_failure_has_no_cleanup_error(make_run):
    state = {"run": make_run().model_dump(mode="json"), "cleanup": {"job": "no job", "throughput": "no throughput"}}
    assert "cleanup_error" not in compose(NotifyInput.model_validate({"outcome": "FAILED", "state": state}))


def test_a_success_carries_the_decision_its_interval_and_the_training_warnings(make_run):
    run = make_run()
    state = succeeded_state(run)
    state["evaluation"] = state["evaluation"].model_copy(
        update={
            "report_html_uri": "s3://artifacts/runs/x/evaluation/report.html",
            "decision": Decision(promote=True, metric="token_f1", reason="promote: token F1: ..."),
            "comparison": [
                MetricComparison(
                    metric="contains_match", custom=0.8, base=0.4, difference=0.4, ci_low=0.2, ci_high=0.6
                ),
                MetricComparison(metric="token_f1", custom=0.7, base=0.3, difference=0.4, ci_low=0.3, ci_high=0.5),
            ],
            "training": TrainingHealth(training_steps=3, warnings=["too short to judge: 3 training steps"]),
        }
    )
    body = compose(NotifyInput(outcome="SUCCEEDED", state=state))
    assert body["report"] == "s3://artifacts/runs/x/evaluation/report.html"  # the page with the charts
    assert body["decision"] == {
        "promote": True,
        "reason": "promote: token F1: ...",
        "token_f1": {"custom": 0.7, "base": 0.3, "difference": 0.4, "ci95": [0.3, 0.5]},
    }
    assert body["training_warnings"] == ["too short to judge: 3 training steps"]
    assert "judge" not in body  # the judge was off


def test_a_failed_judge_is_in_the_notification(make_run):
    run = make_run()
    state = succeeded_state(run)
    failed = JudgeSummary(status="Failed", model_id="amazon.nova-pro-v1:0", message="job x ended Failed")
    state["evaluation"] = state["evaluation"].model_copy(update={"judge": failed})
    body = compose(NotifyInput(outcome="SUCCEEDED", state=state))
    assert body["judge"] == {
        "status": "Failed",
        "model_id": "amazon.nova-pro-v1:0",
        "message": "job x ended Failed",
        "scored": {},
    }
