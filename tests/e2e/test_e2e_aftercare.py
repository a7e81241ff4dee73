"""Executions that end without running their own "Clean up": stopped by hand, or timed out by the state
machine's own ``TimeoutSeconds``. The rule on execution status changes runs ``after_execution``, which must
leave nothing billing and say what it did."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from tests.e2e.harness import E2E

DEADLINE = 60.0  # a bound on a condition, not a timing: only a broken run reaches it
TIMED_OUT_AFTER = 20


def _until(predicate: Callable[[], Any], what: str, timeout: float = DEADLINE) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@contextmanager
def _execution_timeout(e2e: E2E, seconds: int) -> Iterator[None]:
    """The deployed state machine with only its ``TimeoutSeconds`` (execution_timeout_hours, at least an hour)
    lowered, for the executions started meanwhile; the same state machine, so the rules matching its ARN still
    apply. The original definition is put back afterwards (the runtime is shared by the worker's tests)."""
    arn = e2e.runtime.state_machine_arn
    original = e2e.sfn.describe_state_machine(stateMachineArn=arn)["definition"]
    definition = json.loads(original)
    assert definition["TimeoutSeconds"] >= 3600 > seconds
    e2e.sfn.update_state_machine(stateMachineArn=arn, definition=json.dumps({**definition, "TimeoutSeconds": seconds}))
    try:
        yield
    finally:
        e2e.sfn.update_state_machine(stateMachineArn=arn, definition=original)


@pytest.mark.e2e
def test_a_run_stopped_by_hand_while_training_leaves_no_job_running(e2e: E2E) -> None:
    # Given a run whose job trains for an hour (the test stops it long before, however slow the machine)
    e2e.emulator.set_durations(job_seconds=3600)
    run_name = e2e.run_name("stopped-training")
    arn = e2e.start_upload(run_name, e2e.settings({"throughput_policy": "keep"}))
    _until(lambda: e2e.entered(arn, "Wait for the job"), "the run to wait for its job")
    # When an operator stops the execution by hand (no Catch, no "Clean up" state runs)
    e2e.sfn.stop_execution(executionArn=arn, error="Operator", cause="stopped from the console")
    result = e2e.wait(arn)
    assert result.status == "ABORTED"
    assert "Clean up" not in [s.name for s in result.states]
    # Then the job is stopped by the aftercare rule, and the topic says so
    name = arn.rsplit(":", 1)[-1]
    (notice,) = _until(lambda: e2e.aftercare_notices(name), "the aftercare notice")
    (job,) = e2e.jobs_for(run_name)
    assert job["status"] in ("Stopping", "Stopped")
    assert notice["status"] == "ABORTED"
    assert notice["cleanup"] == {"jobs": [f"stopped job {job['jobName']}"], "throughputs": [], "evaluation_jobs": []}


def _stopped_while_evaluating(e2e: E2E, run_name: str, max_examples: int) -> tuple[str, dict[str, Any]]:
    """Start a run whose evaluation's model calls are held at the emulator, so it is inside its evaluation
    (throughput in service) when it is stopped by hand; release the calls; (execution ARN, its throughput).
    moto's interpreter honours a stop once the running task returns; Step Functions stops at once."""
    e2e.emulator.hold("InvokeModel")
    settings = {"throughput_policy": "keep", "evaluation": {"concurrency": 1, "max_examples": max_examples}}
    try:
        arn = e2e.start_upload(run_name, e2e.settings(settings))
        e2e.emulator.wait_held("InvokeModel")
        assert e2e.entered(arn, "Evaluate custom against base")
        (throughput,) = e2e.throughputs_for(run_name)
        assert throughput["status"] == "InService"
        e2e.sfn.stop_execution(executionArn=arn)
    finally:
        e2e.emulator.release("InvokeModel")
    return arn, throughput


@pytest.mark.e2e
def test_a_run_stopped_by_hand_during_evaluation_leaves_no_throughput(e2e: E2E) -> None:
    # Given a run inside its evaluation, with its throughput in service, When it is stopped by hand
    run_name = e2e.run_name("stopped-evaluating")
    arn, throughput = _stopped_while_evaluating(e2e, run_name, max_examples=10)
    assert e2e.wait(arn).status == "ABORTED"
    # Then the throughput is deleted (it would bill by the hour), and the notice says so
    name = arn.rsplit(":", 1)[-1]
    (notice,) = _until(lambda: e2e.aftercare_notices(name), "the aftercare notice")
    assert e2e.throughputs_for(run_name) == []
    assert notice["cleanup"]["throughputs"] == [f"deleted throughput {throughput['provisionedModelName']}"]


@pytest.mark.e2e
def test_a_failed_run_that_cleaned_up_itself_gets_no_second_notice(e2e: E2E) -> None:
    # Given a run whose job fails: the workflow's own Clean up and Notify failure run
    e2e.emulator.fail_job(message="bad luck")
    run_name = e2e.run_name("failed-once")
    arn = e2e.start_upload(run_name, e2e.settings())
    assert e2e.wait(arn).status == "FAILED"
    name = arn.rsplit(":", 1)[-1]
    # When the status-change rule has delivered the FAILED event to aftercare
    _until(
        lambda: [
            c for c in e2e.router.calls_to("handlers.after_execution.handler") if c.event["detail"]["name"] == name
        ],
        "aftercare to run",
    )
    # Then it found nothing left and stayed quiet: the run's own failure notice is the only one
    assert e2e.aftercare_notices(name) == []
    assert [n["status"] for n in e2e.notifications_for(run_name)] == ["FAILED"]


@pytest.mark.e2e
def test_a_timed_out_run_leaves_no_throughput(e2e: E2E) -> None:
    # Given a state machine whose executions time out after 20 s, and a run that reaches its throughput in about
    # two seconds on an idle machine (a job and a throughput of 0.1 s, one 1 s poll), then waits ten minutes before
    # checking it: the timeout fires in "Wait for the throughput" (a Wait state, which moto's interpreter
    # interrupts; no handler is left running). A timeout is measured in time by definition: this is the one test
    # whose subject is elapsed time, with a margin of about ten times the path before the wait.
    e2e.emulator.set_durations(job_seconds=0.1, throughput_seconds=0.1)
    run_name = e2e.run_name("timed-out")
    settings = {"throughput_policy": "keep", "poll": {"throughput_seconds": 600}}
    with _execution_timeout(e2e, TIMED_OUT_AFTER):
        arn = e2e.start_upload(run_name, e2e.settings(settings))
        _until(
            lambda: e2e.entered(arn, "Wait for the throughput"),
            f"the run to wait for its throughput before its {TIMED_OUT_AFTER} s timeout",
            timeout=TIMED_OUT_AFTER,
        )
        (throughput,) = _until(
            lambda: [t for t in e2e.throughputs_for(run_name) if t["status"] == "InService"], "the throughput"
        )
        assert e2e.sfn.describe_execution(executionArn=arn)["status"] == "RUNNING"
        # When the execution times out (no Catch, no "Clean up" state runs)
        result = e2e.wait(arn)
    assert result.status == "TIMED_OUT"
    assert "Clean up" not in [s.name for s in result.states]
    # Then the billing throughput is deleted by the aftercare rule, and the topic says so
    name = arn.rsplit(":", 1)[-1]
    (notice,) = _until(lambda: e2e.aftercare_notices(name), "the aftercare notice")
    assert notice["status"] == "TIMED_OUT"
    assert notice["cleanup"] == {
        "jobs": [],
        "throughputs": [f"deleted throughput {throughput['provisionedModelName']}"],
        "evaluation_jobs": [],
    }
    assert e2e.throughputs_for(run_name) == []


@pytest.mark.e2e
def test_a_failed_run_whose_failure_notice_crashed_is_still_reported(e2e: E2E) -> None:
    # Given a run whose job is refused, and whose "Notify failure" step crashes (found by the chaos suite: the
    # run ended FAILED and nobody was told)
    e2e.emulator.inject_error("ValidationException", "refused (injected)", operation="CreateModelCustomizationJob")
    e2e.router.faults[e2e.function_name("notify")] = lambda: RuntimeError("notify crashed (injected)")
    run_name = e2e.run_name("notify-crashed")
    arn = e2e.start_upload(run_name, e2e.settings())
    result = e2e.wait(arn)
    assert result.status == "FAILED"
    assert result.error == "RuntimeError"  # not "RunFailed": it never reached "Run failed"
    # Then aftercare reports it, with why it was not reported
    name = arn.rsplit(":", 1)[-1]
    (notice,) = _until(lambda: e2e.aftercare_notices(name), "the aftercare notice")
    assert notice["status"] == "FAILED"
    assert notice["reason"].startswith("the execution ended FAILED without reporting it: RuntimeError: "), notice
    assert "notify crashed (injected)" in notice["reason"]


@pytest.mark.e2e
def test_a_stop_during_a_step_whose_reply_is_then_lost_ends_aborted(e2e: E2E) -> None:
    # Given a run stopped by hand inside its evaluation, whose evaluate step then loses its reply (found by the
    # chaos suite: moto let the step's error override the stop, and the execution ended FAILED)
    e2e.router.lose_reply(e2e.function_name("evaluate"))
    run_name = e2e.run_name("stop-lost")
    arn, _ = _stopped_while_evaluating(e2e, run_name, max_examples=5)
    # Then the execution ends ABORTED, as Step Functions ends a stopped execution, and aftercare cleans up
    assert e2e.wait(arn).status == "ABORTED"
    name = arn.rsplit(":", 1)[-1]
    (notice,) = _until(lambda: e2e.aftercare_notices(name), "the aftercare notice")
    assert notice["status"] == "ABORTED"
    assert e2e.throughputs_for(run_name) == []
