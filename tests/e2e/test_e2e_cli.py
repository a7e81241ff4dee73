"""``bedrock-customize`` against the offline stack: every subcommand, and the one-line failures.

The command runs in this process (typer's runner) against the worker's offline runtime, found as users find a
running demo: through the endpoints file the demo writes (here in a temporary folder)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from cli import app as cli_app
from cli import follow as follow_module
from offline.runtime import free_port, sample_dir
from tests.e2e.harness import E2E

pytestmark = pytest.mark.e2e
TITAN = "amazon.titan-text-express-v1"
# The bundled sample is prompt/completion records: Titan's format (the stack's default base is Nova Micro).
QUICK = json.dumps(
    {
        "base_model_id": "amazon.titan-text-express-v1",
        "poll": {"job_seconds": 1, "throughput_seconds": 1},
        "evaluation": {"max_examples": 30},
    }
)


@pytest.fixture
def endpoints(e2e: E2E, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    path = e2e.runtime.write_endpoints(tmp_path / "endpoints.json")
    monkeypatch.setenv("BEDROCK_CUSTOMIZE_ENDPOINTS", str(path))
    yield path


def cli(*args: str) -> Result:
    return CliRunner().invoke(cli_app.app, list(args), catch_exceptions=False)


def one_line_error(result: Result, code: int = 1) -> str:
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    return lines[0]


def started_execution(result: Result, code: int = 0) -> str:
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    line = next(line for line in result.stdout.splitlines() if line.startswith("Started "))
    return line.removeprefix("Started ").strip()


def _follow_with_the_evaluation_held(e2e: E2E, monkeypatch: pytest.MonkeyPatch, *args: str) -> Result:
    """``start --follow`` with the evaluation's model calls held at the emulator until the follower has polled
    once while they wait, so its progress line is seen however fast the machine evaluates."""
    seen = {"held": 0}
    original = follow_module.pause

    def pause(seconds: float) -> None:
        if seen["held"] < 2:
            try:
                e2e.emulator.wait_held("InvokeModel", timeout=0.2)
            except TimeoutError:
                pass
            else:
                seen["held"] += 1  # the next poll sees the evaluation under way; the one after, released
                if seen["held"] == 2:
                    e2e.emulator.release("InvokeModel")
                return
        original(min(seconds, 0.5))

    monkeypatch.setattr(follow_module, "pause", pause)
    e2e.emulator.hold("InvokeModel")
    try:
        return cli(*args)
    finally:
        e2e.emulator.release("InvokeModel")


def test_start_follows_a_run_to_its_summary_then_show_runs_report_and_compare(
    e2e: E2E, endpoints: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = e2e.run_name("cli")
    # The job trains for 8 s, four of the follower's 2 s polls, so one of them sees it (a generous bound on a
    # stalled follower, not a speed assumption about the pipeline).
    e2e.emulator.set_durations(job_seconds=8)
    followed = _follow_with_the_evaluation_held(
        e2e, monkeypatch, "--offline", "start", str(sample_dir()), "--name", name, "--settings", QUICK, "--follow"
    )
    assert followed.exit_code == 0, (followed.stdout, followed.stderr)
    out = followed.stdout
    assert "Pre-flight check: valid" in out
    for state in ("Validate the run", "Create the customization job", "Evaluate custom against base", "Run succeeded"):
        assert f"  {state}" in out
    assert "job InProgress" in out or "job Completed" in out  # the job's sub-status while waiting on it
    assert "throughput " in out and "InService" in out
    assert "evaluation: " in out and "answers in" in out
    assert "Decision: " in out and "Report: s3://" in out
    assert "uploading train.jsonl" in followed.stderr  # the progress bars
    execution = started_execution(followed)

    shown = cli("--offline", "show", execution, "--json")
    record = json.loads(shown.stdout)
    assert record["status"] == "SUCCEEDED" and record["run_name"] == name
    training = record["data"]["training"]
    assert type(training["records"]) is int and type(training["size"]) is int  # not 1200.0
    assert record["notification"]["status"] == "SUCCEEDED"
    readable = cli("--offline", "show", name)
    assert readable.exit_code == 0 and "Evaluation (30 test examples)" in readable.stdout
    assert training["sha256"] in readable.stdout  # the data's lineage: each file's hash

    listed = cli("--offline", "runs", "--json", "--limit", "50")
    rows = {r["execution"]: r for r in json.loads(listed.stdout)}
    assert rows[execution]["status"] == "SUCCEEDED" and rows[execution]["method"] == "fine-tuning"
    assert rows[execution]["decision"] in ("promote", "keep base")
    failed_only = json.loads(cli("--offline", "runs", "--json", "--status", "FAILED", "--limit", "50").stdout)
    assert execution not in {r["execution"] for r in failed_only}
    other_model = json.loads(cli("--offline", "runs", "--json", "--model", "cohere.", "--since", "1d").stdout)
    assert execution not in {r["execution"] for r in other_model}

    saved = cli("--offline", "report", execution, "--to", str(tmp_path / "reports"), "--no-open")
    assert saved.exit_code == 0, saved.stderr
    report = Path(saved.stdout.strip())
    assert report.name == "report.html" and "<html" in report.read_text().lower()
    assert (report.parent / "report.md").is_file()

    second = started_execution(cli("--offline", "start", str(sample_dir()), "--name", f"{name}-b", "--settings", QUICK))
    assert e2e.wait(_arn(e2e, second)).status == "SUCCEEDED"
    compared = cli("--offline", "compare", execution, second)
    assert compared.exit_code == 0, (compared.stdout, compared.stderr)
    assert "contains match" in compared.stdout
    assert "Decision metric contains match: " in compared.stdout


def _arn(e2e: E2E, execution: str) -> str:
    prefix, _, machine = e2e.runtime.state_machine_arn.partition(":stateMachine:")
    return f"{prefix}:execution:{machine}:{execution}"


def test_stop_stops_the_run_and_says_what_the_aftercare_stopped(e2e: E2E, endpoints: Path) -> None:
    e2e.emulator.set_durations(job_seconds=3600)  # trains far longer than the test waits
    name = e2e.run_name("cli-stop")
    execution = started_execution(cli("--offline", "start", str(sample_dir()), "--name", name, "--settings", QUICK))
    arn = _arn(e2e, execution)
    _until(lambda: e2e.entered(arn, "Wait for the job"))
    stopped = cli("--offline", "stop", execution)
    assert stopped.exit_code == 0, (stopped.stdout, stopped.stderr)
    (job,) = e2e.jobs_for(name)
    assert f"Stopped {execution}." in stopped.stdout
    assert f"Stopped job {job['jobName']} (now {job['status']})." in stopped.stdout
    assert job["status"] in ("Stopping", "Stopped")
    assert e2e.wait(arn).status == "ABORTED"
    again = one_line_error(cli("--offline", "stop", execution))
    assert again.startswith("error: run ") and again.endswith(" is ABORTED: nothing to stop")


def test_ctrl_c_stops_following_never_the_run(e2e: E2E, endpoints: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(seconds: float) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(follow_module, "pause", interrupted)
    name = e2e.run_name("cli-ctrl-c")
    result = cli("--offline", "start", str(sample_dir()), "--name", name, "--settings", QUICK, "--follow")
    monkeypatch.undo()
    execution = started_execution(result, cli_app.EXIT_INTERRUPTED)
    assert result.stderr.strip().endswith(
        f"stopped following; the run goes on: bedrock-customize --offline show {execution}"
    )
    assert e2e.wait(_arn(e2e, execution)).status == "SUCCEEDED"


def _until(predicate: Any, timeout: float = 60.0) -> None:
    import time

    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_cost_is_the_estimate_alone() -> None:
    result = cli("cost", str(sample_dir()), "--json", "--model", TITAN)
    assert result.exit_code == 0, result.stderr
    estimate = json.loads(result.stdout)
    assert estimate["training_tokens"] > 0 and estimate["epochs"] >= 1 and estimate["training_usd"] > 0
    table = cli("cost", str(sample_dir()), "--model", "cohere.command-light-text-v14")
    assert table.exit_code == 0 and "training" in table.stdout and "Prices as of" in table.stdout


# ---- the failure lines ----


def test_an_unknown_run_is_one_line(endpoints: Path) -> None:
    line = one_line_error(cli("--offline", "show", "no-such-run"))
    assert line == "error: no run 'no-such-run' in the offline stack: `bedrock-customize runs` lists them"


def test_an_invalid_dataset_is_one_line_with_its_first_errors(tmp_path: Path, endpoints: Path) -> None:
    folder = tmp_path / "bad"
    folder.mkdir()
    good = (sample_dir() / "train.jsonl").read_text().splitlines()
    (folder / "train.jsonl").write_text("\n".join([good[0], "{not json", good[1], '{"prompt": 3}']) + "\n")
    line = one_line_error(cli("--offline", "start", str(folder), "--model", TITAN))
    assert line.startswith(f"error: {folder} does not pass the pre-flight check for amazon.titan-text-express-v1 (")
    assert "line 2" in line and "make -s validate FILE=" in line
    assert e2e_executions_named(endpoints, "bad") == []  # nothing uploaded, nothing started


def e2e_executions_named(endpoints: Path, name: str) -> list[str]:
    import boto3

    saved = json.loads(endpoints.read_text())
    s3 = boto3.client("s3", endpoint_url=saved["environment"]["AWS_ENDPOINT_URL"])
    listed = s3.list_objects_v2(Bucket=saved["outputs"]["DataBucketName"], Prefix=f"runs/{name}/")
    return [o["Key"] for o in listed.get("Contents", [])]


def test_a_missing_folder_and_bad_settings_are_usage_errors(tmp_path: Path) -> None:
    line = one_line_error(cli("cost", str(tmp_path)), code=2)
    assert line == (
        f"error: {tmp_path}/train.jsonl not found: the folder holds train.jsonl and optionally validation.jsonl, "
        "test.jsonl and config.json (settings)"
    )
    line = one_line_error(
        cli("cost", str(sample_dir()), "--settings", '{"hyperparameters": ', "--model", TITAN), code=2
    )
    assert line.startswith("error: --settings: not valid JSON")
    line = one_line_error(cli("cost", str(sample_dir()), "--model", "no.such-model"), code=2)
    assert "no.such-model" in line


def test_the_offline_stack_not_running_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    missing = tmp_path / "endpoints.json"
    monkeypatch.setenv("BEDROCK_CUSTOMIZE_ENDPOINTS", str(missing))
    line = one_line_error(cli("--offline", "runs"))
    assert line == (
        f"error: the offline stack is not running ({missing} not found): start it with "
        "`python -m offline demo --keep-running`"
    )
    url = f"http://127.0.0.1:{free_port()}"
    missing.write_text(json.dumps({"environment": {"AWS_ENDPOINT_URL": url}, "outputs": {}}))
    line = one_line_error(cli("--offline", "runs"))
    assert line == (
        f"error: the offline stack is not running (nothing answers at {url}, as {missing} says): start it with "
        "`python -m offline demo --keep-running`"
    )


def test_no_credentials_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith("AWS_") and key not in ("AWS_DEFAULT_REGION", "AWS_REGION"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    line = one_line_error(cli("--region", "us-east-1", "runs"))
    assert line.startswith("error: no AWS credentials found: configure them")


def test_no_stack_in_that_region_is_one_line(e2e: E2E) -> None:
    # The deployed path, against moto's CloudFormation (AWS_ENDPOINT_URL and fake credentials are set for the
    # offline runtime in this process), which has no stack of that name.
    line = one_line_error(cli("--stack", "NoSuchStack", "--region", "us-east-1", "runs"))
    assert line == "error: no stack NoSuchStack in us-east-1: deploy it (make deploy), or give --stack / --region"


def test_the_installed_console_script_says_one_line_and_exits_non_zero(tmp_path: Path) -> None:
    script = Path(sys.executable).parent / "bedrock-customize"
    assert script.is_file(), "make install installs the command into the venv"
    stale = tmp_path / "endpoints.json"
    stale.write_text(json.dumps({"environment": {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}"}}))
    env = {**os.environ, "BEDROCK_CUSTOMIZE_ENDPOINTS": str(stale)}
    done = subprocess.run([str(script), "--offline", "runs"], capture_output=True, text=True, env=env, check=False)
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("error: ") and "Traceback" not in done.stderr
    assert shutil.which("bedrock-customize", path=str(script.parent)) == str(script)


def test_a_run_that_fails_is_followed_to_one_line_saying_why(e2e: E2E, endpoints: Path) -> None:
    e2e.emulator.fail_job("Training failed (injected).")
    name = e2e.run_name("cli-failed")
    result = cli("--offline", "start", str(sample_dir()), "--name", name, "--settings", QUICK, "--follow")
    execution = started_execution(result, 1)
    assert "  Notify failure" in result.stdout and f"Run {name}-" in result.stdout  # the summary, then the line
    errors = [line for line in result.stderr.splitlines() if line.startswith("error")]  # after the progress bars
    assert len(errors) == 1 and result.stderr.strip().endswith(errors[0]) and "Traceback" not in result.stderr
    line = errors[0]
    assert line.startswith(f"error: run {execution} ended FAILED: customization job Failed: ")
    assert "Training failed (injected)." in line
