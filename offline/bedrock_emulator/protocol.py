"""The restJson1 wire protocol of ``bedrock`` and ``bedrock-runtime``, read from botocore's own service
models so the emulator and the SDK cannot disagree: each operation's HTTP method, URI template, success
status, where every input member travels (URI label, query string, header, JSON body, raw payload), the
input constraints the service enforces (required, length, range, enum, pattern) and each error's status.

ARNs travel URL-encoded inside path labels (botocore encodes ``/`` and ``:``), so labels are matched on the
raw request URI and decoded one segment at a time, never on the server's already-decoded path."""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

import botocore.session
from werkzeug.wrappers import Request, Response

from offline.bedrock_emulator.errors import ServiceError, invalid

SERVICES = ("bedrock", "bedrock-runtime")
JSON = "application/json"


@dataclass(frozen=True)
class Operation:
    service: str
    name: str
    method: str
    segments: tuple[str, ...]  # the URI template split on "/"; "{label}" entries are labels
    success_status: int
    model: Any  # botocore.model.OperationModel

    @property
    def literal_segments(self) -> int:
        return sum(1 for s in self.segments if not s.startswith("{"))


@functools.cache
def service_model(service: str) -> Any:
    return botocore.session.get_session().get_service_model(service)


@functools.cache
def operations() -> tuple[Operation, ...]:
    """Every operation of both services, the most literal URI templates first."""
    found = []
    for service in SERVICES:
        model = service_model(service)
        for name in model.operation_names:
            op = model.operation_model(name)
            path = op.http["requestUri"].split("?", 1)[0]
            found.append(
                Operation(
                    service=service,
                    name=name,
                    method=op.http["method"],
                    segments=tuple(path.split("/")),
                    success_status=int(op.http.get("responseCode", 200)),
                    model=op,
                )
            )
    return tuple(sorted(found, key=lambda o: -o.literal_segments))


def match(method: str, raw_path: str) -> tuple[Operation, dict[str, str]] | None:
    """The operation a request is for, and its URI labels decoded."""
    parts = raw_path.split("/")
    for op in operations():
        if op.method != method or len(op.segments) != len(parts):
            continue
        labels = _match_segments(op.segments, parts)
        if labels is not None:
            return op, labels
    return None


def _match_segments(template: tuple[str, ...], parts: list[str]) -> dict[str, str] | None:
    labels: dict[str, str] = {}
    for expected, actual in zip(template, parts, strict=True):
        if expected.startswith("{") and expected.endswith("}"):
            if not actual:
                return None
            labels[expected[1:-1]] = unquote(actual)
        elif expected != actual:
            return None
    return labels


def raw_path(environ: Mapping[str, Any]) -> str:
    """The request path as sent, still percent-encoded (Werkzeug's server keeps it in RAW_URI)."""
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if not raw:
        from urllib.parse import quote

        return quote(str(environ.get("PATH_INFO", "/")))
    path = str(raw).split("?", 1)[0]
    if "://" in path:  # an absolute-form request target
        path = "/" + path.split("://", 1)[1].split("/", 1)[-1]
    return path


# ---- input ----


def parse_input(op: Operation, request: Request, labels: Mapping[str, str]) -> dict[str, Any]:
    """The operation's input parameters, by member name, from wherever the protocol put them."""
    shape = op.model.input_shape
    if shape is None:
        return {}
    payload = shape.serialization.get("payload")
    params: dict[str, Any] = {}
    body: dict[str, Any] | None = None
    for name, member in shape.members.items():
        location = member.serialization.get("location")
        wire = member.serialization.get("name", name)
        if location == "uri":
            params[name] = labels[wire]
        elif location == "querystring":
            if wire in request.args:
                params[name] = _from_query(member, request.args.getlist(wire), name)
        elif location == "header":
            if wire in request.headers:
                params[name] = request.headers[wire]
        elif name == payload:
            params[name] = request.get_data()
        else:
            body = _json_body(request) if body is None else body
            if name in body:
                params[name] = body[name]
    return params


def _json_body(request: Request) -> dict[str, Any]:
    data = request.get_data()
    if not data.strip():
        return {}
    try:
        body = json.loads(data)
    except ValueError as exc:
        raise ServiceError("SerializationException", f"the request body is not valid JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise ServiceError("SerializationException", "the request body must be a JSON object")
    return body


def _from_query(member: Any, values: list[str], name: str) -> Any:
    kind = member.type_name
    try:
        if kind == "list":
            return values
        value = values[0]
        if kind in ("integer", "long"):
            return int(value)
        if kind == "boolean":
            return value.lower() == "true"
        if kind == "timestamp":
            return parse_timestamp(value)
    except ValueError as exc:
        raise invalid(f"1 validation error detected: Value '{values[0]}' at '{name}' is not a valid {kind}") from exc
    return value


def parse_timestamp(value: str) -> datetime:
    try:
        return datetime.fromtimestamp(float(value), UTC)
    except ValueError:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


# ---- constraints the service checks (botocore checks only types, required members and minimums) ----


def validate(op: Operation, params: Mapping[str, Any]) -> None:
    """Raise ValidationException in the service's words for every broken constraint."""
    shape = op.model.input_shape
    if shape is None:
        return
    problems = list(_check_structure(shape, params, ""))
    if problems:
        count = len(problems)
        noun = "error" if count == 1 else "errors"
        raise invalid(f"{count} validation {noun} detected: " + "; ".join(problems))


def _check_structure(shape: Any, value: Mapping[str, Any], prefix: str) -> Iterable[str]:
    for name in shape.required_members:
        if value.get(name) is None:
            yield f"Value null at '{prefix}{name}' failed to satisfy constraint: Member must not be null"
    for name, member in shape.members.items():
        if value.get(name) is not None:
            yield from _check(member, value[name], f"{prefix}{name}")


def _check(shape: Any, value: Any, path: str) -> Iterable[str]:
    kind = shape.type_name
    if kind == "structure":
        yield from _check_object(shape, value, path)
    elif kind == "list":
        yield from _check_list(shape, value, path)
    elif kind == "string":
        yield from _check_string(shape, value, path)
    elif kind in ("integer", "long", "float", "double"):
        yield from _check_number(shape, value, path, whole=kind in ("integer", "long"))
    elif kind == "map" and not isinstance(value, dict):
        yield f"Value at '{path}' failed to satisfy constraint: Member must be a map"
    elif kind == "map":
        for key, item in value.items():
            yield from _check(shape.value, item, f"{path}.{key}")
    elif kind == "boolean" and not isinstance(value, bool):
        yield f"Value '{value}' at '{path}' failed to satisfy constraint: Member must be a boolean"


def _check_object(shape: Any, value: Any, path: str) -> Iterable[str]:
    if not isinstance(value, dict):
        yield f"Value at '{path}' failed to satisfy constraint: Member must be an object"
        return
    yield from _check_structure(shape, value, path + ".")


def _check_list(shape: Any, value: Any, path: str) -> Iterable[str]:
    if not isinstance(value, list):
        yield f"Value at '{path}' failed to satisfy constraint: Member must be a list"
        return
    yield from _check_length(shape, len(value), value, path)
    for i, item in enumerate(value, 1):
        yield from _check(shape.member, item, f"{path}.{i}.member")


# Values the service accepts that botocore's enum lacks (botocore does not check enums; the service does):
# the user guide's model-as-a-judge examples (model-evaluation-jobs-management-create-judge) give taskType
# "General", and judge jobs write their output under taskTypes/General.
EXTRA_ENUM_VALUES: dict[str, tuple[str, ...]] = {"EvaluationTaskType": ("General",)}


def _check_string(shape: Any, value: Any, path: str) -> Iterable[str]:
    if not isinstance(value, str):
        yield f"Value '{value}' at '{path}' failed to satisfy constraint: Member must be a string"
        return
    yield from _check_length(shape, len(value), value, path)
    if shape.enum and value not in (*shape.enum, *EXTRA_ENUM_VALUES.get(shape.name, ())):
        yield (
            f"Value '{value}' at '{path}' failed to satisfy constraint: "
            f"Member must satisfy enum value set: [{', '.join(shape.enum)}]"
        )
    pattern = shape.metadata.get("pattern")
    compiled = _compiled(pattern) if pattern else None
    if compiled is not None and not compiled.fullmatch(value):
        yield (
            f"Value '{value}' at '{path}' failed to satisfy constraint: "
            f"Member must satisfy regular expression pattern: {pattern}"
        )


def _check_length(shape: Any, length: int, value: Any, path: str) -> Iterable[str]:
    shown = value if isinstance(value, str) else "[...]"
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    if low is not None and length < low:
        yield f"Value '{shown}' at '{path}' failed to satisfy constraint: Member must have length greater than or equal to {low}"
    if high is not None and length > high:
        yield f"Value '{shown}' at '{path}' failed to satisfy constraint: Member must have length less than or equal to {high}"


def _check_number(shape: Any, value: Any, path: str, *, whole: bool) -> Iterable[str]:
    kinds: tuple[type, ...] = (int,) if whole else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds):
        yield f"Value '{value}' at '{path}' failed to satisfy constraint: Member must be a number"
        return
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    if low is not None and value < low:
        yield f"Value '{value}' at '{path}' failed to satisfy constraint: Member must have value greater than or equal to {low}"
    if high is not None and value > high:
        yield f"Value '{value}' at '{path}' failed to satisfy constraint: Member must have value less than or equal to {high}"


# ``(-*[C])*`` matches the strings ``[C]*`` matches when "-" is in C, but backtracks exponentially on a near
# miss (JobName on "a" + 40 dashes + "!"): it is checked in the linear form.
_NESTED_DASH_STAR = re.compile(r"\(-\*(\[[^\]]*\\-[^\]]*\])\)\*")


def linear_pattern(pattern: str) -> str:
    return _NESTED_DASH_STAR.sub(lambda m: m.group(1) + "*", pattern)


@functools.cache
def _compiled(pattern: str) -> re.Pattern[str] | None:
    try:
        return re.compile(linear_pattern(pattern))
    except re.error:  # a few patterns use Java-only syntax (\p{L}); the service still checks them, we don't
        return None


# ---- output ----


@functools.cache
def _error_statuses() -> dict[str, int]:
    statuses: dict[str, int] = {}
    for service in SERVICES:
        model = service_model(service)
        for name in model.operation_names:
            for error in model.operation_model(name).error_shapes:
                statuses[error.name] = int(error.metadata.get("error", {}).get("httpStatusCode", 400))
    return statuses


def error_status(code: str) -> int:
    """The HTTP status the service models give ``code``; 400 for codes they do not list."""
    return _error_statuses().get(code, 400)


def _json_default(value: object) -> str:
    if isinstance(value, datetime):
        return iso(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def dumps(payload: object) -> str:
    return json.dumps(payload, default=_json_default)


def json_response(payload: Mapping[str, Any], status: int = 200, request_id: str = "") -> Response:
    response = Response(dumps(payload), status=status, mimetype=JSON)
    if request_id:
        response.headers["x-amzn-RequestId"] = request_id
    return response


def error_response(error: ServiceError, request_id: str = "", status: int | None = None) -> Response:
    """An error botocore's rest-json parser reads: the code in ``x-amzn-ErrorType``, ``message`` in the body."""
    status = status if status is not None else error_status(error.code)
    response = json_response({"message": error.message}, status=status, request_id=request_id)
    response.headers["x-amzn-ErrorType"] = error.code
    return response
