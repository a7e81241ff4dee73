"""Asking Bedrock before any money is spent: "Validate the run" calls GetFoundationModel in the stack's region
(the emulator answers from the families' knowledge, with a lifecycle the test sets) and a run Bedrock could
not finish is refused before any job, with nothing created."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.e2e.harness import E2E, path_of, sample_files
from tests.e2e.test_e2e_runs import as_conversation

REFUSED_PATH = ["Validate the run", "Notify failure", "Run failed"]


def _refused_before_any_job(e2e: E2E, run_name: str, result: Any, creates_before: int) -> str:
    assert result.status == "FAILED", (result.error, result.cause)
    assert path_of(result) == REFUSED_PATH
    assert e2e.jobs_for(run_name) == [] and e2e.models_for(run_name) == [] and e2e.throughputs_for(run_name) == []
    assert e2e.calls().get("CreateModelCustomizationJob", 0) == creates_before
    (note,) = e2e.notifications_for(run_name)
    assert note["status"] == "FAILED"
    return str(note["reason"])


@pytest.mark.e2e
def test_a_legacy_base_is_refused_before_any_job_with_nothing_created(e2e: E2E) -> None:
    # Given Titan Text Express in the Legacy state here, and a run that would buy provisioned throughput
    e2e.emulator.set_foundation_model(
        "amazon.titan-text-express-v1", status="LEGACY", legacy_time="2026-10-01T00:00:00+00:00"
    )
    creates_before = e2e.calls().get("CreateModelCustomizationJob", 0)
    run_name = e2e.run_name("legacy")
    result = e2e.run(lambda: e2e.start_upload(run_name, e2e.settings()))

    reason = _refused_before_any_job(e2e, run_name, result, creates_before)
    assert reason.startswith(
        "SettingsError: settings.base_model_id: amazon.titan-text-express-v1 is Legacy in us-east-1 "
        "(legacy since 2026-10-01); Bedrock creates no new provisioned throughput for Legacy models"
    ), reason
    assert reason.endswith("choose an Active base"), reason


@pytest.mark.e2e
def test_a_base_not_fine_tuned_in_this_region_is_refused_naming_the_regions_that_do(e2e: E2E) -> None:
    # Given Llama 3.2 1B, which Bedrock fine-tunes in us-west-2 only, asked of this us-east-1 stack
    files = {name: as_conversation(body) for name, body in sample_files().items()}
    creates_before = e2e.calls().get("CreateModelCustomizationJob", 0)
    lookups_before = e2e.calls().get("GetFoundationModel", 0)
    run_name = e2e.run_name("wrong-region")
    settings = e2e.settings({"base_model_id": "meta.llama3-2-1b-instruct-v1:0"})
    result = e2e.run(lambda: e2e.start_console(run_name, settings, files))

    reason = _refused_before_any_job(e2e, run_name, result, creates_before)
    assert reason.startswith(
        "SettingsError: settings.customization_type: Bedrock does not offer FINE_TUNING of "
        "meta.llama3-2-1b-instruct-v1:0 in us-east-1 (offered there: none); it is offered in us-west-2"
    ), reason
    assert "bases offering it in us-east-1: amazon.titan-text-express-v1, " in reason
    assert e2e.calls().get("GetFoundationModel", 0) == lookups_before + 1  # one call, before any data was read


@pytest.mark.e2e
def test_a_legacy_base_served_on_demand_runs_with_a_warning_in_the_report_and_the_notification(e2e: E2E) -> None:
    # Given Nova Micro in the Legacy state, with a run served by an on-demand deployment (no throughput to buy)
    e2e.emulator.set_foundation_model(
        "amazon.nova-micro-v1:0",
        status="LEGACY",
        legacy_time="2026-11-15T00:00:00+00:00",
        end_of_life_time="2027-11-15T00:00:00+00:00",
    )
    files = {name: as_conversation(body) for name, body in sample_files().items()}
    run_name = e2e.run_name("legacy-od")
    settings = e2e.settings(
        {"base_model_id": "amazon.nova-micro-v1:0", "hyperparameters": {"epochCount": 1}, "serving": "on_demand"}
    )
    result = e2e.run(lambda: e2e.start_console(run_name, settings, files))

    assert result.status == "SUCCEEDED", (result.error, result.cause)
    expected = (
        "legacy_base: amazon.nova-micro-v1:0 is Legacy in us-east-1 (legacy since 2026-11-15, end of life "
        "2027-11-15): it can still be customized and served on demand here, but plan to move to an Active base"
    )
    (note,) = e2e.notifications_for(run_name)
    assert note["warnings"] == [expected]
    output = result.output or {}
    assert output["run"]["warnings"] == [expected]
    report_uri = f"{output['run']['report_prefix']}validation/report.json"
    bucket, key = report_uri.removeprefix("s3://").split("/", 1)
    report = json.loads(e2e.s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    assert "legacy_base" in json.dumps(report["warnings"]), report["warnings"]
