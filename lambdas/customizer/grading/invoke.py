"""Calling a grader Lambda function (the deployed reward function, or the user's own ``settings.grader.lambda_arn``)
with the documented request (``customizer.grading.reward``), and reading its scores."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from botocore.exceptions import ReadTimeoutError

from customizer import aws
from customizer.errors import GraderRejectedError
from customizer.grading.reward import scores_of

# The pipeline waits this long for one batch (the read timeout of the own_retries client, one attempt):
# this project's rule. The Nova user guide asks reward functions to "execute within seconds (not minutes)";
# Lambda allows a grader up to 15 minutes, but one that needs a minute for a few records would make training crawl.
CALL_SECONDS = 60


def _timed_out(error: dict[str, Any]) -> bool:
    return "Timedout" in str(error.get("errorType", "")) or "timed out" in str(error.get("errorMessage", ""))


def call_grader(arn: str, records: Sequence[dict[str, Any]], *, what: str) -> dict[str, float]:
    """The grader's scores of ``records``, by id. GraderRejectedError, naming ``what`` (the grader), when it
    crashes, times out, or answers out of the documented form or range."""
    with aws.translate_errors(f"invoking {what}"):
        try:
            response = aws.client("lambda", own_retries=True).invoke(
                FunctionName=arn, InvocationType="RequestResponse", Payload=json.dumps(list(records)).encode()
            )
            body = response["Payload"].read()
        except ReadTimeoutError:
            raise GraderRejectedError(f"{what} timed out: no answer within {CALL_SECONDS} s") from None
    try:
        payload = json.loads(body) if body else None
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise GraderRejectedError(f"{what} answered with something that is not JSON: {body[:200]!r}") from None
    if response.get("FunctionError"):
        if isinstance(payload, dict) and _timed_out(payload):
            raise GraderRejectedError(f"{what} timed out: {payload.get('errorMessage', '')}")
        detail = (
            payload if not isinstance(payload, dict) else f"{payload.get('errorType')}: {payload.get('errorMessage')}"
        )
        raise GraderRejectedError(f"{what} crashed ({response['FunctionError']}): {detail}")
    try:
        return scores_of(payload, [str(r["id"]) for r in records])
    except ValueError as exc:
        raise GraderRejectedError(f"{what} answered out of the documented form: {exc}") from None
