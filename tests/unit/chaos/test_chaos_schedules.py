"""The chaos suite's schedules (tests/chaos/schedules.py), without a runtime: drawn the same from the same seed,
classified right, and every transient count within the retry budget the product actually has."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from customizer import aws
from customizer.families import base_model
from customizer.settings import EvaluationSettings
from offline.bedrock_emulator.protocol import operations
from tests.chaos.schedules import (
    AFTERCARE_OPERATIONS,
    BEYOND_SDK,
    CLEANUP_MODULE,
    EVALUATOR_ATTEMPTS,
    HARD_KINDS,
    INTERNAL,
    JOB_PHASE,
    JOB_SECONDS_WHEN_STOPPED_TRAINING,
    LATENCY_ALL_MS,
    LATENCY_ONE_MS,
    LOST_REPLIES,
    LOST_REPLY_TYPES,
    PER_OPERATION,
    POLICIES,
    REFUSAL_CODES,
    REFUSALS,
    REJECTABLE,
    REJECTION_CODES,
    RUNTIME_OPERATIONS,
    SDK_ATTEMPTS,
    STARTS,
    THROTTLES_PER_OPERATION,
    THROTTLING,
    TRANSIENT_CODES,
    Schedule,
    declared_errors,
    draw,
)

HANDLERS = Path(__file__).resolve().parents[3] / "lambdas" / "handlers"
DRAWS = 300
SCHEDULES = [draw(seed, 0) for seed in range(DRAWS)]


def _beyond_sdk(schedule: Schedule) -> list[tuple[str, int]]:
    return [(e.operation, e.count) for e in schedule.bedrock_errors if e.transient and e.count > PER_OPERATION]


def test_a_schedule_is_drawn_from_seed_plus_index() -> None:
    assert draw(1, 7) == draw(1, 7)
    assert draw(1, 7) != draw(1, 8)
    # random.Random(seed + index): what the suite documents, so that one schedule replays alone
    assert draw(3, 4).describe() | {"seed": 0, "index": 0} == draw(6, 1).describe() | {"seed": 0, "index": 0}
    assert draw(1, 7).id == "schedule-7"


def test_the_budget_matches_the_product() -> None:
    assert aws._CONFIG.retries["total_max_attempts"] == SDK_ATTEMPTS
    assert EvaluationSettings().max_attempts == EVALUATOR_ATTEMPTS > PER_OPERATION
    assert PER_OPERATION == SDK_ATTEMPTS - 1
    assert BEYOND_SDK == (SDK_ATTEMPTS, 2 * SDK_ATTEMPTS - 1)
    # the codes drawn as transient are the ones the pipeline retries; the rejections are not
    assert set(TRANSIENT_CODES) <= aws.THROTTLING_CODES | aws.TRANSIENT_CODES
    assert not set(REJECTION_CODES) & (aws.THROTTLING_CODES | aws.TRANSIENT_CODES)


@pytest.mark.parametrize("schedule", SCHEDULES[:60], ids=lambda s: f"seed-{s.seed}")
def test_transient_only_means_no_hard_fault(schedule: Schedule) -> None:
    assert schedule.transient_only == (not schedule.why_hard()) == (not schedule.hard)
    assert set(schedule.hard) <= set(HARD_KINDS)
    if schedule.transient_only:
        assert schedule.job_outcome == "completes"
        assert not schedule.throughput_fails
        assert schedule.stop is None
        assert all(e.transient for e in schedule.bedrock_errors)
        assert all(f.transient for f in schedule.step_faults)
        assert schedule.bedrock_errors or schedule.latencies or schedule.step_faults, "a fault at least"
    else:
        assert len(schedule.why_hard()) >= 1
    json.loads(str(schedule))  # printed with every failure, with a one-line summary
    summary = schedule.summary()
    assert "\n" not in summary
    assert ("transient-only" in summary) == schedule.transient_only


def test_transient_counts_stay_within_the_budget() -> None:
    known = {op.name for op in operations()}
    for schedule in SCHEDULES:
        errors: Counter[str] = Counter()
        throttles: Counter[str] = Counter()
        beyond = _beyond_sdk(schedule)
        for error in schedule.bedrock_errors:
            assert error.operation in known, error
            assert error.code in declared_errors(error.operation), error
            assert error.count >= 1
            if error.transient and (error.operation, error.count) not in beyond:
                errors[error.operation] += error.count
                throttles[error.operation] += error.count if error.code == THROTTLING else 0
        assert max(errors.values(), default=0) <= PER_OPERATION, schedule
        assert max(throttles.values(), default=0) <= THROTTLES_PER_OPERATION, schedule
        # Beyond the SDK: one control-plane operation, 5xx only, nothing else on it, never with the aftercare.
        assert len(beyond) <= 1, schedule
        for operation, count in beyond:
            assert schedule.transient_only, schedule
            assert BEYOND_SDK[0] <= count <= BEYOND_SDK[1]
            assert operation not in RUNTIME_OPERATIONS
            assert [e.code for e in schedule.bedrock_errors if e.operation == operation] == [INTERNAL], schedule


def test_rejections_only_where_the_aftercare_does_not_call() -> None:
    rejected = [e for s in SCHEDULES for e in s.bedrock_errors if not e.transient]
    assert rejected
    for error in rejected:
        assert error.operation in REJECTABLE, error
        assert error.operation not in AFTERCARE_OPERATIONS
        assert error.code in REJECTION_CODES
        assert error.count == 1 or error.operation in RUNTIME_OPERATIONS


def test_step_faults_are_within_the_state_machine_retries() -> None:
    for schedule in SCHEDULES:
        seen = Counter((f.module, f.kind) for f in schedule.step_faults)
        assert max(seen.values(), default=0) == min(1, len(schedule.step_faults)), schedule
        for fault in schedule.step_faults:
            assert (HANDLERS / f"{fault.module}.py").is_file(), fault
            if fault.kind == "refuse":
                assert fault.detail in REFUSAL_CODES
                assert 1 <= fault.count <= REFUSALS
            elif fault.kind == "lose_reply":
                assert fault.detail in LOST_REPLY_TYPES
                assert 1 <= fault.count <= LOST_REPLIES
            else:
                assert "crash" in schedule.hard
        crashed = [f.module for f in schedule.step_faults if f.kind == "crash"]
        if crashed == [CLEANUP_MODULE]:
            assert set(schedule.hard) - {"crash", "hand-stop"}, "the cleanup crashes only when something fails"


def test_latency_is_small() -> None:
    for schedule in SCHEDULES:
        assert len({latency.operation for latency in schedule.latencies}) == len(schedule.latencies)
        for latency in schedule.latencies:
            low, high = LATENCY_ALL_MS if latency.operation is None else LATENCY_ONE_MS
            assert low <= latency.ms <= high


def test_runs_are_ones_the_pipeline_takes() -> None:
    for schedule in SCHEDULES:
        assert len(schedule.runs) == (2 if schedule.shape == "two-runs" else 1)
        assert schedule.executions == (1 if schedule.shape == "single" else 2)
        for plan in schedule.runs:
            assert plan.policy in POLICIES
            assert plan.start in STARTS
            if plan.on_demand:
                assert base_model(plan.base_model_id).on_demand_deployment
            if schedule.shape == "duplicate":
                assert plan.start == "console"
        if schedule.throughput_fails:
            assert any(not plan.on_demand for plan in schedule.runs)


def test_stops_by_hand_come_in_states_of_the_run() -> None:
    stopped = [s for s in SCHEDULES if s.stop is not None]
    assert stopped
    for schedule in stopped:
        assert schedule.stop is not None
        assert 0 <= schedule.stop.execution < schedule.executions
        plan = schedule.runs[min(schedule.stop.execution, len(schedule.runs) - 1)]
        assert schedule.stop.state in plan.states()
        training = schedule.stop.state in JOB_PHASE
        assert schedule.job_seconds == (JOB_SECONDS_WHEN_STOPPED_TRAINING if training else None)
    assert all(s.job_seconds is None for s in SCHEDULES if s.stop is None)


def test_the_draws_cover_every_kind() -> None:
    hard = Counter(kind for s in SCHEDULES for kind in s.hard)
    assert set(hard) == set(HARD_KINDS), hard
    assert {s.shape for s in SCHEDULES} == {"single", "two-runs", "duplicate"}
    plans = [p for s in SCHEDULES for p in s.runs]
    assert {p.policy for p in plans} == set(POLICIES)
    assert {p.start for p in plans} == set(STARTS)
    assert {p.serving for p in plans} == {"provisioned_throughput", "on_demand"}
    assert {p.fan_out for p in plans} == {True, False}
    faults = [f for s in SCHEDULES for f in s.step_faults]
    assert {f.kind for f in faults} == {"refuse", "lose_reply", "crash"}
    assert {f.detail for f in faults if f.kind == "lose_reply"} == set(LOST_REPLY_TYPES)
    assert {f.detail for f in faults if f.kind == "refuse"} == set(REFUSAL_CODES)
    codes = {e.code for s in SCHEDULES for e in s.bedrock_errors if e.transient}
    assert codes == set(TRANSIENT_CODES), codes
    assert any(_beyond_sdk(s) for s in SCHEDULES)
    share = sum(s.transient_only for s in SCHEDULES) / len(SCHEDULES)
    assert 0.35 < share < 0.65, share
