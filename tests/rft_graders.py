"""Reward functions the tests deploy as the user's own grader Lambda (``settings.grader.lambda_arn``): handlers in
Bedrock's documented batch format, run by the offline router when the emulator invokes them."""

from __future__ import annotations

import json
from typing import Any

CALLS: list[int] = []  # batch sizes, per call


def _answer(record: dict[str, Any]) -> str:
    return str(record["messages"][-1]["content"])


def _reference(record: dict[str, Any]) -> str:
    reference = record["metadata"]["reference_answer"]
    return reference if isinstance(reference, str) else json.dumps(reference, separators=(",", ":"))


def exact_match(event: list[dict[str, Any]], context: Any) -> list[dict[str, Any]]:
    """1 for the reference answer, 0.1 for anything else."""
    CALLS.append(len(event))
    out = []
    for record in event:
        score = 1.0 if _answer(record).strip() == _reference(record).strip() else 0.1
        out.append(
            {
                "id": record["id"],
                "aggregate_reward_score": score,
                "metrics_list": [{"name": "exact", "value": score, "type": "Reward"}],
            }
        )
    return out


def crashes(event: list[dict[str, Any]], context: Any) -> list[dict[str, Any]]:
    raise RuntimeError("the grader's database is gone")


def forgets_ids(event: list[dict[str, Any]], context: Any) -> list[dict[str, Any]]:
    return [{"id": r["id"], "aggregate_reward_score": 1.0} for r in event[1:]]
