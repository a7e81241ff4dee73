"""EventBridge rule target: an execution ended. Write its run record (DynamoDB, and JSON beside the report)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel

from customizer import aws
from customizer.records import build_record, save_record
from handlers.after_execution import ExecutionStatusChange
from handlers.observability import logger, metrics, read_environment, tracer


class _Env(BaseModel):
    RUNS_TABLE: str
    ARTIFACTS_BUCKET: str


ENV = read_environment(_Env)


def _history(execution_arn: str) -> list[dict[str, Any]]:
    sfn = aws.client("stepfunctions")
    events: list[dict[str, Any]] = []
    with aws.translate_errors("GetExecutionHistory"):
        for page in sfn.get_paginator("get_execution_history").paginate(executionArn=execution_arn):
            events.extend(page["events"])
    return events


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
@event_parser(model=ExecutionStatusChange)
def handler(event: ExecutionStatusChange, context: LambdaContext) -> dict[str, Any]:
    arn = event.detail.executionArn
    with aws.translate_errors("DescribeExecution"):
        description = aws.client("stepfunctions").describe_execution(executionArn=arn)
    record = build_record(description, _history(arn))
    uri = save_record(record, table=ENV.RUNS_TABLE, artifacts_bucket=ENV.ARTIFACTS_BUCKET)
    logger.info("run recorded", execution=record["execution"], status=record["status"], record=uri)
    # ExecutionsSucceeded, ExecutionsFailed, ExecutionsAborted, ExecutionsTimedOut.
    metrics.add_metric(name=f"Executions{record['status'].title().replace('_', '')}", unit=MetricUnit.Count, value=1)
    hours = record.get("throughput_hours_incurred")
    if hours:
        metrics.add_metric(name="ThroughputHours", unit=MetricUnit.Count, value=hours)
        # Beside what was estimated before the run, for the same throughput: how good the estimate is.
        estimated = record.get("throughput_hours_estimated")
        if estimated is not None:
            metrics.add_metric(name="EstimatedThroughputHours", unit=MetricUnit.Count, value=estimated)
    return {"execution": record["execution"], "status": record["status"], "record": uri}
