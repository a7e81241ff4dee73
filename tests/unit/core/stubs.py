"""Bedrock answers for the Stubber-based tests: customization jobs and provisioned throughputs, shaped as
botocore's service model requires (the Stubber validates them)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from customizer.models import Run

JOB_ID = "a1b2c3d4e5f6"
JOB_ARN = f"arn:aws:bedrock:us-east-1:123456789012:model-customization-job/amazon.titan-text-express-v1:0:8k/{JOB_ID}"
MODEL_ARN = "arn:aws:bedrock:us-east-1:123456789012:custom-model/amazon.titan-text-express-v1:0:8k/abcdef123456"
THROUGHPUT_ARN = "arn:aws:bedrock:us-east-1:123456789012:provisioned-model/pt0123456789"
ROLE_ARN = "arn:aws:iam::123456789012:role/customization"
KMS_KEY_ARN = "arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555"


def job_response(run: Run, status: str, *, arn: str = JOB_ARN, **extra: Any) -> dict[str, Any]:
    """GetModelCustomizationJob's answer for a run's job."""
    response: dict[str, Any] = {
        "jobArn": arn,
        "jobName": run.names.job_name,
        "outputModelName": run.names.model_name,
        "roleArn": ROLE_ARN,
        "creationTime": datetime(2025, 1, 1, tzinfo=UTC),
        "baseModelArn": f"arn:aws:bedrock:us-east-1::foundation-model/{run.settings.base_model_id}",
        "trainingDataConfig": {"s3Uri": run.data.training.uri},
        "validationDataConfig": {"validators": []},
        "outputDataConfig": {"s3Uri": run.output_uri},
        "status": status,
    }
    if status == "Completed":
        response["outputModelArn"] = MODEL_ARN
    response.update(extra)
    return response


def throughput_response(
    run: Run,
    status: str,
    *,
    arn: str = THROUGHPUT_ARN,
    created: datetime | None = None,
    commitment: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """GetProvisionedModelThroughput's answer for a run's throughput."""
    created = created or datetime.now(UTC)
    response: dict[str, Any] = {
        "modelUnits": run.settings.model_units,
        "desiredModelUnits": run.settings.model_units,
        "provisionedModelName": run.names.throughput_name,
        "provisionedModelArn": arn,
        "modelArn": MODEL_ARN,
        "desiredModelArn": MODEL_ARN,
        "foundationModelArn": f"arn:aws:bedrock:us-east-1::foundation-model/{run.settings.base_model_id}",
        "status": status,
        "creationTime": created,
        "lastModifiedTime": created,
    }
    if commitment:
        response["commitmentDuration"] = commitment
    response.update(extra)
    return response


DEPLOYMENT_ARN = "arn:aws:bedrock:us-east-1:123456789012:custom-model-deployment/od0123456789"


def deployment_response(arn: str, name: str, status: str = "Active", **extra: Any) -> dict[str, Any]:
    """GetCustomModelDeployment's answer."""
    return {
        "customModelDeploymentArn": arn,
        "modelDeploymentName": name,
        "modelArn": MODEL_ARN,
        "createdAt": datetime(2026, 1, 1, tzinfo=UTC),
        "status": status,
        **extra,
    }


def deployment_summary(arn: str, name: str) -> dict[str, Any]:
    """One ListCustomModelDeployments summary."""
    return {
        "customModelDeploymentArn": arn,
        "customModelDeploymentName": name,
        "modelArn": MODEL_ARN,
        "createdAt": datetime(2026, 1, 1, tzinfo=UTC),
        "status": "Active",
    }
