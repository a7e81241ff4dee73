"""Steps "Create the customization job" and "Create the smoke job" (``smoke: true``; idempotent: a retried
or duplicated start finds its job)."""

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
from customizer.jobs import create_job
from customizer.models import CreateJobInput, Run
from handlers.observability import logger, metrics, read_environment, tracer


class _Env(BaseModel):
    CUSTOMIZATION_ROLE_ARN: str
    KMS_KEY_ARN: str
    IDEMPOTENCY_TABLE: str
    PIPELINE_TAG: str
    # The stack's reward function (stacks/grader.py): the grader of an RFT job graded by the project's scorers.
    REWARD_FUNCTION_ARN: str = ""


ENV = read_environment(_Env)
PERSISTENCE = DynamoDBPersistenceLayer(table_name=ENV.IDEMPOTENCY_TABLE)
# The job's identity is its client token, derived from the data's content and the settings.
IDEMPOTENCY = IdempotencyConfig(event_key_jmespath="names.client_token", expires_after_seconds=7 * 24 * 3600)
SMOKE_IDEMPOTENCY = IdempotencyConfig(event_key_jmespath="smoke.client_token", expires_after_seconds=7 * 24 * 3600)


@idempotent_function(data_keyword_argument="run", config=IDEMPOTENCY, persistence_store=PERSISTENCE)
def _create(run: Run) -> dict[str, Any]:
    job = create_job(
        run,
        role_arn=ENV.CUSTOMIZATION_ROLE_ARN,
        kms_key_arn=ENV.KMS_KEY_ARN,
        pipeline_tag=ENV.PIPELINE_TAG,
        reward_function_arn=ENV.REWARD_FUNCTION_ARN or None,
    )
    metrics.add_metric(name="JobsCreated", unit=MetricUnit.Count, value=1)
    return job.model_dump(mode="json")


@idempotent_function(data_keyword_argument="run", config=SMOKE_IDEMPOTENCY, persistence_store=PERSISTENCE)
def _create_smoke(run: Run) -> dict[str, Any]:
    job = create_job(
        run,
        role_arn=ENV.CUSTOMIZATION_ROLE_ARN,
        kms_key_arn=ENV.KMS_KEY_ARN,
        pipeline_tag=ENV.PIPELINE_TAG,
        reward_function_arn=ENV.REWARD_FUNCTION_ARN or None,
        smoke=True,
    )
    metrics.add_metric(name="SmokeJobsCreated", unit=MetricUnit.Count, value=1)
    return job.model_dump(mode="json")


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
@event_parser(model=CreateJobInput)
def handler(event: CreateJobInput, context: LambdaContext) -> dict[str, Any]:
    IDEMPOTENCY.register_lambda_context(context)
    SMOKE_IDEMPOTENCY.register_lambda_context(context)
    try:
        job: dict[str, Any] = _create_smoke(run=event.run) if event.smoke else _create(run=event.run)
    except IdempotencyAlreadyInProgressError as exc:
        raise StepInProgressError(str(exc)) from exc
    logger.info("customization job", job_arn=job["job_arn"], status=job["status"])
    return job
