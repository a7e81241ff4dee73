"""Customization jobs and custom models on the emulator, through unmodified boto3 clients."""

from __future__ import annotations

import csv
import io
import itertools
import json
import re
from collections.abc import Callable
from typing import Any

import botocore.session
import pytest
from botocore.exceptions import ClientError

from customizer.families import CustomizationType, base_model
from offline.bedrock_emulator import BedrockEmulator
from offline.bedrock_emulator.training import check_data, job_metrics
from tests.unit.offline.conftest import BUCKET, conversation_records, jsonl, qa_records

TRAINING_CSV = "training_artifacts/step_wise_training_metrics.csv"
VALIDATION_CSV = "validation_artifacts/post_fine_tuning_validation/validation/validation_metrics.csv"


def _pattern(shape: str) -> re.Pattern[str]:
    model = botocore.session.get_session().get_service_model("bedrock")
    return re.compile(model.shape_for(shape).metadata["pattern"])


def _error(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, int, str]:
    response = exc.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Message"]


def _read_csv(s3: Any, key: str) -> list[dict[str, str]]:
    body = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read().decode()
    return list(csv.DictReader(io.StringIO(body)))


def test_a_job_runs_to_completed_writes_its_metrics_and_creates_the_model(
    bedrock: Any, emulator: BedrockEmulator, s3: Any, job_request: Callable[..., dict[str, Any]]
) -> None:
    # Given a job on 20 training and 5 validation records, 2 epochs, with tags and a KMS key
    request = job_request(
        customModelKmsKeyId="arn:aws:kms:us-east-1:123456789012:key/0b1c2d3e-1111-2222-3333-444455556666",
        jobTags=[{"key": "pipeline", "value": "unit"}],
        customModelTags=[{"key": "run-id", "value": "r1"}],
    )
    response = bedrock.create_model_customization_job(**request)
    arn = response["jobArn"]

    # Then it is created (HTTP 201, as the service model says) with an ARN of the service's shape
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert _pattern("ModelCustomizationJobArn").fullmatch(arn)
    job = bedrock.get_model_customization_job(jobIdentifier=arn)
    assert job["status"] == "InProgress"
    assert job["statusDetails"]["validationDetails"]["status"] == "InProgress"
    assert job["statusDetails"]["trainingDetails"]["status"] == "NotStarted"
    assert "outputModelArn" not in job

    # When a third of the job's time passes, validation is done and data processing runs
    emulator.advance(emulator.store.durations.job_seconds / 3)
    details = bedrock.get_model_customization_job(jobIdentifier="job-1")["statusDetails"]
    assert details["validationDetails"]["status"] == "Completed"
    assert details["dataProcessingDetails"]["status"] == "InProgress"

    # When the rest passes, it is Completed with metrics and a custom model
    emulator.advance(emulator.store.durations.job_seconds)
    job = bedrock.get_model_customization_job(jobIdentifier=arn)
    assert job["status"] == "Completed"
    assert job["endTime"] > job["creationTime"]
    assert job["hyperParameters"]["epochCount"] == "2"
    assert job["hyperParameters"]["batchSize"] == "1"  # the family's default, filled in
    model_arn = job["outputModelArn"]
    assert model_arn.startswith("arn:aws:bedrock:us-east-1:123456789012:custom-model/amazon.titan-text-express-v1/")
    assert _pattern("CustomModelArn").fullmatch(model_arn)

    # And the metric files are under <output>/model-customization-job-<id>/
    prefix = f"job-1/output/model-customization-job-{arn.rsplit('/', 1)[-1]}/"
    training = _read_csv(s3, prefix + TRAINING_CSV)
    assert list(training[0]) == ["step_number", "epoch_number", "training_loss", "perplexity"]
    assert len(training) == 2 * 20  # one row per step: 20 records, batch size 1, 2 epochs
    losses = [float(r["training_loss"]) for r in training]
    assert all(a > b for a, b in itertools.pairwise(losses))
    assert job["trainingMetrics"]["trainingLoss"] == pytest.approx(losses[-1])
    validation = _read_csv(s3, prefix + VALIDATION_CSV)
    assert list(validation[0]) == ["step_number", "epoch_number", "validation_loss", "perplexity"]
    assert [r["epoch_number"] for r in validation] == ["0", "1"]
    assert job["validationMetrics"] == [{"validationLoss": pytest.approx(float(validation[-1]["validation_loss"]))}]

    # And the custom model carries the job's settings, the KMS key and its own tags
    model = bedrock.get_custom_model(modelIdentifier=model_arn)
    assert model["modelName"] == "job-1-model"
    assert model["jobArn"] == arn
    assert model["modelKmsKeyArn"] == request["customModelKmsKeyId"]
    assert model["baseModelArn"] == "arn:aws:bedrock:us-east-1::foundation-model/amazon.titan-text-express-v1"
    assert bedrock.get_custom_model(modelIdentifier="job-1-model")["modelArn"] == model_arn
    assert bedrock.list_tags_for_resource(resourceARN=model_arn)["tags"] == [{"key": "run-id", "value": "r1"}]
    assert bedrock.list_tags_for_resource(resourceARN=arn)["tags"] == [{"key": "pipeline", "value": "unit"}]
    summaries = bedrock.list_custom_models()["modelSummaries"]
    assert [m["modelArn"] for m in summaries] == [model_arn]


def test_losses_are_deterministic_and_fall_with_more_data_and_epochs() -> None:
    model = base_model("amazon.titan-text-express-v1")

    def final_loss(records: int, epochs: int) -> float:
        check = check_data(model, CustomizationType.FINE_TUNING, {}, jsonl(qa_records(records)))
        return job_metrics(check, {"epochCount": str(epochs), "batchSize": "1"}).training_loss

    assert final_loss(20, 2) == final_loss(20, 2)
    assert final_loss(20, 4) < final_loss(20, 2)
    assert final_loss(80, 2) < final_loss(20, 2)


@pytest.mark.parametrize(
    ("model_id", "ctype", "body", "expected"),
    [
        pytest.param(
            "amazon.titan-text-express-v1",
            "FINE_TUNING",
            jsonl([*qa_records(2), {"prompt": "no completion"}]),
            "Malformed input request: training data line 3: completion: required key is missing",
            id="missing-key",
        ),
        pytest.param(
            "amazon.titan-text-express-v1",
            "FINE_TUNING",
            jsonl(qa_records(11)) + b"{not json\n",
            "Malformed input request: training data line 12 is not valid JSON",
            id="not-json",
        ),
        pytest.param(
            "amazon.titan-text-express-v1",
            "CONTINUED_PRE_TRAINING",
            jsonl([{"input": "word " * 4000}]),
            "Maximum input token count 5000 exceeds limit of 4096 (training data line 1)",
            id="cpt-too-long",
        ),
        pytest.param(
            "meta.llama3-1-8b-instruct-v1:0",
            "FINE_TUNING",
            jsonl(qa_records(10)),
            "have 10 records together; Llama 3.1 8B Instruct needs between 100 and 10000",
            id="llama-too-few",
        ),
        pytest.param(
            "amazon.nova-micro-v1:0",
            "FINE_TUNING",
            jsonl([*conversation_records(8)[:7], {**conversation_records(1)[0], "system": [{"text": "User: hi"}]}]),
            "training data line 8 contains the reserved string 'User:'",
            id="nova-reserved",
        ),
        pytest.param(
            "amazon.nova-micro-v1:0",
            "FINE_TUNING",
            jsonl(qa_records(8)),
            "training data line 1: completion: unknown key",
            id="wrong-format-for-family",
        ),
    ],
)
def test_data_that_does_not_fit_the_family_is_reported_in_the_services_words(
    model_id: str, ctype: str, body: bytes, expected: str
) -> None:
    check = check_data(base_model(model_id), CustomizationType(ctype), {}, body)
    assert check.problem is not None
    assert expected in check.problem


def test_bad_data_fails_the_job_when_validation_ends_naming_the_line(
    bedrock: Any, emulator: BedrockEmulator, put_data: Callable[..., str], job_request: Callable[..., dict[str, Any]]
) -> None:
    # Given training data whose line 12 lacks its completion
    records: list[object] = [*qa_records(11), {"prompt": "What now?"}, *qa_records(3)]
    request = job_request(trainingDataConfig={"s3Uri": put_data("bad/train.jsonl", records)})
    arn = bedrock.create_model_customization_job(**request)["jobArn"]
    assert bedrock.get_model_customization_job(jobIdentifier=arn)["status"] == "InProgress"

    # When validation ends, the job has Failed with the line in its message, and no model exists
    emulator.advance(emulator.store.durations.job_seconds / 3)
    job = bedrock.get_model_customization_job(jobIdentifier=arn)
    assert job["status"] == "Failed"
    assert job["failureMessage"].startswith("Malformed input request: training data line 12: completion:")
    assert job["statusDetails"]["validationDetails"]["status"] == "Failed"
    assert job["statusDetails"]["trainingDetails"]["status"] == "NotStarted"
    assert "endTime" in job
    emulator.advance(60)
    assert bedrock.list_custom_models()["modelSummaries"] == []


def test_missing_training_data_fails_the_job(bedrock: Any, emulator: BedrockEmulator, s3: Any) -> None:
    arn = bedrock.create_model_customization_job(
        jobName="nodata",
        customModelName="nodata-model",
        roleArn="arn:aws:iam::123456789012:role/r",
        baseModelIdentifier="arn:aws:bedrock:us-east-1::foundation-model/amazon.titan-text-lite-v1",
        trainingDataConfig={"s3Uri": f"s3://{BUCKET}/absent.jsonl"},
        outputDataConfig={"s3Uri": f"s3://{BUCKET}/out/"},
    )["jobArn"]
    emulator.advance(10)
    job = bedrock.get_model_customization_job(jobIdentifier=arn)
    assert (job["status"], job["failureMessage"]) == ("Failed", f"Unable to read s3://{BUCKET}/absent.jsonl: NoSuchKey")


def test_create_is_idempotent_by_client_request_token(bedrock: Any, job_request: Callable[..., dict[str, Any]]) -> None:
    request = job_request(clientRequestToken="token-1")
    first = bedrock.create_model_customization_job(**request)["jobArn"]

    # The same request with the same token is the same job
    assert bedrock.create_model_customization_job(**request)["jobArn"] == first
    assert len(bedrock.list_model_customization_jobs()["modelCustomizationJobSummaries"]) == 1

    # The same name with another token is a name in use
    with pytest.raises(ClientError) as taken:
        bedrock.create_model_customization_job(**{**request, "clientRequestToken": "token-2"})
    assert _error(taken)[:2] == ("ValidationException", 400)
    assert "job name is currently in use" in _error(taken)[2]

    # The same token with a different request is a conflict
    with pytest.raises(ClientError) as reused:
        bedrock.create_model_customization_job(**{**request, "hyperParameters": {"epochCount": "3"}})
    assert _error(reused)[0] == "ConflictException"


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"jobName": "bad_name!"}, "at 'jobName' failed to satisfy constraint: Member must satisfy regular expression"),
        ({"hyperParameters": {"epochCount": "11"}}, "hyperParameters.epochCount: '11' is out of range"),
        ({"hyperParameters": {"warmup": "1"}}, "hyperParameters.warmup: unknown"),
        ({"baseModelIdentifier": "amazon.titan-image-generator-v1"}, "base model identifier"),
        ({"customizationType": "DISTILLATION"}, "does not support customization type DISTILLATION"),
        (
            {
                "customizationType": "FINE_TUNING",
                "baseModelIdentifier": "cohere.command-text-v14",
                "hyperParameters": {"evalPercentage": "10"},
            },
            "only allowed when no validation data",
        ),
        ({"jobTags": [{"key": "k", "value": "bad#value"}]}, "at 'jobTags.1.member.value'"),
    ],
)
def test_create_rejects_what_the_service_rejects(
    bedrock: Any, job_request: Callable[..., dict[str, Any]], overrides: dict[str, Any], expected: str
) -> None:
    with pytest.raises(ClientError) as rejected:
        bedrock.create_model_customization_job(**job_request(**overrides))
    code, status, message = _error(rejected)
    assert (code, status) == ("ValidationException", 400)
    assert expected in message


def test_a_stopped_job_goes_through_stopping_to_stopped(
    bedrock: Any, emulator: BedrockEmulator, job_request: Callable[..., dict[str, Any]]
) -> None:
    arn = bedrock.create_model_customization_job(**job_request())["jobArn"]
    emulator.advance(emulator.store.durations.job_seconds / 2)

    bedrock.stop_model_customization_job(jobIdentifier=arn)
    job = bedrock.get_model_customization_job(jobIdentifier=arn)
    assert job["status"] == "Stopping"
    assert job["statusDetails"]["dataProcessingDetails"]["status"] == "Stopping"

    emulator.advance(emulator.store.durations.stop_seconds)
    job = bedrock.get_model_customization_job(jobIdentifier=arn)
    assert job["status"] == "Stopped"
    assert "endTime" in job and "outputModelArn" not in job
    with pytest.raises(ClientError) as again:
        bedrock.stop_model_customization_job(jobIdentifier=arn)
    assert _error(again)[0] == "ValidationException"
    emulator.advance(60)
    assert bedrock.get_model_customization_job(jobIdentifier=arn)["status"] == "Stopped"


def test_unknown_resources_are_not_found(bedrock: Any) -> None:
    calls: list[Callable[[], Any]] = [
        lambda: bedrock.get_model_customization_job(jobIdentifier="nope"),
        lambda: bedrock.get_model_customization_job(
            jobIdentifier="arn:aws:bedrock:us-east-1:123456789012:model-customization-job/amazon.titan-text-express-v1/abcdefghijkl"
        ),
        lambda: bedrock.get_custom_model(modelIdentifier="nope"),
        lambda: bedrock.delete_custom_model(modelIdentifier="nope"),
        lambda: bedrock.get_provisioned_model_throughput(provisionedModelId="nope"),
        lambda: bedrock.get_custom_model_deployment(customModelDeploymentIdentifier="nope"),
    ]
    for call in calls:
        with pytest.raises(ClientError) as missing:
            call()
        assert _error(missing)[:2] == ("ResourceNotFoundException", 404)


def test_jobs_are_listed_newest_first_filtered_and_paged(
    bedrock: Any, emulator: BedrockEmulator, job_request: Callable[..., dict[str, Any]]
) -> None:
    for name in ("job-a", "job-b", "job-c"):
        bedrock.create_model_customization_job(**job_request(name, validation=False))
        emulator.advance(0.1)
    bedrock.stop_model_customization_job(jobIdentifier="job-b")

    first = bedrock.list_model_customization_jobs(maxResults=2)
    assert [j["jobName"] for j in first["modelCustomizationJobSummaries"]] == ["job-c", "job-b"]
    rest = bedrock.list_model_customization_jobs(maxResults=2, nextToken=first["nextToken"])
    assert [j["jobName"] for j in rest["modelCustomizationJobSummaries"]] == ["job-a"]
    assert "nextToken" not in rest
    stopping = bedrock.list_model_customization_jobs(statusEquals="Stopping")["modelCustomizationJobSummaries"]
    assert [j["jobName"] for j in stopping] == ["job-b"]
    oldest = bedrock.list_model_customization_jobs(sortOrder="Ascending", nameContains="job")
    assert oldest["modelCustomizationJobSummaries"][0]["jobName"] == "job-a"


def test_a_custom_model_in_use_cannot_be_deleted_until_its_throughput_is(
    bedrock: Any, completed_model: Callable[..., str], in_service: Callable[[str], str]
) -> None:
    model_arn = completed_model()
    throughput = in_service(model_arn)
    with pytest.raises(ClientError) as in_use:
        bedrock.delete_custom_model(modelIdentifier=model_arn)
    assert _error(in_use)[0] == "ConflictException"

    bedrock.delete_provisioned_model_throughput(provisionedModelId=throughput)
    bedrock.delete_custom_model(modelIdentifier=model_arn)
    assert bedrock.list_custom_models()["modelSummaries"] == []


def test_tags_can_be_added_listed_and_removed(bedrock: Any, completed_model: Callable[..., str]) -> None:
    model_arn = completed_model()
    bedrock.tag_resource(resourceARN=model_arn, tags=[{"key": "owner", "value": "team-a"}])
    keys = {t["key"] for t in bedrock.list_tags_for_resource(resourceARN=model_arn)["tags"]}
    assert keys == {"owner"}
    bedrock.untag_resource(resourceARN=model_arn, tagKeys=["owner"])
    assert bedrock.list_tags_for_resource(resourceARN=model_arn)["tags"] == []
    with pytest.raises(ClientError) as too_many:
        bedrock.tag_resource(resourceARN=model_arn, tags=[{"key": f"k{i}", "value": "v"} for i in range(51)])
    assert _error(too_many)[0] == "TooManyTagsException"


# ---- distillation ----


def _distillation_request(
    job_request: Callable[..., dict[str, Any]], put_data: Any, teacher: str, **overrides: Any
) -> dict[str, Any]:
    prompts = conversation_records(120)
    for record in prompts[::2]:
        record["messages"] = record["messages"][:1]  # type: ignore[index]
    request = job_request(
        "distill-1",
        validation=False,
        baseModelIdentifier="amazon.nova-micro-v1:0",
        customizationType="DISTILLATION",
        trainingDataConfig={"s3Uri": put_data("distill-1/prompts.jsonl", prompts)},
        customizationConfig={"distillationConfig": {"teacherModelConfig": {"teacherModelIdentifier": teacher}}},
        **overrides,
    )
    if "hyperParameters" not in overrides:
        del request["hyperParameters"]  # a distillation job takes none
    return request


def test_a_distillation_job_learns_from_a_teacher_its_student_may_have(
    bedrock: Any, emulator: Any, job_request: Any, put_data: Any
) -> None:
    arn = bedrock.create_model_customization_job(
        **_distillation_request(job_request, put_data, "amazon.nova-pro-v1:0")
    )["jobArn"]
    described = bedrock.get_model_customization_job(jobIdentifier=arn)
    assert described["customizationType"] == "DISTILLATION"
    assert described["customizationConfig"]["distillationConfig"]["teacherModelConfig"] == {
        "teacherModelIdentifier": "amazon.nova-pro-v1:0"
    }
    emulator.advance(emulator.store.durations.job_seconds)
    assert bedrock.get_model_customization_job(jobIdentifier=arn)["status"] == "Completed"


@pytest.mark.parametrize(
    ("teacher", "overrides", "message"),
    [
        ("meta.llama3-1-405b-instruct-v1:0", {}, "is not supported for distillation into amazon.nova-micro-v1:0"),
        ("amazon.nova-pro-v1:0", {"hyperParameters": {"epochCount": "2"}}, "hyperParameters are not supported"),
    ],
)
def test_a_distillation_job_the_service_would_refuse_is_refused(
    bedrock: Any, job_request: Any, put_data: Any, teacher: str, overrides: dict[str, Any], message: str
) -> None:
    with pytest.raises(ClientError) as refused:
        bedrock.create_model_customization_job(**_distillation_request(job_request, put_data, teacher, **overrides))
    assert refused.value.response["Error"]["Code"] == "ValidationException"
    assert message in str(refused.value)


def _from_logs(job_request: Any, put_data: Any, objects: dict[str, bytes], **config: Any) -> dict[str, Any]:
    for key, body in objects.items():
        put_data(f"logs/{key}", body)
    request = _distillation_request(job_request, put_data, "amazon.nova-pro-v1:0")
    request["trainingDataConfig"] = {
        "invocationLogsConfig": {"invocationLogSource": {"s3Uri": f"s3://{BUCKET}/logs/"}, **config}
    }
    return request


def _log_objects(count: int) -> dict[str, bytes]:
    from offline.sample_data import as_invocation_logs

    body = b"".join(
        json.dumps({"prompt": f"Question {i} about the router?", "completion": f"Answer {i}."}).encode() + b"\n"
        for i in range(count)
    )
    return as_invocation_logs(body, "amazon.nova-pro-v1:0", metadata=lambda i: {"stage": "prod" if i % 3 else "test"})


@pytest.mark.parametrize(
    ("objects", "config", "status", "message"),
    [
        (_log_objects(150), {"requestMetadataFilters": {"equals": {"stage": "prod"}}}, "Completed", None),
        (
            _log_objects(150),
            {"requestMetadataFilters": {"equals": {"stage": "test"}}},
            "Failed",
            "has 50 valid prompts",
        ),
        (_log_objects(150), {"requestMetadataFilters": {"equals": {"stage": "qa"}}}, "Failed", "None of the 150"),
        ({"AWSLogs/x.json": b'{"prompt": "hi"}\n'}, {}, "Failed", "not a Bedrock invocation log record"),
    ],
)
def test_a_distillation_job_reads_invocation_logs_and_fails_on_bad_ones(
    bedrock: Any,
    emulator: Any,
    job_request: Any,
    put_data: Any,
    objects: dict[str, bytes],
    config: dict[str, Any],
    status: str,
    message: str | None,
) -> None:
    arn = bedrock.create_model_customization_job(**_from_logs(job_request, put_data, objects, **config))["jobArn"]
    emulator.advance(emulator.store.durations.job_seconds)
    described = bedrock.get_model_customization_job(jobIdentifier=arn)
    assert described["status"] == status, described.get("failureMessage")
    if message:
        assert message in described["failureMessage"], described["failureMessage"]


def test_a_distillation_job_writes_its_synthetic_data_samples_and_prompt_insights(
    bedrock: Any, emulator: Any, job_request: Any, put_data: Any, s3: Any
) -> None:
    from customizer.distillation_outputs import PROMPT_INSIGHTS, SYNTHETIC_SAMPLES

    prompts = conversation_records(120)
    for record in prompts[::2]:
        record["messages"] = record["messages"][:1]  # type: ignore[index]
    prompts.append(dict(prompts[0]))  # a repeated prompt: rejected
    request = _distillation_request(job_request, put_data, "amazon.nova-pro-v1:0")
    request["trainingDataConfig"] = {"s3Uri": put_data("distill-1/with-repeat.jsonl", prompts)}
    arn = bedrock.create_model_customization_job(**request)["jobArn"]
    emulator.advance(emulator.store.durations.job_seconds)
    described = bedrock.get_model_customization_job(jobIdentifier=arn)
    assert described["status"] == "Completed", described.get("failureMessage")
    root = f"{request['outputDataConfig']['s3Uri'].rstrip('/')}/model-customization-job-{arn.rsplit('/', 1)[-1]}/"
    bucket, prefix = root[5:].split("/", 1)

    def lines(relative: str) -> list[dict[str, Any]]:
        body = s3.get_object(Bucket=bucket, Key=prefix + relative)["Body"].read().decode()
        return [json.loads(line) for line in body.splitlines()]

    insights = lines(PROMPT_INSIGHTS)
    assert len(insights) == 121
    assert insights[-1] == {"record": 121, "status": "REJECTED", "reason": "duplicate of record 1"}
    samples = lines(SYNTHETIC_SAMPLES)
    assert {s["source"] for s in samples} == {"teacher", "provided"} and all(s["response"] for s in samples)
