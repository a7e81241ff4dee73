"""The project's scorers: one answer against its reference, a score in [0, 1].

The text scorers are the evaluation's own metrics (``customizer.evaluation.metrics``: SQuAD v1.1's exact match
and token F1, ``rouge-score``'s ROUGE-L, the first version's contains match), called as they are, so that the
reward a model trains on and the metric its evaluation reports are computed by the same code. The others:

- ``numeric``: the last number in the answer against the last number in the reference (``1,234.5``, ``-3``,
  ``2e-3``; commas only as thousands separators); 1 when ``|answer - reference| <= tolerance`` (times
  ``|reference|`` with ``relative``), else 0; 0 when either has no number;
- ``regex``: 1 when the pattern is found anywhere in the answer (``re.search``; anchor it with ``\\A`` and ``\\Z``
  to match the whole answer), else 0; the reference is not used;
- ``json_field``: the answer parsed as JSON (inside a Markdown code fence or not), the value at ``path`` compared
  with the reference's value at the same path (the reference answer as a JSON object, or text holding one):
  1 when equal as JSON values (``1`` equals ``1.0``; ``true`` does not equal ``1``), else 0; 0 when the answer is
  not JSON or lacks the field;
- ``weighted``: the weighted mean of its parts (weights as given, divided by their sum).

A reference answer may be any JSON value (RFT records carry ``reference_answer`` as an object or text): the text
scorers and ``numeric`` read it at ``reference_path``, or all of it (text as is, anything else as compact JSON,
as the evaluation's expected text is)."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from customizer.evaluation import metrics
from customizer.families.formats import reference_text as reference_text_of_record
from customizer.grading.spec import GraderSettings, WeightedScorer

# A number as people write it: optional sign, digits (thousands may be grouped by commas), decimals, exponent.
_NUMBER = re.compile(r"[-+]?(?:(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?")
_FENCE = re.compile(r"\A```[A-Za-z0-9_-]*\s*\n(?P<body>.*?)\n?```\s*\Z", re.DOTALL)
_MISSING = object()


@dataclass(frozen=True)
class Grade:
    """One answer's score, and its parts' scores by name (``metrics_list`` of the reward response)."""

    score: float
    parts: dict[str, float] = field(default_factory=dict)


def text_of(value: Any) -> str:
    """A reference answer as text: a string as is, anything else as compact JSON, the text the evaluation
    compares answers with (``formats.reference_text``), so that training and evaluation read it alike."""
    return reference_text_of_record(value)


def field_at(value: Any, path: str) -> Any:
    """The value at a dotted path (a digit segment indexes a list); ``_MISSING`` when there is none."""
    current = value
    for segment in path.split("."):
        if isinstance(current, dict) and segment in current:
            current = current[segment]
        elif isinstance(current, list) and segment.isdigit() and int(segment) < len(current):
            current = current[int(segment)]
        else:
            return _MISSING
    return current


def parse_json(text: str) -> Any:
    """The JSON an answer holds (a Markdown code fence around it is allowed); ``_MISSING`` when none."""
    stripped = text.strip()
    fenced = _FENCE.match(stripped)
    try:
        return json.loads(fenced.group("body") if fenced else stripped)
    except (json.JSONDecodeError, RecursionError):
        return _MISSING


def _reference_json(reference: Any) -> Any:
    return parse_json(reference) if isinstance(reference, str) else reference


def reference_text(reference: Any, reference_path: str | None) -> str | None:
    """The text a scorer compares with: all of the reference, or its field at ``reference_path`` (None: absent)."""
    if reference_path is None:
        return text_of(reference)
    value = field_at(_reference_json(reference), reference_path)
    return None if value is _MISSING else text_of(value)


def last_number(text: str) -> float | None:
    found = _NUMBER.findall(text)
    if not found:
        return None
    try:
        value = float(found[-1].replace(",", ""))
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def json_equal(first: Any, second: Any) -> bool:
    """Equality of JSON values: numbers by value, but a boolean is not a number."""
    if isinstance(first, bool) or isinstance(second, bool):
        return type(first) is type(second) and first == second
    if isinstance(first, int | float) and isinstance(second, int | float):
        return float(first) == float(second)
    if isinstance(first, list) and isinstance(second, list):
        return len(first) == len(second) and all(json_equal(a, b) for a, b in zip(first, second, strict=True))
    if isinstance(first, dict) and isinstance(second, dict):
        return first.keys() == second.keys() and all(json_equal(first[k], second[k]) for k in first)
    return type(first) is type(second) and bool(first == second)


_TEXT: dict[str, Callable[[str, str], float]] = {
    "exact_match": lambda expected, answer: float(metrics.exact_match(expected, answer)),
    "contains_match": lambda expected, answer: float(metrics.contains_match(expected, answer)),
    "token_f1": metrics.token_f1,
    "rouge_l": metrics.rouge_l,
}


def score_part(part: WeightedScorer, answer: str, reference: Any) -> float:
    """One scorer's score of ``answer`` against ``reference``, in [0, 1]."""
    if part.scorer == "regex":
        assert part.pattern is not None  # required by the spec
        flags = re.IGNORECASE if part.ignore_case else 0
        return 1.0 if re.search(part.pattern, answer, flags) else 0.0
    if part.scorer == "json_field":
        assert part.path is not None  # required by the spec
        got = field_at(parse_json(answer), part.path)
        want = field_at(_reference_json(reference), part.path)
        return 1.0 if got is not _MISSING and want is not _MISSING and json_equal(got, want) else 0.0
    expected = reference_text(reference, part.reference_path)
    if expected is None:
        return 0.0
    if part.scorer == "numeric":
        got_number, want_number = last_number(answer), last_number(expected)
        if got_number is None or want_number is None:
            return 0.0
        allowed = (part.tolerance or 0.0) * (abs(want_number) if part.relative else 1.0)
        return 1.0 if abs(got_number - want_number) <= allowed else 0.0
    return min(1.0, max(0.0, _TEXT[part.scorer](expected, answer)))


def part_names(grader: GraderSettings) -> list[str]:
    """The parts' names in ``metrics_list``: the scorer's name, numbered when a scorer occurs more than once."""
    names = [part.scorer for part in grader.parts]
    return [f"{name}_{index}" if names.count(name) > 1 else name for index, name in enumerate(names)]


def grade(grader: GraderSettings, answer: str, reference: Any) -> Grade:
    """The grader's score of one answer: its parts' weighted mean (one part: that part's score)."""
    parts = grader.parts
    if not parts:
        raise ValueError("a Lambda grader is not scored in-process: invoke it (customizer.grading.invoke)")
    scores = [score_part(part, answer, reference) for part in parts]
    total = sum(part.weight for part in parts)
    value = sum(part.weight * s for part, s in zip(parts, scores, strict=True)) / total
    return Grade(score=min(1.0, max(0.0, value)), parts=dict(zip(part_names(grader), scores, strict=True)))
