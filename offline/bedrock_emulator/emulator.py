"""The emulator: one WSGI application serving ``bedrock`` and ``bedrock-runtime`` (their URI templates do
not overlap), its fault-injection API, and the admin endpoints under ``/_emulator/``."""

from __future__ import annotations

import itertools
import json
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict
from datetime import datetime
from typing import TYPE_CHECKING, Any

from werkzeug.wrappers import Request, Response

from offline.bedrock_emulator.authorization import Authority, Authorizer
from offline.bedrock_emulator.clock import Clock
from offline.bedrock_emulator.config import EmulatorSettings
from offline.bedrock_emulator.control import ControlPlane
from offline.bedrock_emulator.errors import ServiceError, invalid
from offline.bedrock_emulator.evaluation import DEFAULT_FAILURE as DEFAULT_EVALUATION_FAILURE
from offline.bedrock_emulator.evaluation import EvaluationJobs
from offline.bedrock_emulator.faults import THROTTLING, THROTTLING_MESSAGE, check_operation
from offline.bedrock_emulator.holds import Holds
from offline.bedrock_emulator.permissions import Permissions
from offline.bedrock_emulator.protocol import (
    Operation,
    dumps,
    error_response,
    json_response,
    match,
    parse_input,
    raw_path,
    validate,
)
from offline.bedrock_emulator.reinforcement import RewardFunctions
from offline.bedrock_emulator.resources import CREATING, FAILED, IN_SERVICE
from offline.bedrock_emulator.runtime import Runtime
from offline.bedrock_emulator.store import Store
from offline.bedrock_emulator.training import ObjectStore, S3Objects

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

ADMIN_PREFIX = "/_emulator/"
DEFAULT_JOB_FAILURE = "An internal error occurred while training the model (injected by the Bedrock emulator)."
DEFAULT_THROUGHPUT_FAILURE = "Insufficient capacity for the provisioned model (injected by the Bedrock emulator)."
_log = logging.getLogger(__name__)


class BedrockEmulator:
    """Serve it with ``EmulatorServer`` (or any WSGI server), point boto3 at it with
    ``AWS_ENDPOINT_URL_BEDROCK`` / ``AWS_ENDPOINT_URL_BEDROCK_RUNTIME``, and steer it with the methods below
    (or the same under ``/_emulator/``). ``clock=Clock.frozen()`` makes time move only by ``advance``."""

    def __init__(
        self,
        settings: EmulatorSettings | None = None,
        *,
        clock: Clock | None = None,
        objects: ObjectStore | None = None,
        graders: RewardFunctions | None = None,
    ) -> None:
        self.settings = settings or EmulatorSettings.from_env()
        self.clock = clock or Clock()
        store_objects = objects or S3Objects(self.settings.region, self.settings.s3_endpoint_url)
        self.store = Store(self.settings, self.clock, store_objects, graders)
        self.evaluations = EvaluationJobs(self.store)
        self._handlers: dict[str, Callable[[Mapping[str, Any]], Any]] = {
            **ControlPlane(self.store).operations(),
            **Runtime(self.store).operations(),
            **self.evaluations.operations(),
        }
        self.holds = Holds()
        self._permissions: Permissions | None = None
        self._request_ids = itertools.count(1)
        self._admin_routes = self._build_admin_routes()

    @property
    def operations(self) -> tuple[str, ...]:
        """The operations implemented (botocore's names)."""
        return tuple(self._handlers)

    # ---- WSGI ----

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        response = self.handle(Request(environ))
        return response(environ, start_response)

    def handle(self, request: Request) -> Response:
        path = raw_path(request.environ)
        if path.startswith(ADMIN_PREFIX):
            return self._admin(request, path[len(ADMIN_PREFIX) :])
        request_id = f"emulated-{next(self._request_ids):08d}"
        found = match(request.method, path)
        if found is None:
            error = ServiceError("UnknownOperationException", f"No Bedrock operation is {request.method} {path}.")
            return error_response(error, request_id, status=404)
        op, labels = found
        if op.name not in self._handlers:
            error = ServiceError("NotImplementedException", f"The Bedrock emulator does not implement {op.name}.")
            return error_response(error, request_id, status=501)
        return self._operation(op, labels, request, request_id)

    def _operation(self, op: Operation, labels: Mapping[str, str], request: Request, request_id: str) -> Response:
        handler = self._handlers[op.name]
        try:
            self._before(op)
            params = parse_input(op, request, labels)
            validate(op, params)
            self._authorize(op, params, request)
            result = handler(params)
        except ServiceError as error:
            return error_response(error, request_id)
        except Exception as exc:
            _log.exception("the emulator failed on %s", op.name)
            return error_response(ServiceError("InternalServerException", f"The emulator failed: {exc!r}"), request_id)
        if isinstance(result, Response):
            result.headers["x-amzn-RequestId"] = request_id
            return result
        return json_response(result, op.success_status, request_id)

    def authorize_with(self, authority: Authority | None) -> None:
        """Authorize every call from now on with ``authority`` (None: authorize nothing, the default)."""
        with self.store.lock:
            self.store.authorizer = Authorizer(authority) if authority is not None else None
            self._permissions = Permissions(self.store, self.store.authorizer) if self.store.authorizer else None

    def _authorize(self, op: Operation, params: Mapping[str, Any], request: Request) -> None:
        """The signer may make this call (authorization.Authorizer), or the service's AccessDeniedException."""
        authorizer, permissions = self.store.authorizer, self._permissions
        if authorizer is None or permissions is None:
            return
        principal = authorizer.signer(dict(request.headers))
        with self.store.lock:
            self.store.advance()
            checks = permissions.checks(op.name, params)
        authorizer.require(principal, checks)

    def _before(self, op: Operation) -> None:
        """Count the call, wait at its hold if a test holds it, then apply the faults injected for it."""
        with self.store.lock:
            self.store.calls[op.name] = self.store.calls.get(op.name, 0) + 1
        self.holds.pass_through(op.name)  # outside the store's lock: other calls go on meanwhile
        with self.store.lock:
            delay = self.store.faults.latency_for(op.name)
            error = self.store.faults.error_for(op.name)
        if delay:
            time.sleep(delay / 1000)
        if error is not None:
            raise error

    # ---- fault injection ----

    def set_latency(self, ms: float, operation: str | None = None) -> None:
        """Delay every call of ``operation`` (all operations when None) by ``ms`` milliseconds."""
        with self.store.lock:
            self.store.faults.set_latency(ms, operation)

    def throttle(self, count: int = 1, operation: str | None = None, message: str = THROTTLING_MESSAGE) -> None:
        """Answer the next ``count`` calls of ``operation`` (of any operation when None) with ThrottlingException."""
        self.inject_error(THROTTLING, message, count, operation)

    def set_throttle_rate(self, rate: float, operation: str | None = None, seed: int | None = None) -> None:
        """Throttle each call with probability ``rate`` (0 to 1), drawn from a seeded generator."""
        with self.store.lock:
            self.store.faults.set_throttle_rate(rate, operation, seed)

    def inject_error(
        self,
        code: str,
        message: str = "Injected by the Bedrock emulator.",
        count: int = 1,
        operation: str | None = None,
    ) -> None:
        """Answer the next ``count`` calls with the service error ``code`` (ServiceQuotaExceededException,
        InternalServerException, ModelNotReadyException...), with the status botocore's model gives it."""
        with self.store.lock:
            self.store.faults.add_error(code, message, count, operation)

    def fail_job(self, message: str = DEFAULT_JOB_FAILURE, job: str | None = None) -> None:
        """Fail ``job`` (name or ARN) now; with no job, the next job created fails when it would complete."""
        with self.store.lock:
            now = self.store.advance()
            if job is None:
                self.store.faults.next_job_failure = message
            else:
                self.store.fail(self.store.job(job), now, message)

    def stop_job(self, job: str | None = None) -> None:
        """Stop ``job`` now as if someone else stopped it; with no job, the next job stops itself halfway."""
        with self.store.lock:
            now = self.store.advance()
            if job is None:
                self.store.faults.next_job_stops = True
            else:
                self.store.stop(self.store.job(job), now)

    def fail_throughput(self, message: str = DEFAULT_THROUGHPUT_FAILURE, throughput: str | None = None) -> None:
        """Fail ``throughput`` (name or ARN) now; with none, the next one created ends Failed instead of InService."""
        with self.store.lock:
            now = self.store.advance()
            if throughput is None:
                self.store.faults.next_throughput_failure = message
                return
            target = self.store.throughput(throughput)
            if target.status not in (CREATING, IN_SERVICE):
                raise invalid(f"The provisioned model {target.name} is already {target.status}.")
            target.status, target.failure_message, target.last_modified = FAILED, message, now

    def fail_evaluation_job(self, message: str = DEFAULT_EVALUATION_FAILURE, job: str | None = None) -> None:
        """Fail the evaluation ``job`` (ARN or name) now; with none, the next one created fails when it would
        complete (``failureMessages`` holds ``message``)."""
        self.evaluations.fail(message, job)

    def set_durations(
        self,
        job_seconds: float | None = None,
        throughput_seconds: float | None = None,
        deployment_seconds: float | None = None,
        stop_seconds: float | None = None,
        evaluation_seconds: float | None = None,
    ) -> dict[str, float]:
        """Change how long resources created from now on stay in transitional states; return the durations."""
        with self.store.lock:
            self.store.durations = self.store.durations.updated(
                job_seconds=job_seconds,
                throughput_seconds=throughput_seconds,
                deployment_seconds=deployment_seconds,
                stop_seconds=stop_seconds,
                evaluation_seconds=evaluation_seconds,
            )
            return asdict(self.store.durations)

    def hold(self, operation: str | None = None) -> None:
        """Hold every call of ``operation`` (all operations when None) until ``release``: counted, not answered."""
        self.holds.hold(check_operation(operation) or "*")

    def release(self, operation: str | None = None) -> None:
        """Let the held calls of ``operation`` (None: the hold on every operation) go on, and hold no more."""
        self.holds.release(check_operation(operation) or "*")

    def wait_held(self, operation: str, count: int = 1, timeout: float = 60.0) -> dict[str, int]:
        """Block until ``count`` calls of ``operation`` wait at its hold (a condition, not a delay)."""
        return {"waiting": self.holds.wait_for(check_operation(operation) or "*", count, timeout)}

    def set_foundation_model(
        self,
        model_id: str,
        *,
        status: str | None = None,
        legacy_time: str | None = None,
        public_extended_access_time: str | None = None,
        end_of_life_time: str | None = None,
        customizations: list[str] | None = None,
    ) -> None:
        """Make GetFoundationModel / ListFoundationModels say this of ``model_id`` in the emulator's region until
        ``reset``: its lifecycle (``status`` ACTIVE or LEGACY, ISO 8601 times) and the customization types
        offered here (``customizations``, e.g. ``["FINE_TUNING"]`` for a model the families place elsewhere)."""

        def when(value: str | None) -> datetime | None:
            return datetime.fromisoformat(value) if value else None

        with self.store.lock:
            self.store.catalog.set_model(
                model_id,
                status=status,
                legacy_time=when(legacy_time),
                public_extended_access_time=when(public_extended_access_time),
                end_of_life_time=when(end_of_life_time),
                customizations=customizations,
            )

    def advance(self, seconds: float) -> None:
        """Move the emulator's clock forward (frozen or not)."""
        self.clock.advance(seconds)

    def reset(self, state: bool = True) -> None:
        """Clear every fault and restore the settings' durations; with ``state``, also forget every resource."""
        with self.store.lock:
            self.store.faults = type(self.store.faults)(seed=self.settings.seed)
            self.store.durations = self.settings.durations
            if state:
                self.store.reset()
                self.evaluations.reset()
            else:
                self.evaluations.next_failure = None
            self.store.catalog.reset()
        self.holds.release_all()

    # ---- inspection ----

    def faults(self) -> dict[str, Any]:
        with self.store.lock:
            return {**self.store.faults.describe(), "holds": self.holds.describe()}

    def state(self) -> dict[str, Any]:
        """Everything the emulator holds, as JSON-ready data (timestamps as ISO 8601 strings)."""
        with self.store.lock:
            now = self.evaluations.advance()
            resources, tags = self.store.resources, self.store.resources.tags

            def tagged(arn: str, described: dict[str, Any]) -> dict[str, Any]:
                return {**described, "tags": dict(tags.get(arn, {}))}

            snapshot = {
                "now": now,
                "durations": asdict(self.store.durations),
                "jobs": [tagged(a, j.describe(now)) for a, j in resources.jobs.items()],
                "models": [tagged(a, m.describe()) for a, m in resources.models.items()],
                "throughputs": [tagged(a, t.describe()) for a, t in resources.throughputs.items()],
                "deployments": [tagged(a, d.describe()) for a, d in resources.deployments.items()],
                "evaluation_jobs": self.evaluations.describe_all(),
                "faults": {**self.store.faults.describe(), "holds": self.holds.describe()},
                "calls": dict(self.store.calls),
                "invocations": dict(self.store.invocations),
                # IAM questions asked (authorization.Authorizer): calls, and the service roles' acts.
                "authorization": (
                    {"allowed": self.store.authorizer.allowed, "denied": self.store.authorizer.denied}
                    if self.store.authorizer is not None
                    else None
                ),
            }
            result: dict[str, Any] = json.loads(dumps(snapshot))
            return result

    # ---- admin endpoints ----

    def _build_admin_routes(self) -> dict[tuple[str, str], Callable[..., Any]]:
        return {
            ("GET", "state"): self.state,
            ("GET", "faults"): self.faults,
            ("POST", "latency"): self.set_latency,
            ("POST", "throttle"): self.throttle,
            ("POST", "throttle-rate"): self.set_throttle_rate,
            ("POST", "error"): self.inject_error,
            ("POST", "fail-job"): self.fail_job,
            ("POST", "stop-job"): self.stop_job,
            ("POST", "fail-throughput"): self.fail_throughput,
            ("POST", "fail-evaluation-job"): self.fail_evaluation_job,
            ("POST", "foundation-model"): self.set_foundation_model,
            ("POST", "hold"): self.hold,
            ("POST", "release"): self.release,
            ("POST", "wait-held"): self.wait_held,
            ("POST", "durations"): self.set_durations,
            ("POST", "advance"): self.advance,
            ("POST", "reset"): self.reset,
        }

    def _admin(self, request: Request, route: str) -> Response:
        action = self._admin_routes.get((request.method, route.strip("/")))
        if action is None:
            known = ", ".join(f"{m} {ADMIN_PREFIX}{r}" for m, r in self._admin_routes)
            return json_response({"message": f"unknown admin endpoint; known: {known}"}, status=404)
        try:
            body = json.loads(request.get_data() or b"{}") if request.method == "POST" else {}
            if not isinstance(body, dict):
                raise TypeError("the body must be a JSON object of the method's arguments")
            result = action(**body)
        except ServiceError as error:
            return error_response(error)
        except (TypeError, ValueError) as exc:
            return json_response({"message": str(exc)}, status=400)
        except TimeoutError as exc:  # wait-held: the calls did not come
            return json_response({"message": str(exc)}, status=408)
        return json_response(result if isinstance(result, dict) else {"ok": True})
