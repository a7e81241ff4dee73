"""Step "Validate the run": check the request, settings and data before any money is spent."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel

from customizer.errors import RunAlreadyRunningError, RunInputError
from customizer.leases import claim_run
from customizer.models import ValidateInput
from customizer.run import validate_run
from customizer.settings import SweeperSettings
from handlers.observability import logger, metrics, read_environment, tracer


class _Env(BaseModel):
    DATA_BUCKET: str
    ARTIFACTS_BUCKET: str
    RUN_DEFAULTS: str
    SWEEPER: str  # the stack's sweeper settings: a kept throughput's lifetime, for the estimate of its hours
    # The stack's reward function and the users' own graders it may call (JSON list): the grader's check.
    REWARD_FUNCTION_ARN: str = ""
    GRADER_LAMBDA_ARNS: str = "[]"
    RUN_LEASES_TABLE: str  # the idempotency table, which also holds each run's lease (one execution per run)


ENV = read_environment(_Env)
DEFAULTS: dict[str, Any] = json.loads(ENV.RUN_DEFAULTS)
SWEEPER = SweeperSettings.model_validate_json(ENV.SWEEPER)
GRADER_LAMBDA_ARNS: list[str] = json.loads(ENV.GRADER_LAMBDA_ARNS)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
@event_parser(model=ValidateInput)
def handler(event: ValidateInput, context: LambdaContext) -> dict[str, Any]:
    leases: list[str] = []

    def claim(run_id: str) -> None:
        leases.append(claim_run(run_id, event.execution_arn, table=ENV.RUN_LEASES_TABLE))

    try:
        run = validate_run(
            event.request,
            execution_name=event.execution_name,
            defaults=DEFAULTS,
            data_bucket=ENV.DATA_BUCKET,
            artifacts_bucket=ENV.ARTIFACTS_BUCKET,
            sweeper=SWEEPER,
            reward_function_arn=ENV.REWARD_FUNCTION_ARN or None,
            grader_lambda_arns=GRADER_LAMBDA_ARNS,
            claim=claim,
        )
    except RunAlreadyRunningError:
        # Another execution of this run still runs: this one ends here, before it writes or creates anything.
        metrics.add_metric(name="DuplicateStarts", unit=MetricUnit.Count, value=1)
        raise
    except RunInputError:
        # The request, settings or data are wrong: counted, then raised for the state machine's Catch.
        metrics.add_metric(name="ValidationErrors", unit=MetricUnit.Count, value=1)
        raise
    logger.info("run validated", run_id=run.run_id, records=run.data.training.records, lease=leases)
    metrics.add_metric(name="RunsValidated", unit=MetricUnit.Count, value=1)
    # $.run.smoke is present only when a smoke test is planned: the state machine's "Smoke test first?" asks.
    return run.model_dump(mode="json", exclude={"smoke"} if run.smoke is None else None)
