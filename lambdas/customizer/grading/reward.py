"""The reward function's request and response, as the Bedrock user guide documents them ("Setting up reward
functions for Amazon Nova models", reward-functions.html, "Lambda function implementation details"):

- in, a batch (a JSON list) of records ``{"id", "messages": [..., {"role": "assistant", "content": <the
  model's answer>}], "metadata": {"reference_answer": ..., <the record's other fields>}}``: the training
  record's extra fields reach the grader in ``metadata`` (the Nova user guide, "Reinforcement fine-tuning (RFT)
  for Amazon Nova models", "Additional properties"); the SageMaker form of the same guide shows
  ``reference_answer`` beside ``messages`` instead, which is read too;
- out, one ``{"id", "aggregate_reward_score", "metrics_list": [{"name", "value", "type"}]}`` per record, with
  ``type`` ``"Reward"`` or ``"Metric"``.

The deployed reward function is shared by all runs: it learns each run's grader from the record itself, from
the field ``GRADER_FIELD`` that ``customizer.grading.data`` embeds in every training record of an RFT run."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from customizer.errors import RewardRequestError
from customizer.grading.scorers import grade
from customizer.grading.spec import GraderSettings

# The extra field of each prepared training record that holds the run's grader (GraderSettings.spec()).
GRADER_FIELD = "bedrock_customize_grader"
REFERENCE_FIELD = "reference_answer"
SCORE_FIELD = "aggregate_reward_score"
METRICS_FIELD = "metrics_list"
METRIC_TYPES = ("Reward", "Metric")


def answer_of(record: Mapping[str, Any]) -> str | None:
    """The model's answer: the last message, when it is the assistant's (text, or OpenAI text parts)."""
    messages = record.get("messages")
    if not isinstance(messages, list) or not messages or not isinstance(messages[-1], Mapping):
        return None
    last = messages[-1]
    if last.get("role") != "assistant":
        return None
    content = last.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(p.get("text", "")) for p in content if isinstance(p, Mapping))
    return None


def _field(record: Mapping[str, Any], name: str) -> Any:
    metadata = record.get("metadata")
    if isinstance(metadata, Mapping) and name in metadata:
        return metadata[name]
    return record.get(name)


def grader_of(record: Mapping[str, Any], where: str) -> GraderSettings:
    spec = _field(record, GRADER_FIELD)
    if spec is None:
        raise RewardRequestError(
            f"{where}: no grader in the record (metadata.{GRADER_FIELD}); this reward function grades the training "
            "data the pipeline prepares for an RFT run (customizer.grading.data.prepare_training_data)"
        )
    try:
        grader = GraderSettings.model_validate(spec)
    except ValidationError as exc:
        raise RewardRequestError(f"{where}: metadata.{GRADER_FIELD} is not a grader: {exc}") from None
    if not grader.builtin:
        raise RewardRequestError(f"{where}: metadata.{GRADER_FIELD} names a Lambda grader; it grades by itself")
    return grader


def reward(records: Any) -> list[dict[str, Any]]:
    """The response to one batch. A record without an answer or a reference scores 0 (the model gave nothing
    to grade, as in the guide's example function); one without an id or a grader is refused."""
    if not isinstance(records, list):
        raise RewardRequestError(f"the request must be a JSON list of records, not {type(records).__name__}")
    results = []
    for index, record in enumerate(records):
        where = f"record {index}"
        if not isinstance(record, Mapping) or not isinstance(record.get("id"), str | int):
            raise RewardRequestError(f"{where}: a record needs an id (text)")
        grader = grader_of(record, where)
        answer, reference = answer_of(record), _field(record, REFERENCE_FIELD)
        if answer is None or reference is None:
            score, parts = 0.0, {}
        else:
            graded = grade(grader, answer, reference)
            score, parts = graded.score, graded.parts
        results.append(
            {
                "id": str(record["id"]),
                SCORE_FIELD: score,
                METRICS_FIELD: [{"name": name, "value": value, "type": "Reward"} for name, value in parts.items()],
            }
        )
    return results


def request_records(
    samples: Sequence[tuple[str, list[Any], str, Any, Mapping[str, Any]]], grader: GraderSettings
) -> list[dict[str, Any]]:
    """A documented request: ``(id, prompt messages, answer, reference, the record's other fields)`` each, the
    answer appended as the assistant's turn, the reference and the other fields (and, for the project's scorers,
    the grader) in ``metadata``, as Bedrock passes a training record's extra fields."""
    own: dict[str, Any] = {GRADER_FIELD: grader.spec()} if grader.builtin else {}
    return [
        {
            "id": record_id,
            "messages": [*messages, {"role": "assistant", "content": answer}],
            "metadata": {**extra, REFERENCE_FIELD: reference, **own},
        }
        for record_id, messages, answer, reference, extra in samples
    ]


def scores_of(payload: Any, ids: Sequence[str]) -> dict[str, float]:
    """The scores of a grader's response, by id. Raises ValueError saying what is wrong with the response:
    not a list, a record out of form, an id missing or not asked for, a score not a number in [0, 1]."""
    if isinstance(payload, Mapping) and "body" in payload:
        raise ValueError("the response is an HTTP-style object ({'body': ...}); a grader returns a JSON list")
    if not isinstance(payload, list):
        raise ValueError(f"the response is not a JSON list of results (got {type(payload).__name__})")
    scores: dict[str, float] = {}
    for index, result in enumerate(payload):
        if not isinstance(result, Mapping) or "id" not in result:
            raise ValueError(f"result {index} has no id")
        record_id = str(result["id"])
        if record_id not in ids:
            raise ValueError(f"result {index} answers id {record_id!r}, which was not asked")
        score = result.get(SCORE_FIELD)
        if isinstance(score, bool) or not isinstance(score, int | float) or not math.isfinite(score):
            raise ValueError(f"result {index} (id {record_id!r}): {SCORE_FIELD} is not a number: {json.dumps(score)}")
        if not 0.0 <= score <= 1.0:
            raise ValueError(f"result {index} (id {record_id!r}): {SCORE_FIELD} {score} is outside [0, 1]")
        metrics_list = result.get(METRICS_FIELD, [])
        if not isinstance(metrics_list, list) or not all(
            isinstance(m, Mapping) and isinstance(m.get("name"), str) and m.get("type") in METRIC_TYPES
            for m in metrics_list
        ):
            raise ValueError(
                f"result {index} (id {record_id!r}): {METRICS_FIELD} must be a list of "
                '{"name", "value", "type": "Reward" or "Metric"}'
            )
        scores[record_id] = float(score)
    missing = [i for i in ids if i not in scores]
    if missing:
        raise ValueError(f"no result for id {missing[0]!r} ({len(missing)} of {len(ids)} ids unanswered)")
    return scores
