"""Run Lambda invocations in-process, with the project's real handlers.

moto without Docker has a "simple" Lambda backend that does not run code. Both doors into it are routed
here: invocations through the API (which is how the Step Functions interpreter calls tasks) and the S3
event notifications (which call the function object's own ``invoke``). Each runs the function's
deployed ``Handler`` (``handlers.create_job.handler``...) and answers as Lambda does: a handler's
exception becomes ``x-amz-function-error: Unhandled`` with ``{"errorType": <class name>, ...}``, which is
what the state machine's Retry and Catch match on.

Faults a test (or the chaos suite) injects, by function-name substring:
- ``faults``: the handler raises instead of running (an exception factory; the call is not made);
- ``lose_reply``: the handler runs and acts, then its reply is lost as when the function times out after
  acting: Lambda answers ``{"errorType": "Sandbox.Timedout", ...}`` (Step Functions' error name for a
  function timeout), or, with ``error_type=None``, a payload without ``errorType``, which Step Functions
  reports as ``Lambda.Unknown``;
- ``refuse``: Lambda itself refuses the invoke (``TooManyRequestsException`` 429, ``ServiceException`` 500):
  the handler does not run, and Step Functions reports ``Lambda.<code>``."""

from __future__ import annotations

import importlib
import json
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import boto3
from moto.awslambda.models import LambdaFunction
from moto.awslambda_simple.models import LambdaSimpleBackend
from moto.core.exceptions import JsonRESTError

from offline.cloud import ACCOUNT, REGION
from offline.iam_enforcement import Identity, acting_as


@dataclass
class FakeContext:
    """What handlers read from the Lambda context object."""

    function_name: str
    memory_limit_in_mb: int
    timeout_seconds: int
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    log_group_name: str = ""
    log_stream_name: str = "offline"
    started: float = field(default_factory=time.monotonic)

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.timeout_seconds - (time.monotonic() - self.started)) * 1000))


@dataclass
class Invocation:
    function_name: str
    handler: str
    event: Any
    result: Any = None
    error_type: str | None = None
    error_message: str | None = None
    seconds: float = 0.0
    reply_lost: bool = False  # the handler ran (see error_type / result), its caller got a timeout


Observer = Callable[[Invocation], None]

TIMED_OUT = "Sandbox.Timedout"
# Lambda's status for the errors it answers an invoke with, when it does not run the function.
_REFUSAL_STATUS = {"TooManyRequestsException": 429, "ServiceException": 500, "AWSLambdaException": 500}


class LambdaRefusedError(JsonRESTError):
    """Lambda's own answer to an invoke it did not run (moto renders it as the service does)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(code, message)
        self.code = _REFUSAL_STATUS.get(code, 500)


@dataclass
class _Counted:
    remaining: int
    detail: str | None = None


class LambdaRouter:
    """Patches moto's Lambda so that invoking a function runs its handler here."""

    def __init__(self) -> None:
        self.invocations: list[Invocation] = []
        self.observers: list[Observer] = []
        # A test can make a handler misbehave: function-name substring -> exception factory.
        self.faults: dict[str, Callable[[], Exception]] = {}
        self._lost_replies: dict[str, _Counted] = {}
        self._refusals: dict[str, _Counted] = {}
        self._lock = threading.Lock()
        # Function name -> its role's credentials (with IAM enforcement on): the handler signs with them.
        self.identities: dict[str, Identity] = {}

    # ---- faults ----
    def lose_reply(self, pattern: str, count: int = 1, error_type: str | None = TIMED_OUT) -> None:
        """The next ``count`` calls of functions matching ``pattern`` run, then answer as a function timeout."""
        if count < 1:
            raise ValueError("count must be at least 1")
        with self._lock:
            self._lost_replies[pattern] = _Counted(count, error_type)

    def refuse(self, pattern: str, code: str = "TooManyRequestsException", count: int = 1) -> None:
        """Lambda refuses the next ``count`` invokes of functions matching ``pattern`` with ``code``."""
        if code not in _REFUSAL_STATUS:
            raise ValueError(f"unknown Lambda error {code!r}: one of {sorted(_REFUSAL_STATUS)}")
        if count < 1:
            raise ValueError("count must be at least 1")
        with self._lock:
            self._refusals[pattern] = _Counted(count, code)

    def clear_faults(self) -> None:
        with self._lock:
            self.faults.clear()
            self._lost_replies.clear()
            self._refusals.clear()

    def _take(self, table: dict[str, _Counted], function_name: str) -> _Counted | None:
        """Consume one call of the first fault in ``table`` whose pattern is in the function's name."""
        with self._lock:
            for pattern, counted in list(table.items()):
                if pattern in function_name:
                    counted.remaining -= 1
                    if counted.remaining <= 0:
                        del table[pattern]
                    return counted
        return None

    def check_refusal(self, function: LambdaFunction) -> None:
        """Raise Lambda's refusal of this invoke, if one is injected (before anything runs)."""
        refusal = self._take(self._refusals, function.function_name)
        if refusal is not None:
            code = str(refusal.detail)
            raise LambdaRefusedError(code, f"{code} injected by the offline runtime for {function.function_name}")

    def run(self, function: LambdaFunction, payload: Any) -> tuple[bytes, bool]:
        """Run the function's handler on ``payload`` (JSON text or object); (response body, errored)."""
        event = json.loads(payload) if isinstance(payload, str | bytes) and payload else (payload or {})
        call = Invocation(function.function_name, str(function.handler or ""), event)
        started = time.perf_counter()
        try:
            for pattern, fault in self.faults.items():
                if pattern in function.function_name:
                    raise fault()
            module_name, attribute = call.handler.rsplit(".", 1)
            handler = getattr(importlib.import_module(module_name), attribute)
            context = FakeContext(function.function_name, int(function.memory_size), int(function.timeout))
            with acting_as(self.identities.get(function.function_name)):
                call.result = handler(event, context)
            body = json.dumps(call.result).encode()
            errored = False
        except Exception as exc:
            call.error_type, call.error_message = type(exc).__name__, str(exc)
            body = json.dumps(
                {
                    "errorType": call.error_type,
                    "errorMessage": call.error_message,
                    "stackTrace": traceback.format_exception(exc)[-3:],
                }
            ).encode()
            errored = True
        call.seconds = time.perf_counter() - started
        lost = self._take(self._lost_replies, function.function_name)
        if lost is not None:
            # The handler acted; what reaches the caller is Lambda's answer for a function that timed out.
            message = f"RequestId: {uuid.uuid4()} Error: Task timed out after {float(function.timeout):.2f} seconds"
            timed_out: dict[str, Any] = {"errorMessage": message}
            if lost.detail is not None:
                timed_out["errorType"] = lost.detail
            call.reply_lost = True
            body, errored = json.dumps(timed_out).encode(), True
        with self._lock:
            self.invocations.append(call)
        for observer in self.observers:
            observer(call)
        return body, errored

    def deliver_failure(self, function: LambdaFunction, payload: Any, response: bytes) -> None:
        """Send a failed asynchronous invocation to the function's on-failure SNS destination, in Lambda's
        destination record format. Offline, Lambda's retries of the event are not replayed."""
        for config in function.event_invoke_config:
            destination = config.config.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination", "")
            if not destination.startswith("arn:aws:sns:"):
                continue
            record = {
                "version": "1.0",
                "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
                "requestContext": {
                    "requestId": str(uuid.uuid4()),
                    "functionArn": f"{function.function_arn}:$LATEST",
                    "condition": "RetriesExhausted",
                    "approximateInvokeCount": 1,
                },
                "requestPayload": json.loads(payload) if isinstance(payload, str | bytes) and payload else payload,
                "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
                "responsePayload": json.loads(response),
            }
            # Lambda publishes to the destination with the function's role.
            with acting_as(self.identities.get(function.function_name)):
                boto3.client("sns").publish(TopicArn=destination, Message=json.dumps(record))

    def calls_to(self, handler: str) -> list[Invocation]:
        return [c for c in self.invocations if c.handler == handler]

    @contextmanager
    def installed(self) -> Iterator[LambdaRouter]:
        router = self
        original_api, original_function = LambdaSimpleBackend.invoke, LambdaFunction.invoke

        def api_invoke(  # noqa: PLR0917 - moto's signature
            backend: LambdaSimpleBackend,
            function_name: str,
            qualifier: str | None,
            body: Any,
            headers: Any,
            response_headers: Any,
        ) -> bytes:
            function = backend.get_function(function_name, qualifier)
            router.check_refusal(function)
            result, errored = router.run(function, body)
            if errored:
                response_headers["x-amz-function-error"] = "Unhandled"
            return result

        def function_invoke(function: LambdaFunction, body: Any, request_headers: Any, response_headers: Any) -> bytes:
            # S3 notifications: an asynchronous invocation. A failure goes to the on-failure destination.
            result, errored = router.run(function, body)
            if errored:
                response_headers["x-amz-function-error"] = "Unhandled"
                router.deliver_failure(function, body, result)
            return result

        LambdaSimpleBackend.invoke = api_invoke  # type: ignore[method-assign,assignment]
        LambdaFunction.invoke = function_invoke  # type: ignore[method-assign,assignment]
        try:
            yield self
        finally:
            LambdaSimpleBackend.invoke = original_api  # type: ignore[method-assign]
            LambdaFunction.invoke = original_function  # type: ignore[method-assign]
