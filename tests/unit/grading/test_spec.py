"""settings.grader: the JSON a run declares its grader with, and the errors a wrong one gets (each naming its
path, before any job)."""

from __future__ import annotations

from typing import Any

import pytest

from customizer.errors import SettingsError
from customizer.grading.spec import GraderSettings
from customizer.settings import resolve_run_settings

ARN = "arn:aws:lambda:us-east-1:111122223333:function:my-grader"


def _grader(spec: Any) -> GraderSettings:
    grader = resolve_run_settings({}, {"grader": spec}).grader
    assert grader is not None
    return grader


def _error(spec: Any) -> str:
    with pytest.raises(SettingsError) as caught:
        resolve_run_settings({}, {"grader": spec})
    return str(caught.value)


def test_no_grader_by_default() -> None:
    assert resolve_run_settings({}).grader is None


@pytest.mark.parametrize(
    "arn",
    [ARN, f"{ARN}:$LATEST", f"{ARN}:prod", "arn:aws-us-gov:lambda:us-gov-west-1:111122223333:function:g.v2_x-y"],
)
def test_a_lambda_grader(arn: str) -> None:
    grader = _grader({"lambda_arn": arn})
    assert grader.lambda_arn == arn and not grader.builtin and grader.parts == []


@pytest.mark.parametrize(
    "arn",
    [
        "arn:aws:lambda:us-east-1:111122223333:layer:my-grader",  # a layer, not a function
        "arn:aws:lambda:us-east-1:1111:function:my-grader",  # not a 12-digit account
        "arn:aws:s3:::bucket",
        "my-grader",  # a name, not an ARN
        "arn:aws:lambda:us-east-1:111122223333:function:my grader",
    ],
)
def test_a_lambda_grader_must_be_a_function_arn(arn: str) -> None:
    assert _error({"lambda_arn": arn}).startswith("settings.grader.lambda_arn: not a Lambda function ARN")


def test_one_scorer_with_its_parameters() -> None:
    grader = _grader({"scorer": "numeric", "tolerance": 0.5, "relative": True})
    assert grader.builtin
    (part,) = grader.parts
    assert (part.scorer, part.tolerance, part.relative, part.weight) == ("numeric", 0.5, True, 1.0)
    assert grader.spec() == {"scorer": "numeric", "tolerance": 0.5, "relative": True}


def test_a_weighted_combination() -> None:
    grader = _grader(
        {
            "weighted": [
                {"scorer": "json_field", "path": "label", "weight": 3},
                {"scorer": "regex", "pattern": r"\A\{.*\}\Z"},
            ]
        }
    )
    assert [(p.scorer, p.weight) for p in grader.parts] == [("json_field", 3.0), ("regex", 1.0)]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({}, "settings.grader: give exactly one of lambda_arn"),
        ({"lambda_arn": ARN, "scorer": "token_f1"}, "got lambda_arn, scorer"),
        ({"scorer": "bleu"}, "settings.grader.scorer: Input should be 'exact_match'"),
        ({"scorer": "regex"}, "settings.grader: pattern: required for scorer regex"),
        ({"scorer": "regex", "pattern": "(unclosed"}, "settings.grader.pattern: not a valid regular expression"),
        ({"scorer": "json_field"}, "settings.grader: path: required for scorer json_field"),
        ({"scorer": "json_field", "path": "a..b"}, "settings.grader.path: String should match pattern"),
        (
            {"scorer": "exact_match", "tolerance": 1},
            "settings.grader: tolerance: not a parameter of scorer exact_match",
        ),
        ({"scorer": "numeric", "tolerance": -1}, "settings.grader.tolerance: Input should be greater than or equal"),
        ({"scorer": "token_f1", "weight": 2}, "settings.grader.weight: unknown setting"),
        ({"lambda_arn": ARN, "pattern": "x"}, "settings.grader: pattern: a parameter of a scorer"),
        ({"weighted": []}, "settings.grader.weighted: List should have at least 1 item"),
        (
            {"weighted": [{"scorer": "token_f1"}, {"scorer": "regex", "pattern": "[a-"}]},
            "settings.grader.weighted[1].pattern: not a valid regular expression",
        ),
        ({"weighted": [{"scorer": "token_f1", "weight": 0}]}, "settings.grader.weighted[0].weight: Input should be"),
        ({"weighted": [{"scorer": "regex"}]}, "settings.grader.weighted[0]: pattern: required for scorer regex"),
        ({"weighted": [{"scorer": "token_f1", "paht": "x"}]}, "settings.grader.weighted[0].paht: unknown setting"),
        ({"weighted": [{"lambda_arn": ARN}]}, "settings.grader.weighted[0].scorer: Field required"),
        ("token_f1", "settings.grader: Input should be a valid dictionary"),
    ],
)
def test_a_wrong_grader_is_named_by_its_path(spec: Any, message: str) -> None:
    assert message in _error(spec)


def test_settings_errors_name_list_items_by_index() -> None:
    # The same rendering for every list in the settings, not only the grader's.
    with pytest.raises(SettingsError, match=r"settings\.evaluation\.judge\.custom_metrics\[0\]\.name"):
        resolve_run_settings(
            {},
            {
                "evaluation": {
                    "judge": {
                        "custom_metrics": [
                            {"name": "bad name", "instructions": "x", "rating_scale": [{"definition": "a", "value": 1}]}
                        ]
                    }
                }
            },
        )
