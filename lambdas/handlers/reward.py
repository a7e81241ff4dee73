"""The reward function Bedrock calls during a reinforcement fine-tuning job whose grader is one of the
project's scorers (settings.grader): a batch of records in, one score per record out, in the format of the
Bedrock user guide, "Setting up reward functions for Amazon Nova models" (reward-functions.html, "Lambda
function implementation details"). Shared by every run: the grader is read from each record
(customizer.grading.reward). Not a step of the state machine."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from customizer.grading.reward import reward
from handlers.observability import logger, metrics, tracer


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: Any, context: LambdaContext) -> list[dict[str, Any]]:
    results = reward(event)
    metrics.add_metric(name="RecordsGraded", unit=MetricUnit.Count, value=len(results))
    logger.info("batch graded", records=len(results))
    return results
