"""Step "Check the throughput": Creating, InService, Updating or Failed."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from customizer.models import StateAfterThroughput
from customizer.throughput import check_throughput
from handlers.observability import logger, metrics, tracer


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
@event_parser(model=StateAfterThroughput)
def handler(event: StateAfterThroughput, context: LambdaContext) -> dict[str, Any]:
    throughput = check_throughput(event.run, event.throughput)
    logger.info("throughput status", arn=throughput.arn, status=throughput.status)
    return throughput.model_dump(mode="json")
