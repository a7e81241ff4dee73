"""Steps "Start the judge", "Check the judge" and "Conclude with the judge" (``settings.evaluation.judge``):
one function, the step named in its input (``customizer.evaluation.judge`` says what each does)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel

from customizer.evaluation import judge
from customizer.models import JudgeInput, StateAfterEvaluation, StateAfterJudge
from handlers.evaluate import record
from handlers.observability import logger, metrics, read_environment, tracer


class _Env(BaseModel):
    EVALUATION_ROLE_ARN: str
    KMS_KEY_ARN: str
    PIPELINE_TAG: str


ENV = read_environment(_Env)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
@event_parser(model=JudgeInput)
def handler(event: JudgeInput, context: LambdaContext) -> dict[str, Any]:
    if event.step == "start":
        state = StateAfterEvaluation.model_validate(event.state)
        started = judge.start(
            state.run, role_arn=ENV.EVALUATION_ROLE_ARN, kms_key_arn=ENV.KMS_KEY_ARN, pipeline_tag=ENV.PIPELINE_TAG
        )
        logger.info("judge started", jobs=[j.job_arn for j in started.jobs])
        metrics.add_metric(name="JudgeJobsCreated", unit=MetricUnit.Count, value=len(started.jobs))
        return started.model_dump(mode="json")
    after = StateAfterJudge.model_validate(event.state)
    if event.step == "check":
        checked = judge.check(after.run, after.judge)
        logger.info("judge status", status=checked.status, detail=checked.message)
        if checked.status != "InProgress":
            metrics.add_metric(name=f"Judge{checked.status}", unit=MetricUnit.Count, value=1)
        return checked.model_dump(mode="json")
    concluded = judge.conclude(after.run, after.throughput, after.job, after.evaluation, after.judge)
    record(concluded)
    return concluded.model_dump(mode="json")
