"""Steps "Check the job" (its status, and its metrics once it has completed) and "Check the smoke job"
(``smoke: true``: its status; its custom model is deleted once it has completed)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from customizer.jobs import check_job, check_smoke_job, job_seconds
from customizer.models import CheckJobInput
from handlers.observability import logger, metrics, tracer


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
@event_parser(model=CheckJobInput)
def handler(event: CheckJobInput, context: LambdaContext) -> dict[str, Any]:
    if event.smoke:
        smoke = check_smoke_job(event.run, event.job)
        logger.info("smoke job status", job_arn=smoke.job_arn, status=smoke.status, **smoke.metrics)
        if smoke.status in ("Completed", "Failed", "Stopped"):
            metrics.add_metric(name=f"SmokeJobs{smoke.status}", unit=MetricUnit.Count, value=1)
        return smoke.model_dump(mode="json")
    job = check_job(event.run, event.job)
    logger.info("job status", job_arn=job.job_arn, status=job.status)
    if job.status in ("Completed", "Failed", "Stopped"):
        metrics.add_metric(name=f"Jobs{job.status}", unit=MetricUnit.Count, value=1)
    if job.status == "Completed" and (seconds := job_seconds(job)) is not None:
        metrics.add_metric(name="JobDuration", unit=MetricUnit.Seconds, value=seconds)
    return job.model_dump(mode="json")
