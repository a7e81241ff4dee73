"""Serving on the emulator: provisioned throughput, on-demand deployments, InvokeModel and Converse."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

from customizer.families import InvocationStyle, base_model
from customizer.families.invocation import InferenceConfig, build_request, extract_text
from offline.bedrock_emulator import BedrockEmulator
from tests.unit.offline.conftest import conversation_records, qa_records


def _code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def _call(runtime: Any, model_id: str, prompt: str, style: InvocationStyle, system: str = "") -> str:
    """Call as the pipeline's evaluation does: the family's request, the family's answer text."""
    request = build_request(style, model_id, prompt, InferenceConfig(), system=system)
    if request.operation == "converse":
        return extract_text(style, runtime.converse(**request.kwargs))
    return extract_text(style, json.loads(runtime.invoke_model(**request.kwargs)["body"].read()))


# ---- provisioned throughput ----


def test_throughput_goes_creating_to_in_service_and_is_deleted(
    bedrock: Any, runtime: Any, emulator: BedrockEmulator, completed_model: Callable[..., str]
) -> None:
    model_arn = completed_model()
    request = {"modelUnits": 1, "provisionedModelName": "pt-1", "modelId": model_arn, "clientRequestToken": "t-1"}
    response = bedrock.create_provisioned_model_throughput(**request, tags=[{"key": "k", "value": "v"}])
    arn = response["provisionedModelArn"]
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert arn.startswith("arn:aws:bedrock:us-east-1:123456789012:provisioned-model/")

    # Creating: the model behind it cannot answer yet
    described = bedrock.get_provisioned_model_throughput(provisionedModelId=arn)
    assert (described["status"], described["modelArn"], described["modelUnits"]) == ("Creating", model_arn, 1)
    assert described["foundationModelArn"].endswith("foundation-model/amazon.titan-text-express-v1")
    with pytest.raises(ClientError) as not_ready:
        _call(runtime, arn, "How do I reset my password?", InvocationStyle.TITAN)
    assert _code(not_ready) == "ModelNotReadyException"
    assert not_ready.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429

    # Idempotent by token; the name is taken for any other token
    retried = bedrock.create_provisioned_model_throughput(**request, tags=[{"key": "k", "value": "v"}])
    assert retried["provisionedModelArn"] == arn
    with pytest.raises(ClientError) as taken:
        bedrock.create_provisioned_model_throughput(**{**request, "clientRequestToken": "t-2"})
    assert _code(taken) == "ValidationException"

    # InService after the configured time; found by name too, listed, tagged
    emulator.advance(emulator.store.durations.throughput_seconds)
    assert bedrock.get_provisioned_model_throughput(provisionedModelId="pt-1")["status"] == "InService"
    listed = bedrock.list_provisioned_model_throughputs(statusEquals="InService", modelArnEquals=model_arn)
    assert [t["provisionedModelArn"] for t in listed["provisionedModelSummaries"]] == [arn]
    assert bedrock.list_tags_for_resource(resourceARN=arn)["tags"] == [{"key": "k", "value": "v"}]
    assert _call(runtime, arn, "How do I reset my password?", InvocationStyle.TITAN).startswith("Open Settings")

    # Deleted: gone, and no longer callable
    bedrock.delete_provisioned_model_throughput(provisionedModelId=arn)
    with pytest.raises(ClientError) as gone:
        bedrock.get_provisioned_model_throughput(provisionedModelId=arn)
    assert _code(gone) == "ResourceNotFoundException"
    with pytest.raises(ClientError) as uncallable:
        _call(runtime, arn, "How do I reset my password?", InvocationStyle.TITAN)
    assert _code(uncallable) == "ResourceNotFoundException"


def test_a_throughput_with_a_commitment_cannot_be_deleted_before_its_term(
    bedrock: Any, emulator: BedrockEmulator, completed_model: Callable[..., str]
) -> None:
    arn = bedrock.create_provisioned_model_throughput(
        modelUnits=1, provisionedModelName="committed", modelId=completed_model(), commitmentDuration="OneMonth"
    )["provisionedModelArn"]
    emulator.advance(emulator.store.durations.throughput_seconds)
    assert "commitmentExpirationTime" in bedrock.get_provisioned_model_throughput(provisionedModelId=arn)
    with pytest.raises(ClientError) as committed:
        bedrock.delete_provisioned_model_throughput(provisionedModelId=arn)
    assert _code(committed) == "ValidationException"
    emulator.advance(31 * 24 * 3600)
    bedrock.delete_provisioned_model_throughput(provisionedModelId=arn)


def test_a_throughput_for_an_unknown_model_is_not_found(bedrock: Any) -> None:
    with pytest.raises(ClientError) as missing:
        bedrock.create_provisioned_model_throughput(
            modelUnits=1,
            provisionedModelName="nothing",
            modelId="arn:aws:bedrock:us-east-1:123456789012:custom-model/amazon.titan-text-express-v1/abcdefghijkl",
        )
    assert _code(missing) == "ResourceNotFoundException"


# ---- on-demand deployments ----


def test_a_deployment_goes_creating_to_active_and_serves_the_custom_model(
    bedrock: Any,
    runtime: Any,
    emulator: BedrockEmulator,
    completed_model: Callable[..., str],
    put_data: Callable[..., str],
) -> None:
    # Given a Nova Micro model trained on conversation records
    model_arn = completed_model(
        "nova-job",
        validation=False,
        baseModelIdentifier="amazon.nova-micro-v1:0",
        trainingDataConfig={"s3Uri": put_data("nova/train.jsonl", conversation_records(8))},
        hyperParameters={},
    )
    response = bedrock.create_custom_model_deployment(modelDeploymentName="nova-dep", modelArn=model_arn)
    arn = response["customModelDeploymentArn"]
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 202
    assert arn.startswith("arn:aws:bedrock:us-east-1:123456789012:custom-model-deployment/")

    assert bedrock.get_custom_model_deployment(customModelDeploymentIdentifier=arn)["status"] == "Creating"
    with pytest.raises(ClientError) as not_ready:
        _call(runtime, arn, "How do I invite a teammate?", InvocationStyle.CONVERSE)
    assert _code(not_ready) == "ModelNotReadyException"

    emulator.advance(emulator.store.durations.deployment_seconds)
    described = bedrock.get_custom_model_deployment(customModelDeploymentIdentifier="nova-dep")
    assert (described["status"], described["modelArn"]) == ("Active", model_arn)
    summaries = bedrock.list_custom_model_deployments(statusEquals="Active")["modelDeploymentSummaries"]
    assert [d["customModelDeploymentName"] for d in summaries] == ["nova-dep"]
    system = "You are the Acme Desk support assistant."
    answer = _call(runtime, arn, "how can I invite a teammate", InvocationStyle.CONVERSE, system=system)
    assert answer == "Open Team, click Invite and enter their e-mail address."

    bedrock.delete_custom_model_deployment(customModelDeploymentIdentifier=arn)
    assert bedrock.list_custom_model_deployments()["modelDeploymentSummaries"] == []


def test_a_deployment_is_refused_for_a_base_without_on_demand_serving(
    bedrock: Any, completed_model: Callable[..., str]
) -> None:
    with pytest.raises(ClientError) as refused:
        bedrock.create_custom_model_deployment(modelDeploymentName="titan-dep", modelArn=completed_model())
    assert _code(refused) == "ValidationException"


# ---- the runtime ----


@pytest.mark.parametrize(
    ("model_id", "answer_key"),
    [
        ("amazon.titan-text-express-v1", "results"),
        ("cohere.command-text-v14", "generations"),
        ("meta.llama3-1-8b-instruct-v1:0", "generation"),
    ],
)
def test_invoke_model_answers_in_each_familys_body(runtime: Any, model_id: str, answer_key: str) -> None:
    style = base_model(model_id).invocation
    request = build_request(style, model_id, "How do I reset my password?", InferenceConfig())
    response = runtime.invoke_model(**request.kwargs)
    body = json.loads(response["body"].read())

    assert response["contentType"] == "application/json"
    assert answer_key in body
    text = extract_text(style, body)
    assert text == "I can only give a general answer about reset password; I have no specific information on it."
    headers = response["ResponseMetadata"]["HTTPHeaders"]
    assert int(headers["x-amzn-bedrock-output-token-count"]) == -(-len(text) // 4)


@pytest.mark.parametrize(
    ("model_id", "body", "expected"),
    [
        ("cohere.command-text-v14", {"inputText": "hi"}, "extraneous key [inputText]"),
        ("amazon.titan-text-express-v1", {"prompt": "hi"}, "extraneous key [prompt]"),
        ("meta.llama3-1-8b-instruct-v1:0", {"max_gen_len": 10}, "required key [prompt] not found"),
        ("amazon.titan-text-express-v1", "not json", "not valid JSON"),
        ("amazon.nova-micro-v1:0", {"messages": []}, "called through the Converse API"),
    ],
)
def test_invoke_model_rejects_a_body_of_the_wrong_shape(runtime: Any, model_id: str, body: Any, expected: str) -> None:
    with pytest.raises(ClientError) as rejected:
        runtime.invoke_model(modelId=model_id, body=body if isinstance(body, str) else json.dumps(body))
    assert _code(rejected) == "ValidationException"
    assert expected in rejected.value.response["Error"]["Message"]


@pytest.mark.parametrize(
    "model_id", ["amazon.nova-lite-v1:0", "anthropic.claude-3-haiku-20240307-v1:0", "amazon.titan-text-lite-v1"]
)
def test_converse_works_for_every_family(runtime: Any, model_id: str) -> None:
    response = runtime.converse(
        modelId=model_id,
        system=[{"text": "Be brief."}],
        messages=[{"role": "user", "content": [{"text": "How do I export my invoices?"}]}],
        inferenceConfig={"maxTokens": 100},
    )
    assert response["output"]["message"]["role"] == "assistant"
    assert "export invoices" in response["output"]["message"]["content"][0]["text"]
    assert response["stopReason"] == "end_turn"
    usage = response["usage"]
    assert usage["totalTokens"] == usage["inputTokens"] + usage["outputTokens"] > 0
    assert response["metrics"]["latencyMs"] > 0


def test_converse_checks_the_conversation(runtime: Any) -> None:
    user = {"role": "user", "content": [{"text": "hi"}]}
    assistant = {"role": "assistant", "content": [{"text": "hello"}]}
    for messages, expected in (
        ([assistant, user], "must start with a user message"),
        ([user, user], "must alternate between user and assistant"),
        ([], "must start with a user message"),
    ):
        with pytest.raises(ClientError) as rejected:
            runtime.converse(modelId="amazon.nova-micro-v1:0", messages=messages)
        assert _code(rejected) == "ValidationException"
        assert expected in rejected.value.response["Error"]["Message"]


def test_the_custom_model_answers_from_its_training_data_and_the_base_does_not(
    runtime: Any, completed_model: Callable[..., str], in_service: Callable[[str], str]
) -> None:
    throughput = in_service(completed_model())
    completions = {r["completion"] for r in qa_records(20)}
    questions = {
        "what are the steps to cancel a subscription": "In Billing, choose Plan, then Cancel subscription at the bottom.",
        "I forgot my password, how to reset it?": "Open Settings, choose Security, then Reset password.",
        "where can I download the app for my phone": "Search for Acme Desk in the App Store or Google Play.",
    }
    for question, expected in questions.items():
        # The custom model answers with the completion of the nearest training prompt...
        assert _call(runtime, throughput, question, InvocationStyle.TITAN) == expected
        # ...its base knows nothing of the training data, deterministically
        base = _call(runtime, "amazon.titan-text-express-v1", question, InvocationStyle.TITAN)
        assert base not in completions
        assert base == _call(runtime, "amazon.titan-text-express-v1", question, InvocationStyle.TITAN)
    # A question sharing nothing with the training data gets the generic answer
    assert _call(runtime, throughput, "quantum chromodynamics", InvocationStyle.TITAN).startswith("I can only give")


def test_a_continued_pre_training_model_continues_the_prompt(
    runtime: Any, completed_model: Callable[..., str], in_service: Callable[[str], str], put_data: Callable[..., str]
) -> None:
    documents = [
        {"input": "The Acme Desk warranty covers hardware faults for three years from the date of purchase."},
        {"input": "Acme Desk tickets are answered within four business hours on the Premium plan."},
    ]
    model_arn = completed_model(
        "cpt-job",
        validation=False,
        customizationType="CONTINUED_PRE_TRAINING",
        trainingDataConfig={"s3Uri": put_data("cpt/train.jsonl", documents)},
    )
    throughput = in_service(model_arn)
    answer = _call(runtime, throughput, "The Acme Desk warranty covers", InvocationStyle.TITAN)
    assert answer == "hardware faults for three years from the date of purchase."


def test_a_custom_model_arn_or_an_unknown_id_is_not_a_model_to_invoke(
    runtime: Any, completed_model: Callable[..., str]
) -> None:
    imported = "arn:aws:bedrock:us-east-1:123456789012:imported-model/abcdefghijkl"  # not emulated
    for model_id in (completed_model(), "amazon.titan-unknown-v9", imported):
        with pytest.raises(ClientError) as rejected:
            _call(runtime, model_id, "hello", InvocationStyle.TITAN)
        assert _code(rejected) == "ValidationException"
        assert rejected.value.response["Error"]["Message"] == "The provided model identifier is invalid."


LLAMA_32 = "meta.llama3-2-1b-instruct-v1:0"


def test_a_base_served_only_through_an_inference_profile_refuses_its_bare_id(runtime: Any) -> None:
    # As Bedrock answers for Llama 3.2 and 3.3: by the bare id or the foundation-model ARN, on demand, no
    for model_id in (LLAMA_32, f"arn:aws:bedrock:us-east-1::foundation-model/{LLAMA_32}"):
        with pytest.raises(ClientError) as rejected:
            _call(runtime, model_id, "hello", InvocationStyle.CONVERSE)
        assert _code(rejected) == "ValidationException"
        assert rejected.value.response["Error"]["Message"] == (
            f"Invocation of model ID {LLAMA_32} with on-demand throughput isn\u2019t supported. Retry your request "
            "with the ID or ARN of an inference profile that contains this model."
        )


@pytest.mark.parametrize(
    "model_id",
    [
        f"us.{LLAMA_32}",
        f"eu.{LLAMA_32}",
        f"arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.{LLAMA_32}",
        "us.amazon.nova-micro-v1:0",  # a profile of a base that is also served by its bare id
    ],
)
def test_a_cross_region_inference_profile_answers_for_its_base(runtime: Any, model_id: str) -> None:
    answer = _call(runtime, model_id, "How do I reset my password?", InvocationStyle.CONVERSE)
    assert "reset password" in answer


def test_an_unknown_geography_or_model_behind_a_profile_is_invalid(runtime: Any) -> None:
    for model_id in (f"mars.{LLAMA_32}", "us.meta.llama9-v1:0"):
        with pytest.raises(ClientError) as rejected:
            _call(runtime, model_id, "hello", InvocationStyle.CONVERSE)
        assert rejected.value.response["Error"]["Message"] == "The provided model identifier is invalid."


# ---- Converse with images and videos (the evaluation of multimodal test examples) ----


def _image_turn(uri: str, fmt: str = "png") -> list[dict[str, Any]]:
    block = {"image": {"format": fmt, "source": {"s3Location": {"uri": uri}}}}
    return [{"role": "user", "content": [block, {"text": "What is shown?"}]}]


def test_converse_reads_an_image_by_its_s3_location_where_the_model_takes_images(runtime: Any, s3: Any) -> None:
    from tests.unit.offline.conftest import BUCKET

    s3.put_object(Bucket=BUCKET, Key="images/1.png", Body=b"\x89PNG")
    response = runtime.converse(modelId="amazon.nova-lite-v1:0", messages=_image_turn(f"s3://{BUCKET}/images/1.png"))
    assert response["output"]["message"]["content"][0]["text"]

    with pytest.raises(ClientError) as missing:
        runtime.converse(modelId="amazon.nova-lite-v1:0", messages=_image_turn(f"s3://{BUCKET}/images/gone.png"))
    assert _code(missing) == "ValidationException"
    assert "images/gone.png couldn't be read" in str(missing.value)


@pytest.mark.parametrize(
    ("model_id", "message"),
    [
        ("amazon.nova-micro-v1:0", "doesn't support the image content block"),
        # Converse takes webp; Nova 2 Lite, served through a cross-region profile, does not.
        ("us.amazon.nova-2-lite-v1:0", "The image format 'webp' is not supported"),
    ],
)
def test_converse_refuses_an_image_the_model_does_not_take(runtime: Any, s3: Any, model_id: str, message: str) -> None:
    from tests.unit.offline.conftest import BUCKET

    s3.put_object(Bucket=BUCKET, Key="images/1.webp", Body=b"RIFF")
    fmt = "webp" if "nova-2" in model_id else "png"
    with pytest.raises(ClientError) as refused:
        runtime.converse(modelId=model_id, messages=_image_turn(f"s3://{BUCKET}/images/1.webp", fmt))
    assert _code(refused) == "ValidationException"
    assert message in str(refused.value)
