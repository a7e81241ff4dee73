"""The outcome of a run, as one message on the topic: run id, status, reason, where the report is."""

from __future__ import annotations

import json
from typing import Any

from customizer import aws
from customizer.models import Evaluation, NotifyInput

SUBJECT_LIMIT = 100


def _cause_message(cause: str) -> str:
    """A caught Lambda error's Cause is its JSON error body: keep the message."""
    try:
        parsed = json.loads(cause)
    except (TypeError, ValueError):
        return cause
    return str(parsed.get("errorMessage", cause)) if isinstance(parsed, dict) else cause


def _reason(message: NotifyInput) -> str:
    state = message.state
    if message.outcome == "SUCCEEDED":
        return state.policy.reason if state.policy else "run completed"
    if state.error:
        return f"{state.error.Error}: {_cause_message(state.error.Cause)}"
    if state.job and state.job.status in ("Failed", "Stopped"):
        return f"customization job {state.job.status}: {state.job.failure_message or 'no message'}"
    if state.smoke_job and state.smoke_job.status in ("Failed", "Stopped"):
        message_text = state.smoke_job.failure_message or "no message"
        return f"smoke job {state.smoke_job.status} (the full job was not started): {message_text}"
    if state.throughput and state.throughput.status == "Failed":
        return f"throughput Failed: {state.throughput.failure_message or 'no message'}"
    return "run failed"


def compose(message: NotifyInput) -> dict[str, Any]:
    state = message.state
    run_id = state.run.run_id if state.run else (state.run_name or "unknown")
    body: dict[str, Any] = {
        "run_id": run_id,
        "status": message.outcome,
        "reason": _reason(message),
        "report": (state.evaluation.report_html_uri or state.evaluation.report_markdown_uri)
        if state.evaluation
        else None,
        "job": state.job.job_arn if state.job else None,
        "custom_model": state.job.model_arn if state.job else None,
        "throughput": state.throughput.arn if state.throughput else None,
        "throughput_policy": state.policy.action if state.policy else None,
        "cleanup": state.cleanup,
    }
    if state.run and state.run.warnings:
        body["warnings"] = state.run.warnings
    if state.cleanup_error:
        # Cleanup itself failed: the job or throughput may still be running and billing.
        body["cleanup_error"] = f"{state.cleanup_error.Error}: {_cause_message(state.cleanup_error.Cause)}"
    if state.evaluation:
        body.update(_evaluation(state.evaluation))
    return body


def _evaluation(evaluation: Evaluation) -> dict[str, Any]:
    """The evaluation's headline: accuracy, the promotion decision with its metric's interval, training warnings."""
    found: dict[str, Any] = {"accuracy": {"custom": evaluation.custom.accuracy, "base": evaluation.base.accuracy}}
    if evaluation.decision:
        decision: dict[str, Any] = {"promote": evaluation.decision.promote, "reason": evaluation.decision.reason}
        for compared in evaluation.comparison:
            if compared.metric == evaluation.decision.metric:
                decision[compared.metric] = {
                    "custom": compared.custom,
                    "base": compared.base,
                    "difference": compared.difference,
                    "ci95": [compared.ci_low, compared.ci_high],
                }
        found["decision"] = decision
    if evaluation.teacher:
        # A distillation's teacher, the evaluation's third arm.
        found["accuracy"]["teacher"] = evaluation.teacher.accuracy
    if evaluation.training:
        found["training_warnings"] = evaluation.training.warnings
    if evaluation.judge:
        # settings.evaluation.judge: whether it graded the answers, and why not when it failed.
        found["judge"] = evaluation.judge.model_dump(mode="json", include={"status", "model_id", "message", "scored"})
    return found


def publish(message: NotifyInput, topic_arn: str) -> dict[str, Any]:
    body = compose(message)
    publish_body(body, topic_arn)
    return body


def publish_body(body: dict[str, Any], topic_arn: str) -> None:
    """Publish one outcome message (``run_id`` and ``status`` name it in the subject)."""
    subject = f"Bedrock customization {body['status'].lower()}: {body['run_id']}"[:SUBJECT_LIMIT]
    with aws.translate_errors("publishing the outcome"):
        aws.client("sns").publish(
            TopicArn=topic_arn,
            Subject=subject,
            Message=json.dumps(body, indent=2),
            MessageAttributes={"status": {"DataType": "String", "StringValue": body["status"]}},
        )
