"""Step "Create the throughput" for the custom model (idempotent, no commitment by default)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyAlreadyInProgressError
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel

from customizer.errors import StepInProgressError
from customizer.models import StateAfterJob
from customizer.throughput import create_throughput
from handlers.observability import logger, metrics, read_environment, tracer


class _Env(BaseModel):
    IDEMPOTENCY_TABLE: str
    PIPELINE_TAG: str


ENV = read_environment(_Env)
PERSISTENCE = DynamoDBPersistenceLayer(table_name=ENV.IDEMPOTENCY_TABLE)
IDEMPOTENCY = IdempotencyConfig(event_key_jmespath="run.names.throughput_name", expires_after_seconds=7 * 24 * 3600)


@idempotent_function(data_keyword_argument="state", config=IDEMPOTENCY, persistence_store=PERSISTENCE)
def _create(state: StateAfterJob) -> dict[str, Any]:
    throughput = create_throughput(state.run, state.job, pipeline_tag=ENV.PIPELINE_TAG)
    metrics.add_metric(name="ThroughputsCreated", unit=MetricUnit.Count, value=1)
    return throughput.model_dump(mode="json")


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
@event_parser(model=StateAfterJob)
def handler(event: StateAfterJob, context: LambdaContext) -> dict[str, Any]:
    IDEMPOTENCY.register_lambda_context(context)
    try:
        throughput: dict[str, Any] = _create(state=event)
    except IdempotencyAlreadyInProgressError as exc:
        raise StepInProgressError(str(exc)) from exc
    logger.info("throughput", arn=throughput["arn"], status=throughput["status"])
    return throughput
