"""Runs that meet trouble they should survive: throttling, transient step failures, duplicate starts."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable

import boto3
import pytest

from customizer.errors import AwsServiceUnavailableError, BedrockThrottledError
from tests.e2e.harness import E2E, path_of

# Every Bedrock operation a successful run calls (Titan is called with InvokeModel).
PIPELINE_OPERATIONS = (
    "CreateModelCustomizationJob",
    "GetModelCustomizationJob",
    "CreateProvisionedModelThroughput",
    "GetProvisionedModelThroughput",
    "InvokeModel",
)


@pytest.mark.e2e
def test_three_throttles_on_every_bedrock_call_are_absorbed(e2e: E2E) -> None:
    for operation in PIPELINE_OPERATIONS:
        e2e.emulator.throttle(count=3, operation=operation)
    before = e2e.calls()
    run_name = e2e.run_name("throttled")
    result = e2e.run(lambda: e2e.start_console(run_name, e2e.settings()), timeout=90)

    assert result.status == "SUCCEEDED", (result.error, result.cause)
    assert e2e.state()["faults"]["errors"] == []  # every injected throttle was met
    after = e2e.calls()
    delta = {op: after.get(op, 0) - before.get(op, 0) for op in PIPELINE_OPERATIONS}
    # The creates are called once each by the pipeline: three throttled answers, then the one that worked.
    assert delta["CreateModelCustomizationJob"] == 4, delta
    assert delta["CreateProvisionedModelThroughput"] == 4, delta
    for operation in PIPELINE_OPERATIONS:
        assert delta[operation] >= 4, (operation, delta)
    output = result.output or {}
    evaluation = output["evaluation"]
    examples = evaluation["custom"]["examples"]
    # Throttled model calls were retried, not counted as errors or wrong answers.
    assert evaluation["custom"]["errors"] == evaluation["base"]["errors"] == 0
    assert delta["InvokeModel"] == 2 * examples + 3, delta
    assert evaluation["custom_beats_base"] is True
    assert [j["status"] for j in e2e.jobs_for(run_name)] == ["Completed"]
    assert len(e2e.throughputs_for(run_name)) == 1
    assert [n["status"] for n in e2e.notifications_for(run_name)] == ["SUCCEEDED"]


@pytest.mark.e2e
def test_transient_step_failures_are_retried_by_the_state_machine(e2e: E2E) -> None:
    """A step that fails once with a retryable error (what a handler raises when the SDK gave up) is run again."""

    def once(function: str, error: Exception) -> None:
        def fault() -> Exception:
            e2e.router.faults.pop(function, None)  # this call fails, the next one runs the handler
            return error

        e2e.router.faults[function] = fault

    once(e2e.function_name("check_job"), BedrockThrottledError("GetModelCustomizationJob: ThrottlingException"))
    once(e2e.function_name("check_throughput"), AwsServiceUnavailableError("GetProvisionedModelThroughput: 503"))
    run_name = e2e.run_name("transient")
    result = e2e.run(lambda: e2e.start_console(run_name, e2e.settings()))

    assert result.status == "SUCCEEDED", (result.error, result.cause)
    assert "Clean up" not in path_of(result)
    check_job = [c.error_type for c in e2e.invocations("check_job", run_name)]
    check_throughput = [c.error_type for c in e2e.invocations("check_throughput", run_name)]
    assert check_job[:2] == ["BedrockThrottledError", None], check_job
    assert check_throughput[:2] == ["AwsServiceUnavailableError", None], check_throughput
    assert [j["status"] for j in e2e.jobs_for(run_name)] == ["Completed"]
    assert [n["status"] for n in e2e.notifications_for(run_name)] == ["SUCCEEDED"]


@pytest.mark.e2e
def test_the_same_upload_delivered_twice_starts_one_run(e2e: E2E) -> None:
    run_name = e2e.run_name("redelivered")
    first = e2e.start_upload(run_name, e2e.settings())
    trigger = e2e.function_name("start_run")
    delivered = [c for c in e2e.router.calls_to("handlers.start_run.handler") if run_name in json.dumps(c.event)]
    assert len(delivered) == 1
    event = delivered[0].event

    # S3 delivers the same event again, through Lambda's API as S3 would.
    again = e2e.lam.invoke(FunctionName=trigger, Payload=json.dumps(event).encode())
    assert "FunctionError" not in again, again["Payload"].read()
    assert e2e.executions_for(run_name) == [first]

    # Once more after the trigger's idempotency record is gone (expired): the execution name still guards.
    dynamodb = boto3.client("dynamodb")
    table = os.environ["IDEMPOTENCY_TABLE"]
    records = [i for i in dynamodb.scan(TableName=table)["Items"] if ".handlers.start_run._start#" in i["id"]["S"]]
    assert records, "the trigger keeps an idempotency record per delivery"
    for item in records:
        dynamodb.delete_item(TableName=table, Key={"id": item["id"]})
    third = e2e.lam.invoke(FunctionName=trigger, Payload=json.dumps(event).encode())
    answer = json.loads(third["Payload"].read())
    assert "FunctionError" not in third, answer
    assert len(answer) == 1
    assert answer[0]["execution_name"] == first.rsplit(":", 1)[-1]

    result = e2e.wait(first)
    assert result.status == "SUCCEEDED", (result.error, result.cause)
    assert e2e.executions_for(run_name) == [first]
    assert len(e2e.jobs_for(run_name)) == 1
    assert [n["status"] for n in e2e.notifications_for(run_name)] == ["SUCCEEDED"]


@pytest.mark.e2e
def test_a_second_console_start_of_the_same_run_shares_its_job(e2e: E2E) -> None:
    run_name = e2e.run_name("twice")
    creates_before = e2e.calls().get("CreateModelCustomizationJob", 0)
    request = e2e.upload_console_input(run_name, e2e.settings())
    first = e2e.runtime.start_console_run(request, name=f"{run_name}-console-1")
    wait_until(lambda: any(c.error_type is None for c in e2e.invocations("create_job", run_name)))
    second = e2e.runtime.start_console_run(request, name=f"{run_name}-console-2")
    results = e2e.wait_all([first, second])

    assert [r.status for r in results] == ["SUCCEEDED", "SUCCEEDED"], [(r.error, r.cause) for r in results]
    jobs = e2e.jobs_for(run_name)
    assert [j["status"] for j in jobs] == ["Completed"], jobs
    # The second run found the first's job through the idempotent create step: Bedrock was asked once.
    assert e2e.calls().get("CreateModelCustomizationJob", 0) == creates_before + 1
    assert len(e2e.models_for(run_name)) == 1
    assert len(e2e.throughputs_for(run_name)) == 1
    assert {(r.output or {})["job"]["job_arn"] for r in results} == {jobs[0]["jobArn"]}
    assert {(r.output or {})["run"]["run_id"] for r in results} == {jobs[0]["tags"]["run-id"]}


@pytest.mark.e2e
def test_concurrent_duplicate_starts_do_not_harm_each_other(e2e: E2E) -> None:
    # Slow job reads keep the first run inside its create step while the duplicate arrives.
    e2e.emulator.set_latency(1500, "GetModelCustomizationJob")
    e2e.emulator.set_durations(job_seconds=5)
    run_name = e2e.run_name("dupe-race")
    request = e2e.upload_console_input(run_name, e2e.settings())
    first = e2e.runtime.start_console_run(request, name=f"{run_name}-console-1")
    wait_until(lambda: bool(e2e.jobs_for(run_name)))
    second = e2e.runtime.start_console_run(request, name=f"{run_name}-console-2")
    results = e2e.wait_all([first, second], timeout=60)

    jobs = e2e.jobs_for(run_name)
    assert len(jobs) == 1, jobs
    assert jobs[0]["status"] == "Completed", [n["reason"] for n in e2e.notifications_for(run_name)]
    assert jobs[0]["tags"]["execution"] == f"{run_name}-console-1"
    assert [r.status for r in results] == ["SUCCEEDED", "SUCCEEDED"], [(r.error, r.cause) for r in results]
    # The duplicate did meet the first inside the create step, and waited for it instead of cleaning up.
    assert "StepInProgressError" in [c.error_type for c in e2e.invocations("create_job", run_name)]
    assert all("Clean up" not in path_of(r) for r in results)


def wait_until(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)
