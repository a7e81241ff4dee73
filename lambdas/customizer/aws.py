"""AWS clients and the translation of SDK failures into the pipeline's typed errors.

Clients use botocore's standard retry mode, which absorbs short bursts of throttling inside a step in
milliseconds to seconds; what is left surfaces as BedrockThrottledError and the state machine retries the
step with backoff. Endpoints and credentials come from the standard SDK settings only."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar
from urllib.parse import urlparse

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, ConnectionError, ReadTimeoutError

from customizer.errors import (
    AwsRequestRejectedError,
    AwsServiceUnavailableError,
    BedrockThrottledError,
    DataNotFoundError,
    ResourceMissingError,
)

# Five attempts in all (four retries, at most ~15 s of backoff): well inside the shortest step timeout (30 s).
_CONFIG = Config(retries={"mode": "standard", "total_max_attempts": 5}, connect_timeout=10, read_timeout=120)

THROTTLING_CODES = frozenset(
    {"ThrottlingException", "TooManyRequestsException", "Throttling", "RequestLimitExceeded", "SlowDown"}
)
TRANSIENT_CODES = frozenset(
    {
        "ServiceUnavailableException",
        "InternalServerException",
        "InternalFailure",
        "ServiceUnavailable",
        "ModelNotReadyException",
        "ModelTimeoutException",
        "RequestTimeout",
    }
)
MISSING_CODES = frozenset({"ResourceNotFoundException", "NoSuchKey", "NoSuchBucket", "404", "NotFound"})


# For callers that retry and pace themselves (the evaluator): one attempt per call, so every throttle is seen,
# and a connection pool for as many calls in flight as the evaluator allows.
_OWN_RETRIES_CONFIG = Config(
    retries={"mode": "standard", "total_max_attempts": 1},
    connect_timeout=10,
    read_timeout=60,
    max_pool_connections=256,
)


@functools.cache
def client(service: str, *, own_retries: bool = False) -> Any:
    """One client per service per process (Lambda reuses it across invocations). ``own_retries``: the SDK
    makes one attempt per call and the caller retries."""
    return boto3.client(service, config=_OWN_RETRIES_CONFIG if own_retries else _CONFIG)


def region() -> str | None:
    """The region the SDK calls (``AWS_REGION`` in Lambda)."""
    name: str | None = boto3.session.Session().region_name
    return name


def error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


@contextmanager
def translate_errors(action: str) -> Iterator[None]:
    """Turn SDK failures inside the block into typed errors whose names the state machine knows."""
    try:
        yield
    except ClientError as exc:
        code = error_code(exc)
        message = f"{action}: {code}: {exc.response.get('Error', {}).get('Message', '')}"
        if code in THROTTLING_CODES:
            raise BedrockThrottledError(message) from exc
        if code in TRANSIENT_CODES or exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) >= 500:
            raise AwsServiceUnavailableError(message) from exc
        if code in MISSING_CODES:
            raise ResourceMissingError(message) from exc
        raise AwsRequestRejectedError(message) from exc
    except (ConnectionError, ReadTimeoutError) as exc:
        raise AwsServiceUnavailableError(f"{action}: {exc}") from exc
    except BotoCoreError as exc:
        raise AwsServiceUnavailableError(f"{action}: {exc}") from exc


def translated(action: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with translate_errors(action):
                return fn(*args, **kwargs)

        return wrapper

    return decorate


def split_s3_uri(uri: str, where: str = "s3 uri") -> tuple[str, str]:
    """``s3://bucket/key`` -> (bucket, key); DataNotFoundError naming ``where`` when it is not one."""
    parsed = urlparse(uri)
    if parsed.scheme != "s3" or not parsed.netloc or not parsed.path.lstrip("/"):
        raise DataNotFoundError(f"{where}: {uri!r} is not an s3://bucket/key URI")
    return parsed.netloc, parsed.path.lstrip("/")


# A create that met a resource of the same name (a concurrent start of the same run made it): botocore declares
# ConflictException for CreateModelCustomizationJob only; CreateProvisionedModelThroughput and
# CreateCustomModelDeployment declare none, and a name in use is a ValidationException ("The provided name ... is
# currently in use."). On any of these the resource is looked up by name: found, it is the run's; not found, the
# error stands (a ValidationException for a request that is wrong).
CONFLICT_CODES = frozenset({"ConflictException", "ResourceInUseException", "ValidationException"})
Created = TypeVar("Created")


def create_or_find(
    create: Callable[[], str], find: Callable[[str], Created | None], *, name: str, action: str, what: str
) -> Created:
    """Create a resource (``create`` returns its ARN) and read it back. When a concurrent start of the same
    run created it between our lookup and our create (a conflict), return that one, found by ``name``."""
    try:
        arn = create()
    except ClientError as exc:
        if error_code(exc) in CONFLICT_CODES:
            existing = find(name)
            if existing is not None:
                return existing
        with translate_errors(action):
            raise
    created = find(arn)
    if created is None:
        raise ResourceMissingError(f"{what} {arn} was created but cannot be read back")
    return created
