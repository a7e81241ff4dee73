"""Step "Evaluate one chunk" (inside the Distributed Map): both models answer one chunk of the test set; the
answers are saved beside the chunk for "Aggregate the evaluation". Short of time, it saves what it has and
raises EvaluationPausedError: the retried step resumes."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from customizer.evaluation import evaluate_chunk
from customizer.models import ChunkInput
from handlers.observability import logger, metrics, tracer


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
@event_parser(model=ChunkInput)
def handler(event: ChunkInput, context: LambdaContext) -> dict[str, Any]:
    result = evaluate_chunk(
        event.run, event.throughput, event.chunk, time_left=lambda: context.get_remaining_time_in_millis() / 1000
    )
    logger.info("chunk evaluated", **result)
    return result
