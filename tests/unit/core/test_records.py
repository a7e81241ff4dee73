"""Run records built from an execution's description and history (hand-made histories)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from customizer.records import build_record, final_state

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def entered(name: str, minutes: float) -> dict[str, Any]:
    return {"timestamp": T0 + timedelta(minutes=minutes), "stateEnteredEventDetails": {"name": name}}


def exited(name: str, minutes: float, state: dict[str, Any]) -> dict[str, Any]:
    return {
        "timestamp": T0 + timedelta(minutes=minutes),
        "stateExitedEventDetails": {"name": name, "output": json.dumps(state)},
    }


def description(status: str, **extra: Any) -> dict[str, Any]:
    return {
        "executionArn": "arn:aws:states:us-east-1:123456789012:execution:sm:exec-1",
        "name": "exec-1",
        "status": status,
        "startDate": T0,
        "stopDate": T0 + timedelta(hours=2),
        "input": json.dumps({"run_name": "bot", "settings": {"throughput_policy": "delete"}}),
        **extra,
    }


def test_a_succeeded_run_records_its_parts_and_throughput_hours():
    state = {
        "run": {"run_id": "bot-abc", "run_name": "bot", "data": {"training": {"sha256": "f00"}}, "settings": {"x": 1}},
        "job": {"job_arn": "job", "status": "Completed", "model_arn": "model", "metrics": {"final_training_loss": 0.2}},
        "throughput": {"arn": "pt", "status": "InService"},
        "evaluation": {"custom_beats_base": False, "report_markdown_uri": "s3://a/r.md"},
        "policy": {"action": "deleted"},
    }
    history = [
        entered("Validate the run", 0),
        entered("Create the throughput", 60),
        entered("Evaluate custom against base", 90),
        exited("Apply the throughput policy", 119, state),
        entered("Notify success", 120),
    ]
    record = build_record(description("SUCCEEDED"), history)
    assert record["run_id"] == "bot-abc"
    assert record["data"] == {"training": {"sha256": "f00"}}
    assert (record["job_arn"], record["custom_model_arn"], record["throughput_arn"]) == ("job", "model", "pt")
    assert record["decision"] is False
    assert record["throughput_policy"] == "deleted"
    # From "Create the throughput" (60 min) to its deletion before "Notify success" (120 min)
    assert record["throughput_hours_incurred"] == 1.0
    assert [s["state"] for s in record["steps"]] == [
        "Validate the run",
        "Create the throughput",
        "Evaluate custom against base",
        "Notify success",
    ]
    assert record["report_uri"] == "s3://a/r.md"


def test_a_kept_throughput_has_no_end_yet():
    state = {"run": {"run_id": "r"}, "throughput": {"arn": "pt"}, "policy": {"action": "kept"}}
    history = [
        entered("Create the throughput", 0),
        exited("Apply the throughput policy", 30, state),
        entered("Notify success", 31),
    ]
    assert build_record(description("SUCCEEDED"), history)["throughput_hours_incurred"] is None


ESTIMATE = {"hours_until_decision": 0.75, "hours_if_kept": 25.0, "usd_until_decision": 15.9}


@pytest.mark.parametrize(("action", "estimated"), [("kept", 25.0), ("deleted", 0.75), (None, 0.75)])
def test_the_estimated_hours_are_the_whole_life_when_kept_and_until_the_decision_otherwise(action, estimated):
    state: dict[str, Any] = {"run": {"run_id": "r", "throughput_estimate": ESTIMATE}, "throughput": {"arn": "pt"}}
    if action:
        state["policy"] = {"action": action}
    history = [entered("Create the throughput", 0), exited("Apply the throughput policy", 30, state)]
    record = build_record(description("SUCCEEDED"), history)
    assert record["throughput_hours_estimated"] == estimated
    assert record["throughput_estimate"] == ESTIMATE


def test_a_run_without_an_estimate_records_none():
    history = [exited("Validate the run", 1, {"run": {"run_id": "r"}})]
    record = build_record(description("FAILED"), history)
    assert (record["throughput_estimate"], record["throughput_hours_estimated"]) == (None, None)


def test_a_run_that_ended_before_its_throughput_keeps_the_estimate_but_estimates_no_hours():
    history = [exited("Check the job", 5, {"run": {"run_id": "r", "throughput_estimate": ESTIMATE}})]
    record = build_record(description("FAILED"), history)
    assert record["throughput_estimate"] == ESTIMATE
    assert record["throughput_hours_estimated"] is None  # nothing was created to bill


def test_a_run_that_failed_before_validation_is_named_by_its_request_and_error():
    history = [
        entered("Validate the run", 0),
        exited("Notify failure", 1, {"run_name": "bot", "error": {"Error": "SettingsError", "Cause": "bad"}}),
    ]
    record = build_record(description("FAILED", error="RunFailed", cause="see notice"), history)
    assert (record["run_id"], record["run_name"]) == ("bot", "bot")
    assert record["error"] == {"Error": "SettingsError", "Cause": "bad"}
    assert record["settings"] == {"throughput_policy": "delete"}


def test_an_aborted_execution_keeps_the_last_state_it_reached():
    history = [
        exited("Create the customization job", 5, {"run": {"run_id": "r"}, "job": {"job_arn": "j"}}),
        entered("Wait for the job", 5),
    ]
    record = build_record(description("ABORTED"), history)
    assert record["job_arn"] == "j"
    assert record["error"] is None


def test_final_state_skips_outputs_that_are_not_objects():
    assert (
        final_state([{"stateExitedEventDetails": {"output": "[1]"}}, {"stateExitedEventDetails": {"output": "{bad"}}])
        == {}
    )


def test_numbers_read_back_from_dynamodb_keep_whole_numbers_whole() -> None:
    from customizer.records import _marshal, _to_dynamodb, _unmarshal

    record = {"data": {"training": {"records": 1200, "size": 280477}}, "loss": 0.25, "accuracy": 1.0, "tags": [3, 2.5]}
    back = _unmarshal(_marshal(_to_dynamodb(record)))
    assert back == record
    assert [type(v) for v in back["data"]["training"].values()] == [int, int]
    assert type(back["loss"]) is float and type(back["accuracy"]) is float  # stored as 1.0: stays a float
    assert [type(v) for v in back["tags"]] == [int, float]
