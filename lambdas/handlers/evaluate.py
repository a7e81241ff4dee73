"""Step "Evaluate custom against base" on the held-out test set; writes the report."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from customizer.evaluation import evaluate
from customizer.models import StateAfterThroughput
from handlers.observability import logger, metrics, tracer


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
@event_parser(model=StateAfterThroughput)
def handler(event: StateAfterThroughput, context: LambdaContext) -> dict[str, Any]:
    result = evaluate(event.run, event.throughput)
    logger.info("evaluated", custom=result.custom.accuracy, base=result.base.accuracy, report=result.report_uri)
    metrics.add_metric(name="CustomAccuracy", unit=MetricUnit.Percent, value=100 * result.custom.accuracy)
    metrics.add_metric(name="BaseAccuracy", unit=MetricUnit.Percent, value=100 * result.base.accuracy)
    return result.model_dump(mode="json")
