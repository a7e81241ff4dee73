"""The ``grader`` metric of the evaluation: the run's grader (settings.grader) scoring each model's answers to the
test set, so that the reward a model trained on and the metric its promotion is decided by are one definition.

The project's scorers score in-process (``scorers.grade``, the same code the reward function runs); a user's own
Lambda grader is invoked in batches of ``BATCH`` with the documented request (``reward.request_records``). A
failed call of a model (no answer) scores 0, as the string metrics count it. The reference is the test example's
expected text; a reference that is a JSON object or list in the test set reaches a Lambda grader as that object,
as in training. The test record's other fields are not kept by the evaluation: a Lambda grader that needs them in
``metadata`` gets only ``reference_answer`` (the README says so)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from customizer import settings
from customizer.errors import EvaluationError, GraderRejectedError
from customizer.families.formats import Example
from customizer.grading.invoke import call_grader
from customizer.grading.reward import request_records
from customizer.grading.scorers import grade
from customizer.grading.spec import GraderSettings

# The metric's name in the evaluation's scores, comparison and report (settings.evaluation.metric "grader").
GRADER_METRIC = settings.GRADER_METRIC
BATCH = 50


def _reference(example: Example) -> Any:
    """The reference as the grader gets it in training: an object or list back from its JSON text."""
    text = example.completion.strip()
    if text[:1] in ("{", "["):
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            return example.completion
        if isinstance(value, dict | list):
            return value
    return example.completion


def _messages(example: Example) -> list[dict[str, str]]:
    system = [{"role": "system", "content": example.system}] if example.system else []
    return [*system, {"role": "user", "content": example.prompt}]


def grader_scores(
    grader: GraderSettings, examples: Sequence[Example], answers: Sequence[str | None], *, model: str
) -> list[float]:
    """One score in [0, 1] per example for ``model``'s answers (None: the call failed)."""
    if grader.builtin:
        return [
            0.0 if a is None else grade(grader, a, e.completion).score for e, a in zip(examples, answers, strict=True)
        ]
    assert grader.lambda_arn is not None
    scores = [0.0] * len(examples)
    asked = [i for i, a in enumerate(answers) if a is not None]
    for start in range(0, len(asked), BATCH):
        indexes = asked[start : start + BATCH]
        rows: list[tuple[str, list[Any], str, Any, dict[str, Any]]] = [
            (f"eval-{model}-{i}", list(_messages(examples[i])), str(answers[i]), _reference(examples[i]), {})
            for i in indexes
        ]
        try:
            found = call_grader(
                grader.lambda_arn, request_records(rows, grader), what=f"the grader {grader.lambda_arn}"
            )
        except GraderRejectedError as exc:
            raise EvaluationError(f"the grader metric of the {model} model's answers: {exc}") from None
        for i in indexes:
            scores[i] = found[f"eval-{model}-{i}"]
    return scores
