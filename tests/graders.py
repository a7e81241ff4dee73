"""Users' own grader Lambda functions for the tests (``settings.grader.lambda_arn``), run by the offline router
(``offline/router.py``) as moto functions whose handler is ``tests.graders.<name>``: the unit tests of the grading
package and of the emulator's RFT, and the end-to-end suite. Each speaks (or breaks) the request and response of the
Bedrock user guide's "Setting up reward functions for Amazon Nova models": a batch of ``{id, messages, metadata}``
in, ``{id, aggregate_reward_score, metrics_list}`` out."""

from __future__ import annotations

import json
from typing import Any

CALLS: list[int] = []  # exact_match's batch sizes, per call (the emulator's RFT calls it once per step)


def _answer(record: dict[str, Any]) -> str:
    return str(record["messages"][-1]["content"])


def _reference(record: dict[str, Any]) -> Any:
    return record["metadata"]["reference_answer"]


def _result(record: dict[str, Any], score: Any, name: str = "match") -> dict[str, Any]:
    return {
        "id": record["id"],
        "aggregate_reward_score": score,
        "metrics_list": [{"name": name, "value": score, "type": "Reward"}],
    }


def exact(event: list[dict[str, Any]], context: Any) -> list[dict[str, Any]]:
    """A good grader: 1 when the answer is the reference (trimmed, ignoring case), else 0."""
    return [_result(r, float(_answer(r).strip().lower() == str(_reference(r)).strip().lower())) for r in event]


def exact_match(event: list[dict[str, Any]], context: Any) -> list[dict[str, Any]]:
    """1 for the reference answer (a structured one compared as compact JSON), 0.1 for anything else; counted."""
    CALLS.append(len(event))

    def reference(record: dict[str, Any]) -> str:
        found = _reference(record)
        return found if isinstance(found, str) else json.dumps(found, separators=(",", ":"))

    return [_result(r, 1.0 if _answer(r).strip() == reference(r).strip() else 0.1, "exact") for r in event]


def crashes(event: list[dict[str, Any]], context: Any) -> list[dict[str, Any]]:
    raise KeyError("reference_answer")


def loses_its_database(event: list[dict[str, Any]], context: Any) -> list[dict[str, Any]]:
    """Crashes on every batch, as a grader whose backing store is gone would mid-job."""
    raise RuntimeError("the grader's database is gone")


def out_of_range(event: list[dict[str, Any]], context: Any) -> list[dict[str, Any]]:
    return [_result(r, 10.0 if _answer(r) else 0.0) for r in event]


def not_a_number(event: list[dict[str, Any]], context: Any) -> list[dict[str, Any]]:
    return [_result(r, "1.0") for r in event]


def http_style(event: list[dict[str, Any]], context: Any) -> dict[str, Any]:
    return {"statusCode": 200, "body": "[]"}


def loses_an_id(event: list[dict[str, Any]], context: Any) -> list[dict[str, Any]]:
    return [_result(r, 1.0 if _answer(r) else 0.0) for r in event[1:]]


def forgets_ids(event: list[dict[str, Any]], context: Any) -> list[dict[str, Any]]:
    """Loses the batch's first record and gives the others a bare score (no metrics_list)."""
    return [{"id": r["id"], "aggregate_reward_score": 1.0} for r in event[1:]]


def harsh(event: list[dict[str, Any]], context: Any) -> list[dict[str, Any]]:
    """Never gives the maximum, not even to the reference answer."""
    return [_result(r, 0.5 if _answer(r) else 0.0) for r in event]


def lenient(event: list[dict[str, Any]], context: Any) -> list[dict[str, Any]]:
    """Gives every answer the maximum, an empty one too."""
    return [_result(r, 1) for r in event]
