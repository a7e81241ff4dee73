"""Request and response bodies of each model family at run time (bedrock-runtime).

``build_request`` returns the keyword arguments of the runtime call (``invoke_model`` or ``converse``,
named by ``operation``); ``extract_text`` takes the parsed response and returns the answer's text. The
offline emulator checks incoming bodies with ``check_request`` and answers with ``render_response``, so
the pipeline and its emulator cannot disagree about a family's shapes."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from customizer.families.base import InvocationStyle


@dataclass(frozen=True)
class InferenceConfig:
    max_tokens: int = 256
    temperature: float = 0.0
    top_p: float = 0.9


@dataclass(frozen=True)
class RuntimeRequest:
    operation: str  # "invoke_model" or "converse"
    kwargs: dict[str, Any]


# The Llama 3 instruct prompt format the user guide gives for InvokeModel on Llama 3.x Instruct ("Meta Llama
# models", request body: "prompt" with <|begin_of_text|>, header ids and <|eot_id|>), ending with the assistant's
# header so the model writes the answer.
_LLAMA3_TURN = "<|start_header_id|>{role}<|end_header_id|>\n\n{text}<|eot_id|>"
_LLAMA3_BEGIN = "<|begin_of_text|>"
_LLAMA3_ANSWER = "<|start_header_id|>assistant<|end_header_id|>\n\n"


def llama3_prompt(prompt: str, system: str = "") -> str:
    turns = [_LLAMA3_TURN.format(role="system", text=system)] if system else []
    turns.append(_LLAMA3_TURN.format(role="user", text=prompt))
    return _LLAMA3_BEGIN + "".join(turns) + _LLAMA3_ANSWER


def llama3_unwrap(prompt: str) -> str:
    """The system and user text of a Llama 3 instruct prompt (the model reads the turns, not the markers);
    a prompt without the template is returned as it is."""
    if not prompt.startswith(_LLAMA3_BEGIN):
        return prompt
    texts = []
    for turn in prompt.removeprefix(_LLAMA3_BEGIN).split("<|eot_id|>"):
        _, marker, text = turn.partition("<|end_header_id|>\n\n")
        if marker and text:
            texts.append(text)
    return "\n\n".join(texts)


class BodyShapeError(ValueError):
    """A request body of the wrong shape for the model's family (the service answers ValidationException)."""


def build_request(
    style: InvocationStyle,
    model_id: str,
    prompt: str,
    config: InferenceConfig,
    system: str = "",
    *,
    media: Sequence[dict[str, Any]] = (),
) -> RuntimeRequest:
    """``media``: Converse image/video content blocks, sent before the prompt's text in the user turn."""
    if media and style is not InvocationStyle.CONVERSE:
        raise BodyShapeError(f"images and videos are sent through Converse only, not in a {style.value} body")
    if style is InvocationStyle.CONVERSE:
        kwargs: dict[str, Any] = {
            "modelId": model_id,
            "messages": [{"role": "user", "content": [*media, {"text": prompt}]}],
            "inferenceConfig": {
                "maxTokens": config.max_tokens,
                "temperature": config.temperature,
                "topP": config.top_p,
            },
        }
        if system:
            kwargs["system"] = [{"text": system}]
        return RuntimeRequest("converse", kwargs)
    text = f"{system}\n\n{prompt}" if system else prompt
    if style is InvocationStyle.LLAMA3:
        text = llama3_prompt(prompt, system)
    body: dict[str, Any]
    if style is InvocationStyle.TITAN:
        body = {
            "inputText": text,
            "textGenerationConfig": {
                "maxTokenCount": config.max_tokens,
                "temperature": config.temperature,
                "topP": config.top_p,
            },
        }
    elif style is InvocationStyle.COHERE:
        body = {"prompt": text, "max_tokens": config.max_tokens, "temperature": config.temperature, "p": config.top_p}
    else:
        body = {
            "prompt": text,
            "max_gen_len": config.max_tokens,
            "temperature": config.temperature,
            "top_p": config.top_p,
        }
    return RuntimeRequest(
        "invoke_model",
        {
            "modelId": model_id,
            "body": json.dumps(body),
            "contentType": "application/json",
            "accept": "application/json",
        },
    )


def extract_text(style: InvocationStyle, response: dict[str, Any]) -> str:
    """The answer's text from a parsed response (InvokeModel's body as JSON, or Converse's output)."""
    try:
        if style is InvocationStyle.CONVERSE:
            return str(response["output"]["message"]["content"][0]["text"])
        if style is InvocationStyle.TITAN:
            return str(response["results"][0]["outputText"])
        if style is InvocationStyle.COHERE:
            return str(response["generations"][0]["text"])
        return str(response["generation"])
    except (KeyError, IndexError, TypeError) as exc:
        raise BodyShapeError(f"response has no {style.value} answer text: {exc!r}") from exc


# ---- used by the offline emulator: the service's side of the same bodies ----


def _require(body: dict[str, Any], key: str, kind: type | tuple[type, ...], style: InvocationStyle) -> Any:
    if key not in body:
        raise BodyShapeError(f"Malformed input request: required key [{key}] not found ({style.value} body)")
    if not isinstance(body[key], kind):
        raise BodyShapeError(f"Malformed input request: {key} has the wrong type ({style.value} body)")
    return body[key]


_ALLOWED_KEYS = {
    InvocationStyle.TITAN: {"inputText", "textGenerationConfig"},
    InvocationStyle.COHERE: {
        "prompt",
        "max_tokens",
        "temperature",
        "p",
        "k",
        "stop_sequences",
        "return_likelihoods",
        "stream",
        "num_generations",
    },
    InvocationStyle.LLAMA: {"prompt", "max_gen_len", "temperature", "top_p", "images"},
    InvocationStyle.LLAMA3: {"prompt", "max_gen_len", "temperature", "top_p", "images"},
}


def check_request(style: InvocationStyle, body: dict[str, Any]) -> tuple[str, int]:
    """Check an InvokeModel body as the service would; return (prompt text, max tokens)."""
    if style is InvocationStyle.CONVERSE:
        raise BodyShapeError("this model is called through the Converse API")
    extra = sorted(set(body) - _ALLOWED_KEYS[style])
    if extra:
        raise BodyShapeError(f"Malformed input request: extraneous key [{extra[0]}] is not permitted")
    if style is InvocationStyle.TITAN:
        prompt = _require(body, "inputText", str, style)
        config = body.get("textGenerationConfig", {})
        if not isinstance(config, dict):
            raise BodyShapeError("Malformed input request: textGenerationConfig must be an object")
        return prompt, int(config.get("maxTokenCount", 512))
    prompt = _require(body, "prompt", str, style)
    key = "max_tokens" if style is InvocationStyle.COHERE else "max_gen_len"
    if style is InvocationStyle.LLAMA3:
        prompt = llama3_unwrap(prompt)
    return prompt, int(body.get(key, 512))


def render_response(style: InvocationStyle, text: str, input_tokens: int, output_tokens: int) -> dict[str, Any]:
    """An InvokeModel response body of the family's shape."""
    if style is InvocationStyle.TITAN:
        return {
            "inputTextTokenCount": input_tokens,
            "results": [{"tokenCount": output_tokens, "outputText": text, "completionReason": "FINISH"}],
        }
    if style is InvocationStyle.COHERE:
        return {
            "id": "emulated",
            "generations": [{"id": "emulated-0", "text": text, "finish_reason": "COMPLETE"}],
            "prompt": "",
        }
    return {
        "generation": text,
        "prompt_token_count": input_tokens,
        "generation_token_count": output_tokens,
        "stop_reason": "stop",
    }
