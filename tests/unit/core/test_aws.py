"""SDK failures become the typed errors the state machine's Retry and Catch name."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError, ReadTimeoutError

from customizer import aws
from customizer.errors import (
    RETRYABLE_ERRORS,
    AwsRequestRejectedError,
    AwsServiceUnavailableError,
    BedrockThrottledError,
    DataNotFoundError,
    PipelineError,
    ResourceMissingError,
    RunInputError,
    SettingsError,
)


def client_error(code: str, status: int = 400, message: str = "details") -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": status}}, "Op"
    )


@pytest.mark.parametrize(
    ("code", "status", "expected"),
    [
        ("ThrottlingException", 429, BedrockThrottledError),
        ("TooManyRequestsException", 429, BedrockThrottledError),
        ("SlowDown", 503, BedrockThrottledError),
        ("ServiceUnavailableException", 503, AwsServiceUnavailableError),
        ("InternalServerException", 500, AwsServiceUnavailableError),
        ("ModelNotReadyException", 429, AwsServiceUnavailableError),
        ("ModelTimeoutException", 408, AwsServiceUnavailableError),
        ("SomethingNew", 502, AwsServiceUnavailableError),
        ("ResourceNotFoundException", 404, ResourceMissingError),
        ("NoSuchKey", 404, ResourceMissingError),
        ("404", 404, ResourceMissingError),
        ("ValidationException", 400, AwsRequestRejectedError),
        ("AccessDeniedException", 403, AwsRequestRejectedError),
        ("ServiceQuotaExceededException", 400, AwsRequestRejectedError),
        ("ConflictException", 409, AwsRequestRejectedError),
    ],
)
def test_client_errors_are_translated_by_code_and_status(code, status, expected):
    with pytest.raises(expected) as caught, aws.translate_errors("DoThing"):
        raise client_error(code, status, "went wrong")
    assert str(caught.value) == f"DoThing: {code}: went wrong"
    assert isinstance(caught.value.__cause__, ClientError)


@pytest.mark.parametrize(
    "error",
    [
        EndpointConnectionError(endpoint_url="https://bedrock.us-east-1.amazonaws.com"),
        ReadTimeoutError(endpoint_url="https://bedrock.us-east-1.amazonaws.com"),
        NoCredentialsError(),
    ],
)
def test_connection_and_sdk_failures_are_transient(error):
    with pytest.raises(AwsServiceUnavailableError, match=r"^DoThing: "), aws.translate_errors("DoThing"):
        raise error


def test_other_exceptions_pass_through():
    with pytest.raises(KeyError), aws.translate_errors("DoThing"):
        raise KeyError("x")


def test_the_decorator_translates_too():
    @aws.translated("Decorated")
    def fails() -> None:
        raise client_error("ThrottlingException", 429)

    with pytest.raises(BedrockThrottledError, match=r"^Decorated: ThrottlingException"):
        fails()


def test_the_retryable_errors_are_the_transient_ones():
    assert set(RETRYABLE_ERRORS) == {
        "BedrockThrottledError",
        "AwsServiceUnavailableError",
        "StepInProgressError",
        "EvaluationPausedError",  # the evaluation saved its answers before its time ran out: the retry resumes
    }


def test_input_errors_share_a_base_the_workflow_catches():
    assert issubclass(SettingsError, RunInputError)
    assert issubclass(DataNotFoundError, RunInputError)
    assert issubclass(RunInputError, PipelineError)
    assert not issubclass(ResourceMissingError, RunInputError)


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("s3://bucket/key.jsonl", ("bucket", "key.jsonl")),
        ("s3://bucket/runs/a b/train.jsonl", ("bucket", "runs/a b/train.jsonl")),
        ("s3://bucket//double", ("bucket", "double")),
    ],
)
def test_split_s3_uri(uri, expected):
    assert aws.split_s3_uri(uri) == expected


@pytest.mark.parametrize("uri", ["bucket/key", "s3://bucket", "s3://bucket/", "http://bucket/key", ""])
def test_split_s3_uri_names_the_field_of_a_bad_uri(uri):
    with pytest.raises(DataNotFoundError) as caught:
        aws.split_s3_uri(uri, "input.test_data")
    assert str(caught.value) == f"input.test_data: {uri!r} is not an s3://bucket/key URI"


def test_clients_are_cached_per_service(aws_env):
    assert aws.client("s3") is aws.client("s3")
    assert aws.client("s3") is not aws.client("sns")
    retries = aws.client("bedrock").meta.config.retries
    assert retries["mode"] == "standard"


def test_a_client_for_callers_that_retry_themselves_makes_one_attempt(aws_env):
    own = aws.client("bedrock-runtime", own_retries=True)
    assert own is aws.client("bedrock-runtime", own_retries=True)
    assert own is not aws.client("bedrock-runtime")
    assert own.meta.config.retries["total_max_attempts"] == 1
    assert own.meta.config.max_pool_connections >= 256  # as many connections as calls in flight
