"""Step "Aggregate the evaluation": the chunks' answers, in test-set order, scored, compared and decided as
one evaluation; writes the report. Its result is the same as "Evaluate custom against base" would give."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from customizer.evaluation import aggregate
from customizer.models import StateAfterPlan
from handlers.evaluate import record
from handlers.observability import logger, metrics, tracer


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
@event_parser(model=StateAfterPlan)
def handler(event: StateAfterPlan, context: LambdaContext) -> dict[str, Any]:
    result = aggregate(event.run, event.throughput, event.job, event.evaluation_plan)
    record(result)
    return result.model_dump(mode="json")
