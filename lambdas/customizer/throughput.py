"""Provisioned throughput: create it once, check it, delete it. Billing runs from creation to deletion.

With ``settings.serving`` on_demand the same steps create, check and delete an on-demand custom model
deployment instead (billed per token, not per hour); it is kept in the same ``Throughput`` shape with
``kind="deployment"`` and its Active status shown as InService."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

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


DEPLOYMENT_STATUS = {"Creating": "Creating", "Active": "InService", "Failed": "Failed"}


def deployment_name(run: Run) -> str:
    """The run's deployment name: ``<stem>-od`` (the throughput is ``<stem>-pt``)."""
    return f"{run.names.throughput_name.removesuffix('-pt')}-od"


def is_deployment(arn: str) -> bool:
    return ":custom-model-deployment/" in arn


def _from_deployment(response: dict[str, Any]) -> Throughput:
    created = response.get("createdAt")
    return Throughput(
        arn=response["customModelDeploymentArn"],
        name=response["modelDeploymentName"],
        status=DEPLOYMENT_STATUS.get(response["status"], "Creating"),
        model_units=0,
        failure_message=response.get("failureMessage"),
        created_at=created.isoformat() if isinstance(created, datetime) else created,
        kind="deployment",
    )


def find_deployment(name_or_arn: str) -> Throughput | None:
    try:
        with aws.translate_errors("GetCustomModelDeployment"):
            response = aws.client("bedrock").get_custom_model_deployment(customModelDeploymentIdentifier=name_or_arn)
    except ResourceMissingError:
        return None
    return _from_deployment(response)


def create_deployment(run: Run, job: Job, *, pipeline_tag: str) -> Throughput:
    """Create the on-demand deployment of the job's custom model, or return the one this run already created."""
    name = deployment_name(run)
    existing = find_deployment(name)
    if existing:
        return existing
    if not job.model_arn:
        raise ResourceMissingError(f"job {job.job_name} completed without a custom model ARN")
    bedrock = aws.client("bedrock")
    return aws.create_or_find(
        lambda: str(
            bedrock.create_custom_model_deployment(
                modelDeploymentName=name,
                modelArn=job.model_arn,
                clientRequestToken=run.names.client_token,
                tags=pipeline_tags(run, pipeline_tag),
            )["customModelDeploymentArn"]
        ),
        find_deployment,
        name=name,
        action="CreateCustomModelDeployment",
        what="deployment",
    )


def delete_deployment(name_or_arn: str) -> str:
    """Delete the deployment if it exists; say what happened."""
    current = find_deployment(name_or_arn)
    if current is None:
        return "no deployment"
    try:
        with aws.translate_errors("DeleteCustomModelDeployment"):
            aws.client("bedrock").delete_custom_model_deployment(customModelDeploymentIdentifier=current.arn)
    except ResourceMissingError:
        return "no deployment"
    return f"deleted deployment {current.name}"


def find_served(run: Run, served: Throughput | None) -> Throughput | None:
    """The throughput or deployment serving the run's model (by its recorded ARN, else by the run's name)."""
    if served is not None:
        return find_deployment(served.arn) if served.kind == "deployment" else find_throughput(served.arn)
    if run.settings.serving == "on_demand":
        return find_deployment(deployment_name(run))
    return find_throughput(run.names.throughput_name)


def create_throughput(run: Run, job: Job, *, pipeline_tag: str) -> Throughput:
    """Create the throughput for the job's custom model, or return the one this run already created
    (a deployment when settings.serving is on_demand)."""
    if run.settings.serving == "on_demand":
        return create_deployment(run, job, pipeline_tag=pipeline_tag)
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
    return aws.create_or_find(
        lambda: str(bedrock.create_provisioned_model_throughput(**request)["provisionedModelArn"]),
        find_throughput,
        name=run.names.throughput_name,
        action="CreateProvisionedModelThroughput",
        what="throughput",
    )


def check_throughput(run: Run, throughput: Throughput, *, now: datetime | None = None) -> Throughput:
    """The throughput's status. WaitTimeoutError when it is not in service within the timeout."""
    current = find_deployment(throughput.arn) if throughput.kind == "deployment" else find_throughput(throughput.arn)
    if current is None:
        raise ResourceMissingError(f"{throughput.kind} {throughput.name} no longer exists")
    if current.status in ("Creating", "Updating") and current.created_at:
        limit = timedelta(minutes=run.settings.timeouts.throughput_minutes)
        if (now or datetime.now(UTC)) - datetime.fromisoformat(current.created_at) > limit:
            raise WaitTimeoutError(
                f"{current.kind} {current.name} still {current.status} after settings.timeouts.throughput_minutes="
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
    """Delete the throughput (or deployment, by its ARN) if it exists; say what happened. Billing stops on
    delete."""
    if is_deployment(name_or_arn):
        return delete_deployment(name_or_arn)
    current = find_throughput(name_or_arn)
    if current is None:
        return "no throughput"
    try:
        with aws.translate_errors("DeleteProvisionedModelThroughput"):
            aws.client("bedrock").delete_provisioned_model_throughput(provisionedModelId=current.arn)
    except ResourceMissingError:
        return "no throughput"
    return f"deleted throughput {current.name}"
