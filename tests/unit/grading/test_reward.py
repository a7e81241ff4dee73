"""The reward function's batch: the documented request in, the documented response out, the run's grader read
from each record; and the preparation of an RFT run's training data that puts it there."""

from __future__ import annotations

import json
from typing import Any

import pytest

from customizer.errors import RewardRequestError, RunInputError
from customizer.grading.data import prepare_training_data
from customizer.grading.reward import GRADER_FIELD, reward, scores_of
from customizer.grading.spec import GraderSettings

SPEC = {"weighted": [{"scorer": "exact_match", "weight": 3}, {"scorer": "regex", "pattern": r"\d"}]}


def _record(record_id: Any, answer: Any, reference: Any, **metadata: Any) -> dict[str, Any]:
    return {
        "id": record_id,
        "messages": [{"role": "user", "content": "2 + 2?"}, {"role": "assistant", "content": answer}],
        "metadata": {"reference_answer": reference, GRADER_FIELD: SPEC, **metadata},
    }


def test_a_batch_is_scored_per_id_in_the_documented_shape() -> None:
    results = reward([_record("a", "4", "4", task_id="t1"), _record("b", "four", "4")])
    assert results == [
        {
            "id": "a",
            "aggregate_reward_score": 1.0,
            "metrics_list": [
                {"name": "exact_match", "value": 1.0, "type": "Reward"},
                {"name": "regex", "value": 1.0, "type": "Reward"},
            ],
        },
        {
            "id": "b",
            "aggregate_reward_score": 0.0,
            "metrics_list": [
                {"name": "exact_match", "value": 0.0, "type": "Reward"},
                {"name": "regex", "value": 0.0, "type": "Reward"},
            ],
        },
    ]
    # What the pipeline reads back from a grader: the same response, checked.
    assert scores_of(results, ["a", "b"]) == {"a": 1.0, "b": 0.0}


def test_the_answer_may_come_as_text_parts_and_the_fields_beside_messages() -> None:
    record = {
        "id": 7,
        "messages": [{"role": "assistant", "content": [{"type": "text", "text": "4"}]}],
        "reference_answer": "4",
        GRADER_FIELD: {"scorer": "exact_match"},
    }
    assert reward([record])[0]["aggregate_reward_score"] == 1.0
    assert reward([record])[0]["id"] == "7"


@pytest.mark.parametrize(
    "record",
    [
        _record("x", None, "4"),
        {**_record("x", "4", "4"), "messages": [{"role": "user", "content": "no answer"}]},
        _record("x", "4", None),
    ],
)
def test_no_answer_or_no_reference_scores_zero(record: dict[str, Any]) -> None:
    assert reward([record]) == [{"id": "x", "aggregate_reward_score": 0.0, "metrics_list": []}]


@pytest.mark.parametrize(
    ("batch", "message"),
    [
        ({"id": "a"}, "must be a JSON list"),
        ([{"messages": []}], "record 0: a record needs an id"),
        ([{"id": "a", "messages": [], "metadata": {"reference_answer": "x"}}], "record 0: no grader in the record"),
        ([_record("a", "4", "4") | {"metadata": {GRADER_FIELD: {"scorer": "bleu"}}}], "is not a grader"),
        (
            [
                _record("a", "4", "4")
                | {"metadata": {GRADER_FIELD: {"lambda_arn": "arn:aws:lambda:us-east-1:111122223333:function:g"}}}
            ],
            "names a Lambda grader",
        ),
    ],
)
def test_a_batch_it_cannot_grade_is_refused(batch: Any, message: str) -> None:
    with pytest.raises(RewardRequestError, match=message):
        reward(batch)


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (
            [{"id": "a", "aggregate_reward_score": 1, "metrics_list": [{"name": "m", "value": 1, "type": "Score"}]}],
            "metrics_list must be",
        ),
        ([{"id": "a", "aggregate_reward_score": float("nan")}], "not a number"),
        ([{"id": "a", "aggregate_reward_score": True}], "not a number"),
        ([{"id": "a", "aggregate_reward_score": -0.1}], "outside"),
        ([{"id": "z", "aggregate_reward_score": 1}], "which was not asked"),
        ([{"aggregate_reward_score": 1}], "has no id"),
        (None, "not a JSON list"),
    ],
)
def test_a_response_out_of_form_is_named(payload: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        scores_of(payload, ["a"])


def test_the_training_data_gets_the_grader_in_every_record(s3: Any, data_bucket: str, artifacts_bucket: str) -> None:
    records = [
        {"messages": [{"role": "user", "content": f"q{i}"}], "reference_answer": f"a{i}", "task": i} for i in range(3)
    ]
    body = "\n".join(json.dumps(r) for r in records[:2]) + "\n\n" + json.dumps(records[2]) + "\n"
    s3.put_object(Bucket=data_bucket, Key="train.jsonl", Body=body.encode())
    grader = GraderSettings.model_validate(SPEC)
    uri = prepare_training_data(f"s3://{data_bucket}/train.jsonl", grader, artifacts_bucket, "runs/r/rft/train.jsonl")
    assert uri == f"s3://{artifacts_bucket}/runs/r/rft/train.jsonl"
    written = s3.get_object(Bucket=artifacts_bucket, Key="runs/r/rft/train.jsonl")["Body"].read().decode()
    lines = [json.loads(line) for line in written.splitlines()]
    assert lines == [{**r, GRADER_FIELD: grader.spec()} for r in records]
    # What Bedrock sends the reward function for such a record (the extra fields in metadata) is graded by it.
    request: dict[str, Any] = {"id": "1", "messages": [*lines[0]["messages"], {"role": "assistant", "content": "a 0"}]}
    request["metadata"] = {k: v for k, v in lines[0].items() if k != "messages"}
    assert reward([request])[0]["aggregate_reward_score"] == pytest.approx(
        0.25
    )  # exact match 0 (weight 3), a digit 1 (weight 1)


def test_a_users_lambda_grader_gets_the_data_as_it_is(s3: Any) -> None:
    grader = GraderSettings(lambda_arn="arn:aws:lambda:us-east-1:111122223333:function:g")
    assert prepare_training_data("s3://data/train.jsonl", grader, "artifacts", "k") == "s3://data/train.jsonl"


def test_a_record_that_already_has_the_field_is_refused(s3: Any, data_bucket: str, artifacts_bucket: str) -> None:
    s3.put_object(Bucket=data_bucket, Key="t.jsonl", Body=json.dumps({"messages": [], GRADER_FIELD: 1}).encode())
    with pytest.raises(RunInputError, match=f"line 1: the field {GRADER_FIELD} is the pipeline's own"):
        prepare_training_data(f"s3://{data_bucket}/t.jsonl", GraderSettings(scorer="token_f1"), artifacts_bucket, "k")
