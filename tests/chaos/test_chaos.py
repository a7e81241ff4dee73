"""Each seeded schedule (``schedules.draw``) runs the pipeline under its faults; the invariants hold for all:

1. every execution ends (SUCCEEDED, FAILED, ABORTED or TIMED_OUT) within ``RUN_BOUND`` seconds: a bound on a
   condition, generous, not a timing assertion;
2. nothing is left running or billing unless the policy kept it: once the executions ended (and the aftercare
   rule ran for those that did not succeed), no job of the run is InProgress, and a throughput or deployment of
   the run exists only if an execution of the run SUCCEEDED and its policy kept it (keep, or keep_if_better with
   the promotion decision); a SUCCEEDED execution's policy did what its setting says;
3. every execution is reported on the topic: a notice of its run whose status is the execution's, or, for an
   execution stopped or timed out, the aftercare notice;
4. a transient-only schedule SUCCEEDS, every run with one job and at most one throughput (or deployment); of a
   run started twice, the start that met the other still running may end refused as a duplicate instead.

A failure's message holds the schedule as drawn, the command that replays it, and what happened (each
execution's path, its failed Lambda invokes, the notices, what the run left in the emulator)."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from botocore.exceptions import ClientError

from offline.router import Invocation
from offline.runtime import RunResult
from tests.chaos.schedules import (
    LAMBDA_SERVICE_RETRIES_NEEDED,
    NOVA,
    STEP_RETRIES_NEEDED,
    TIMEOUT_RETRIES_NEEDED,
    RunPlan,
    Schedule,
)
from tests.e2e.harness import E2E, sample_files
from tests.e2e.test_e2e_runs import as_conversation

# Generous: a schedule's executions end in 1-25 s here; the longest retries drawn add well under a minute.
RUN_BOUND = 240.0
AFTERCARE_BOUND = 60.0
REPORT_BOUND = 20.0
ENDED = ("SUCCEEDED", "FAILED", "ABORTED", "TIMED_OUT")
AFTERCARE_STATUSES = ("FAILED", "ABORTED", "TIMED_OUT")


@dataclass
class Execution:
    plan: RunPlan
    run_name: str
    arn: str
    result: RunResult | None = None
    stop: str | None = None  # what became of the schedule's stop by hand, for this execution

    @property
    def name(self) -> str:
        return self.arn.rsplit(":", 1)[-1]

    @property
    def status(self) -> str:
        return self.result.status if self.result else "RUNNING"

    @property
    def output(self) -> dict[str, Any]:
        return (self.result.output or {}) if self.result else {}


# ---- the deployed state machine's retry budget, as the schedules assume it ----


def _task_states(states: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, state in states.items():
        yield name, state
        processor = state.get("ItemProcessor") or state.get("Iterator")
        if processor:
            yield from _task_states(processor["States"])


def _retries(state: dict[str, Any], error: str) -> int:
    """The retries the first retrier matching ``error`` allows (Step Functions' rule), 0 when none does."""
    for retrier in state.get("Retry", []):
        if error in retrier["ErrorEquals"] or "States.ALL" in retrier["ErrorEquals"]:
            return int(retrier.get("MaxAttempts", 3))
    return 0


def check_budget(e2e: E2E, schedule: Schedule) -> None:
    definition = json.loads(e2e.sfn.describe_state_machine(stateMachineArn=e2e.runtime.state_machine_arn)["definition"])
    states = dict(_task_states(definition["States"]))
    needed = {
        "BedrockThrottledError": STEP_RETRIES_NEEDED,
        "AwsServiceUnavailableError": STEP_RETRIES_NEEDED,
        "Lambda.TooManyRequestsException": LAMBDA_SERVICE_RETRIES_NEEDED,
        "Lambda.ServiceException": LAMBDA_SERVICE_RETRIES_NEEDED,
        "Sandbox.Timedout": TIMEOUT_RETRIES_NEEDED,
        "Lambda.Unknown": TIMEOUT_RETRIES_NEEDED,
    }
    short = [
        f"{name}: {error} retried {_retries(state, error)} times, the schedules assume {count}"
        for name, state in states.items()
        if state.get("Type") == "Task"
        for error, count in needed.items()
        if _retries(state, error) < count
    ]
    assert not short, "the state machine retries less than the schedules' bounds assume:\n" + "\n".join(short)
    missing = [s for plan in schedule.runs for s in plan.states() if s not in states]
    assert not missing, f"states the schedules stop in are not in the state machine: {missing}"


# ---- running a schedule ----


def _crash(module: str, schedule: Schedule) -> Callable[[], Exception]:
    return lambda: RuntimeError(f"{module} crashed (injected by chaos {schedule.id})")


def inject(e2e: E2E, schedule: Schedule) -> None:
    if schedule.job_seconds is not None:
        e2e.emulator.set_durations(job_seconds=schedule.job_seconds)
    message = f"Injected by chaos {schedule.id}."
    for error in schedule.bedrock_errors:
        if error.code == "ThrottlingException":
            e2e.emulator.throttle(error.count, error.operation)
        else:
            e2e.emulator.inject_error(error.code, message, error.count, error.operation)
    for latency in schedule.latencies:
        e2e.emulator.set_latency(latency.ms, latency.operation)
    if schedule.job_outcome == "fails":
        e2e.emulator.fail_job(f"Training failed ({message})")
    elif schedule.job_outcome == "stops":
        e2e.emulator.stop_job()
    if schedule.throughput_fails:
        e2e.emulator.fail_throughput(f"Insufficient capacity ({message})")
    for fault in schedule.step_faults:
        function = e2e.function_name(fault.module)
        if fault.kind == "refuse":
            e2e.router.refuse(function, str(fault.detail), fault.count)
        elif fault.kind == "lose_reply":
            e2e.router.lose_reply(function, fault.count, error_type=fault.detail)
        else:
            e2e.router.faults[function] = _crash(fault.module, schedule)


def _files(plan: RunPlan) -> dict[str, bytes]:
    files = sample_files()
    if plan.base_model_id == NOVA:
        return {name: as_conversation(body) for name, body in files.items()}
    return files


def start(e2e: E2E, schedule: Schedule) -> list[Execution]:
    if schedule.shape == "duplicate":
        (plan,) = schedule.runs
        run_name = e2e.run_name(f"chaos{schedule.index}")
        request = e2e.upload_console_input(run_name, e2e.settings(plan.settings()), _files(plan))
        return [
            Execution(plan, run_name, e2e.runtime.start_console_run(request, name=f"{run_name}-console-{n}"))
            for n in (1, 2)
        ]
    executions = []
    for number, plan in enumerate(schedule.runs):
        run_name = e2e.run_name(f"chaos{schedule.index}-{number}")
        settings = e2e.settings(plan.settings())
        if plan.start == "upload":
            arn = e2e.start_upload(run_name, settings, _files(plan))
        else:
            request = e2e.upload_console_input(run_name, settings, _files(plan))
            arn = e2e.runtime.start_console_run(request, name=f"{run_name}-console")
        executions.append(Execution(plan, run_name, arn))
    return executions


def stop_by_hand(e2e: E2E, schedule: Schedule, execution: Execution, deadline: float) -> None:
    """Stop the execution once it entered the schedule's state (read from its history), if it ever does."""
    assert schedule.stop is not None
    state = schedule.stop.state
    while time.monotonic() < deadline:
        entered = e2e.entered(execution.arn, state)
        status = e2e.sfn.describe_execution(executionArn=execution.arn)["status"]
        if status != "RUNNING":
            execution.stop = f"ended {status} before the stop in {state!r}" if not entered else f"ended {status}"
            return
        if entered:
            try:
                e2e.sfn.stop_execution(
                    executionArn=execution.arn, error="Chaos", cause=f"{schedule.id}: stopped by hand in {state}"
                )
            except ClientError as exc:  # it ended meanwhile
                execution.stop = f"stop in {state!r} refused: {exc}"
                return
            execution.stop = f"stopped by hand in {state!r}"
            return
        time.sleep(0.1)
    execution.stop = f"still running without entering {state!r}"


def wait_for_ends(e2e: E2E, executions: list[Execution], deadline: float) -> list[str]:
    """Invariant 1. An execution still running at the deadline is stopped, so that it stays out of the next
    schedule."""
    violations = []
    for execution in executions:
        try:
            execution.result = e2e.wait(execution.arn, timeout=max(1.0, deadline - time.monotonic()))
        except TimeoutError:
            violations.append(f"1. {execution.name} did not end within {RUN_BOUND:.0f} s")
            e2e.sfn.stop_execution(executionArn=execution.arn, error="Chaos", cause="did not end in time")
            execution.result = e2e.wait(execution.arn, timeout=60)
        if execution.status not in ENDED:
            violations.append(f"1. {execution.name} ended {execution.status}")
    return violations


def _aftercare_calls(e2e: E2E, execution: Execution) -> list[Invocation]:
    calls = e2e.router.calls_to("handlers.after_execution.handler")
    return [c for c in calls if c.event.get("detail", {}).get("name") == execution.name]


def wait_for_aftercare(e2e: E2E, executions: list[Execution]) -> list[str]:
    """The status-change rule runs the aftercare for every execution that did not succeed: wait until it ran (it
    may clean up, which invariant 2 looks at; its notice is waited for by invariant 3)."""
    violations = []
    deadline = time.monotonic() + AFTERCARE_BOUND
    for execution in executions:
        if execution.status not in AFTERCARE_STATUSES:
            continue
        while not _aftercare_calls(e2e, execution):
            if time.monotonic() > deadline:
                violations.append(f"2. the aftercare of {execution.name} ({execution.status}) never ran")
                break
            time.sleep(0.1)
    return violations


# ---- the invariants ----


def _served_arn(item: dict[str, Any]) -> str:
    return str(item.get("provisionedModelArn") or item.get("customModelDeploymentArn"))


def _should_keep(plan: RunPlan, output: dict[str, Any]) -> bool:
    if plan.policy == "keep":
        return True
    if plan.policy == "delete":
        return False
    evaluation = output.get("evaluation") or {}
    decision = evaluation.get("decision")
    return bool(decision["promote"] if decision else evaluation.get("custom_beats_base"))


def check_leftovers(e2e: E2E, run_name: str, executions: list[Execution]) -> list[str]:
    """Invariant 2."""
    violations = []
    running = [j["jobName"] for j in e2e.jobs_for(run_name) if j["status"] == "InProgress"]
    if running:
        violations.append(f"2. {run_name}: jobs still InProgress: {running}")
    kept = set()
    for execution in executions:
        if execution.status != "SUCCEEDED":
            continue
        action = (execution.output.get("policy") or {}).get("action")
        expected = "kept" if _should_keep(execution.plan, execution.output) else "deleted"
        if action != expected:
            violations.append(
                f"2. {execution.name}: policy {execution.plan.policy} should have {expected}, it {action}: "
                f"{execution.output.get('policy')}"
            )
        if action == "kept":
            kept.add(str((execution.output.get("throughput") or {}).get("arn")))
    served = e2e.throughputs_for(run_name) + e2e.deployments_for(run_name)
    for item in served:
        if _served_arn(item) not in kept:
            name = item.get("provisionedModelName") or item.get("customModelDeploymentName")
            violations.append(f"2. {run_name}: {name} ({item['status']}) left behind; kept by a policy: {sorted(kept)}")
    if len(executions) == 1 and kept and not kept & {_served_arn(i) for i in served}:
        violations.append(f"2. {run_name}: the policy kept {sorted(kept)}, which is gone")
    return violations


def _reports_of(e2e: E2E, run_name: str, execution: Execution) -> list[dict[str, Any]]:
    aftercare = e2e.aftercare_notices(execution.name)
    # Stopped or timed out: only the aftercare knows; otherwise the run's own notice (or the aftercare's).
    if execution.status in ("ABORTED", "TIMED_OUT"):
        return aftercare
    return e2e.notifications_for(run_name) + aftercare


def check_reports(e2e: E2E, run_name: str, executions: list[Execution], deadline: float) -> list[str]:
    """Invariant 3. A notice may reach the topic's subscriber after the step that published it was seen to end:
    each is waited for until ``deadline``."""
    violations = []
    for execution in executions:
        while not any(n.get("status") == execution.status for n in _reports_of(e2e, run_name, execution)):
            if time.monotonic() > deadline:
                statuses = [n.get("status") for n in _reports_of(e2e, run_name, execution)]
                violations.append(f"3. {execution.name} ended {execution.status}; notices of it: {statuses}")
                break
            time.sleep(0.1)
    return violations


def refused_as_duplicate(e2e: E2E, execution: Execution) -> bool:
    """Ended at validation because another execution of its run was running (customizer/leases.py): FAILED, its
    validation raised RunAlreadyRunningError, and it entered no step that creates anything."""
    calls = [
        c
        for c in e2e.router.calls_to("handlers.validate_run.handler")
        if c.event.get("execution_name") == execution.name
    ]
    return (
        execution.status == "FAILED"
        and any(c.error_type == "RunAlreadyRunningError" for c in calls)
        and "Create the customization job" not in _path(execution)
    )


def check_transient(e2e: E2E, run_name: str, executions: list[Execution]) -> list[str]:
    """Invariant 4 (for a transient-only schedule). A run started twice (the duplicate shape): the second start is
    refused while the first runs, so one execution SUCCEEDS and the other may end refused as a duplicate."""
    violations = [
        f"4. {e.name} ended {e.status} under transient faults only: {e.result.error if e.result else ''}"
        for e in executions
        if e.status != "SUCCEEDED" and not refused_as_duplicate(e2e, e)
    ]
    if not any(e.status == "SUCCEEDED" for e in executions):
        violations.append(f"4. {run_name}: no execution SUCCEEDED under transient faults only")
    jobs = e2e.jobs_for(run_name)
    if len(jobs) != 1:
        violations.append(f"4. {run_name}: {len(jobs)} jobs: {[(j['jobName'], j['status']) for j in jobs]}")
    created = {
        str(c.result["arn"])
        for c in e2e.invocations("create_throughput", run_name)
        if isinstance(c.result, dict) and "arn" in c.result
    }
    created |= {_served_arn(i) for i in e2e.throughputs_for(run_name) + e2e.deployments_for(run_name)}
    if len(created) > 1:
        violations.append(f"4. {run_name}: {len(created)} throughputs or deployments: {sorted(created)}")
    return violations


# ---- what happened, for the failure message ----


def _path(execution: Execution) -> str:
    return " > ".join(s.name for s in execution.result.states) if execution.result else ""


def what_happened(e2e: E2E, schedule: Schedule, executions: list[Execution]) -> str:
    lines = [f"{schedule.id} (seed {schedule.seed}): {schedule.summary()}", f"drawn: {schedule}"]
    for execution in executions:
        result = execution.result
        lines += [
            f"- {execution.name}: {execution.status} after {result.states[-1].elapsed if result and result.states else 0:.1f} s"
            f"{'; ' + execution.stop if execution.stop else ''}",
            f"  error: {result.error if result else None}: {(result.cause or '')[:600] if result else ''}",
            f"  path: {_path(execution)}",
            f"  failed Lambda invokes: {dict(Counter(e2e.lambda_failures(execution.arn)))}",
            f"  aftercare: {[(c.error_type or 'ok', c.error_message or c.result) for c in _aftercare_calls(e2e, execution)]}",
            f"  aftercare notices: {e2e.aftercare_notices(execution.name)}",
        ]
    for run_name in dict.fromkeys(e.run_name for e in executions):
        lines += [
            f"- run {run_name}:",
            f"  notices: {e2e.notifications_for(run_name)}",
            f"  jobs: {[(j['jobName'], j['status']) for j in e2e.jobs_for(run_name)]}",
            f"  throughputs: {[(t['provisionedModelName'], t['status']) for t in e2e.throughputs_for(run_name)]}",
            f"  deployments: {[(d.get('customModelDeploymentName'), d['status']) for d in e2e.deployments_for(run_name)]}",
        ]
    lines.append(f"- faults left in the emulator: {e2e.state()['faults']}")
    return "\n".join(lines)


@pytest.mark.e2e
def test_schedule(e2e: E2E, schedule: Schedule, replay: str) -> None:
    print(f"{schedule.id}: seed {schedule.seed}; replay: {replay}")
    check_budget(e2e, schedule)
    inject(e2e, schedule)
    deadline = time.monotonic() + RUN_BOUND
    executions = start(e2e, schedule)
    if schedule.stop is not None:
        stop_by_hand(e2e, schedule, executions[schedule.stop.execution], deadline)
    violations = wait_for_ends(e2e, executions, deadline)
    violations += wait_for_aftercare(e2e, executions)
    reports_deadline = time.monotonic() + REPORT_BOUND
    runs = {
        run_name: [e for e in executions if e.run_name == run_name]
        for run_name in dict.fromkeys(e.run_name for e in executions)
    }
    for run_name, of_run in runs.items():
        violations += check_leftovers(e2e, run_name, of_run)
        violations += check_reports(e2e, run_name, of_run, reports_deadline)
        if schedule.transient_only:
            violations += check_transient(e2e, run_name, of_run)
    print(what_happened(e2e, schedule, executions))  # shown with -s / -rP, and for a failure
    assert not violations, (
        "\n".join(violations) + f"\n\nreplay: {replay}\n\n" + what_happened(e2e, schedule, executions)
    )
