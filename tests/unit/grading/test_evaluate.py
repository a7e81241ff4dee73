"""The evaluation's ``grader`` metric: the run's grader scoring both models' answers, in the comparison with its
interval and usable by the promotion rule (settings.evaluation.metric "grader"); the project's scorers in-process,
a user's own Lambda grader invoked in batches (moto's Lambda, run by the offline router)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from customizer.errors import EvaluationError, SettingsError
from customizer.evaluation import evaluate
from customizer.families.formats import Example
from customizer.grading import evaluate as grading_evaluate
from customizer.grading.evaluate import grader_scores
from customizer.grading.spec import GraderSettings
from customizer.settings import check_family, resolve_run_settings
from offline.router import LambdaRouter
from tests.unit.core.test_evaluation import capitals, jsonl, knows, pt, put_test_set

EXAMPLES = [Example(prompt=f"q{i}", completion=f"City{i}", system="Answer briefly.") for i in range(5)]


@pytest.fixture
def router(moto_aws: None) -> Iterator[LambdaRouter]:
    with LambdaRouter().installed() as installed:
        yield installed


def _function(handler: str) -> str:
    role = boto3.client("iam").create_role(RoleName=f"r-{handler}", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    created = boto3.client("lambda").create_function(
        FunctionName=handler.replace("_", "-"),
        Runtime="python3.12",
        Role=role,
        Handler=f"tests.graders.{handler}",
        Code={"ZipFile": b"PK\x05\x06" + b"\0" * 18},
    )
    return str(created["FunctionArn"])


def test_the_projects_scorers_score_in_process_and_a_failed_call_scores_zero() -> None:
    grader = GraderSettings.model_validate({"scorer": "exact_match"})
    answers = ["City0", "city1.", "Town", None, "City4"]
    assert grader_scores(grader, EXAMPLES, answers, model="custom") == [1.0, 1.0, 0.0, 0.0, 1.0]


def test_a_users_grader_is_invoked_in_batches_with_the_documented_request(
    router: LambdaRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(grading_evaluate, "BATCH", 2)
    grader = GraderSettings(lambda_arn=_function("exact"))
    answers = ["City0", "wrong", None, "City3", "City4"]
    assert grader_scores(grader, EXAMPLES, answers, model="base") == [1.0, 0.0, 0.0, 1.0, 1.0]
    batches = [[r["id"] for r in call.event] for call in router.invocations]
    # The failed call (example 2) is not sent: 4 answers in batches of 2.
    assert batches == [["eval-base-0", "eval-base-1"], ["eval-base-3", "eval-base-4"]]
    assert router.invocations[0].event[0] == {
        "id": "eval-base-0",
        "messages": [
            {"role": "system", "content": "Answer briefly."},
            {"role": "user", "content": "q0"},
            {"role": "assistant", "content": "City0"},
        ],
        "metadata": {"reference_answer": "City0"},
    }


def test_a_json_reference_reaches_a_users_grader_as_the_object(router: LambdaRouter) -> None:
    grader = GraderSettings(lambda_arn=_function("exact"))
    example = Example(prompt="q", completion='{"label": "refund"}')
    grader_scores(grader, [example], ["x"], model="custom")
    assert router.invocations[0].event[0]["metadata"]["reference_answer"] == {"label": "refund"}


def test_a_users_grader_failing_in_the_evaluation_is_an_evaluation_error(router: LambdaRouter) -> None:
    grader = GraderSettings(lambda_arn=_function("out_of_range"))
    with pytest.raises(EvaluationError, match=r"the grader metric of the custom model's answers: .* outside \[0, 1\]"):
        grader_scores(grader, EXAMPLES, ["City0"] * 5, model="custom")


def test_the_grader_metric_is_compared_and_decides(moto_aws: None, s3: Any, make_run: Any) -> None:
    # The grader rewards the right city; the string metric contains_match would say the same, token_f1 less.
    run = make_run({"grader": {"scorer": "exact_match"}, "evaluation": {"metric": "grader"}})
    examples = capitals(30)
    put_test_set(s3, run, jsonl(examples))
    knows(
        {e["prompt"]: f"It is {e['completion']}" for e in examples[:5]}
        | {e["prompt"]: e["completion"] for e in examples[5:]}
    )
    result = evaluate(run, pt(run))
    grader = next(c for c in result.comparison if c.metric == "grader")
    assert (grader.custom, grader.base) == (25 / 30, 0.0)
    assert grader.ci_low is not None and grader.ci_low > 0
    assert result.decision is not None and result.decision.metric == "grader" and result.decision.promote


def test_no_grader_no_grader_metric(moto_aws: None, s3: Any, make_run: Any) -> None:
    run = make_run()
    put_test_set(s3, run, jsonl(capitals(3)))
    knows({})
    assert "grader" not in {c.metric for c in evaluate(run, pt(run)).comparison}


def test_the_grader_metric_needs_a_grader() -> None:
    settings = resolve_run_settings({}, {"evaluation": {"metric": "grader"}})
    with pytest.raises(SettingsError, match=r"settings\.evaluation\.metric: 'grader' is the run's grader"):
        check_family(settings, has_validation_data=False)
    with_grader = resolve_run_settings({}, {"evaluation": {"metric": "grader"}, "grader": {"scorer": "token_f1"}})
    check_family(with_grader, has_validation_data=False)
