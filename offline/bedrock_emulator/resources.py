"""The emulated resources (jobs, custom models, provisioned throughputs, deployments) and how each is
described on the wire (the Get and List output shapes of botocore's service model)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from customizer.families import BaseModel, CustomizationType
from offline.bedrock_emulator.answering import Answerer
from offline.bedrock_emulator.reinforcement import RewardCurve
from offline.bedrock_emulator.training import DataCheck, Metrics, ObjectStore

# Job states
IN_PROGRESS, COMPLETED, FAILED, STOPPING, STOPPED = "InProgress", "Completed", "Failed", "Stopping", "Stopped"
# Throughput and deployment states
CREATING, IN_SERVICE, ACTIVE = "Creating", "InService", "Active"

COMMITMENT_DAYS = {"OneMonth": 31, "SixMonths": 183}


def _present(**values: Any) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


@dataclass
class Job:
    arn: str
    job_id: str
    model_id: str  # the id its custom model will have (taken at create: the ARN CreateModelCustomizationJob authorizes)
    name: str
    model_name: str
    token: str | None
    fingerprint: str  # the request without its token, for idempotent retries
    role_arn: str
    base_model: BaseModel
    base_model_arn: str
    customization_type: CustomizationType
    hyperparameters: dict[str, str]
    training_config: dict[str, Any]
    validation_config: dict[str, Any] | None
    output_config: dict[str, Any]
    kms_key_arn: str | None
    vpc_config: dict[str, Any] | None
    model_tags: list[dict[str, str]]
    created: datetime
    phase_ends: tuple[datetime, datetime, datetime]  # validation, data processing, training
    data: DataCheck
    stop_seconds: float
    status: str = IN_PROGRESS
    failure_message: str | None = None
    halted_at: datetime | None = None  # when it failed or was asked to stop
    end_time: datetime | None = None
    last_modified: datetime | None = None
    output_model_arn: str | None = None
    metrics: Metrics | None = None
    planned_failure: str | None = None  # fault injection: fail instead of completing
    planned_stop_at: datetime | None = None  # fault injection: stop itself
    customization_config: dict[str, Any] | None = None  # distillation: the teacher; RFT: grader, hyperparameters
    reward_curve: RewardCurve | None = None  # reinforcement fine-tuning, once its grader has been called
    objects: ObjectStore | None = None  # reads and writes as the job's role (service_roles), when authorizing

    @property
    def rft_grader(self) -> str:
        """A reinforcement fine-tuning job's reward function ARN ("" for other types)."""
        config = (self.customization_config or {}).get("rftConfig") or {}
        return str(((config.get("graderConfig") or {}).get("lambdaGrader") or {}).get("lambdaArn") or "")

    @property
    def rft_hyperparameters(self) -> dict[str, Any]:
        return dict(((self.customization_config or {}).get("rftConfig") or {}).get("hyperParameters") or {})

    @property
    def output_prefix(self) -> str:
        return f"{self.output_config['s3Uri'].rstrip('/')}/model-customization-job-{self.job_id}/"

    def status_details(self, now: datetime) -> dict[str, Any]:
        names = ("validationDetails", "dataProcessingDetails", "trainingDetails")
        starts = (self.created, self.phase_ends[0], self.phase_ends[1])
        details = {}
        for name, start, end in zip(names, starts, self.phase_ends, strict=True):
            status = self._phase_status(start, end, now)
            details[name] = _present(
                status=status,
                creationTime=start if status != "NotStarted" else None,
                lastModifiedTime=min(now, end, self.end_time or end) if status != "NotStarted" else None,
            )
        return details

    def _phase_status(self, start: datetime, end: datetime, now: datetime) -> str:
        if self.status == COMPLETED:
            return COMPLETED
        halted = self.halted_at
        if halted is None:  # still running
            return COMPLETED if now >= end else "NotStarted" if now < start else self.status
        # Halted (failed or stopped): the phase that was running then, including the one ending at that moment.
        if halted > end:
            return COMPLETED
        if halted < start or (halted == start and start != self.created):
            return "NotStarted"
        return self.status

    def describe(self, now: datetime) -> dict[str, Any]:
        metrics = self.metrics
        return _present(
            jobArn=self.arn,
            jobName=self.name,
            outputModelName=self.model_name,
            outputModelArn=self.output_model_arn,
            clientRequestToken=self.token,
            roleArn=self.role_arn,
            status=self.status,
            statusDetails=self.status_details(now),
            failureMessage=self.failure_message,
            creationTime=self.created,
            lastModifiedTime=self.last_modified or self.created,
            endTime=self.end_time,
            baseModelArn=self.base_model_arn,
            hyperParameters=self.hyperparameters,
            trainingDataConfig=self.training_config,
            validationDataConfig=self.validation_config or {"validators": []},
            outputDataConfig=self.output_config,
            customizationType=self.customization_type.value,
            customizationConfig=self.customization_config,
            outputModelKmsKeyArn=self.kms_key_arn,
            trainingMetrics={"trainingLoss": metrics.training_loss} if metrics else None,
            validationMetrics=[{"validationLoss": v} for v in metrics.validation_losses] if metrics else None,
            vpcConfig=self.vpc_config,
        )

    def summary(self, now: datetime) -> dict[str, Any]:
        return _present(
            jobArn=self.arn,
            baseModelArn=self.base_model_arn,
            jobName=self.name,
            status=self.status,
            statusDetails=self.status_details(now),
            lastModifiedTime=self.last_modified or self.created,
            creationTime=self.created,
            endTime=self.end_time,
            customModelArn=self.output_model_arn,
            customModelName=self.model_name,
            customizationType=self.customization_type.value,
        )


@dataclass
class CustomModel:
    arn: str
    name: str
    job: Job
    answerer: Answerer
    created: datetime
    account_id: str

    @property
    def base_model(self) -> BaseModel:
        return self.job.base_model

    def describe(self) -> dict[str, Any]:
        job, metrics = self.job, self.job.metrics
        return _present(
            modelArn=self.arn,
            modelName=self.name,
            jobName=job.name,
            jobArn=job.arn,
            baseModelArn=job.base_model_arn,
            customizationType=job.customization_type.value,
            modelKmsKeyArn=job.kms_key_arn,
            hyperParameters=job.hyperparameters,
            trainingDataConfig=job.training_config,
            validationDataConfig=job.validation_config or {"validators": []},
            outputDataConfig=job.output_config,
            trainingMetrics={"trainingLoss": metrics.training_loss} if metrics else None,
            validationMetrics=[{"validationLoss": v} for v in metrics.validation_losses] if metrics else None,
            creationTime=self.created,
            modelStatus=ACTIVE,
        )

    def summary(self) -> dict[str, Any]:
        return {
            "modelArn": self.arn,
            "modelName": self.name,
            "creationTime": self.created,
            "baseModelArn": self.job.base_model_arn,
            "baseModelName": self.base_model.model_id.split(":", 1)[0],
            "customizationType": self.job.customization_type.value,
            "ownerAccountId": self.account_id,
            "modelStatus": ACTIVE,
        }


@dataclass
class Throughput:
    arn: str
    name: str
    model_arn: str  # the custom model (or foundation model) it serves
    foundation_model_arn: str
    base_model: BaseModel
    model_units: int
    commitment: str | None
    token: str | None
    fingerprint: str
    created: datetime
    ready_at: datetime
    status: str = CREATING
    failure_message: str | None = None
    last_modified: datetime | None = None
    planned_failure: str | None = None

    @property
    def commitment_expires(self) -> datetime | None:
        if self.commitment is None:
            return None
        return self.ready_at + timedelta(days=COMMITMENT_DAYS[self.commitment])

    def summary(self) -> dict[str, Any]:
        return _present(
            provisionedModelName=self.name,
            provisionedModelArn=self.arn,
            modelArn=self.model_arn,
            desiredModelArn=self.model_arn,
            foundationModelArn=self.foundation_model_arn,
            modelUnits=self.model_units,
            desiredModelUnits=self.model_units,
            status=self.status,
            commitmentDuration=self.commitment,
            commitmentExpirationTime=self.commitment_expires if self.status == IN_SERVICE else None,
            creationTime=self.created,
            lastModifiedTime=self.last_modified or self.created,
        )

    def describe(self) -> dict[str, Any]:
        return _present(**self.summary(), failureMessage=self.failure_message)


@dataclass
class Deployment:
    arn: str
    name: str
    model: CustomModel
    description: str | None
    token: str | None
    fingerprint: str
    created: datetime
    ready_at: datetime
    status: str = CREATING
    failure_message: str | None = None
    last_updated: datetime | None = None

    def describe(self) -> dict[str, Any]:
        return _present(
            customModelDeploymentArn=self.arn,
            modelDeploymentName=self.name,
            modelArn=self.model.arn,
            createdAt=self.created,
            status=self.status,
            description=self.description,
            failureMessage=self.failure_message,
            lastUpdatedAt=self.last_updated,
        )

    def summary(self) -> dict[str, Any]:
        return _present(
            customModelDeploymentArn=self.arn,
            customModelDeploymentName=self.name,
            modelArn=self.model.arn,
            createdAt=self.created,
            status=self.status,
            lastUpdatedAt=self.last_updated,
            failureMessage=self.failure_message,
        )


@dataclass
class Resources:
    """Everything the emulator holds, by ARN, in creation order."""

    jobs: dict[str, Job] = field(default_factory=dict)
    models: dict[str, CustomModel] = field(default_factory=dict)
    throughputs: dict[str, Throughput] = field(default_factory=dict)
    deployments: dict[str, Deployment] = field(default_factory=dict)
    tags: dict[str, dict[str, str]] = field(default_factory=dict)
