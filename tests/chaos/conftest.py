"""The chaos suite (``make test-chaos``): N seeded random fault schedules, each one run or two concurrent runs of
the pipeline on the offline runtime, with the invariants every run must keep whatever happens to it.

``CHAOS_SCHEDULES`` (N, default 12) and ``CHAOS_SEED`` (default 1) choose the schedules: schedule ``i`` is drawn
from ``random.Random(CHAOS_SEED + i)`` (``schedules.draw``), so it is the same whatever N is, and one schedule is
replayed alone by its id (``-k schedule-7``, or its node id). The seed and N are printed in the header and the
summary; a failing schedule's assertion message holds the schedule as drawn and the command that replays it.

The runtime and the ``e2e`` fixture are the end-to-end suite's (tests/e2e/conftest.py): one runtime per process,
faults cleared around every schedule, and nothing left running when the next one injects its faults."""

from __future__ import annotations

import os
from typing import Any

import pytest

from tests.chaos.schedules import draw
from tests.e2e.conftest import _runtime_holder, e2e

__all__ = ["_runtime_holder", "e2e"]

DEFAULT_SCHEDULES = 12
DEFAULT_SEED = 1


def _env_int(name: str, default: int, minimum: int) -> int:
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        raise pytest.UsageError(f"{name}={text!r} is not an integer") from None
    if value < minimum:
        raise pytest.UsageError(f"{name}={value}: at least {minimum}")
    return value


def chaos_seed() -> int:
    return _env_int("CHAOS_SEED", DEFAULT_SEED, minimum=0)


def chaos_schedules() -> int:
    return _env_int("CHAOS_SCHEDULES", DEFAULT_SCHEDULES, minimum=1)


def replay_command(seed: int, schedules: int, schedule_id: str | None = None) -> str:
    command = f"make test-chaos CHAOS_SEED={seed} CHAOS_SCHEDULES={schedules}"
    if schedule_id is None:
        return command
    node = f"tests/chaos/test_chaos.py::test_schedule[{schedule_id}]"
    return (
        f"CHAOS_SEED={seed} CHAOS_SCHEDULES={schedules} .venv/bin/pytest -p no:cacheprovider '{node}'"
        f"  (or {command} with -k {schedule_id})"
    )


def pytest_report_header(config: pytest.Config) -> str:
    seed, schedules = chaos_seed(), chaos_schedules()
    return f"chaos: CHAOS_SEED={seed} CHAOS_SCHEDULES={schedules} (replay: {replay_command(seed, schedules)})"


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "schedule" in metafunc.fixturenames:
        seed, count = chaos_seed(), chaos_schedules()
        drawn = [draw(seed, index) for index in range(count)]
        metafunc.parametrize("schedule", drawn, ids=[s.id for s in drawn])


@pytest.fixture
def replay(request: pytest.FixtureRequest) -> str:
    """The command that runs the requesting schedule alone."""
    return replay_command(chaos_seed(), chaos_schedules(), request.node.callspec.id)


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    seed, schedules = chaos_seed(), chaos_schedules()
    terminalreporter.write_line(
        f"chaos: CHAOS_SEED={seed} CHAOS_SCHEDULES={schedules}; replay: {replay_command(seed, schedules)}"
    )
