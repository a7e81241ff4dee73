"""Provisioned throughput against a stubbed Bedrock (moto has none): create once, check, delete."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from botocore.stub import Stubber

from customizer.errors import AwsRequestRejectedError, BedrockThrottledError, ResourceMissingError, WaitTimeoutError
from customizer.models import Job, Run, Throughput
from customizer.throughput import check_throughput, create_throughput, delete_throughput, find_throughput
from tests.unit.core.stubs import MODEL_ARN, THROUGHPUT_ARN, throughput_response

TAG = "bedrock-customization"


def completed_job(run: Run, model_arn: str | None = MODEL_ARN) -> Job:
    return Job(job_arn="arn:job", job_name=run.names.job_name, status="Completed", model_arn=model_arn)


def not_found(
    bedrock: Stubber, method: str = "get_provisioned_model_throughput", identifier: str | None = None
) -> None:
    params = None if identifier is None else {"provisionedModelId": identifier}
    bedrock.add_client_error(method, "ResourceNotFoundException", "not found", 404, expected_params=params)


def expected_request(run: Run, **extra: object) -> dict[str, object]:
    return {
        "clientRequestToken": run.names.client_token,
        "modelUnits": run.settings.model_units,
        "provisionedModelName": run.names.throughput_name,
        "modelId": MODEL_ARN,
        "tags": [
            {"key": "pipeline", "value": TAG},
            {"key": "run-id", "value": run.run_id},
            {"key": "execution", "value": run.execution_name},
        ],
        **extra,
    }


def throughput_of(run: Run, status: str = "Creating", created: datetime | None = None) -> Throughput:
    return Throughput(
        arn=THROUGHPUT_ARN,
        name=run.names.throughput_name,
        status=status,
        model_units=1,
        created_at=(created or datetime.now(UTC)).isoformat(),
    )


# ---- create ----


def test_create_throughput_without_commitment(bedrock, make_run):
    # Given a completed job and no throughput yet
    run = make_run({"model_units": 2})
    created = datetime(2025, 1, 1, 12, tzinfo=UTC)
    not_found(bedrock, identifier=run.names.throughput_name)
    bedrock.add_response(
        "create_provisioned_model_throughput", {"provisionedModelArn": THROUGHPUT_ARN}, expected_request(run)
    )
    bedrock.add_response(
        "get_provisioned_model_throughput",
        throughput_response(run, "Creating", created=created),
        {"provisionedModelId": THROUGHPUT_ARN},
    )

    # When the throughput is created
    throughput = create_throughput(run, completed_job(run), pipeline_tag=TAG)

    # Then it is requested for the custom model, with no commitment (billed hourly, deletable), and read back
    assert throughput == Throughput(
        arn=THROUGHPUT_ARN,
        name=run.names.throughput_name,
        status="Creating",
        model_units=2,
        commitment=None,
        created_at=created.isoformat(),
    )


def test_a_commitment_is_requested_when_set(bedrock, make_run):
    run = make_run({"commitment": "OneMonth", "throughput_policy": "keep"})
    not_found(bedrock)
    bedrock.add_response(
        "create_provisioned_model_throughput",
        {"provisionedModelArn": THROUGHPUT_ARN},
        expected_request(run, commitmentDuration="OneMonth"),
    )
    bedrock.add_response(
        "get_provisioned_model_throughput", throughput_response(run, "Creating", commitment="OneMonth")
    )
    assert create_throughput(run, completed_job(run), pipeline_tag=TAG).commitment == "OneMonth"


def test_an_existing_throughput_is_returned_without_a_second_create(bedrock, make_run):
    run = make_run()
    bedrock.add_response(
        "get_provisioned_model_throughput",
        throughput_response(run, "InService"),
        {"provisionedModelId": run.names.throughput_name},
    )
    assert create_throughput(run, completed_job(run), pipeline_tag=TAG).status == "InService"


@pytest.mark.parametrize(
    ("code", "status"),
    [
        # what botocore declares for this operation: a name in use is a ValidationException
        ("ValidationException", 400),
        ("ConflictException", 409),
    ],
)
def test_a_concurrent_create_returns_the_other_starts_throughput(bedrock, make_run, code, status):
    run = make_run()
    not_found(bedrock)
    message = f"The provided name {run.names.throughput_name} is currently in use."
    bedrock.add_client_error("create_provisioned_model_throughput", code, message, status)
    bedrock.add_response(
        "get_provisioned_model_throughput",
        throughput_response(run, "Creating"),
        {"provisionedModelId": run.names.throughput_name},
    )
    assert create_throughput(run, completed_job(run), pipeline_tag=TAG).arn == THROUGHPUT_ARN


def test_a_job_without_a_custom_model_cannot_get_a_throughput(bedrock, make_run):
    run = make_run()
    not_found(bedrock)
    with pytest.raises(ResourceMissingError, match="completed without a custom model ARN"):
        create_throughput(run, completed_job(run, model_arn=None), pipeline_tag=TAG)


@pytest.mark.parametrize(
    ("code", "status", "expected"),
    [
        ("ThrottlingException", 429, BedrockThrottledError),
        ("ServiceQuotaExceededException", 400, AwsRequestRejectedError),
        ("ValidationException", 400, AwsRequestRejectedError),
    ],
)
def test_create_failures_become_typed_errors(bedrock, make_run, code, status, expected):
    run = make_run()
    not_found(bedrock)
    bedrock.add_client_error("create_provisioned_model_throughput", code, "no", status)
    if code == "ValidationException":
        not_found(bedrock, identifier=run.names.throughput_name)  # a name in use? No: it stands
    with pytest.raises(expected, match=f"^CreateProvisionedModelThroughput: {code}: no$"):
        create_throughput(run, completed_job(run), pipeline_tag=TAG)


def test_a_throughput_that_cannot_be_read_back_is_missing(bedrock, make_run):
    run = make_run()
    not_found(bedrock)
    bedrock.add_response("create_provisioned_model_throughput", {"provisionedModelArn": THROUGHPUT_ARN})
    not_found(bedrock, identifier=THROUGHPUT_ARN)
    with pytest.raises(ResourceMissingError, match="was created but cannot be read back"):
        create_throughput(run, completed_job(run), pipeline_tag=TAG)


# ---- check ----


@pytest.mark.parametrize("status", ["InService", "Creating", "Updating"])
def test_check_reports_the_status_within_the_timeout(bedrock, make_run, status):
    run = make_run()
    created = datetime(2025, 1, 1, tzinfo=UTC)
    bedrock.add_response(
        "get_provisioned_model_throughput",
        throughput_response(run, status, created=created),
        {"provisionedModelId": THROUGHPUT_ARN},
    )
    checked = check_throughput(run, throughput_of(run), now=created + timedelta(minutes=119))
    assert checked.status == status


@pytest.mark.parametrize("status", ["Creating", "Updating"])
def test_a_throughput_not_in_service_within_the_timeout_raises_wait_timeout(bedrock, make_run, status):
    run = make_run({"timeouts": {"throughput_minutes": 30}})
    created = datetime(2025, 1, 1, tzinfo=UTC)
    bedrock.add_response("get_provisioned_model_throughput", throughput_response(run, status, created=created))
    with pytest.raises(WaitTimeoutError) as caught:
        check_throughput(run, throughput_of(run), now=created + timedelta(minutes=31))
    assert str(caught.value) == (
        f"throughput {run.names.throughput_name} still {status} after settings.timeouts.throughput_minutes=30.0; "
        "the run deletes it"
    )


def test_the_throughput_timeout_counts_from_its_creation_by_the_clock(bedrock, make_run):
    run = make_run({"timeouts": {"throughput_minutes": 30}})
    created = datetime.now(UTC) - timedelta(hours=1)
    bedrock.add_response("get_provisioned_model_throughput", throughput_response(run, "Creating", created=created))
    with pytest.raises(WaitTimeoutError):
        check_throughput(run, throughput_of(run))


def test_an_in_service_throughput_is_fine_past_the_timeout(bedrock, make_run):
    run = make_run({"timeouts": {"throughput_minutes": 30}})
    created = datetime(2025, 1, 1, tzinfo=UTC)
    bedrock.add_response("get_provisioned_model_throughput", throughput_response(run, "InService", created=created))
    assert check_throughput(run, throughput_of(run), now=created + timedelta(days=1)).status == "InService"


def test_a_failed_throughput_reports_its_failure(bedrock, make_run):
    run = make_run()
    bedrock.add_response(
        "get_provisioned_model_throughput", throughput_response(run, "Failed", failureMessage="capacity")
    )
    checked = check_throughput(run, throughput_of(run))
    assert (checked.status, checked.failure_message) == ("Failed", "capacity")


def test_a_vanished_throughput_is_missing(bedrock, make_run):
    run = make_run()
    not_found(bedrock)
    with pytest.raises(ResourceMissingError, match=f"^throughput {run.names.throughput_name} no longer exists$"):
        check_throughput(run, throughput_of(run))


# ---- find / delete ----


def test_find_returns_none_for_a_missing_throughput(bedrock):
    not_found(bedrock, identifier="nothing")
    assert find_throughput("nothing") is None


def test_delete_deletes_by_arn(bedrock, make_run):
    run = make_run()
    bedrock.add_response(
        "get_provisioned_model_throughput", throughput_response(run, "InService"), {"provisionedModelId": "by-name"}
    )
    bedrock.add_response("delete_provisioned_model_throughput", {}, {"provisionedModelId": THROUGHPUT_ARN})
    assert delete_throughput("by-name") == f"deleted throughput {run.names.throughput_name}"


def test_delete_of_a_missing_throughput_says_so(bedrock):
    not_found(bedrock)
    assert delete_throughput(THROUGHPUT_ARN) == "no throughput"


def test_delete_racing_another_delete_says_so(bedrock, make_run):
    run = make_run()
    bedrock.add_response("get_provisioned_model_throughput", throughput_response(run, "InService"))
    not_found(bedrock, method="delete_provisioned_model_throughput")
    assert delete_throughput(THROUGHPUT_ARN) == "no throughput"


def test_a_rejected_delete_is_a_typed_error(bedrock, make_run):
    run = make_run()
    bedrock.add_response("get_provisioned_model_throughput", throughput_response(run, "InService"))
    bedrock.add_client_error("delete_provisioned_model_throughput", "ValidationException", "committed", 400)
    with pytest.raises(AwsRequestRejectedError, match=r"^DeleteProvisionedModelThroughput: ValidationException"):
        delete_throughput(THROUGHPUT_ARN)
