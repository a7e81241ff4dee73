"""Provisioned throughput: create it once, check it, delete it. Billing runs from creation to deletion."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from customizer import aws
from customizer.errors import ResourceMissingError, WaitTimeoutError
from customizer.jobs import pipeline_tags
from customizer.models import Job, Run, Throughput


def _from(response: dict[str, Any]) -> Throughput:
    created = response.get("creationTime")
    return Throughput(
        arn=response["provisionedModelArn"],
        name=response["provisionedModelName"],
        status=response["status"],
        model_units=int(response.get("modelUnits", 0)),
        commitment=response.get("commitmentDuration"),
        failure_message=response.get("failureMessage"),
        created_at=created.isoformat() if isinstance(created, datetime) else created,
    )


def find_throughput(name_or_arn: str) -> Throughput | None:
    try:
        with aws.translate_errors("GetProvisionedModelThroughput"):
            response = aws.client("bedrock").get_provisioned_model_throughput(provisionedModelId=name_or_arn)
    except ResourceMissingError:
        return None
    return _from(response)


def create_throughput(run: Run, job: Job, *, pipeline_tag: str) -> Throughput:
    """Create the throughput for the job's custom model, or return the one this run already created."""
    existing = find_throughput(run.names.throughput_name)
    if existing:
        return existing
    if not job.model_arn:
        raise ResourceMissingError(f"job {job.job_name} completed without a custom model ARN")
    request: dict[str, Any] = {
        "clientRequestToken": run.names.client_token,
        "modelUnits": run.settings.model_units,
        "provisionedModelName": run.names.throughput_name,
        "modelId": job.model_arn,
        "tags": pipeline_tags(run, pipeline_tag),
    }
    if run.settings.commitment:
        request["commitmentDuration"] = run.settings.commitment
    bedrock = aws.client("bedrock")
    try:
        arn = bedrock.create_provisioned_model_throughput(**request)["provisionedModelArn"]
    except ClientError as exc:
        if aws.error_code(exc) in ("ConflictException", "ResourceInUseException"):
            again = find_throughput(run.names.throughput_name)
            if again:
                return again
        with aws.translate_errors("CreateProvisionedModelThroughput"):
            raise
    created = find_throughput(arn)
    if created is None:
        raise ResourceMissingError(f"throughput {arn} was created but cannot be read back")
    return created


def check_throughput(run: Run, throughput: Throughput, *, now: datetime | None = None) -> Throughput:
    """The throughput's status. WaitTimeoutError when it is not in service within the timeout."""
    current = find_throughput(throughput.arn)
    if current is None:
        raise ResourceMissingError(f"throughput {throughput.name} no longer exists")
    if current.status in ("Creating", "Updating") and current.created_at:
        limit = timedelta(minutes=run.settings.timeouts.throughput_minutes)
        if (now or datetime.now(UTC)) - datetime.fromisoformat(current.created_at) > limit:
            raise WaitTimeoutError(
                f"throughput {current.name} still {current.status} after settings.timeouts.throughput_minutes="
                f"{run.settings.timeouts.throughput_minutes}; the run deletes it"
            )
    return current


def hours_alive(throughput: Throughput | None, *, now: datetime | None = None) -> float | None:
    """Hours since the throughput was created (what it has billed so far); None when unknown."""
    if throughput is None or not throughput.created_at:
        return None
    seconds = ((now or datetime.now(UTC)) - datetime.fromisoformat(throughput.created_at)).total_seconds()
    return round(max(0.0, seconds) / 3600, 4)


def delete_throughput(name_or_arn: str) -> str:
    """Delete the throughput if it exists; say what happened. Billing stops on delete."""
    current = find_throughput(name_or_arn)
    if current is None:
        return "no throughput"
    try:
        with aws.translate_errors("DeleteProvisionedModelThroughput"):
            aws.client("bedrock").delete_provisioned_model_throughput(provisionedModelId=current.arn)
    except ResourceMissingError:
        return "no throughput"
    return f"deleted throughput {current.name}"
