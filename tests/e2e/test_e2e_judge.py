"""The judge on (settings.evaluation.judge): the synthesized state machine creates the emulator's evaluation
jobs over both models' saved answers, polls them, reads their scores, and a judge metric decides the promotion;
a failed judge job fails the run only when the rule names a judge metric; a run stopped or failing while its
judge runs leaves no evaluation job running."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.e2e.harness import E2E, RUN_TIMEOUT, matches_path, path_of

RUBRIC = {
    "name": "on-topic",
    "instructions": "Does the response answer the prompt? Prompt: {{prompt}} Response: {{prediction}}",
    "rating_scale": [
        {"definition": "no", "value": 0},
        {"definition": "partly", "value": 1},
        {"definition": "yes", "value": 2},
    ],
}
JUDGE = {"enabled": True, "metrics": ["Builtin.Correctness", "Builtin.Completeness"], "custom_metrics": [RUBRIC]}
JUDGED_PATH = (
    ".*;Evaluate custom against base;Judge the answers\\?;Start the judge;"
    "(Wait for the judge;Check the judge;Judge finished\\?;)+Conclude with the judge;"
)


def _judge_settings(metric: str, **judge: Any) -> dict[str, Any]:
    return {"evaluation": {"max_examples": 60, "metric": metric, "judge": {**JUDGE, "poll_seconds": 1, **judge}}}


def _evaluation_jobs(e2e: E2E, prefix: str) -> list[dict[str, Any]]:
    return [j for j in e2e.state()["evaluation_jobs"] if j["jobName"].startswith(prefix)]


def _judge_prefix(output: dict[str, Any]) -> str:
    return str(output["judge"]["jobs"][0]["job_name"]).rsplit("-", 2)[0]


def _until(found: Callable[[], Any], what: str) -> Any:
    deadline = time.monotonic() + RUN_TIMEOUT
    while time.monotonic() < deadline:
        value = found()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.e2e
def test_a_judge_metric_decides_the_promotion(e2e: E2E) -> None:
    run_name = e2e.run_name("judged")
    result = e2e.run(lambda: e2e.start_upload(run_name, e2e.settings(_judge_settings("judge.correctness"))))

    assert result.status == "SUCCEEDED", (result.error, result.cause)
    assert matches_path(path_of(result), JUDGED_PATH + "Apply the throughput policy;Notify success;Run succeeded;")
    output: dict[str, Any] = result.output or {}
    evaluation = output["evaluation"]

    # Two evaluation jobs (one per model: 60 prompts each, under the limit of 1,000), both Completed
    jobs = _evaluation_jobs(e2e, _judge_prefix(output))
    assert sorted(j["jobName"].rsplit("-", 2)[1] for j in jobs) == ["base", "custom"]
    assert {j["status"] for j in jobs} == {"Completed"}
    assert evaluation["judge"]["status"] == "Completed"
    assert evaluation["judge"]["scored"] == {
        "judge.correctness": 60,
        "judge.completeness": 60,
        "judge.on-topic": 60,
    }

    # The judge's metrics sit beside the string metrics, with their intervals; the custom model, trained on
    # the support answers, is graded far better than the base model, and judge.correctness decided
    compared = {c["metric"]: c for c in evaluation["comparison"]}
    assert {"token_f1", "judge.correctness", "judge.completeness", "judge.on-topic"} <= set(compared)
    correctness = compared["judge.correctness"]
    assert correctness["custom"] > correctness["base"]
    assert 0 < correctness["ci_low"] <= correctness["difference"] <= correctness["ci_high"]
    assert evaluation["decision"]["metric"] == "judge.correctness"
    assert evaluation["decision"]["promote"] is True
    assert evaluation["decision"]["reason"].startswith("promote: judge: correctness: custom ")
    assert output["policy"]["action"] == "kept"  # keep_if_better followed the judge's decision

    # The emulated judge's correctness is the token F1 on a 5-point scale: the two agree on every example
    rows = [
        json.loads(line)
        for line in e2e.runtime.read_artifact(
            evaluation["report_uri"].replace("report.json", "examples.jsonl")
        ).splitlines()
    ]
    for row in rows:
        for model in ("custom", "base"):
            scores = row[model]["scores"]
            assert scores["judge.correctness"] == round(scores["token_f1"] * 4) / 4
            assert row[model]["judge"]["judge.correctness"].startswith("Emulated judge: token F1 with the reference")

    # The pre-flight check priced the judge: 2 models x 60 answers x 3 metrics judge calls, at Nova Pro's prices
    prefix = output["run"]["report_prefix"] + "validation/"
    preflight = json.loads(e2e.runtime.read_artifact(prefix + "report.json"))
    assert preflight["judge_estimate"]["calls"] == 360
    assert preflight["judge_estimate"]["judge_model_id"] == "amazon.nova-pro-v1:0"
    assert preflight["judge_estimate"]["usd"] > 0
    assert "| judge (amazon.nova-pro-v1:0) |" in e2e.runtime.read_artifact(prefix + "report.md").decode()

    # The report shows the judge metrics and, for the examples that differ most, the judge's explanations
    markdown = e2e.runtime.read_artifact(evaluation["report_markdown_uri"]).decode()
    assert "| judge: correctness |" in markdown
    assert "judge on custom: judge: correctness" in markdown
    assert "Judge model amazon.nova-pro-v1:0, 2 evaluation jobs" in markdown


@pytest.mark.e2e
def test_a_failed_judge_job_leaves_the_decision_to_the_string_metric(e2e: E2E) -> None:
    e2e.emulator.fail_evaluation_job(message="The evaluator model could not be invoked.")
    run_name = e2e.run_name("judge-failed-f1")
    result = e2e.run(lambda: e2e.start_upload(run_name, e2e.settings(_judge_settings("token_f1"))))

    assert result.status == "SUCCEEDED", (result.error, result.cause)
    evaluation = (result.output or {})["evaluation"]
    assert evaluation["judge"]["status"] == "Failed"
    assert "ended Failed: The evaluator model could not be invoked." in evaluation["judge"]["message"]
    assert evaluation["judge"]["message"].endswith("the string metrics decided (token_f1)")
    assert evaluation["decision"]["metric"] == "token_f1"
    assert not any(c["metric"].startswith("judge.") for c in evaluation["comparison"])
    markdown = e2e.runtime.read_artifact(evaluation["report_markdown_uri"]).decode()
    assert "The judge (amazon.nova-pro-v1:0) failed: evaluation job" in markdown
    (notice,) = e2e.notifications_for(run_name)
    assert notice["status"] == "SUCCEEDED"
    assert notice["judge"]["status"] == "Failed"
    assert notice["judge"]["message"] == evaluation["judge"]["message"]


@pytest.mark.e2e
def test_a_failed_judge_job_fails_the_run_when_a_judge_metric_decides(e2e: E2E) -> None:
    e2e.emulator.fail_evaluation_job(message="The evaluator model could not be invoked.")
    run_name = e2e.run_name("judge-failed")
    arn = e2e.start_upload(run_name, e2e.settings(_judge_settings("judge.on-topic")))
    result = e2e.wait(arn)

    assert result.status == "FAILED"
    assert matches_path(path_of(result), JUDGED_PATH + "Clean up;Notify failure;Run failed;"), path_of(result)
    assert e2e.lambda_failures(arn)[-1] == "JudgeFailedError"
    (notice,) = [n for n in e2e.notifications_for(run_name) if n["status"] == "FAILED"]
    assert "the promotion rule's metric is judge.on-topic, so the run cannot decide" in json.dumps(notice)
    # Nothing bills: the throughput is deleted and no evaluation job runs
    assert e2e.throughputs_for(run_name) == []
    assert notice["cleanup"]["evaluation_jobs"] == []  # both had ended: one Failed, the other Completed


@pytest.mark.e2e
def test_cleanup_stops_a_running_judge_job(e2e: E2E) -> None:
    # Given judge jobs that run for ten minutes, and a "Check the judge" that AWS refuses (not retried)
    e2e.emulator.set_durations(evaluation_seconds=600)
    e2e.emulator.inject_error("AccessDeniedException", "not allowed", count=1, operation="GetEvaluationJob")
    run_name = e2e.run_name("judge-cleanup")
    arn = e2e.start_upload(run_name, e2e.settings(_judge_settings("token_f1")))
    result = e2e.wait(arn)

    # Then the run fails and its Clean up stops both running evaluation jobs
    assert result.status == "FAILED"
    assert matches_path(path_of(result), ".*;Start the judge;Wait for the judge;Check the judge;Clean up;.*"), path_of(
        result
    )
    (notice,) = [n for n in e2e.notifications_for(run_name) if n["status"] == "FAILED"]
    cleanup = notice["cleanup"]
    assert len(cleanup["evaluation_jobs"]) == 2, cleanup
    assert all(line.startswith("stopped evaluation job ") for line in cleanup["evaluation_jobs"])
    stopped = [j for j in e2e.state()["evaluation_jobs"] if j["jobArn"].rsplit("/", 1)[-1] in json.dumps(cleanup)]
    assert {j["status"] for j in stopped} <= {"Stopping", "Stopped"} and len(stopped) == 2


@pytest.mark.e2e
def test_aftercare_stops_the_judge_of_a_run_stopped_by_hand(e2e: E2E) -> None:
    # Given a run polling its judge (jobs that run for ten minutes), held at GetEvaluationJob
    e2e.emulator.set_durations(evaluation_seconds=600)
    e2e.emulator.hold("GetEvaluationJob")
    run_name = e2e.run_name("judge-stopped")
    try:
        arn = e2e.start_upload(run_name, e2e.settings(_judge_settings("token_f1")))
        e2e.emulator.wait_held("GetEvaluationJob")
        e2e.sfn.stop_execution(executionArn=arn)
    finally:
        e2e.emulator.release("GetEvaluationJob")
    assert e2e.wait(arn).status == "ABORTED"

    # Then aftercare finds the execution's evaluation jobs by its tag and stops them
    name = arn.rsplit(":", 1)[-1]
    (notice,) = _until(lambda: e2e.aftercare_notices(name), "the aftercare notice")
    assert len(notice["cleanup"]["evaluation_jobs"]) == 2, notice
    assert all(line.startswith("stopped evaluation job ") for line in notice["cleanup"]["evaluation_jobs"])


@pytest.mark.e2e
def test_the_judge_follows_the_fanned_out_evaluation_too(e2e: E2E) -> None:
    run_name = e2e.run_name("judged-fan-out")
    settings = _judge_settings("judge.completeness")
    settings["evaluation"].update({"fan_out_above": 20, "chunk_size": 16})
    result = e2e.run(lambda: e2e.start_upload(run_name, e2e.settings(settings)))

    assert result.status == "SUCCEEDED", (result.error, result.cause)
    path = path_of(result)
    assert matches_path(path, ".*;Aggregate the evaluation;Judge the answers\\?;Start the judge;.*"), path
    evaluation = (result.output or {})["evaluation"]
    assert evaluation["mode"] == "fan_out"
    assert evaluation["judge"]["scored"]["judge.completeness"] == 60
    assert evaluation["decision"]["metric"] == "judge.completeness"
    assert evaluation["decision"]["promote"] is True
