"""Start small (settings.smoke_test): a short job on a sample of the training data, one epoch, first; the
full job only if it completes."""

from __future__ import annotations

import pytest

from tests.e2e.harness import E2E, matches_path, path_of

SMOKE = {"smoke_test": {"enabled": True, "records": 5}, "throughput_policy": "keep"}


@pytest.mark.e2e
def test_a_completed_smoke_job_leads_to_the_full_job(e2e: E2E) -> None:
    run_name = e2e.run_name("smoke-ok")
    result = e2e.run(lambda: e2e.start_console(run_name, e2e.settings(SMOKE)))

    assert result.status == "SUCCEEDED", (result.status, path_of(result))
    assert matches_path(
        path_of(result),
        "Validate the run;Smoke test first\\?;Create the smoke job;(Wait for the smoke job;Check the smoke job;"
        "Smoke job finished\\?;)+Create the customization job;.*Run succeeded;",
    ), path_of(result)
    jobs = e2e.jobs_for(run_name)
    assert [j["status"] for j in jobs] == ["Completed", "Completed"]
    smoke, full = jobs
    assert smoke["jobName"].endswith("-smoke")
    assert full["jobName"] == smoke["jobName"].removesuffix("-smoke")
    assert smoke["hyperParameters"]["epochCount"] == "1"
    sample_uri = smoke["trainingDataConfig"]["s3Uri"]
    assert sample_uri.endswith(f"/runs/{full['jobName']}/smoke/train.jsonl")
    assert len(e2e.runtime.read_artifact(sample_uri).splitlines()) == 5
    assert full["trainingDataConfig"]["s3Uri"] != sample_uri
    # The smoke job's model is deleted once it has done its work; the full job's model stays.
    assert [m["modelName"] for m in e2e.models_for(run_name)] == [full["outputModelName"]]
    assert [n["status"] for n in e2e.notifications_for(run_name)] == ["SUCCEEDED"]


@pytest.mark.e2e
def test_a_failed_smoke_job_stops_the_run_before_the_full_job(e2e: E2E) -> None:
    message = "Smoke training failed (injected)."
    e2e.emulator.fail_job(message)
    run_name = e2e.run_name("smoke-failed")
    result = e2e.run(lambda: e2e.start_console(run_name, e2e.settings(SMOKE)))

    assert result.status == "FAILED", result.status
    assert matches_path(path_of(result), ".*;Smoke job finished\\?;Clean up;Notify failure;Run failed;"), path_of(
        result
    )
    assert "Create the customization job" not in path_of(result)
    jobs = e2e.jobs_for(run_name)
    assert [(j["jobName"].endswith("-smoke"), j["status"]) for j in jobs] == [(True, "Failed")]
    assert e2e.models_for(run_name) == []
    assert e2e.throughputs_for(run_name) == []
    notes = e2e.notifications_for(run_name)
    assert [n["status"] for n in notes] == ["FAILED"]
    assert notes[0]["reason"].startswith("smoke job Failed"), notes[0]["reason"]
    assert message in notes[0]["reason"]
    assert notes[0]["cleanup"] == {
        "job": "no job",
        "smoke_job": f"job {jobs[0]['jobName']} already Failed",
        "throughput": "no throughput",
    }
