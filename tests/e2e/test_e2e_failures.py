"""Runs that fail: what the pipeline leaves behind (nothing billing), what it says, and that it ends."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from offline.runtime import RunResult
from tests.e2e.harness import E2E, jsonl, matches_path, path_of, sample_files
from tests.e2e.test_e2e_runs import as_conversation

# After the job exists, every failure goes through Clean up before it is reported.
CLEANED_UP_FAILURE = ".*;Clean up;Notify failure;Run failed;"


def assert_failed_and_cleaned_up(result: RunResult) -> dict[str, Any]:
    """The run FAILED through Clean up; the failure notice's cleanup part."""
    assert result.status == "FAILED", result.status
    assert result.error == "RunFailed"
    assert matches_path(path_of(result), CLEANED_UP_FAILURE), path_of(result)
    assert path_of(result).count("Clean up") == 1
    assert "Notify success" not in path_of(result)
    return {}


def only_failure(e2e: E2E, run_name: str) -> dict[str, Any]:
    notes = e2e.notifications_for(run_name)
    assert [n["status"] for n in notes] == ["FAILED"], (run_name, notes, e2e.runtime.notifications()[-4:])
    return notes[0]


# ---- the data does not fit the model: nothing is created, the upload is left as it was ----


def _missing_completion() -> tuple[dict[str, bytes], dict[str, Any], list[str]]:
    files = sample_files()
    lines = files["train.jsonl"].splitlines(keepends=True)
    lines[6] = b'{"prompt": "Customer: Where is my order?\\nAgent:"}\n'  # line 7
    files["train.jsonl"] = b"".join(lines)
    return files, {}, ["input.training_data line 7", "completion"]


def _cohere_too_many_records() -> tuple[dict[str, bytes], dict[str, Any], list[str]]:
    records = [{"prompt": f"p{i}", "completion": f"c{i}"} for i in range(10_001)]
    settings = {
        "base_model_id": "cohere.command-light-text-v14",
        "hyperparameters": {"epochCount": 1, "batchSize": 8, "learningRate": 0.00001},
        "throughput_policy": "keep",
    }
    return {"train.jsonl": jsonl(records)}, settings, ["10001 records", "takes at most 10000"]


def _prompt_completion_for_a_conversation_model() -> tuple[dict[str, bytes], dict[str, Any], list[str]]:
    # Llama 3.2 takes the Bedrock conversation schema; the sample is prompt/completion records.
    settings = {"base_model_id": "meta.llama3-2-1b-instruct-v1:0", "throughput_policy": "keep"}
    return (
        {"train.jsonl": sample_files()["train.jsonl"]},
        settings,
        ["input.training_data line 1: ", "allowed keys: messages, schemaVersion, system"],
    )


MISFITS: dict[str, Callable[[], tuple[dict[str, bytes], dict[str, Any], list[str]]]] = {
    "no-completion": _missing_completion,
    "cohere-big": _cohere_too_many_records,
    "llama-pc": _prompt_completion_for_a_conversation_model,
}


@pytest.mark.e2e
def test_data_that_does_not_fit_the_model_fails_before_any_job(e2e: E2E) -> None:
    calls_before = e2e.calls().get("CreateModelCustomizationJob", 0)
    cases = {label: (e2e.run_name(f"misfit-{label}"), *make()) for label, make in MISFITS.items()}
    for _, _, settings, _ in cases.values():
        e2e.offer_here(settings.get("base_model_id", "amazon.titan-text-express-v1"))  # the data is the subject
    arns = {
        label: e2e.start_upload(name, e2e.settings(settings), files)
        for label, (name, files, settings, _) in cases.items()
    }
    training_keys = {label: f"{e2e.runtime.run_prefix}{name}/train.jsonl" for label, (name, *_) in cases.items()}
    uploaded = {
        label: (e2e.object_versions(e2e.runtime.data_bucket, key), cases[label][1]["train.jsonl"])
        for label, key in training_keys.items()
    }
    results = dict(zip(arns, e2e.wait_all(list(arns.values())), strict=True))

    for label, result in results.items():
        run_name, _, _, expected = cases[label]
        assert result.status == "FAILED", label
        assert path_of(result) == ["Validate the run", "Notify failure", "Run failed"], (label, path_of(result))
        assert e2e.jobs_for(run_name) == [], label
        assert e2e.models_for(run_name) == [], label
        note = only_failure(e2e, run_name)
        assert note["reason"].startswith("DataValidationError: the data does not fit"), note["reason"]
        for fragment in expected:
            assert fragment in note["reason"], (label, note["reason"])
        assert note["job"] is None
        # The upload is untouched: same single version, same ETag, same bytes.
        versions, body = uploaded[label]
        assert len(versions) == 1, (label, versions)
        after = e2e.object_versions(e2e.runtime.data_bucket, training_keys[label])
        assert [(v["VersionId"], v["ETag"]) for v in after] == [(v["VersionId"], v["ETag"]) for v in versions], label
        assert e2e.runtime.read_artifact(f"s3://{e2e.runtime.data_bucket}/{training_keys[label]}") == body, label
    # Not one attempt at a job: the data was refused before Bedrock was asked.
    assert e2e.calls().get("CreateModelCustomizationJob", 0) == calls_before


# ---- the job ends badly ----


@pytest.mark.e2e
def test_failed_job_is_cleaned_up_and_reported(e2e: E2E) -> None:
    message = "Training diverged: loss became NaN at step 12 (injected)."
    e2e.emulator.fail_job(message)
    run_name = e2e.run_name("job-failed")
    result = e2e.run(lambda: e2e.start_console(run_name, e2e.settings()))

    assert_failed_and_cleaned_up(result)
    assert "Create the throughput" not in path_of(result)
    jobs = e2e.jobs_for(run_name)
    assert [(j["status"], j.get("failureMessage")) for j in jobs] == [("Failed", message)]
    assert e2e.models_for(run_name) == []
    assert e2e.throughputs_for(run_name) == []
    note = only_failure(e2e, run_name)
    assert message in note["reason"]
    assert note["reason"].startswith("customization job Failed")
    assert note["cleanup"] == {"job": f"job {jobs[0]['jobName']} already Failed", "throughput": "no throughput"}


@pytest.mark.e2e
def test_stopped_job_ends_the_run_without_looping(e2e: E2E) -> None:
    e2e.emulator.stop_job()  # the next job stops itself halfway, as if someone stopped it in the console
    run_name = e2e.run_name("job-stopped")
    result = e2e.run(lambda: e2e.start_console(run_name, e2e.settings()))

    assert_failed_and_cleaned_up(result)
    checks = path_of(result).count("Check the job")
    assert 1 <= checks <= 5, path_of(result)  # a 1.5 s job polled every second: no endless Stopping loop
    assert [j["status"] for j in e2e.jobs_for(run_name)] == ["Stopped"]
    assert e2e.models_for(run_name) == []
    assert e2e.throughputs_for(run_name) == []
    note = only_failure(e2e, run_name)
    assert note["reason"].startswith("customization job Stopped"), note["reason"]


def _failed_job_with_a_failing_cleanup(e2e: E2E, run_name: str) -> RunResult:
    e2e.emulator.fail_job("Training failed (injected).")
    e2e.router.faults[e2e.function_name("cleanup")] = lambda: RuntimeError("cleanup crashed (injected)")
    return e2e.run(lambda: e2e.start_console(run_name, e2e.settings()))


@pytest.mark.e2e
def test_a_failing_cleanup_still_reports_the_failure(e2e: E2E) -> None:
    run_name = e2e.run_name("cleanup-crash")
    result = _failed_job_with_a_failing_cleanup(e2e, run_name)

    assert result.status == "FAILED"
    assert matches_path(path_of(result), ".*;Job finished\\?;Clean up;Notify failure;Run failed;"), path_of(result)
    assert [c.error_type for c in e2e.invocations("cleanup", run_name)] == ["RuntimeError"]
    note = only_failure(e2e, run_name)
    assert note["reason"].startswith("customization job Failed: Training failed (injected)."), note["reason"]


@pytest.mark.e2e
def test_a_failing_cleanup_is_named_in_the_notice(e2e: E2E) -> None:
    run_name = e2e.run_name("cleanup-told")
    _failed_job_with_a_failing_cleanup(e2e, run_name)

    note = only_failure(e2e, run_name)
    assert "cleanup crashed (injected)" in json.dumps(note), note


# ---- the throughput ends badly ----


@pytest.mark.e2e
def test_failed_throughput_is_deleted_by_cleanup(e2e: E2E) -> None:
    message = "Insufficient capacity for 1 model unit (injected)."
    e2e.emulator.fail_throughput(message)
    run_name = e2e.run_name("pt-failed")
    deletes_before = e2e.calls().get("DeleteProvisionedModelThroughput", 0)
    result = e2e.run(lambda: e2e.start_console(run_name, e2e.settings()))

    assert_failed_and_cleaned_up(result)
    assert matches_path(path_of(result), ".*;Throughput ready\\?;Clean up;Notify failure;Run failed;"), path_of(result)
    assert "Evaluate custom against base" not in path_of(result)
    assert e2e.throughputs_for(run_name) == []
    assert e2e.calls().get("DeleteProvisionedModelThroughput", 0) == deletes_before + 1
    assert [j["status"] for j in e2e.jobs_for(run_name)] == ["Completed"]
    assert len(e2e.models_for(run_name)) == 1  # the trained model is kept; only the billing throughput goes
    note = only_failure(e2e, run_name)
    assert message in note["reason"]
    assert note["cleanup"]["throughput"].startswith("deleted throughput")


# ---- the evaluation crashes with the throughput in service ----


def _crash_the_handler(e2e: E2E) -> str:
    e2e.router.faults[e2e.function_name("evaluate")] = lambda: RuntimeError("evaluator ran out of memory (injected)")
    return "RuntimeError: evaluator ran out of memory (injected)"


def _deny_every_model_call(e2e: E2E) -> str:
    e2e.emulator.inject_error("AccessDeniedException", "No access to the model (injected).", 10_000, "InvokeModel")
    return "EvaluationError: every call to"


@pytest.mark.e2e
@pytest.mark.parametrize("crash", [_crash_the_handler, _deny_every_model_call], ids=["handler-raises", "calls-denied"])
def test_evaluation_crash_deletes_the_throughput(e2e: E2E, crash: Callable[[E2E], str]) -> None:
    expected = crash(e2e)
    run_name = e2e.run_name("eval-crash")
    result = e2e.run(lambda: e2e.start_console(run_name, e2e.settings()))

    assert_failed_and_cleaned_up(result)
    assert matches_path(path_of(result), ".*;Evaluate custom against base;Clean up;Notify failure;Run failed;")
    assert e2e.throughputs_for(run_name) == []
    assert [j["status"] for j in e2e.jobs_for(run_name)] == ["Completed"]
    note = only_failure(e2e, run_name)
    assert note["reason"].startswith(expected), note["reason"]
    assert note["cleanup"]["throughput"].startswith("deleted throughput")


@pytest.mark.e2e
def test_a_base_model_bedrock_refuses_fails_the_evaluation_fast_and_deletes_the_throughput(e2e: E2E) -> None:
    # Given a run that calls its base by a model id Bedrock refuses on demand (a Llama 3.2 base by its bare id,
    # set by hand instead of its inference profile), with 60 test examples asked 4 at a time
    files = {name: as_conversation(body) for name, body in sample_files().items()}
    run_name = e2e.run_name("refused-base")
    bare = "meta.llama3-2-1b-instruct-v1:0"
    e2e.offer_here(bare)
    settings = e2e.settings(
        {
            "base_model_id": bare,
            "hyperparameters": {"epochCount": 1},
            "evaluation": {"base_invoke_id": bare, "max_examples": 60, "concurrency": 4},
        }
    )
    before = e2e.state()["invocations"].get(bare, 0)  # the emulator serves every test of this worker
    result = e2e.run(lambda: e2e.start_console(run_name, settings, files))

    # Then the base model is asked no more once its first 20 calls were all refused (those in flight finish)
    assert_failed_and_cleaned_up(result)
    assert 20 <= e2e.state()["invocations"].get(bare, 0) - before < 20 + 4
    # and the run fails with the refusal, its throughput deleted
    assert e2e.throughputs_for(run_name) == []
    note = only_failure(e2e, run_name)
    assert note["reason"].startswith(f"EvaluationError: every call to {bare} failed; first error: "), note["reason"]
    assert "inference profile" in note["reason"]
    assert note["cleanup"]["throughput"].startswith("deleted throughput")


@pytest.mark.e2e
def test_a_chunk_failing_in_the_fanned_out_evaluation_deletes_the_throughput(e2e: E2E) -> None:
    e2e.router.faults[e2e.function_name("evaluate_chunk")] = lambda: RuntimeError("chunk worker crashed (injected)")
    run_name = e2e.run_name("chunk-crash")
    settings = e2e.settings({"evaluation": {"max_examples": 30, "fan_out_above": 10, "chunk_size": 10}})
    result = e2e.run(lambda: e2e.start_console(run_name, settings))

    assert_failed_and_cleaned_up(result)
    # The map fails as soon as a child does (none is tolerated): its Catch cleans up, nothing is aggregated.
    path = path_of(result)
    assert matches_path(path, ".*;Evaluate the test set in chunks;Clean up;Notify failure;Run failed;"), path
    assert "Aggregate the evaluation" not in path
    assert e2e.throughputs_for(run_name) == []
    note = only_failure(e2e, run_name)
    assert note["reason"].startswith("States.ExceedToleratedFailureThreshold: "), note["reason"]
    assert note["cleanup"]["throughput"].startswith("deleted throughput")


# ---- the job outlives the run's timeout ----


@pytest.mark.e2e
def test_job_timeout_stops_the_job_and_reports(e2e: E2E) -> None:
    e2e.emulator.set_durations(job_seconds=3600)  # never completes by itself within the test
    run_name = e2e.run_name("timeout")
    settings = e2e.settings({"timeouts": {"job_hours": 0.0005}})  # 1.8 s
    result = e2e.run(lambda: e2e.start_console(run_name, settings))

    assert_failed_and_cleaned_up(result)
    assert "Create the throughput" not in path_of(result)
    timed_out = [c for c in e2e.invocations("check_job", run_name) if c.error_type]
    assert [c.error_type for c in timed_out] == ["WaitTimeoutError"]
    jobs = e2e.jobs_for(run_name)
    assert [j["status"] for j in jobs] in (["Stopping"], ["Stopped"])
    assert e2e.models_for(run_name) == []
    assert e2e.throughputs_for(run_name) == []
    note = only_failure(e2e, run_name)
    assert note["reason"].startswith("WaitTimeoutError: job"), note["reason"]
    assert "settings.timeouts.job_hours=0.0005" in note["reason"]
    assert note["cleanup"]["job"] == f"stopped job {jobs[0]['jobName']}"
