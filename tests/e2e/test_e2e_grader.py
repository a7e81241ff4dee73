"""The grader's check before any job (issue 12, item 3): an RFT run whose grader crashes, times out, answers out of
range, rewards any answer or does not reward the reference is refused in "Validate the run", naming the grader,
with no job created. The user's grader is a Lambda function created in moto whose handler the offline router runs
(tests/graders.py); the project's scorers are checked through the deployed reward function."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest

from customizer.errors import GraderRejectedError
from customizer.grading.scorers import grade
from customizer.grading.spec import GraderSettings
from tests.e2e.harness import E2E, USERS_GRADER_NAMES, path_of
from tests.e2e.test_e2e_rft import NOVA_2_LITE, rft_files


@pytest.fixture
def users_grader(e2e: E2E) -> Iterator[Callable[[str], str]]:
    """``create(handler)``: a user's own grader Lambda running ``tests.graders.<handler>``; its ARN."""
    iam, lam = boto3.client("iam"), boto3.client("lambda")
    created: list[str] = []
    role = iam.create_role(RoleName=e2e.run_name("grader-role"), AssumeRolePolicyDocument="{}")["Role"]

    def create(handler: str) -> str:
        name = USERS_GRADER_NAMES[len(created)]  # the names the suite's stack grants (harness.SUITE_DEPLOYMENT)
        created.append(name)
        return str(
            lam.create_function(
                FunctionName=name,
                Runtime="python3.12",
                Role=role["Arn"],
                Handler=f"tests.graders.{handler}",
                Code={"ZipFile": b"PK\x05\x06" + b"\x00" * 18},
                Timeout=60,
            )["FunctionArn"]
        )

    yield create
    for name in created:
        lam.delete_function(FunctionName=name)
    iam.delete_role(RoleName=role["RoleName"])


def _rft(grader: dict[str, Any]) -> dict[str, Any]:
    return {
        "base_model_id": NOVA_2_LITE,
        "customization_type": "REINFORCEMENT_FINE_TUNING",
        "grader": grader,
        "throughput_policy": "delete",
    }


def _refused(e2e: E2E, run_name: str, grader: dict[str, Any]) -> str:
    """Run it; assert it failed in "Validate the run" with GraderRejectedError and no job; the notified reason."""
    execution = e2e.start_console(run_name, e2e.settings(_rft(grader)), rft_files())
    result = e2e.wait(execution)
    assert result.status == "FAILED"
    assert e2e.lambda_failures(execution) == [GraderRejectedError.__name__]
    assert "Create the customization job" not in path_of(result)
    assert e2e.jobs_for(run_name) == []
    (note,) = e2e.notifications_for(run_name)
    return str(note["reason"])


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("handler", "message"),
    [
        ("crashes", "crashed (Unhandled): KeyError: 'reference_answer'"),
        ("out_of_range", "aggregate_reward_score 10.0 is outside [0, 1]"),
        ("lenient", "gives an empty answer to training line 1 the maximum 1: any answer would satisfy it"),
    ],
)
def test_a_users_bad_grader_is_refused_before_any_job(
    e2e: E2E, users_grader: Callable[[str], str], handler: str, message: str
) -> None:
    arn = users_grader(handler)
    reason = _refused(e2e, e2e.run_name("grader-bad"), {"lambda_arn": arn})
    assert f"the grader {arn} (settings.grader.lambda_arn)" in reason and message in reason, reason


@pytest.mark.e2e
def test_a_grader_that_times_out_is_refused_before_any_job(e2e: E2E, users_grader: Callable[[str], str]) -> None:
    arn = users_grader("exact")
    e2e.router.lose_reply(arn.rsplit(":", 1)[-1])
    reason = _refused(e2e, e2e.run_name("grader-slow"), {"lambda_arn": arn})
    assert "timed out" in reason and "Task timed out after 60.00 seconds" in reason, reason


@pytest.mark.e2e
def test_the_projects_scorers_are_checked_through_the_deployed_reward_function(e2e: E2E) -> None:
    # A regex every answer matches rewards an empty answer too: refused, naming the function and the spec.
    run_name = e2e.run_name("grader-regex")
    reason = _refused(e2e, run_name, {"scorer": "regex", "pattern": ".*"})
    assert "the pipeline's reward function arn:aws:lambda:" in reason, reason
    assert 'settings.grader {"pattern": ".*", "scorer": "regex"} gives an empty answer' in reason, reason
    # Validate called it with the run's grader in each record, as the prepared training data carries it.
    specs = [
        c.event[0]["metadata"]["bedrock_customize_grader"]
        for c in list(e2e.router.invocations)
        if c.handler == "handlers.reward.handler" and c.function_name == e2e.function_name("reward")
    ]
    assert {"scorer": "regex", "pattern": ".*"} in specs


@pytest.mark.e2e
@pytest.mark.parametrize("kind", ["scorers", "users_lambda"])
def test_the_reward_trained_on_is_the_metric_that_decides(
    e2e: E2E, users_grader: Callable[[str], str], kind: str
) -> None:
    spec: dict[str, Any] = (
        {"weighted": [{"scorer": "exact_match", "weight": 3}, {"scorer": "token_f1", "weight": 1}]}
        if kind == "scorers"
        else {"lambda_arn": users_grader("exact")}
    )
    run_name = e2e.run_name("grader-scorers" if kind == "scorers" else "grader-lambda")
    settings = {
        **_rft(spec),
        "hyperparameters": {"epochCount": 2, "batchSize": 128, "trainingSamplePerPrompt": 4},
        "evaluation": {"metric": "grader"},
    }
    result = e2e.run(lambda: e2e.start_console(run_name, e2e.settings(settings), rft_files()))
    assert result.status == "SUCCEEDED", e2e.notifications_for(run_name)
    evaluation = (result.output or {})["evaluation"]
    assert evaluation["decision"]["metric"] == "grader"
    (grader,) = [c for c in evaluation["comparison"] if c["metric"] == "grader"]
    assert 0.0 <= grader["base"] < grader["custom"] <= 1.0
    # Every example's grader score is the grader's own verdict on that answer: for the project's scorers the
    # function the reward function runs (customizer.grading.scorers.grade), for a user's Lambda what it answered.
    rows = [
        json.loads(line)
        for line in e2e.runtime.read_artifact(evaluation["report_uri"].replace("report.json", "examples.jsonl"))
        .decode()
        .splitlines()
    ]
    grader_settings = GraderSettings.model_validate(spec)
    for row in rows:
        for model in ("custom", "base"):
            side = row[model]
            if grader_settings.builtin:
                expected = grade(grader_settings, side["text"], row["expected"]).score if side["text"] else 0.0
            else:
                expected = float(side["text"] is not None and side["text"].strip().lower() == row["expected"].lower())
            assert side["scores"]["grader"] == pytest.approx(expected), (model, row["index"])
    if grader_settings.builtin:
        # ...and the job's reward calls carried the same grader, read from the prepared training data.
        reward = e2e.function_name("reward")
        specs = {
            json.dumps(c.event[0]["metadata"]["bedrock_customize_grader"], sort_keys=True)
            for c in list(e2e.router.invocations)
            if c.function_name == reward and c.event and "preflight" not in str(c.event[0]["id"])
        }
        assert json.dumps(grader_settings.spec(), sort_keys=True) in specs
