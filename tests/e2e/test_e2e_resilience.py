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
    result = e2e.run(lambda: e2e.start_console(run_name, e2e.settings()))

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
def test_a_second_console_start_of_a_running_run_ends_at_validation_and_a_start_after_it_finds_its_job(
    e2e: E2E,
) -> None:
    run_name = e2e.run_name("twice")
    creates_before = e2e.calls().get("CreateModelCustomizationJob", 0)
    request = e2e.upload_console_input(run_name, e2e.settings())
    first = e2e.runtime.start_console_run(request, name=f"{run_name}-console-1")
    wait_until(lambda: any(c.error_type is None for c in e2e.invocations("create_job", run_name)))
    second = e2e.runtime.start_console_run(request, name=f"{run_name}-console-2")
    results = e2e.wait_all([first, second])

    assert [r.status for r in results] == ["SUCCEEDED", "FAILED"], [(r.error, r.cause) for r in results]
    # The duplicate did nothing: refused at validation, reported, never in a step that creates or deletes.
    assert path_of(results[1]) == ["Validate the run", "Notify failure", "Run failed"], path_of(results[1])
    (refused,) = [n for n in e2e.notifications_for(run_name) if n["status"] == "FAILED"]
    assert refused["reason"].startswith("RunAlreadyRunningError: run "), refused
    assert f"is already running in execution {run_name}-console-1 " in refused["reason"], refused
    jobs = e2e.jobs_for(run_name)
    assert [j["status"] for j in jobs] == ["Completed"], jobs
    assert e2e.calls().get("CreateModelCustomizationJob", 0) == creates_before + 1
    assert len(e2e.models_for(run_name)) == 1
    assert len(e2e.throughputs_for(run_name)) == 1

    # Once the first has ended, the run may be started again: the start takes the run over and finds its job.
    third = e2e.wait(e2e.runtime.start_console_run(request, name=f"{run_name}-console-3"))
    assert third.status == "SUCCEEDED", (third.error, third.cause)
    assert e2e.calls().get("CreateModelCustomizationJob", 0) == creates_before + 1
    assert (third.output or {})["job"]["job_arn"] == jobs[0]["jobArn"]
    assert (third.output or {})["run"]["run_id"] == jobs[0]["tags"]["run-id"]


@pytest.mark.e2e
def test_a_duplicate_start_while_the_first_is_inside_its_create_step_is_refused_and_the_first_goes_on(
    e2e: E2E,
) -> None:
    # The first run's call to create the job is held at the emulator: the first run is inside its create step for
    # as long as the test wants, whatever the machine's speed.
    e2e.emulator.hold("CreateModelCustomizationJob")
    run_name = e2e.run_name("dupe-race")
    request = e2e.upload_console_input(run_name, e2e.settings())
    try:
        first = e2e.runtime.start_console_run(request, name=f"{run_name}-console-1")
        e2e.emulator.wait_held("CreateModelCustomizationJob")
        assert e2e.jobs_for(run_name) == []  # asked for, not yet created
        # The duplicate ends while the first is still held: it waits for nothing of the first's.
        duplicate = e2e.wait(e2e.runtime.start_console_run(request, name=f"{run_name}-console-2"))
    finally:
        e2e.emulator.release("CreateModelCustomizationJob")
    result = e2e.wait(first)

    assert duplicate.status == "FAILED" and "Create the customization job" not in path_of(duplicate)
    (refused,) = [n for n in e2e.notifications_for(run_name) if n["status"] == "FAILED"]
    assert refused["reason"].startswith("RunAlreadyRunningError: run "), refused
    assert f"is already running in execution {run_name}-console-1 " in refused["reason"], refused
    assert result.status == "SUCCEEDED", (result.error, result.cause)
    assert "Clean up" not in path_of(result)
    jobs = e2e.jobs_for(run_name)
    assert [(j["status"], j["tags"]["execution"]) for j in jobs] == [("Completed", f"{run_name}-console-1")]
    creates = [json.dumps(c.event) for c in e2e.invocations("create_job", run_name)]
    assert creates and not [c for c in creates if f'"execution_name": "{run_name}-console-2"' in c]


# A step that acted, then timed out before its reply reached Step Functions: each is run again and the run goes on
# with what the first call did (one job, one throughput), never "Clean up".
LOST_REPLIES = {
    "check-job": ("check_job", "Check the job", {}),
    "create-throughput": ("create_throughput", "Create the throughput", {}),
    "apply-policy": ("apply_policy", "Apply the throughput policy", {"throughput_policy": "delete"}),
}


@pytest.mark.e2e
@pytest.mark.parametrize("case", sorted(LOST_REPLIES))
def test_a_step_whose_reply_is_lost_after_it_acted_is_run_again(e2e: E2E, case: str) -> None:
    module, state, settings = LOST_REPLIES[case]
    e2e.router.lose_reply(e2e.function_name(module))  # Sandbox.Timedout, as for a function timeout
    run_name = e2e.run_name(f"lost-{case}")
    creates_before = e2e.calls().get("CreateProvisionedModelThroughput", 0)
    result = e2e.run(lambda: e2e.start_console(run_name, e2e.settings(settings)))

    assert result.status == "SUCCEEDED", (result.error, result.cause)
    assert "Clean up" not in path_of(result)
    calls = e2e.invocations(module, run_name)
    # The first call ran its handler to the end (no error of its own); only its reply was lost.
    assert calls[0].reply_lost and calls[0].error_type is None, calls[0]
    assert not any(c.reply_lost for c in calls[1:])
    assert len(calls) >= 2, calls
    if state != "Check the job":  # a polling loop enters its check many times; the others once, retried inside
        assert path_of(result).count(state) == 1, path_of(result)
    assert [j["status"] for j in e2e.jobs_for(run_name)] == ["Completed"]
    throughputs = e2e.throughputs_for(run_name)
    if case == "apply-policy":
        assert throughputs == []  # deleted by the first call; the second found nothing left to delete
        assert (result.output or {})["policy"]["action"] == "deleted"
    else:
        assert [t["status"] for t in throughputs] == ["InService"]
    assert e2e.calls().get("CreateProvisionedModelThroughput", 0) == creates_before + 1
    assert [n["status"] for n in e2e.notifications_for(run_name)] == ["SUCCEEDED"]


@pytest.mark.e2e
def test_a_create_step_that_died_without_an_error_type_is_run_again_as_lambda_unknown(e2e: E2E) -> None:
    # A payload without errorType (an out-of-memory death, or a timeout on an older runtime): Lambda.Unknown.
    e2e.router.lose_reply(e2e.function_name("create_job"), error_type=None)
    run_name = e2e.run_name("lost-unknown")
    creates_before = e2e.calls().get("CreateModelCustomizationJob", 0)
    result = e2e.run(lambda: e2e.start_console(run_name, e2e.settings()))

    assert result.status == "SUCCEEDED", (result.error, result.cause)
    calls = e2e.invocations("create_job", run_name)
    assert calls[0].reply_lost and len(calls) == 2, calls
    # The second call found the first's job through the step's idempotency record: Bedrock was asked once.
    assert e2e.calls().get("CreateModelCustomizationJob", 0) == creates_before + 1
    assert calls[1].result == calls[0].result
    assert [j["status"] for j in e2e.jobs_for(run_name)] == ["Completed"]


def wait_until(condition: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


@pytest.mark.e2e
def test_steps_lambda_refused_to_run_are_run_again(e2e: E2E) -> None:
    # Lambda itself refuses the invoke (the function throttled, Lambda's own failure): the handler never ran.
    e2e.router.refuse(e2e.function_name("check_throughput"), "TooManyRequestsException", count=2)
    e2e.router.refuse(e2e.function_name("plan_evaluation"), "ServiceException")
    run_name = e2e.run_name("refused")
    result = e2e.run(lambda: e2e.start_console(run_name, e2e.settings()))

    assert result.status == "SUCCEEDED", (result.error, result.cause)
    assert "Clean up" not in path_of(result)
    # The refused invokes never reached a handler: each handler ran once per state entered.
    assert len(e2e.invocations("plan_evaluation", run_name)) == 1
    assert [n["status"] for n in e2e.notifications_for(run_name)] == ["SUCCEEDED"]
    failures = e2e.lambda_failures(result.execution_arn)
    assert sorted(failures) == sorted(["Lambda.TooManyRequestsException"] * 2 + ["Lambda.ServiceException"]), failures
