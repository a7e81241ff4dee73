"""Reinforcement fine-tuning (issue 12, item 2): Nova 2 Lite trained on the rewards of the stack's reward function
(settings.grader: one of the project's scorers), called by the emulated job through the real Lambda invoke; a grader that crashes mid-job fails the run with nothing left
billing; data without reference answers and hyperparameters out of range are refused before any job."""

from __future__ import annotations

import json
from typing import Any

import pytest

from offline.router import Invocation
from offline.sample_data import as_format
from tests.e2e.harness import E2E, USERS_GRADER_NAMES, path_of, sample_files

NOVA_2_LITE = "amazon.nova-2-lite-v1:0"


def rft_files() -> dict[str, bytes]:
    """The sample as RFT records (Nova 2 Lite takes no validation file)."""
    return {
        name: as_format(body, "rft-openai-chat", test=name == "test.jsonl")
        for name, body in sample_files().items()
        if name != "validation.jsonl"
    }


@pytest.fixture
def reward_function(e2e: E2E) -> tuple[str, str]:
    """The stack's reward function (stacks/grader.py), which serves the project's scorers: its name and ARN."""
    name = e2e.function_name("reward")
    return name, str(e2e.lam.get_function(FunctionName=name)["Configuration"]["FunctionArn"])


def _rft(**extra: Any) -> dict[str, Any]:
    return {
        "base_model_id": NOVA_2_LITE,
        "customization_type": "REINFORCEMENT_FINE_TUNING",
        "grader": {"scorer": "exact_match"},
        "hyperparameters": {"epochCount": 2, "batchSize": 128, "trainingSamplePerPrompt": 4},
        "throughput_policy": "delete",
        **extra,
    }


def _grader_calls(e2e: E2E, function_name: str) -> list[Invocation]:
    return [c for c in e2e.router.invocations if c.function_name == function_name]


@pytest.mark.e2e
def test_rft_trains_on_the_graders_rewards_is_evaluated_and_cleaned_up(
    e2e: E2E, reward_function: tuple[str, str]
) -> None:
    run_name = e2e.run_name("rft")
    function, arn = reward_function
    before = len(_grader_calls(e2e, function))
    result = e2e.run(lambda: e2e.start_console(run_name, e2e.settings(_rft()), rft_files()))

    assert result.status == "SUCCEEDED", (result.error, result.cause)
    (job,) = e2e.jobs_for(run_name)
    assert job["customizationType"] == "REINFORCEMENT_FINE_TUNING"
    assert job["customizationConfig"] == {
        "rftConfig": {
            "graderConfig": {"lambdaGrader": {"lambdaArn": arn}},
            "hyperParameters": {"epochCount": 2, "batchSize": 128, "trainingSamplePerPrompt": 4},
        }
    }
    assert job.get("hyperParameters", {}) == {}
    # The job trains on a copy of the data with the run's grader in every record (for the shared reward function).
    assert job["trainingDataConfig"]["s3Uri"].endswith("/rft/train.jsonl")
    # The pre-flight check called the grader once, then the job did through Lambda: 1,200 prompts in batches of
    # 128, 10 steps an epoch, 2 epochs, 512 answers a step (the last of each epoch 48 x 4).
    calls = [c for c in _grader_calls(e2e, function)[before:] if not c.error_type]
    training_calls = [c for c in calls if str(c.event[0]["id"]).startswith("step")]
    assert [len(c.event) for c in training_calls] == ([512] * 9 + [192]) * 2
    first = training_calls[0].event[0]
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
    # The validation report says the grader was checked, on what, and what it gave.
    validation = output["run"]["report_prefix"] + "validation/report"
    check = json.loads(e2e.runtime.read_artifact(validation + ".json"))["grader_check"]
    assert check["grader"].startswith(f"the pipeline's reward function {arn}") and check["samples"] == 3
    assert set(check["reference_scores"].values()) == {1.0} and max(check["empty_scores"].values()) < 1.0
    assert "## Grader check (passed)" in e2e.runtime.read_artifact(validation + ".md").decode()


@pytest.mark.e2e
def test_a_grader_that_crashes_mid_job_fails_the_run_with_nothing_left_billing(
    e2e: E2E, reward_function: tuple[str, str]
) -> None:
    run_name = e2e.run_name("rft-crash")
    function, _ = reward_function

    def break_the_grader_once_the_job_exists(call: Invocation) -> None:
        if call.handler == "handlers.create_job.handler" and not call.error_type:
            e2e.router.faults[function] = lambda: RuntimeError("the grader's database is gone")

    e2e.router.observers.append(break_the_grader_once_the_job_exists)
    try:
        result = e2e.run(lambda: e2e.start_console(run_name, e2e.settings(_rft()), rft_files()))
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
    settings = _rft()
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


@pytest.mark.e2e
def test_rft_from_invocation_logs_trains_on_the_logged_responses_with_the_users_own_grader(e2e: E2E) -> None:
    import boto3

    from offline.sample_data import as_invocation_logs

    run_name = e2e.run_name("rft-logs")
    iam, lam = boto3.client("iam"), boto3.client("lambda")
    role = iam.create_role(RoleName=run_name, AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    grader_name = USERS_GRADER_NAMES[0]  # a name the suite's stack grants (harness.SUITE_DEPLOYMENT)
    grader = lam.create_function(
        FunctionName=grader_name,
        Runtime="python3.12",
        Role=role,
        Handler="tests.graders.exact_match",
        Code={"ZipFile": b"PK\x05\x06" + b"\x00" * 18},
        Timeout=900,
    )["FunctionArn"]
    prefix = f"logs/{run_name}/"
    logs = as_invocation_logs(
        sample_files()["train.jsonl"], "amazon.nova-pro-v1:0", metadata=lambda i: {"ticket": f"T{i}"}
    )
    for key, body in logs.items():
        e2e.runtime.upload(prefix + key, body)
    uri = f"s3://{e2e.runtime.data_bucket}/{prefix}"
    settings = _rft(grader={"lambda_arn": grader}, invocation_logs={"s3_uri": uri, "use_prompt_response": True})
    files = {name: body for name, body in rft_files().items() if name != "train.jsonl"}
    before = len(_grader_calls(e2e, grader_name))
    try:
        result = e2e.run(lambda: e2e.start_console(run_name, e2e.settings(settings), files))
        # Only this run's calls: other tests in this process create graders by the same names.
        calls = [c for c in _grader_calls(e2e, grader_name)[before:] if str(c.event[0]["id"]).startswith("step")]
    finally:
        lam.delete_function(FunctionName=grader_name)
        iam.delete_role(RoleName=run_name)

    assert result.status == "SUCCEEDED", (result.error, result.cause)
    (job,) = e2e.jobs_for(run_name)
    assert job["trainingDataConfig"] == {
        "invocationLogsConfig": {"invocationLogSource": {"s3Uri": uri}, "usePromptResponse": True}
    }
    assert job["customizationConfig"]["rftConfig"]["graderConfig"]["lambdaGrader"]["lambdaArn"] == grader
    # The grader got the logged response as the reference answer and the request metadata as the record's fields.
    first = calls[0].event[0]
    assert first["metadata"]["reference_answer"] and first["metadata"]["ticket"].startswith("T")
    training = (result.output or {})["evaluation"]["training"]
    assert training["final_training_reward"] == 1.0 > training["first_training_reward"]
