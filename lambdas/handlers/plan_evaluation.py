"""Step "Plan the evaluation": one step for the whole test set, or chunk objects for the Distributed Map
when it has more than ``settings.evaluation.fan_out_above`` examples."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from customizer.evaluation import plan
from customizer.models import StateAfterThroughput
from handlers.observability import logger, metrics, tracer


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
@event_parser(model=StateAfterThroughput)
def handler(event: StateAfterThroughput, context: LambdaContext) -> dict[str, Any]:
    result = plan(event.run, event.throughput)
    logger.info("evaluation planned", examples=result.examples, fan_out=result.fan_out, chunks=len(result.chunks))
    return result.model_dump(mode="json")
