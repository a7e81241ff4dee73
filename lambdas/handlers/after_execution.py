"""EventBridge rule target: an execution ended ABORTED, TIMED_OUT or FAILED. Clean up what it created
(the workflow's own "Clean up" state does not run when an execution is stopped or times out)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.parser.models import EventBridgeModel
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel

from customizer.aftercare import clean_up_execution, unreported_failure
from customizer.notify import publish_body
from handlers.observability import logger, metrics, read_environment, tracer


class ExecutionDetail(BaseModel):
    executionArn: str
    name: str
    status: str


class ExecutionStatusChange(EventBridgeModel):
    detail: ExecutionDetail


class _Env(BaseModel):
    TOPIC_ARN: str


ENV = read_environment(_Env)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
@event_parser(model=ExecutionStatusChange)
def handler(event: ExecutionStatusChange, context: LambdaContext) -> dict[str, Any]:
    detail = event.detail
    outcome = clean_up_execution(detail.name)
    acted = any(outcome.values())
    logger.info("cleaned up after execution", execution=detail.name, status=detail.status, outcome=outcome)
    # A FAILED execution that ended in "Run failed" went through "Clean up" and notified already: report only
    # what was left. One that failed elsewhere (its notify step itself failed) was never reported: report it.
    unreported = unreported_failure(detail.executionArn) if detail.status == "FAILED" else None
    if detail.status != "FAILED" or acted or unreported:
        reason = f"the execution ended {detail.status} without running its own cleanup"
        if unreported:
            reason = f"the execution ended FAILED without reporting it: {unreported}"
        publish_body(
            {
                "run_id": detail.name,
                "status": detail.status,
                "reason": reason,
                "execution": detail.executionArn,
                "cleanup": outcome,
            },
            ENV.TOPIC_ARN,
        )
    if acted:
        metrics.add_metric(name="ResourcesCleanedAfterExecution", unit=MetricUnit.Count, value=1)
    return outcome
