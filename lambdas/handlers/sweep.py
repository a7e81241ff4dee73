"""Scheduled sweep (EventBridge rule), or a manual run: delete the pipeline's throughput (and on-demand
deployments) past their lifetime unless tagged keep=true, report to the topic, emit the metrics the
alarms watch.

A scheduled event uses the configured options (``SWEEP_OPTIONS``). Any other event is a manual run: a JSON
object of options merged over the configured ones, e.g. ``{"max_throughput_hours": 0, "dry_run": true}``;
an unknown key is an error, so a misspelt ``dry_run`` can never sweep for real."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict, model_validator

from customizer.notify import publish_body
from customizer.settings import SweepOptions
from customizer.sweeper import resolve_options, sweep
from handlers.observability import logger, metrics, read_environment, tracer


class SweepRequest(BaseModel):
    """The options a manual run overrides; a scheduled event overrides none."""

    model_config = ConfigDict(extra="forbid")

    max_throughput_hours: float | None = None
    delete_orphan_models: bool | None = None
    dry_run: bool | None = None

    @model_validator(mode="before")
    @classmethod
    def _a_scheduled_event_overrides_nothing(cls, value: Any) -> Any:
        if isinstance(value, dict) and value.get("source") == "aws.events":
            return {}
        return value


class _Env(BaseModel):
    TOPIC_ARN: str
    PIPELINE_TAG: str
    SWEEP_OPTIONS: str


ENV = read_environment(_Env)
CONFIGURED = SweepOptions.model_validate_json(ENV.SWEEP_OPTIONS)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
@event_parser(model=SweepRequest)
def handler(event: SweepRequest, context: LambdaContext) -> dict[str, Any]:
    options = resolve_options(CONFIGURED, event.model_dump(exclude_none=True))
    now = datetime.now(UTC)
    report = sweep(options, pipeline_tag=ENV.PIPELINE_TAG, now=now)
    body = report.body(now)
    logger.info("swept", **body)
    if report.worth_reporting:
        publish_body(body, ENV.TOPIC_ARN)
    # Every sweep emits it, zero included: the lifetime alarm watches it.
    metrics.add_metric(name="ThroughputsOverLifetime", unit=MetricUnit.Count, value=report.serving_over_lifetime)
    serving = report.having("deleted", kinds=("provisioned throughput", "on-demand deployment"))
    metrics.add_metric(name="ThroughputsSwept", unit=MetricUnit.Count, value=len(serving))
    if models := report.having("deleted", kinds=("custom model",)):
        metrics.add_metric(name="CustomModelsSwept", unit=MetricUnit.Count, value=len(models))
    for hours in report.deleted_throughput_hours:
        metrics.add_metric(name="DeletedThroughputHours", unit=MetricUnit.Count, value=hours)
    return body
