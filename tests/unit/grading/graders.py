"""Users' own grader Lambda functions for the tests, run by the offline router (``offline/router.py``) as moto
functions whose handler is ``tests.unit.grading.graders.<name>``. Each speaks (or breaks) the request and
response of the Bedrock user guide's "Setting up reward functions for Amazon Nova models"."""

from __future__ import annotations

from typing import Any


def _answer(record: dict[str, Any]) -> str:
    return str(record["messages"][-1]["content"])


def _reference(record: dict[str, Any]) -> Any:
    return record["metadata"]["reference_answer"]


def _result(record: dict[str, Any], score: Any) -> dict[str, Any]:
    return {
        "id": record["id"],
        "aggregate_reward_score": score,
        "metrics_list": [{"name": "match", "value": score, "type": "Reward"}],
    }


def exact(event: list[dict[str, Any]], context: Any) -> list[dict[str, Any]]:
    """A good grader: 1 when the answer is the reference (trimmed, ignoring case), else 0."""
    return [_result(r, float(_answer(r).strip().lower() == str(_reference(r)).strip().lower())) for r in event]


def crashes(event: list[dict[str, Any]], context: Any) -> list[dict[str, Any]]:
    raise KeyError("reference_answer")


def out_of_range(event: list[dict[str, Any]], context: Any) -> list[dict[str, Any]]:
    return [_result(r, 10.0 if _answer(r) else 0.0) for r in event]


def not_a_number(event: list[dict[str, Any]], context: Any) -> list[dict[str, Any]]:
    return [_result(r, "1.0") for r in event]


def http_style(event: list[dict[str, Any]], context: Any) -> dict[str, Any]:
    return {"statusCode": 200, "body": "[]"}


def loses_an_id(event: list[dict[str, Any]], context: Any) -> list[dict[str, Any]]:
    return [_result(r, 1.0 if _answer(r) else 0.0) for r in event[1:]]


def harsh(event: list[dict[str, Any]], context: Any) -> list[dict[str, Any]]:
    """Never gives the maximum, not even to the reference answer."""
    return [_result(r, 0.5 if _answer(r) else 0.0) for r in event]


def lenient(event: list[dict[str, Any]], context: Any) -> list[dict[str, Any]]:
    """Gives every answer the maximum, an empty one too."""
    return [_result(r, 1) for r in event]
