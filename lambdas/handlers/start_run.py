"""S3 trigger: a ``manifest.json`` uploaded under the run prefix starts one run."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.parser.models import S3Model, S3RecordModel
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel

from customizer.trigger import start_from_upload
from handlers.observability import logger, metrics, read_environment, tracer


class _Env(BaseModel):
    STATE_MACHINE_ARN: str
    RUN_PREFIX: str
    IDEMPOTENCY_TABLE: str


ENV = read_environment(_Env)
PERSISTENCE = DynamoDBPersistenceLayer(table_name=ENV.IDEMPOTENCY_TABLE)
# One upload = one object version: S3 may deliver its event more than once.
IDEMPOTENCY = IdempotencyConfig(event_key_jmespath="s3.[bucket.name, object.key, object.versionId, object.sequencer]")


@idempotent_function(data_keyword_argument="record", config=IDEMPOTENCY, persistence_store=PERSISTENCE)
def _start(record: S3RecordModel) -> dict[str, Any]:
    obj = record.s3.object
    if obj is None:
        return {"started": False, "reason": "the event names no object"}
    return start_from_upload(
        record.s3.bucket.name,
        obj.key,
        obj.versionId,
        obj.eTag,
        prefix=ENV.RUN_PREFIX,
        state_machine_arn=ENV.STATE_MACHINE_ARN,
    )


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
@event_parser(model=S3Model)
def handler(event: S3Model, context: LambdaContext) -> list[dict[str, Any]]:
    IDEMPOTENCY.register_lambda_context(context)
    results = []
    for record in event.Records:
        result: dict[str, Any] = _start(record=record)
        logger.info("upload handled", **result)
        if result.get("started"):
            metrics.add_metric(name="RunsStarted", unit=MetricUnit.Count, value=1)
        results.append(result)
    return results
