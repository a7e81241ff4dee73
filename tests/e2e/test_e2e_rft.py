"""Reinforcement fine-tuning (issue 12, item 2): Nova 2 Lite trained on a grader's rewards, the grader called by
the emulated job through the real Lambda invoke; a grader that crashes mid-job fails the run with nothing left
billing; data without reference answers and hyperparameters out of range are refused before any job."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from offline.router import Invocation
from offline.sample_data import as_format
from tests.e2e.harness import E2E, path_of, sample_files

NOVA_2_LITE = "amazon.nova-2-lite-v1:0"
GRADER_HANDLER = "tests.rft_graders.exact_match"


def rft_files() -> dict[str, bytes]:
    """The sample as RFT records (Nova 2 Lite takes no validation file)."""
    return {
        name: as_format(body, "rft-openai-chat", test=name == "test.jsonl")
        for name, body in sample_files().items()
        if name != "validation.jsonl"
    }


@pytest.fixture
def own_grader(e2e: E2E) -> Iterator[str]:
    """The user's own reward function, deployed beside the stack (its handler runs in-process when invoked)."""
    iam, lam = boto3.client("iam"), boto3.client("lambda")
    name = e2e.run_name("grader")
    role = iam.create_role(RoleName=name, AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    arn = lam.create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role=role,
        Handler=GRADER_HANDLER,
        Code={"ZipFile": b"PK\x05\x06" + b"\x00" * 18},
        Timeout=900,
    )["FunctionArn"]
    yield str(arn)
    lam.delete_function(FunctionName=name)
    iam.delete_role(RoleName=name)


def _rft(grader_arn: str, **extra: Any) -> dict[str, Any]:
    return {
        "base_model_id": NOVA_2_LITE,
        "customization_type": "REINFORCEMENT_FINE_TUNING",
        "grader": {"lambda_arn": grader_arn},
        "hyperparameters": {"epochCount": 2, "batchSize": 128, "trainingSamplePerPrompt": 4},
        "throughput_policy": "delete",
        **extra,
    }


def _grader_calls(e2e: E2E, function_name: str) -> list[Invocation]:
    return [c for c in e2e.router.invocations if c.function_name == function_name]


@pytest.mark.e2e
def test_rft_trains_on_the_graders_rewards_is_evaluated_and_cleaned_up(e2e: E2E, own_grader: str) -> None:
    run_name = e2e.run_name("rft")
    function = own_grader.rsplit(":", 1)[-1]
    result = e2e.run(lambda: e2e.start_console(run_name, e2e.settings(_rft(own_grader)), rft_files()))

    assert result.status == "SUCCEEDED", (result.error, result.cause)
    (job,) = e2e.jobs_for(run_name)
    assert job["customizationType"] == "REINFORCEMENT_FINE_TUNING"
    assert job["customizationConfig"] == {
        "rftConfig": {
            "graderConfig": {"lambdaGrader": {"lambdaArn": own_grader}},
            "hyperParameters": {"epochCount": 2, "batchSize": 128, "trainingSamplePerPrompt": 4},
        }
    }
    assert job.get("hyperParameters", {}) == {}
    # The job called the grader through Lambda: 1,200 prompts in batches of 128, 10 steps an epoch, 2 epochs.
    calls = [c for c in _grader_calls(e2e, function) if not c.error_type]
    assert len(calls) >= 20
    first = calls[0].event[0]
    assert first["messages"][-1]["role"] == "assistant"
    assert first["metadata"]["reference_answer"] and first["metadata"]["ticket"].startswith("train-")
    output = result.output or {}
    training = output["evaluation"]["training"]
    assert training["reward_points"] == 20
    assert training["final_training_reward"] == 1.0 > training["first_training_reward"]
    assert not [w for w in training["warnings"] if "reward" in w]
    assert output["job"]["metrics"]["final_training_reward"] == 1.0  # the run record's job metrics
    evaluation = output["evaluation"]
    assert evaluation["custom"]["examples"] == evaluation["base"]["examples"] > 0
    assert evaluation["custom"]["accuracy"] > evaluation["base"]["accuracy"]
    report = json.loads(e2e.runtime.read_artifact(evaluation["report_uri"]))
    assert len(report["reward_curve"]) == 20
    assert e2e.throughputs_for(run_name) == [] and e2e.deployments_for(run_name) == []


@pytest.mark.e2e
def test_a_grader_that_crashes_mid_job_fails_the_run_with_nothing_left_billing(e2e: E2E, own_grader: str) -> None:
    run_name = e2e.run_name("rft-crash")
    function = own_grader.rsplit(":", 1)[-1]

    def break_the_grader_once_the_job_exists(call: Invocation) -> None:
        if call.handler == "handlers.create_job.handler" and not call.error_type:
            e2e.router.faults[function] = lambda: RuntimeError("the grader's database is gone")

    e2e.router.observers.append(break_the_grader_once_the_job_exists)
    try:
        result = e2e.run(lambda: e2e.start_console(run_name, e2e.settings(_rft(own_grader)), rft_files()))
    finally:
        e2e.router.observers.remove(break_the_grader_once_the_job_exists)

    assert result.status == "FAILED"
    (job,) = e2e.jobs_for(run_name)
    assert job["status"] == "Failed"
    assert "failed at training step 1: RuntimeError: the grader's database is gone" in job["failureMessage"]
    assert _grader_calls(e2e, function)[-1].error_type == "RuntimeError"
    (note,) = e2e.notifications_for(run_name)
    assert "the grader's database is gone" in note["reason"], note["reason"]
    assert e2e.models_for(run_name) == []
    assert e2e.throughputs_for(run_name) == [] and e2e.deployments_for(run_name) == []
    assert "Evaluate" not in " ".join(path_of(result))


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("no_reference", "reference_answer: required key is missing"),
        ("hyperparameter", "settings.hyperparameters.batchSize: 8 is out of range; allowed: int from 16 to 512"),
        ("no_grader", "settings.grader: required for REINFORCEMENT_FINE_TUNING"),
    ],
)
def test_bad_rft_input_is_refused_before_any_job(e2e: E2E, change: str, message: str) -> None:
    run_name = e2e.run_name("rft-refused")
    settings = _rft("arn:aws:lambda:us-east-1:123456789012:function:never-called")
    files = rft_files()
    if change == "no_reference":
        lines = files["train.jsonl"].decode().splitlines()
        record = json.loads(lines[41])
        del record["reference_answer"]
        lines[41] = json.dumps(record)
        files["train.jsonl"] = ("\n".join(lines) + "\n").encode()
        message = f"line 42: {message}"
    elif change == "hyperparameter":
        settings["hyperparameters"] = {"batchSize": 8}
    else:
        del settings["grader"]
    creates_before = e2e.calls().get("CreateModelCustomizationJob", 0)
    result = e2e.run(lambda: e2e.start_console(run_name, e2e.settings(settings), files))

    assert result.status == "FAILED"
    assert path_of(result) == ["Validate the run", "Notify failure", "Run failed"]
    assert e2e.calls().get("CreateModelCustomizationJob", 0) == creates_before
    assert e2e.jobs_for(run_name) == []
    (note,) = e2e.notifications_for(run_name)
    assert message in note["reason"], note["reason"]
