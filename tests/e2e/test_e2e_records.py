"""Run records: every ended execution gets one, in the runs table and as JSON beside its reports."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cli.app import app
from customizer.records import find_record
from tests.e2e.harness import E2E


def _record(e2e: E2E, execution: str) -> dict[str, Any]:
    table = e2e.runtime.deployed.outputs["RunsTableName"]
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        record = find_record(table, execution)
        if record:
            return record
        time.sleep(0.1)
    raise AssertionError(f"no record of {execution}")


@pytest.mark.e2e
def test_a_successful_run_is_recorded_with_what_it_used_made_and_decided(
    e2e: E2E, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a run that succeeds
    run_name = e2e.run_name("recorded")
    arn = e2e.start_upload(run_name, e2e.settings({"throughput_policy": "delete"}))
    result = e2e.wait(arn)
    assert result.status == "SUCCEEDED"
    # When its record is written (on the execution's status change)
    execution = arn.rsplit(":", 1)[-1]
    record = _record(e2e, execution)
    # Then it holds the data's versions and hashes, the settings, what was created and decided, and the steps
    output = result.output or {}
    assert record["status"] == "SUCCEEDED"
    assert record["run_id"] == output["run"]["run_id"]
    assert record["data"]["training"]["sha256"] == output["run"]["data"]["training"]["sha256"]
    assert record["data"]["training"]["version_id"]
    assert record["settings"]["throughput_policy"] == "delete"
    assert record["job_arn"] == output["job"]["job_arn"]
    assert record["custom_model_arn"] == output["job"]["model_arn"]
    assert record["throughput_arn"] == output["throughput"]["arn"]
    assert record["training_metrics"]["final_training_loss"] == pytest.approx(
        output["job"]["metrics"]["final_training_loss"]
    )
    assert record["decision"] == output["evaluation"]["custom_beats_base"]
    assert record["throughput_policy"] == "deleted"
    assert record["throughput_hours_incurred"] is not None and record["throughput_hours_incurred"] >= 0
    # The hours estimated before any money was spent: deleted after the evaluation, so until the decision
    estimate = output["run"]["throughput_estimate"]
    assert record["throughput_estimate"] == estimate
    assert record["throughput_hours_estimated"] == estimate["hours_until_decision"] > estimate["provisioning_hours"]
    assert estimate["evaluated_examples"] == min(output["run"]["data"]["test"]["records"], 30)  # QUICK_EVALUATION
    assert [s["state"] for s in record["steps"]] == [s.name for s in result.states]
    # And a JSON copy sits beside the run's reports
    copy = json.loads(
        e2e.runtime.read_artifact(
            f"s3://{e2e.runtime.artifacts_bucket}/runs/{record['run_id']}/records/{execution}.json"
        )
    )
    assert copy["execution"] == execution
    # And `bedrock-customize runs` / `show` (`make runs` / `make run RUN=`) show it
    monkeypatch.setenv("BEDROCK_CUSTOMIZE_ENDPOINTS", str(e2e.runtime.write_endpoints(tmp_path / "endpoints.json")))
    listed = CliRunner().invoke(app, ["--offline", "runs", "--json", "--limit", "200"], catch_exceptions=False)
    (row,) = [r for r in json.loads(listed.stdout) if r["run"] == record["run_id"]]
    assert row["throughput_hours"] == (
        f"{record['throughput_hours_estimated']:.2f} est / {record['throughput_hours_incurred']:.2f}"
    )
    shown = CliRunner().invoke(app, ["--offline", "show", record["run_id"], "--json"], catch_exceptions=False)
    assert json.loads(shown.stdout)["execution"] == execution


@pytest.mark.e2e
def test_a_run_rejected_at_validation_is_recorded_with_its_error(e2e: E2E) -> None:
    run_name = e2e.run_name("recorded-bad")
    arn = e2e.start_upload(run_name, e2e.settings({"hyperparameters": {"epochCount": 0}}))
    assert e2e.wait(arn).status == "FAILED"
    record = _record(e2e, arn.rsplit(":", 1)[-1])
    assert record["status"] == "FAILED"
    assert record["run_name"] == run_name
    assert record.get("job_arn") is None
    assert "epochCount" in record["error"]["Cause"]
