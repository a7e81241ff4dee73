"""Runtime bodies per invocation style, and the emulator's side of the same shapes."""

from __future__ import annotations

import json

import botocore.session
import pytest
from botocore.validate import validate_parameters

from customizer.families import InvocationStyle, base_model
from customizer.families.invocation import (
    BodyShapeError,
    InferenceConfig,
    build_request,
    check_request,
    extract_text,
    render_response,
)

CONFIG = InferenceConfig(max_tokens=100, temperature=0.2, top_p=0.8)
# LLAMA3 shares LLAMA's body (only the prompt differs): its own test is below.
INVOKE_STYLES = [InvocationStyle.TITAN, InvocationStyle.COHERE, InvocationStyle.LLAMA]
RUNTIME = botocore.session.get_session().get_service_model("bedrock-runtime")


def assert_valid_runtime_call(operation: str, kwargs: dict[str, object]) -> None:
    """The keyword arguments pass botocore's own parameter validation for the operation."""
    name = {"converse": "Converse", "invoke_model": "InvokeModel"}[operation]
    validate_parameters(kwargs, RUNTIME.operation_model(name).input_shape)


def test_converse_request_carries_prompt_system_and_inference_config():
    request = build_request(InvocationStyle.CONVERSE, "arn:pt", "Question?", CONFIG, system="Be brief.")
    assert request.operation == "converse"
    assert request.kwargs == {
        "modelId": "arn:pt",
        "messages": [{"role": "user", "content": [{"text": "Question?"}]}],
        "inferenceConfig": {"maxTokens": 100, "temperature": 0.2, "topP": 0.8},
        "system": [{"text": "Be brief."}],
    }
    assert_valid_runtime_call(request.operation, request.kwargs)


def test_converse_request_without_system_has_no_system_key():
    request = build_request(InvocationStyle.CONVERSE, "m", "Q", CONFIG)
    assert "system" not in request.kwargs
    assert_valid_runtime_call(request.operation, request.kwargs)


@pytest.mark.parametrize(
    ("style", "body"),
    [
        (
            InvocationStyle.TITAN,
            {"inputText": "Q", "textGenerationConfig": {"maxTokenCount": 100, "temperature": 0.2, "topP": 0.8}},
        ),
        (InvocationStyle.COHERE, {"prompt": "Q", "max_tokens": 100, "temperature": 0.2, "p": 0.8}),
        (InvocationStyle.LLAMA, {"prompt": "Q", "max_gen_len": 100, "temperature": 0.2, "top_p": 0.8}),
    ],
)
def test_invoke_model_bodies_per_family(style, body):
    request = build_request(style, "model-id", "Q", CONFIG)
    assert request.operation == "invoke_model"
    assert request.kwargs["modelId"] == "model-id"
    assert request.kwargs["contentType"] == "application/json"
    assert request.kwargs["accept"] == "application/json"
    assert json.loads(request.kwargs["body"]) == body
    assert_valid_runtime_call(request.operation, request.kwargs)


@pytest.mark.parametrize("style", INVOKE_STYLES)
def test_invoke_model_bodies_put_the_system_text_before_the_prompt(style):
    body = json.loads(build_request(style, "m", "Q", CONFIG, system="S").kwargs["body"])
    prompt = body["inputText"] if style is InvocationStyle.TITAN else body["prompt"]
    assert prompt == "S\n\nQ"


@pytest.mark.parametrize(
    ("style", "response"),
    [
        (InvocationStyle.CONVERSE, {"output": {"message": {"role": "assistant", "content": [{"text": "Paris"}]}}}),
        (InvocationStyle.TITAN, {"results": [{"outputText": "Paris", "tokenCount": 1}]}),
        (InvocationStyle.COHERE, {"generations": [{"text": "Paris"}]}),
        (InvocationStyle.LLAMA, {"generation": "Paris"}),
    ],
)
def test_extract_text_per_style(style, response):
    assert extract_text(style, response) == "Paris"


@pytest.mark.parametrize(
    ("style", "response"),
    [
        (InvocationStyle.CONVERSE, {"output": {"message": {"content": []}}}),
        (InvocationStyle.TITAN, {"generation": "Paris"}),
        (InvocationStyle.COHERE, {"generations": []}),
        (InvocationStyle.LLAMA, {"results": [{"outputText": "Paris"}]}),
        (InvocationStyle.TITAN, {"results": None}),
    ],
)
def test_extract_text_rejects_a_response_of_another_shape(style, response):
    with pytest.raises(BodyShapeError, match=f"response has no {style.value} answer text"):
        extract_text(style, response)


@pytest.mark.parametrize("style", INVOKE_STYLES)
def test_request_and_response_round_trip_through_the_emulator_side(style):
    # Given the body the pipeline sends
    body = json.loads(build_request(style, "m", "What is 2+2?", CONFIG).kwargs["body"])
    # When the emulator checks it and answers in the family's shape
    prompt, max_tokens = check_request(style, body)
    answer = render_response(style, "four", input_tokens=5, output_tokens=1)
    # Then it read what was sent and the pipeline reads what it answered
    assert (prompt, max_tokens) == ("What is 2+2?", 100)
    assert extract_text(style, json.loads(json.dumps(answer))) == "four"


@pytest.mark.parametrize(
    ("style", "body"),
    [
        (InvocationStyle.TITAN, {"inputText": "Q"}),
        (InvocationStyle.COHERE, {"prompt": "Q"}),
        (InvocationStyle.LLAMA, {"prompt": "Q"}),
    ],
)
def test_check_request_defaults_max_tokens_to_512(style, body):
    assert check_request(style, body) == ("Q", 512)


@pytest.mark.parametrize(
    ("style", "body", "message"),
    [
        (InvocationStyle.TITAN, {"prompt": "Q"}, "extraneous key [prompt] is not permitted"),
        (InvocationStyle.TITAN, {"textGenerationConfig": {}}, "required key [inputText] not found (titan body)"),
        (InvocationStyle.TITAN, {"inputText": 1}, "inputText has the wrong type (titan body)"),
        (
            InvocationStyle.TITAN,
            {"inputText": "Q", "textGenerationConfig": []},
            "textGenerationConfig must be an object",
        ),
        (InvocationStyle.COHERE, {"prompt": "Q", "max_gen_len": 5}, "extraneous key [max_gen_len] is not permitted"),
        (InvocationStyle.COHERE, {"max_tokens": 5}, "required key [prompt] not found (cohere body)"),
        (InvocationStyle.LLAMA, {"prompt": "Q", "max_tokens": 5}, "extraneous key [max_tokens] is not permitted"),
        (InvocationStyle.LLAMA, {"prompt": ["Q"]}, "prompt has the wrong type (llama body)"),
    ],
)
def test_check_request_rejects_bodies_of_the_wrong_shape(style, body, message):
    with pytest.raises(BodyShapeError) as caught:
        check_request(style, body)
    assert message in str(caught.value)


def test_check_request_refuses_converse_models():
    with pytest.raises(BodyShapeError, match="Converse API"):
        check_request(InvocationStyle.CONVERSE, {"messages": []})


@pytest.mark.parametrize("style", INVOKE_STYLES)
def test_a_body_for_one_family_is_rejected_by_the_others(style):
    body = json.loads(build_request(style, "m", "Q", CONFIG).kwargs["body"])
    for other in INVOKE_STYLES:
        if other is not style:
            with pytest.raises(BodyShapeError):
                check_request(other, body)


def test_llama_3_1_is_called_in_the_llama_3_instruct_template_and_llama_2_with_the_raw_prompt():
    # The user guide's "Meta Llama models": for best results, the prompt in the Llama 3 instruct template
    llama31 = base_model("meta.llama3-1-8b-instruct-v1:0")
    request = build_request(llama31.invocation, llama31.model_id, "Q?", InferenceConfig(), system="Be brief.")
    body = json.loads(request.kwargs["body"])
    assert body["prompt"] == (
        "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>"
        "<|start_header_id|>user<|end_header_id|>\n\nQ?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"
    )
    # The emulator reads the turns, not the markers; a raw prompt is taken as it is
    assert check_request(llama31.invocation, body) == ("Be brief.\n\nQ?", 256)
    assert check_request(llama31.invocation, {"prompt": "raw"}) == ("raw", 512)
    llama2 = base_model("meta.llama2-13b-v1")
    body = json.loads(build_request(llama2.invocation, llama2.model_id, "Q?", InferenceConfig()).kwargs["body"])
    assert body["prompt"] == "Q?"


def test_media_blocks_go_before_the_prompt_in_the_user_turn_through_converse_only() -> None:
    image = {"image": {"format": "png", "source": {"s3Location": {"uri": "s3://data/1.png"}}}}
    request = build_request(InvocationStyle.CONVERSE, "m", "What is shown?", CONFIG, media=[image])
    assert request.kwargs["messages"] == [{"role": "user", "content": [image, {"text": "What is shown?"}]}]
    assert_valid_runtime_call(request.operation, request.kwargs)
    with pytest.raises(BodyShapeError, match="through Converse only"):
        build_request(InvocationStyle.TITAN, "m", "Q", CONFIG, media=[image])
