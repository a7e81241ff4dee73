"""The evaluation benchmark's helpers: the least possible time of the calls, and its child processes (started
until ready, drained, stopped however the block ends, gone when the benchmark's process is killed). No figure
here depends on the machine's speed: waits are for events, with generous timeouts."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import boto3
import pytest

from bench import evaluate as bench
from bench.evaluate import eval_limit_seconds, serving

ROOT = Path(__file__).resolve().parents[3]
READY = re.compile(r"ready on (http://\S+)")

# A stand-in server: ``fake_server <mode> <pid file>``; it records its pid, then behaves as ``mode`` says.
FAKE_SERVER = textwrap.dedent(
    """
    import pathlib, signal, sys, time
    mode, pid_file = sys.argv[1], sys.argv[2]
    pathlib.Path(pid_file).write_text(str(__import__("os").getpid()))
    print("starting up", flush=True)
    if mode == "exit":
        sys.exit(3)
    if mode == "stubborn":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if mode != "silent":
        print("\\x1b[1m * ready on http://127.0.0.1:9\\x1b[0m", flush=True)
    if mode == "chatty":
        for _ in range(5000):
            print("x" * 100)
        sys.stdout.flush()
        pathlib.Path(pid_file + ".done").write_text("")
    while True:
        time.sleep(1)
    """
)


@pytest.fixture
def fake(tmp_path: Path) -> Path:
    (tmp_path / "fake_server.py").write_text(FAKE_SERVER)
    return tmp_path


def _gone(pid: int) -> bool:
    """The process has exited (reaped, or a zombie nobody reaped yet)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return True
    return state in {"Z", "X"}


def _wait_for(check: Callable[[], bool], timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return False


# ---- the limit ----


def test_the_limit_is_the_rounds_of_the_slowest_model_times_the_latency() -> None:
    # 500 calls, 32 at a time: 16 rounds (15 full, one of 20) of at least 100 ms
    assert eval_limit_seconds({"custom": 500, "base": 500}, {"custom": 32, "base": 32}, 0.1) == pytest.approx(1.6)
    assert eval_limit_seconds({"custom": 64, "base": 64}, {"custom": 32, "base": 32}, 0.1) == pytest.approx(0.2)
    assert eval_limit_seconds({"custom": 65}, {"custom": 32, "base": 1}, 0.1) == pytest.approx(0.3)


def test_the_limit_is_set_by_the_model_with_the_most_rounds() -> None:
    # Each model has its own bound and both are asked at once: a wider bound for one does not help the other
    calls, bounds = {"custom": 100, "base": 500}, {"custom": 256, "base": 32}
    assert eval_limit_seconds(calls, bounds, 0.1) == pytest.approx(1.6)


def test_the_limit_of_no_calls_is_zero_and_a_bound_below_one_is_refused() -> None:
    assert eval_limit_seconds({}, {}, 0.1) == 0.0
    assert eval_limit_seconds({"custom": 0}, {"custom": 4}, 0.1) == 0.0
    with pytest.raises(ValueError, match="at least 1"):
        eval_limit_seconds({"custom": 1}, {"custom": 0}, 0.1)


# ---- children ----


def test_a_child_serves_from_its_readiness_line_until_the_block_ends(fake: Path) -> None:
    pid_file = fake / "pid"
    with serving("fake", "fake_server", ["serve", str(pid_file)], READY, cwd=fake) as child:
        assert child.url == "http://127.0.0.1:9"  # colour codes stripped
        assert child.process.poll() is None
        assert "starting up" in child.output()
    assert child.process.returncode is not None
    assert _gone(int(pid_file.read_text()))


def test_a_child_is_stopped_when_the_block_raises(fake: Path) -> None:
    with (
        pytest.raises(KeyboardInterrupt),
        serving("fake", "fake_server", ["serve", str(fake / "pid")], READY, cwd=fake) as child,
    ):
        raise KeyboardInterrupt
    assert child.process.returncode is not None


def test_a_child_that_exits_before_it_is_ready_is_an_error_with_its_output(fake: Path) -> None:
    with (
        pytest.raises(RuntimeError, match=r"fake exited \(3\) before it was ready(?s:.*)starting up"),
        serving("fake", "fake_server", ["exit", str(fake / "pid")], READY, cwd=fake),
    ):
        pytest.fail("the block must not run")


def test_a_child_never_ready_times_out_and_is_stopped(fake: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The child is watched through its Popen object, not its pid file: on a loaded machine the 0.5 s may end
    # before the child's interpreter has even started, and the test must not depend on that.
    started: list[subprocess.Popen[str]] = []
    real_popen = subprocess.Popen

    def recording_popen(*args: object, **kwargs: object) -> subprocess.Popen[str]:
        started.append(real_popen(*args, **kwargs))  # type: ignore[call-overload]
        return started[-1]

    monkeypatch.setattr(subprocess, "Popen", recording_popen)
    with (
        pytest.raises(TimeoutError, match="fake printed no readiness line"),
        serving("fake", "fake_server", ["silent", str(fake / "pid")], READY, cwd=fake, timeout=0.5),
    ):
        pytest.fail("the block must not run")
    (child,) = started
    assert child.returncode is not None  # stopped and reaped before serving raised
    assert _gone(child.pid)


def test_a_child_that_ignores_sigterm_is_killed(fake: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bench, "STOP_TIMEOUT_SECONDS", 0.5)
    with serving("fake", "fake_server", ["stubborn", str(fake / "pid")], READY, cwd=fake) as child:
        pass
    assert child.process.returncode == -signal.SIGKILL


def test_a_child_printing_more_than_a_pipe_holds_is_not_blocked(fake: Path) -> None:
    pid_file = fake / "pid"
    with serving("fake", "fake_server", ["chatty", str(pid_file)], READY, cwd=fake):
        # 500 KB after the readiness line: it gets through only if someone keeps reading
        assert _wait_for(Path(str(pid_file) + ".done").exists)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_DEATHSIG is Linux's")
def test_a_child_dies_with_the_benchmark_killed_outright(fake: Path) -> None:
    # A SIGKILL runs no finally block: the kernel's parent-death signal stops the child
    pid_file = fake / "pid"
    parent = textwrap.dedent(
        f"""
        import os, re, signal, sys
        sys.path.insert(0, {str(ROOT)!r})
        from pathlib import Path
        from bench.evaluate import serving
        with serving("fake", "fake_server", ["serve", {str(pid_file)!r}], re.compile(r"ready on (http://\\S+)"),
                     cwd=Path({str(fake)!r})):
            os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    result = subprocess.run([sys.executable, "-c", parent], cwd=ROOT, timeout=120, check=False)
    assert result.returncode == -signal.SIGKILL
    pid = int(pid_file.read_text())
    try:
        assert _wait_for(lambda: _gone(pid))
    finally:
        if not _gone(pid):
            os.kill(pid, signal.SIGKILL)  # no orphan left behind by a failing test


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="finds the children in /proc")
def test_moto_and_the_emulator_serve_from_their_own_processes_and_stop_after() -> None:
    names = ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_BEDROCK", "AWS_ENDPOINT_URL_BEDROCK_RUNTIME")
    before = {name: os.environ.get(name) for name in names}
    with bench._offline_aws() as emulator:
        moto_url, emulator_url = os.environ["AWS_ENDPOINT_URL"], os.environ["AWS_ENDPOINT_URL_BEDROCK"]
        assert moto_url.startswith("http://127.0.0.1:") and emulator_url.startswith("http://127.0.0.1:")
        boto3.client("s3").create_bucket(Bucket="bench-test")
        assert [b["Name"] for b in boto3.client("s3").list_buckets()["Buckets"]] == ["bench-test"]
        emulator.set_latency(5, "InvokeModel")
        assert emulator.state()["faults"]["latency_ms"] == {"InvokeModel": 5.0}
        assert boto3.client("bedrock").list_custom_models()["modelSummaries"] == []
        children = [p for p in _children() if "moto.server" in _cmdline(p) or "offline.bedrock_emulator" in _cmdline(p)]
        assert len(children) == 2
    assert {name: os.environ.get(name) for name in names} == before
    assert _wait_for(lambda: all(_gone(p) for p in children))


def _children() -> list[int]:
    """This process's child pids (Linux's /proc)."""
    me = str(os.getpid())
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except (FileNotFoundError, ProcessLookupError):
                continue
            if stat[1] == me:
                found.append(int(entry.name))
    return found


def _cmdline(pid: int) -> str:
    try:
        return (Path(f"/proc/{pid}") / "cmdline").read_text().replace("\0", " ")
    except FileNotFoundError:
        return ""
