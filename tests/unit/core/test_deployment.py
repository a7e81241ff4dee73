"""On-demand deployment (settings.serving on_demand): created, checked and deleted through the throughput steps,
kept in the Throughput shape with kind "deployment" (stubbed Bedrock)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from customizer.errors import ResourceMissingError, WaitTimeoutError
from customizer.models import Job, Run, Throughput
from customizer.throughput import check_throughput, create_throughput, delete_throughput, deployment_name
from tests.unit.core.stubs import DEPLOYMENT_ARN, MODEL_ARN, deployment_response

TAG = "bedrock-customization"
ON_DEMAND = {"serving": "on_demand", "base_model_id": "amazon.nova-lite-v1:0"}


def completed_job(run: Run) -> Job:
    return Job(job_arn="arn:job", job_name=run.names.job_name, status="Completed", model_arn=MODEL_ARN)


def not_found(bedrock, identifier: str) -> None:
    bedrock.add_client_error(
        "get_custom_model_deployment",
        "ResourceNotFoundException",
        "not found",
        404,
        expected_params={"customModelDeploymentIdentifier": identifier},
    )


def deployment_of(run: Run, status: str = "Creating", created: datetime | None = None) -> Throughput:
    return Throughput(
        arn=DEPLOYMENT_ARN,
        name=deployment_name(run),
        status=status,
        model_units=0,
        created_at=(created or datetime.now(UTC)).isoformat(),
        kind="deployment",
    )


def test_the_deployment_is_named_after_the_run_with_od(make_run):
    run = make_run(ON_DEMAND)
    assert deployment_name(run) == run.names.throughput_name.removesuffix("-pt") + "-od"


def test_create_deploys_the_custom_model_on_demand_with_the_run_token_and_tags(bedrock, make_run):
    run = make_run(ON_DEMAND)
    name = deployment_name(run)
    not_found(bedrock, name)
    bedrock.add_response(
        "create_custom_model_deployment",
        {"customModelDeploymentArn": DEPLOYMENT_ARN},
        {
            "modelDeploymentName": name,
            "modelArn": MODEL_ARN,
            "clientRequestToken": run.names.client_token,
            "tags": [
                {"key": "pipeline", "value": TAG},
                {"key": "run-id", "value": run.run_id},
                {"key": "execution", "value": run.execution_name},
            ],
        },
    )
    bedrock.add_response(
        "get_custom_model_deployment",
        deployment_response(DEPLOYMENT_ARN, name, "Creating"),
        {"customModelDeploymentIdentifier": DEPLOYMENT_ARN},
    )

    deployment = create_throughput(run, completed_job(run), pipeline_tag=TAG)

    assert deployment == Throughput(
        arn=DEPLOYMENT_ARN,
        name=name,
        status="Creating",
        model_units=0,
        created_at=datetime(2026, 1, 1, tzinfo=UTC).isoformat(),
        kind="deployment",
    )


def test_an_existing_deployment_is_returned_without_a_second_create(bedrock, make_run):
    run = make_run(ON_DEMAND)
    name = deployment_name(run)
    bedrock.add_response(
        "get_custom_model_deployment",
        deployment_response(DEPLOYMENT_ARN, name, "Active"),
        {"customModelDeploymentIdentifier": name},
    )
    deployment = create_throughput(run, completed_job(run), pipeline_tag=TAG)
    assert (deployment.arn, deployment.status, deployment.kind) == (DEPLOYMENT_ARN, "InService", "deployment")


@pytest.mark.parametrize(("status", "shown"), [("Creating", "Creating"), ("Active", "InService"), ("Failed", "Failed")])
def test_check_maps_the_deployment_status(bedrock, make_run, status, shown):
    run = make_run(ON_DEMAND)
    bedrock.add_response(
        "get_custom_model_deployment",
        deployment_response(DEPLOYMENT_ARN, deployment_name(run), status, failureMessage="boom"),
        {"customModelDeploymentIdentifier": DEPLOYMENT_ARN},
    )
    checked = check_throughput(run, deployment_of(run), now=datetime(2026, 1, 1, 0, 1, tzinfo=UTC))
    assert (checked.status, checked.kind, checked.failure_message) == (shown, "deployment", "boom")


def test_a_deployment_not_active_within_the_timeout_raises_wait_timeout(bedrock, make_run):
    run = make_run(ON_DEMAND)
    bedrock.add_response(
        "get_custom_model_deployment",
        deployment_response(DEPLOYMENT_ARN, deployment_name(run), "Creating"),
        {"customModelDeploymentIdentifier": DEPLOYMENT_ARN},
    )
    late = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=run.settings.timeouts.throughput_minutes + 1)
    with pytest.raises(WaitTimeoutError, match="deployment"):
        check_throughput(run, deployment_of(run), now=late)


def test_a_vanished_deployment_is_missing(bedrock, make_run):
    run = make_run(ON_DEMAND)
    not_found(bedrock, DEPLOYMENT_ARN)
    with pytest.raises(ResourceMissingError, match="deployment"):
        check_throughput(run, deployment_of(run))


def test_delete_by_a_deployment_arn_deletes_the_deployment(bedrock, make_run):
    run = make_run(ON_DEMAND)
    bedrock.add_response(
        "get_custom_model_deployment",
        deployment_response(DEPLOYMENT_ARN, deployment_name(run)),
        {"customModelDeploymentIdentifier": DEPLOYMENT_ARN},
    )
    bedrock.add_response("delete_custom_model_deployment", {}, {"customModelDeploymentIdentifier": DEPLOYMENT_ARN})
    assert delete_throughput(DEPLOYMENT_ARN) == f"deleted deployment {deployment_name(run)}"


def test_delete_of_a_missing_deployment_says_so(bedrock):
    not_found(bedrock, DEPLOYMENT_ARN)
    assert delete_throughput(DEPLOYMENT_ARN) == "no deployment"
