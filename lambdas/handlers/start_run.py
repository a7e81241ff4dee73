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
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel

from customizer.trigger import start_from_upload
from handlers.observability import logger, metrics, read_environment, tracer


class _Bucket(BaseModel):
    name: str


class _Object(BaseModel):
    key: str
    eTag: str | None = None
    versionId: str | None = None
    sequencer: str | None = None


class _S3(BaseModel):
    bucket: _Bucket
    object: _Object


class UploadRecord(BaseModel):
    """The parts of an S3 event record this trigger uses (Powertools' S3Model also requires identity
    fields that the trigger never reads)."""

    eventName: str
    s3: _S3


class UploadEvent(BaseModel):
    Records: list[UploadRecord]


class _Env(BaseModel):
    STATE_MACHINE_ARN: str
    RUN_PREFIX: str
    IDEMPOTENCY_TABLE: str


ENV = read_environment(_Env)
PERSISTENCE = DynamoDBPersistenceLayer(table_name=ENV.IDEMPOTENCY_TABLE)
# One upload = one object version: S3 may deliver its event more than once.
IDEMPOTENCY = IdempotencyConfig(event_key_jmespath="s3.[bucket.name, object.key, object.versionId, object.sequencer]")


@idempotent_function(data_keyword_argument="record", config=IDEMPOTENCY, persistence_store=PERSISTENCE)
def _start(record: UploadRecord) -> dict[str, Any]:
    obj = record.s3.object
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
@event_parser(model=UploadEvent)
def handler(event: UploadEvent, context: LambdaContext) -> list[dict[str, Any]]:
    IDEMPOTENCY.register_lambda_context(context)
    results = []
    for record in event.Records:
        result: dict[str, Any] = _start(record=record)
        logger.info("upload handled", **result)
        if result.get("started"):
            metrics.add_metric(name="RunsStarted", unit=MetricUnit.Count, value=1)
        results.append(result)
    return results
