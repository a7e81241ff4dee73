"""Step "Evaluate custom against base": the whole test set in this step (up to
``settings.evaluation.fan_out_above`` examples); writes the report. Short of time, it saves its answers and
raises EvaluationPausedError: the state machine retries the step, which resumes."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from customizer.evaluation import evaluate
from customizer.models import Evaluation, StateAfterThroughput
from handlers.observability import logger, metrics, tracer


def record(result: Evaluation) -> None:
    """Log and publish the evaluation's headline figures (shared with "Aggregate the evaluation")."""
    logger.info(
        "evaluated",
        custom=result.custom.accuracy,
        base=result.base.accuracy,
        promote=result.custom_beats_base,
        decision=result.decision.reason if result.decision else None,
        training_warnings=result.training.warnings if result.training else [],
        report=result.report_html_uri,
    )
    metrics.add_metric(name="CustomAccuracy", unit=MetricUnit.Percent, value=100 * result.custom.accuracy)
    metrics.add_metric(name="BaseAccuracy", unit=MetricUnit.Percent, value=100 * result.base.accuracy)
    metrics.add_metric(name="EvaluationErrors", unit=MetricUnit.Count, value=result.custom.errors + result.base.errors)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
@event_parser(model=StateAfterThroughput)
def handler(event: StateAfterThroughput, context: LambdaContext) -> dict[str, Any]:
    result = evaluate(
        event.run, event.throughput, event.job, time_left=lambda: context.get_remaining_time_in_millis() / 1000
    )
    record(result)
    return result.model_dump(mode="json")
