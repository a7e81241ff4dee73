"""Steps "Notify success" and "Notify failure": publish the outcome to the topic."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel

from customizer.models import NotifyInput
from customizer.notify import publish
from handlers.observability import logger, metrics, read_environment, tracer


class _Env(BaseModel):
    TOPIC_ARN: str


ENV = read_environment(_Env)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
@event_parser(model=NotifyInput)
def handler(event: NotifyInput, context: LambdaContext) -> dict[str, Any]:
    body = publish(event, ENV.TOPIC_ARN)
    logger.info("outcome published", run_id=body["run_id"], status=body["status"])
    metrics.add_metric(
        name="RunsSucceeded" if event.outcome == "SUCCEEDED" else "RunsFailed", unit=MetricUnit.Count, value=1
    )
    return body
