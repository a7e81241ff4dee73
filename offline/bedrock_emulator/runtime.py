"""The ``bedrock-runtime`` API: InvokeModel and Converse.

``modelId`` may be a base model id (or its foundation-model ARN; the bases Bedrock serves on demand only
through a cross-region inference profile answer only by the profile's id or ARN), a provisioned throughput
ARN (the model behind it answers once it is InService), or a custom model deployment ARN (once Active). A
custom model ARN is rejected as the service rejects it: a custom model is served through throughput or a
deployment. InvokeModel bodies must have the shape of the model's family
(``customizer.families.invocation``); Converse is accepted for every family."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from werkzeug.wrappers import Response

from customizer.errors import SettingsError
from customizer.families import BASE_MODELS, BaseModel, base_model
from customizer.families.base import PROFILE_GEOGRAPHIES
from customizer.families.invocation import BodyShapeError, check_request, render_response
from offline.bedrock_emulator.answering import Answerer, BaseAnswerer, estimate_tokens
from offline.bedrock_emulator.errors import INVALID_MODEL_IDENTIFIER, invalid, not_found, not_ready
from offline.bedrock_emulator.protocol import JSON
from offline.bedrock_emulator.resources import ACTIVE, CREATING, IN_SERVICE
from offline.bedrock_emulator.store import Store
from offline.bedrock_emulator.training import ObjectStoreError

Params = Mapping[str, Any]
PROFILE_PREFIXES = {geography for _, geography in PROFILE_GEOGRAPHIES}
_START_WITH_USER = (
    "A conversation must start with a user message. Try again after adding a user message to the start of the "
    "conversation."
)
_ALTERNATE = (
    "A conversation must alternate between user and assistant roles. Make sure the conversation alternates "
    "between user and assistant roles and try again."
)


@dataclass(frozen=True)
class Target:
    """What answers a call: the family (for body shapes) and the emulated model."""

    base: BaseModel
    answerer: Answerer


def latency_ms(output_tokens: int) -> int:
    """A deterministic model latency: 20 ms plus 2 ms per generated token."""
    return 20 + 2 * output_tokens


class Runtime:
    def __init__(self, store: Store) -> None:
        self.store = store

    def target(self, model_id: str) -> Target:
        """Resolve ``modelId`` as the service does. Call with the store's lock held."""
        if not model_id.startswith("arn:"):
            return self._base_or_profile(model_id)
        kind, _, rest = model_id.split(":", 5)[-1].partition("/")
        if kind == "foundation-model":
            return self._base(rest)
        if kind == "inference-profile":
            return self._base_or_profile(rest)
        if kind == "provisioned-model":
            return self._through_throughput(model_id)
        if kind == "custom-model-deployment":
            return self._through_deployment(model_id)
        raise invalid(INVALID_MODEL_IDENTIFIER)

    def _base_or_profile(self, model_id: str) -> Target:
        """A base model id, or a cross-region inference profile id (``<geography>.<model id>``)."""
        geography, _, rest = model_id.partition(".")
        if geography in PROFILE_PREFIXES and rest:
            return self._base(rest, through_profile=True)
        return self._base(model_id)

    def _base(self, model_id: str, *, through_profile: bool = False) -> Target:
        try:
            model = base_model(model_id)
        except SettingsError as exc:
            teacher = self._teacher(model_id)
            if teacher is None:
                raise invalid(INVALID_MODEL_IDENTIFIER) from exc
            return teacher
        if model.on_demand_through_profile and not through_profile:
            raise invalid(
                f"Invocation of model ID {model_id} with on-demand throughput isn\u2019t supported. Retry your "
                "request with the ID or ARN of an inference profile that contains this model."
            )
        return Target(model, BaseAnswerer())

    def _teacher(self, model_id: str) -> Target | None:
        """A distillation teacher that is no base model, offered in this region (the catalog): it takes the body
        shapes of its students' family (teacher and student share a provider) and answers as a base model does
        (it has seen no one's data: answering.py)."""
        teacher = self.store.catalog.teacher_here(model_id, self.store.clock.now())
        if teacher is None:
            return None
        student = next((m for m in BASE_MODELS if teacher.model_id in m.distillation_teachers), None)
        return Target(student, BaseAnswerer()) if student is not None else None

    def _through_throughput(self, arn: str) -> Target:
        throughput = self.store.resources.throughputs.get(arn)
        if throughput is None:
            raise not_found(f"The provisioned model {arn} couldn't be found.")
        if throughput.status == CREATING:
            raise not_ready(f"The provisioned model {throughput.name} is not ready yet: it is still Creating.")
        if throughput.status != IN_SERVICE:
            raise invalid(f"The provisioned model {throughput.name} is {throughput.status} and can't serve requests.")
        custom = self.store.resources.models.get(throughput.model_arn)
        return Target(throughput.base_model, custom.answerer if custom else BaseAnswerer())

    def _through_deployment(self, arn: str) -> Target:
        deployment = self.store.resources.deployments.get(arn)
        if deployment is None:
            raise not_found(f"The custom model deployment {arn} couldn't be found.")
        if deployment.status == CREATING:
            raise not_ready(f"The custom model deployment {deployment.name} is not ready yet: it is still Creating.")
        if deployment.status != ACTIVE:
            raise invalid(f"The custom model deployment {deployment.name} is {deployment.status}.")
        return Target(deployment.model.base_model, deployment.model.answerer)

    def _resolve(self, model_id: str) -> Target:
        with self.store.lock:
            self.store.advance()
            self.store.invocations[model_id] = self.store.invocations.get(model_id, 0) + 1  # answered or refused
            return self.target(model_id)

    def invoke_model(self, p: Params) -> Response:
        target = self._resolve(p["modelId"])
        style = target.base.invocation
        try:
            body = json.loads(p.get("body") or b"")
        except ValueError as exc:
            raise invalid(
                "Malformed input request: the body is not valid JSON, please reformat your input and try again."
            ) from exc
        if not isinstance(body, dict):
            raise invalid(
                "Malformed input request: the body must be a JSON object, please reformat your input and try again."
            )
        try:
            prompt, _ = check_request(style, body)
        except BodyShapeError as exc:
            raise invalid(str(exc)) from exc
        except (TypeError, ValueError) as exc:
            raise invalid(f"Malformed input request: {exc}, please reformat your input and try again.") from exc
        text = target.answerer.answer(prompt)
        tokens_in, tokens_out = estimate_tokens(prompt), estimate_tokens(text)
        response = Response(json.dumps(render_response(style, text, tokens_in, tokens_out)), mimetype=JSON)
        response.headers["X-Amzn-Bedrock-Input-Token-Count"] = str(tokens_in)
        response.headers["X-Amzn-Bedrock-Output-Token-Count"] = str(tokens_out)
        response.headers["X-Amzn-Bedrock-Invocation-Latency"] = str(latency_ms(tokens_out))
        return response

    def _check_media(self, target: Target, block: Mapping[str, Any]) -> None:
        """An image or video block: the model must take the kind, in a format it takes, from an object that is
        there. The message wording is this project's guess at the service's (README)."""
        kind = "image" if "image" in block else "video"
        media = target.base.media
        if kind not in media.kinds:
            raise invalid(
                f"This model doesn't support the {kind} content block that you provided. Try again with a supported "
                "content block."
            )
        value = block[kind]
        formats = media.image_formats if kind == "image" else media.video_formats
        if value.get("format") not in formats:
            raise invalid(f"The {kind} format {value.get('format')!r} is not supported by this model.")
        location = (value.get("source") or {}).get("s3Location")
        if location is not None:
            if not media.converse_s3_location:
                raise invalid(f"This model doesn't support {kind}s from an Amazon S3 location. Send the bytes.")
            try:
                self.store.objects.read(location["uri"], media.max_bytes(kind) or 1024**3)
            except ObjectStoreError as exc:
                raise invalid(f"The {kind} at {location['uri']} couldn't be read: {exc}") from exc

    def converse(self, p: Params) -> dict[str, Any]:
        target = self._resolve(p["modelId"])
        texts = []
        for index, message in enumerate(p.get("messages") or []):
            if message["role"] != ("user" if index % 2 == 0 else "assistant"):
                raise invalid(_START_WITH_USER if index == 0 else _ALTERNATE)
            for block in message["content"]:
                if "image" in block or "video" in block:
                    self._check_media(target, block)
            texts.append("\n".join(b["text"] for b in message["content"] if "text" in b))
        if not texts:
            raise invalid(_START_WITH_USER)
        system = "\n".join(b["text"] for b in p.get("system") or [] if "text" in b)
        prompt = "\n".join(texts)
        query = f"{system}\n\n{prompt}" if system else prompt
        text = target.answerer.answer(query)
        tokens_in, tokens_out = estimate_tokens(query), estimate_tokens(text)
        return {
            "output": {"message": {"role": "assistant", "content": [{"text": text}]}},
            "stopReason": "end_turn",
            "usage": {"inputTokens": tokens_in, "outputTokens": tokens_out, "totalTokens": tokens_in + tokens_out},
            "metrics": {"latencyMs": latency_ms(tokens_out)},
        }

    def operations(self) -> dict[str, Any]:
        return {"InvokeModel": self.invoke_model, "Converse": self.converse}
