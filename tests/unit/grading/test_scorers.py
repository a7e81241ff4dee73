"""The project's scorers: each in [0, 1], the text ones the evaluation's own metrics."""

from __future__ import annotations

from typing import Any

import pytest

from customizer.evaluation import metrics
from customizer.families.formats import reference_text
from customizer.grading.scorers import Grade, grade, last_number, text_of
from customizer.grading.spec import GraderSettings


def _score(spec: dict[str, Any], answer: str, reference: Any) -> float:
    return grade(GraderSettings.model_validate(spec), answer, reference).score


@pytest.mark.parametrize(
    ("expected", "answer"),
    [
        ("The Eiffel Tower", "the eiffel tower."),
        ("Paris", "It is Paris, France"),
        ("a b c d", "b c x d"),
        ("café au lait", "Café"),
        ("", ""),
        ("yes", "no"),
    ],
)
@pytest.mark.parametrize("scorer", ["exact_match", "contains_match", "token_f1", "rouge_l"])
def test_text_scorers_are_the_evaluations_metrics(scorer: str, expected: str, answer: str) -> None:
    assert _score({"scorer": scorer}, answer, expected) == metrics.score_answer(expected, answer)[scorer]


def test_a_text_scorer_reads_a_json_reference_at_its_path() -> None:
    reference = {"solution": "x = 4", "steps": ["2x = 8"]}
    assert _score({"scorer": "exact_match", "reference_path": "solution"}, "x = 4", reference) == 1.0
    assert _score({"scorer": "exact_match", "reference_path": "steps.0"}, "2x = 8", reference) == 1.0
    # Text holding JSON is read the same way; a path it lacks scores 0.
    assert _score({"scorer": "exact_match", "reference_path": "solution"}, "x = 4", '{"solution": "x = 4"}') == 1.0
    assert _score({"scorer": "token_f1", "reference_path": "missing"}, "x = 4", reference) == 0.0
    # Without a path, a JSON reference is compared as its compact JSON text: the evaluation's expected text.
    assert text_of({"a": 1, "b": "é"}) == reference_text({"a": 1, "b": "é"}) == '{"a":1,"b":"é"}'
    assert _score({"scorer": "exact_match"}, '{"a":1}', {"a": 1}) == 1.0


@pytest.mark.parametrize(
    ("answer", "reference", "spec", "score"),
    [
        ("The answer is 42.", "42", {}, 1.0),
        ("I think 41, no: 42", "42", {}, 1.0),  # the last number counts
        ("41", "42", {}, 0.0),
        ("41.95", "42", {"tolerance": 0.05}, 1.0),
        ("41.9", "42", {"tolerance": 0.05}, 0.0),
        ("1,234,567", "1234567", {}, 1.0),
        ("-3", "x = -3", {}, 1.0),
        ("2e-3", "0.002", {}, 1.0),
        ("105", "100", {"tolerance": 0.05, "relative": True}, 1.0),
        ("106", "100", {"tolerance": 0.05, "relative": True}, 0.0),
        ("no number here", "42", {"tolerance": 100}, 0.0),
        ("42", "forty-two", {"tolerance": 100}, 0.0),
        ("0.5", {"value": 0.5}, {"reference_path": "value"}, 1.0),
    ],
)
def test_numeric(answer: str, reference: Any, spec: dict[str, Any], score: float) -> None:
    assert _score({"scorer": "numeric", **spec}, answer, reference) == score


def test_last_number_ignores_infinity() -> None:
    assert last_number("1e999") is None and last_number("x") is None and last_number("3.") == 3.0


@pytest.mark.parametrize(
    ("spec", "answer", "score"),
    [
        ({"pattern": r"\AAnswer: [A-D]\Z"}, "Answer: B", 1.0),
        ({"pattern": r"\AAnswer: [A-D]\Z"}, "Answer: B because", 0.0),
        ({"pattern": r"answer"}, "The ANSWER is", 0.0),
        ({"pattern": r"answer", "ignore_case": True}, "The ANSWER is", 1.0),
    ],
)
def test_regex(spec: dict[str, Any], answer: str, score: float) -> None:
    assert _score({"scorer": "regex", **spec}, answer, "ignored") == score


@pytest.mark.parametrize(
    ("answer", "reference", "path", "score"),
    [
        ('{"label": "refund"}', {"label": "refund", "why": "x"}, "label", 1.0),
        ('```json\n{"label": "refund"}\n```', '{"label": "refund"}', "label", 1.0),
        ('{"label": "Refund"}', {"label": "refund"}, "label", 0.0),
        ('{"n": 1.0}', {"n": 1}, "n", 1.0),
        ('{"n": true}', {"n": 1}, "n", 0.0),
        ('{"items": [{"id": 7}]}', {"items": [{"id": 7}]}, "items.0.id", 1.0),
        ('{"items": []}', {"items": [{"id": 7}]}, "items.0.id", 0.0),
        ("label: refund", {"label": "refund"}, "label", 0.0),  # not JSON
        ('{"other": 1}', {"label": "refund"}, "label", 0.0),
        ('{"label": "refund"}', "not json", "label", 0.0),
        ('{"a": {"b": [1, 2]}}', {"a": {"b": [1, 2.0]}}, "a", 1.0),
    ],
)
def test_json_field(answer: str, reference: Any, path: str, score: float) -> None:
    assert _score({"scorer": "json_field", "path": path}, answer, reference) == score


def test_weighted_is_the_weighted_mean_with_each_part_named() -> None:
    grader = GraderSettings.model_validate(
        {
            "weighted": [
                {"scorer": "json_field", "path": "label", "weight": 3},
                {"scorer": "regex", "pattern": r"\A\{", "weight": 1},
                {"scorer": "regex", "pattern": "never", "weight": 1},
            ]
        }
    )
    result = grade(grader, '{"label": "refund"}', {"label": "refund"})
    assert result == Grade(score=4 / 5, parts={"json_field": 1.0, "regex_1": 1.0, "regex_2": 0.0})


def test_a_lambda_grader_is_not_scored_in_process() -> None:
    grader = GraderSettings.model_validate({"lambda_arn": "arn:aws:lambda:us-east-1:111122223333:function:g"})
    with pytest.raises(ValueError, match="invoke it"):
        grade(grader, "a", "a")


@pytest.mark.parametrize(
    "spec",
    [
        {"scorer": "exact_match"},
        {"scorer": "contains_match"},
        {"scorer": "token_f1"},
        {"scorer": "rouge_l"},
        {"scorer": "numeric", "tolerance": 1},
        {"scorer": "regex", "pattern": "a"},
        {"scorer": "json_field", "path": "a"},
    ],
)
@pytest.mark.parametrize(
    ("answer", "reference"),
    [("", ""), ("a", "a"), ("", "a"), ("a b a", "a"), ('{"a": 1}', {"a": 1}), ("12", "13"), ("ü" * 50, "x")],
)
def test_every_score_is_in_the_unit_interval(spec: dict[str, Any], answer: str, reference: Any) -> None:
    assert 0.0 <= _score(spec, answer, reference) <= 1.0
