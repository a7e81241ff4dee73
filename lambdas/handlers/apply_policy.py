"""Step "Apply the throughput policy": keep, delete, or keep only if the custom model beats its base."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from customizer.models import StateAfterEvaluation
from customizer.policy import apply_policy
from customizer.throughput import hours_alive
from handlers.observability import logger, metrics, tracer


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
@event_parser(model=StateAfterEvaluation)
def handler(event: StateAfterEvaluation, context: LambdaContext) -> dict[str, Any]:
    policy = apply_policy(event.run, event.throughput, event.evaluation, model_arn=event.job.model_arn)
    logger.info("throughput policy", action=policy.action, reason=policy.reason)
    if policy.deleted_now and (hours := hours_alive(event.throughput)) is not None:
        metrics.add_metric(name="DeletedThroughputHours", unit=MetricUnit.Count, value=hours)
    return policy.model_dump(mode="json")
