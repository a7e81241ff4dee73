"""Models for the evaluator's own bedrock-runtime client, answered in-process (botocore's before-call event, as
the Stubber does) by model id and prompt, whatever order concurrent calls come in."""

from __future__ import annotations

import io
import json
import threading
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import unquote

from botocore.awsrequest import AWSResponse
from botocore.response import StreamingBody

from customizer import aws
from customizer.families import InvocationStyle
from customizer.families.invocation import render_response

# An answer: a text, (error code, HTTP status) for a failed call, or a raw response body (a dict).
Outcome = str | tuple[str, int] | dict[str, Any]
Answerer = Callable[[str, str], Outcome]  # (model id, prompt) -> outcome


class FakeModels:
    """``answer(model_id, prompt)`` decides each call; ``script[(model_id, prompt)]`` lists the first outcomes of
    one example before ``answer`` takes over. ``requests`` keeps every request body, ``calls`` counts calls."""

    def __init__(self, answer: Answerer, style: InvocationStyle = InvocationStyle.TITAN) -> None:
        self.answer = answer
        self.style = style
        self.script: dict[tuple[str, str], list[Outcome]] = {}
        self.calls: Counter[tuple[str, str]] = Counter()
        self.requests: list[tuple[str, str, dict[str, Any]]] = []
        self._lock = threading.Lock()
        events = aws.client("bedrock-runtime", own_retries=True).meta.events
        events.register("before-call.bedrock-runtime.InvokeModel", self._invoke_model)
        events.register("before-call.bedrock-runtime.Converse", self._converse)

    def _outcome(self, operation: str, params: dict[str, Any], prompt: str, body: dict[str, Any]) -> Outcome:
        model_id = unquote(params["url_path"].split("/")[2])
        with self._lock:
            self.calls[(model_id, prompt)] += 1
            self.requests.append((operation, model_id, body))
            queued = self.script.get((model_id, prompt))
            if queued:
                return queued.pop(0)
        return self.answer(model_id, prompt)

    @staticmethod
    def _error(outcome: tuple[str, int]) -> tuple[AWSResponse, dict[str, Any]]:
        code, status = outcome
        parsed = {"Error": {"Code": code, "Message": f"{code} (fake)"}, "ResponseMetadata": {"HTTPStatusCode": status}}
        return AWSResponse("https://bedrock-runtime", status, {}, None), parsed

    def _invoke_model(self, params: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        body = json.loads(params["body"])
        prompt = body.get("inputText", body.get("prompt", ""))
        outcome = self._outcome("InvokeModel", params, prompt, body)
        if isinstance(outcome, tuple):
            return self._error(outcome)
        rendered = outcome if isinstance(outcome, dict) else render_response(self.style, outcome, 3, 2)
        raw = json.dumps(rendered).encode()
        response = {"body": StreamingBody(io.BytesIO(raw), len(raw)), "contentType": "application/json"}
        return AWSResponse("https://bedrock-runtime", 200, {}, None), response

    def _converse(self, params: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        body = json.loads(params["body"])
        prompt = "\n".join(b["text"] for m in body["messages"] for b in m["content"])
        outcome = self._outcome("Converse", params, prompt, body)
        if isinstance(outcome, tuple):
            return self._error(outcome)
        if isinstance(outcome, dict):
            return AWSResponse("https://bedrock-runtime", 200, {}, None), outcome
        response = {
            "output": {"message": {"role": "assistant", "content": [{"text": outcome}]}},
            "stopReason": "end_turn",
            "usage": {"inputTokens": 3, "outputTokens": 2, "totalTokens": 5},
            "metrics": {"latencyMs": 10},
        }
        return AWSResponse("https://bedrock-runtime", 200, {}, None), response


def by_table(table: Mapping[tuple[str, str], Outcome], default: Outcome = "I do not know.") -> Answerer:
    return lambda model_id, prompt: table.get((model_id, prompt), default)
