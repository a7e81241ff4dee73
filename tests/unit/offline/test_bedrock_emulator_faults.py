"""Fault injection, from Python and over HTTP (``/_emulator/``), and the admin state."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

from offline.bedrock_emulator import BedrockEmulator, EmulatorServer
from offline.bedrock_emulator.admin_client import EmulatorAdmin, EmulatorAdminError

TITAN_BODY = '{"inputText": "How do I reset my password?"}'


def _invoke(runtime: Any) -> str:
    """The error code of one InvokeModel call, or "ok"."""
    try:
        runtime.invoke_model(modelId="amazon.titan-text-express-v1", body=TITAN_BODY)
    except ClientError as exc:
        return str(exc.response["Error"]["Code"])
    return "ok"


def test_throttling_the_next_n_calls_of_an_operation(runtime: Any, bedrock: Any, emulator: BedrockEmulator) -> None:
    emulator.throttle(3, operation="InvokeModel")

    # Other operations are not throttled
    bedrock.list_custom_models()
    with pytest.raises(ClientError) as throttled:
        runtime.invoke_model(modelId="amazon.titan-text-express-v1", body=TITAN_BODY)
    assert throttled.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429
    assert [_invoke(runtime) for _ in range(3)] == ["ThrottlingException", "ThrottlingException", "ok"]
    assert emulator.state()["calls"]["InvokeModel"] == 4


def test_a_throttling_rate_is_drawn_from_a_seeded_generator(runtime: Any, emulator: BedrockEmulator) -> None:
    emulator.set_throttle_rate(0.5, operation="InvokeModel", seed=7)
    first = [_invoke(runtime) for _ in range(12)]
    emulator.set_throttle_rate(0.5, operation="InvokeModel", seed=7)
    second = [_invoke(runtime) for _ in range(12)]

    assert first == second
    assert {"ok", "ThrottlingException"} == set(first)
    emulator.set_throttle_rate(0.0, operation="InvokeModel")
    assert _invoke(runtime) == "ok"


def test_latency_is_added_to_the_chosen_operation(runtime: Any, bedrock: Any, emulator: BedrockEmulator) -> None:
    emulator.set_latency(150, operation="InvokeModel")
    started = time.perf_counter()
    assert _invoke(runtime) == "ok"
    assert time.perf_counter() - started >= 0.15  # a lower bound: true on any machine
    # Other operations are not delayed (asked of the fault table, not timed: no bound on a busy machine's speed).
    assert emulator.store.faults.latency_for("InvokeModel") == 150
    assert emulator.store.faults.latency_for("ListCustomModels") == 0


@pytest.mark.parametrize(
    ("code", "operation", "status"),
    [
        ("ServiceQuotaExceededException", "CreateProvisionedModelThroughput", 400),
        ("InternalServerException", "GetModelCustomizationJob", 500),
        ("ModelNotReadyException", "Converse", 429),
    ],
)
def test_any_service_error_can_be_injected_with_the_status_of_the_service_model(
    bedrock: Any, runtime: Any, emulator: BedrockEmulator, *, code: str, operation: str, status: int
) -> None:
    emulator.inject_error(code, "injected", operation=operation)
    calls = {
        "CreateProvisionedModelThroughput": lambda: bedrock.create_provisioned_model_throughput(
            modelUnits=1, provisionedModelName="pt", modelId="amazon.titan-text-express-v1"
        ),
        "GetModelCustomizationJob": lambda: bedrock.get_model_customization_job(jobIdentifier="any"),
        "Converse": lambda: runtime.converse(
            modelId="amazon.nova-micro-v1:0", messages=[{"role": "user", "content": [{"text": "hi"}]}]
        ),
    }
    with pytest.raises(ClientError) as injected:
        calls[operation]()
    error = injected.value.response
    assert (error["Error"]["Code"], error["Error"]["Message"]) == (code, "injected")
    assert error["ResponseMetadata"]["HTTPStatusCode"] == status


def test_a_job_can_be_made_to_fail_now_or_when_it_would_complete(
    bedrock: Any, emulator: BedrockEmulator, job_request: Callable[..., dict[str, Any]]
) -> None:
    # A running job, failed now
    running = bedrock.create_model_customization_job(**job_request("job-now"))["jobArn"]
    emulator.fail_job("Internal failure", job="job-now")
    job = bedrock.get_model_customization_job(jobIdentifier=running)
    assert (job["status"], job["failureMessage"]) == ("Failed", "Internal failure")

    # The next job, failed late: InProgress until the moment it would have completed
    emulator.fail_job("Maximum input token count 4919 exceeds limit of 4096")
    late = bedrock.create_model_customization_job(**job_request("job-late"))["jobArn"]
    emulator.advance(emulator.store.durations.job_seconds * 0.9)
    assert bedrock.get_model_customization_job(jobIdentifier=late)["status"] == "InProgress"
    emulator.advance(emulator.store.durations.job_seconds * 0.1)
    job = bedrock.get_model_customization_job(jobIdentifier=late)
    assert (job["status"], job["statusDetails"]["trainingDetails"]["status"]) == ("Failed", "Failed")
    assert bedrock.list_custom_models()["modelSummaries"] == []

    # Only the next one
    assert bedrock.create_model_customization_job(**job_request("job-ok"))["jobArn"]
    emulator.advance(emulator.store.durations.job_seconds)
    assert bedrock.get_model_customization_job(jobIdentifier="job-ok")["status"] == "Completed"


def test_a_job_can_stop_itself(
    bedrock: Any, emulator: BedrockEmulator, job_request: Callable[..., dict[str, Any]]
) -> None:
    emulator.stop_job()
    arn = bedrock.create_model_customization_job(**job_request())["jobArn"]
    emulator.advance(emulator.store.durations.job_seconds / 2)
    assert bedrock.get_model_customization_job(jobIdentifier=arn)["status"] == "Stopping"
    emulator.advance(emulator.store.durations.job_seconds)
    assert bedrock.get_model_customization_job(jobIdentifier=arn)["status"] == "Stopped"


def test_a_throughput_can_be_made_to_fail(
    bedrock: Any,
    runtime: Any,
    emulator: BedrockEmulator,
    completed_model: Callable[..., str],
    in_service: Callable[[str], str],
) -> None:
    model_arn = completed_model()
    emulator.fail_throughput("Insufficient capacity")
    arn = bedrock.create_provisioned_model_throughput(modelUnits=1, provisionedModelName="pt-f", modelId=model_arn)[
        "provisionedModelArn"
    ]
    assert bedrock.get_provisioned_model_throughput(provisionedModelId=arn)["status"] == "Creating"
    emulator.advance(emulator.store.durations.throughput_seconds)
    failed = bedrock.get_provisioned_model_throughput(provisionedModelId=arn)
    assert (failed["status"], failed["failureMessage"]) == ("Failed", "Insufficient capacity")
    with pytest.raises(ClientError) as unusable:
        runtime.invoke_model(modelId=arn, body=TITAN_BODY)
    assert unusable.value.response["Error"]["Code"] == "ValidationException"

    # An InService one, failed on demand
    healthy = in_service(model_arn)
    emulator.fail_throughput("Hardware failure", throughput=healthy)
    assert bedrock.get_provisioned_model_throughput(provisionedModelId=healthy)["status"] == "Failed"


def test_durations_apply_to_resources_created_afterwards(
    bedrock: Any, emulator: BedrockEmulator, job_request: Callable[..., dict[str, Any]]
) -> None:
    emulator.set_durations(job_seconds=600)
    arn = bedrock.create_model_customization_job(**job_request())["jobArn"]
    emulator.advance(599)
    assert bedrock.get_model_customization_job(jobIdentifier=arn)["status"] == "InProgress"
    emulator.advance(1)
    assert bedrock.get_model_customization_job(jobIdentifier=arn)["status"] == "Completed"
    emulator.reset(state=False)
    assert emulator.store.durations == emulator.settings.durations


def test_the_admin_endpoints_steer_an_emulator_in_another_process(
    server: EmulatorServer, runtime: Any, bedrock: Any, completed_model: Callable[..., str]
) -> None:
    admin = EmulatorAdmin(server.endpoint_url)

    admin.throttle(2, operation="InvokeModel")
    assert admin.faults()["errors"] == [
        {
            "code": "ThrottlingException",
            "message": "Too many requests, please wait before trying again.",
            "remaining": 2,
            "operation": "InvokeModel",
        }
    ]
    assert [_invoke(runtime) for _ in range(3)] == ["ThrottlingException", "ThrottlingException", "ok"]
    admin.set_latency(1, operation="Converse")
    admin.set_throttle_rate(0.1, seed=3)
    admin.inject_error("InternalServerException", count=2)
    assert admin.set_durations(job_seconds=30)["job_seconds"] == 30
    admin.reset(state=False)
    assert admin.faults()["errors"] == [] and admin.faults()["latency_ms"] == {}

    # The state lists jobs, models, throughputs and deployments with their tags
    model_arn = completed_model(customModelTags=[{"key": "run-id", "value": "r9"}])
    admin.fail_throughput("no capacity")
    bedrock.create_provisioned_model_throughput(modelUnits=1, provisionedModelName="pt-x", modelId=model_arn)
    admin.advance(60)
    state = admin.state()
    assert [j["status"] for j in state["jobs"]] == ["Completed"]
    assert [(m["modelArn"], m["tags"]) for m in state["models"]] == [(model_arn, {"run-id": "r9"})]
    assert [(t["provisionedModelName"], t["status"]) for t in state["throughputs"]] == [("pt-x", "Failed")]
    assert state["deployments"] == []
    # Every request is counted; only those past the faults reach a model
    assert state["calls"]["InvokeModel"] == 3
    assert state["invocations"] == {"amazon.titan-text-express-v1": 1}
    assert state["now"].endswith("Z")

    with pytest.raises(EmulatorAdminError) as completed:
        admin.fail_job("too late", job="job-1")
    assert completed.value.status == 400
    with pytest.raises(EmulatorAdminError) as unknown:
        admin.stop_job(job="no-such-job")
    assert unknown.value.status == 404
    with pytest.raises(EmulatorAdminError) as bad:
        admin.throttle(0)
    assert bad.value.status == 400
    with pytest.raises(EmulatorAdminError) as bad_operation:
        admin.throttle(1, operation="InvokeModels")
    assert "unknown operation" in bad_operation.value.message

    admin.reset()
    assert admin.state()["models"] == []
