"""Step "Check the job": its status, and its metrics once it has completed."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from customizer.jobs import check_job, job_seconds
from customizer.models import StateAfterJob
from handlers.observability import logger, metrics, tracer


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
@event_parser(model=StateAfterJob)
def handler(event: StateAfterJob, context: LambdaContext) -> dict[str, Any]:
    job = check_job(event.run, event.job)
    logger.info("job status", job_arn=job.job_arn, status=job.status)
    if job.status in ("Completed", "Failed", "Stopped"):
        metrics.add_metric(name=f"Jobs{job.status}", unit=MetricUnit.Count, value=1)
    if job.status == "Completed" and (seconds := job_seconds(job)) is not None:
        metrics.add_metric(name="JobDuration", unit=MetricUnit.Seconds, value=seconds)
    return job.model_dump(mode="json")
