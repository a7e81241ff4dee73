"""The emulator's reinforcement fine-tuning: rftConfig and the data checked at create, the reward function called
through the real Lambda invoke (moto, the offline router running the handler), the reward curve it leaves, and a
failing grader failing the job."""

from __future__ import annotations

import csv
import io
import json
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from offline.router import LambdaRouter
from tests import graders as users_graders
from tests.unit.offline.conftest import ACCOUNT, BUCKET, REGION, ROLE_ARN, qa_records

NOVA_2_LITE = "amazon.nova-2-lite-v1:0:256k"


def rft_records(count: int) -> list[dict[str, Any]]:
    return [
        {
            "messages": [
                {"role": "system", "content": "You are the Acme Desk support assistant."},
                {"role": "user", "content": r["prompt"]},
            ],
            "reference_answer": r["completion"],
            "ticket": f"T-{i}",
        }
        for i, r in enumerate(qa_records(count))
    ]


@pytest.fixture
def graders(offline_env: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], str]]:
    """Deploy a test reward function on moto's Lambda (simple backend), routed to its real handler here."""
    request = urllib.request.Request(
        f"{offline_env}/moto-api/config",
        data=json.dumps({"lambda": {"use_docker": False}}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    urllib.request.urlopen(request).read()
    monkeypatch.setenv("AWS_ENDPOINT_URL_LAMBDA", offline_env)
    monkeypatch.setenv("AWS_ENDPOINT_URL_IAM", offline_env)
    iam, lam = boto3.client("iam", region_name=REGION), boto3.client("lambda", region_name=REGION)
    role = iam.create_role(RoleName="grader", AssumeRolePolicyDocument="{}")["Role"]["Arn"]

    def deploy(handler: str) -> str:
        name = handler.rsplit(".", 1)[-1].replace("_", "-")
        return str(
            lam.create_function(
                FunctionName=name,
                Runtime="python3.12",
                Role=role,
                Handler=f"tests.graders.{handler}",
                Code={"ZipFile": b"PK\x05\x06" + b"\x00" * 18},
            )["FunctionArn"]
        )

    users_graders.CALLS.clear()
    with LambdaRouter().installed():
        yield deploy


def _request(put_data: Any, name: str, grader: str | None, **overrides: Any) -> dict[str, Any]:
    config: dict[str, Any] = {"hyperParameters": {"epochCount": 2, "batchSize": 16, "trainingSamplePerPrompt": 4}}
    if grader is not None:
        config["graderConfig"] = {"lambdaGrader": {"lambdaArn": grader}}
    request = {
        "jobName": name,
        "customModelName": f"{name}-model",
        "roleArn": f"arn:aws:iam::{ACCOUNT}:role/bedrock-customization",
        "baseModelIdentifier": NOVA_2_LITE,
        "customizationType": "REINFORCEMENT_FINE_TUNING",
        "trainingDataConfig": {"s3Uri": put_data(f"{name}/train.jsonl", rft_records(120))},
        "outputDataConfig": {"s3Uri": f"s3://{BUCKET}/{name}/output/"},
        "customizationConfig": {"rftConfig": config},
    }
    request.update(overrides)
    return request


def test_a_job_trains_on_its_graders_rewards_which_rise(
    bedrock: Any, emulator: Any, s3: Any, put_data: Any, graders: Callable[[str], str]
) -> None:
    grader = graders("exact_match")
    arn = bedrock.create_model_customization_job(**_request(put_data, "rft-1", grader))["jobArn"]
    described = bedrock.get_model_customization_job(jobIdentifier=arn)
    assert described["customizationConfig"]["rftConfig"]["hyperParameters"]["batchSize"] == 16
    assert not users_graders.CALLS  # not before training starts
    emulator.advance(emulator.store.durations.job_seconds)
    job = bedrock.get_model_customization_job(jobIdentifier=arn)
    assert job["status"] == "Completed", job.get("failureMessage")
    # 120 prompts in batches of 16: 8 steps an epoch, 2 epochs, each step one call of 16 x 4 samples (the last 8 x 4).
    assert users_graders.CALLS == [64] * 7 + [32] + [64] * 7 + [32]
    key = f"rft-1/output/model-customization-job-{arn.rsplit('/', 1)[-1]}/training_artifacts/step_wise_training_metrics.csv"
    rows = list(csv.DictReader(io.StringIO(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read().decode())))
    rewards = [float(r["training_reward"]) for r in rows]
    assert len(rewards) == 16 and rewards == sorted(rewards) and rewards[-1] == 1.0 and rewards[0] < 0.4
    assert job["trainingMetrics"]["trainingLoss"] == pytest.approx(0.0)
    assert float(rows[0]["training_loss"]) == pytest.approx(1 - rewards[0])


@pytest.mark.parametrize(
    ("handler", "message"),
    [
        ("loses_its_database", "failed at training step 1: RuntimeError: the grader's database is gone"),
        ("forgets_ids", "failed at training step 1: no aggregate_reward_score for sample step1-prompt0-sample0"),
    ],
)
def test_a_failing_grader_fails_the_job(
    bedrock: Any, emulator: Any, put_data: Any, graders: Callable[[str], str], handler: str, message: str
) -> None:
    arn = bedrock.create_model_customization_job(
        **_request(put_data, f"rft-{handler.replace('_', '-')}", graders(handler))
    )["jobArn"]
    emulator.advance(emulator.store.durations.job_seconds)
    job = bedrock.get_model_customization_job(jobIdentifier=arn)
    assert job["status"] == "Failed"
    assert message in job["failureMessage"], job["failureMessage"]
    assert "outputModelArn" not in job
    assert bedrock.list_custom_models()["modelSummaries"] == []


def test_a_grader_that_is_not_deployed_fails_the_job(
    bedrock: Any, emulator: Any, put_data: Any, graders: Callable[[str], str]
) -> None:
    missing = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:nowhere"
    arn = bedrock.create_model_customization_job(**_request(put_data, "rft-missing", missing))["jobArn"]
    emulator.advance(emulator.store.durations.job_seconds)
    job = bedrock.get_model_customization_job(jobIdentifier=arn)
    assert job["status"] == "Failed" and "ResourceNotFoundException" in job["failureMessage"]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"customizationConfig": {"rftConfig": {}}}, "graderConfig.lambdaGrader.lambdaArn is required"),
        ({"customizationConfig": None}, "customizationConfig.rftConfig is required"),
        ({"hyperParameters": {"epochCount": "2"}}, "use customizationConfig.rftConfig.hyperParameters"),
        (
            {"customizationConfig": {"rftConfig": {"hyperParameters": {"inferenceMaxTokens": 100_000}}}},
            "inferenceMaxTokens: 100000 is out of range; allowed: int from 1 to 64000",
        ),
        ({"baseModelIdentifier": "amazon.nova-micro-v1:0"}, "does not support customization type"),
    ],
)
def test_a_job_the_service_would_refuse_is_refused(
    bedrock: Any, put_data: Any, overrides: dict[str, Any], message: str
) -> None:
    request = _request(put_data, "rft-refused", f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:g")
    if "customizationConfig" in overrides and overrides["customizationConfig"] is not None:
        grader = request["customizationConfig"]["rftConfig"].get("graderConfig")
        config = overrides["customizationConfig"]["rftConfig"]
        if grader and config and "graderConfig" not in config:
            config["graderConfig"] = grader
    request.update(overrides)
    if request["customizationConfig"] is None:
        del request["customizationConfig"]
    with pytest.raises(ClientError) as refused:
        bedrock.create_model_customization_job(**request)
    assert refused.value.response["Error"]["Code"] == "ValidationException"
    assert message in str(refused.value), str(refused.value)


def test_data_without_a_reference_answer_or_too_few_records_fails_the_job_naming_the_line(
    bedrock: Any, emulator: Any, put_data: Any
) -> None:
    records = rft_records(120)
    del records[6]["reference_answer"]
    grader = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:g"
    request = _request(put_data, "rft-bad", grader, trainingDataConfig={"s3Uri": put_data("bad.jsonl", records)})
    arn = bedrock.create_model_customization_job(**request)["jobArn"]
    few = _request(put_data, "rft-few", grader, trainingDataConfig={"s3Uri": put_data("few.jsonl", rft_records(99))})
    few_arn = bedrock.create_model_customization_job(**few)["jobArn"]
    emulator.advance(emulator.store.durations.job_seconds)
    job = bedrock.get_model_customization_job(jobIdentifier=arn)
    assert job["status"] == "Failed"
    assert "training data line 7: reference_answer: required key is missing" in job["failureMessage"]
    assert (
        "99 valid records; reinforcement fine-tuning needs at least 100"
        in (bedrock.get_model_customization_job(jobIdentifier=few_arn)["failureMessage"])
    )


@pytest.mark.parametrize("granted", [True, False])
def test_the_job_invokes_its_grader_as_its_role(
    server: Any, emulator: Any, put_data: Any, graders: Callable[[str], str], granted: bool
) -> None:
    from tests.unit.offline.test_bedrock_emulator_authorization import (
        CALLER_KEY,
        ROLE_STATEMENTS,
        FakeAuthority,
        allow,
        policy,
    )

    grader = graders("exact_match")
    authority = FakeAuthority()
    if granted:  # the customization role's grant on the reward function (stacks/grader.py)
        authority.role_policies = [policy(*ROLE_STATEMENTS, allow(["lambda:InvokeFunction"], [grader]))]
    emulator.authorize_with(authority)
    try:
        signed = boto3.client(
            "bedrock",
            region_name=REGION,
            aws_access_key_id=CALLER_KEY,
            aws_secret_access_key="secret",
            aws_session_token="token",
        )
        request = _request(put_data, f"rft-role-{granted}".lower(), grader, roleArn=ROLE_ARN)
        arn = signed.create_model_customization_job(**request)["jobArn"]
        emulator.advance(emulator.store.durations.job_seconds)
        job = signed.get_model_customization_job(jobIdentifier=arn)
    finally:
        emulator.authorize_with(None)
    if granted:
        assert job["status"] == "Completed", job.get("failureMessage")
        assert users_graders.CALLS
    else:
        assert job["status"] == "Failed"
        assert f"The reward function {grader} could not be invoked" in job["failureMessage"]
        assert "lambda:InvokeFunction" in job["failureMessage"]
        assert not users_graders.CALLS
