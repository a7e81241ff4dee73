"""Step "Clean up": on every failure path, stop the job if it runs and delete the throughput."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from customizer.cleanup import clean_up
from customizer.models import AnyState
from customizer.throughput import hours_alive
from handlers.observability import logger, metrics, tracer


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
@event_parser(model=AnyState)
def handler(event: AnyState, context: LambdaContext) -> dict[str, Any]:
    outcome = clean_up(event)
    logger.info("cleaned up", **outcome)
    metrics.add_metric(name="Cleanups", unit=MetricUnit.Count, value=1)
    deleted = str(outcome["throughput"]).startswith("deleted throughput")
    if deleted and (hours := hours_alive(event.throughput)) is not None:
        metrics.add_metric(name="DeletedThroughputHours", unit=MetricUnit.Count, value=hours)
    return outcome
