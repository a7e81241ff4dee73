"""The grader's check before any job: each refusal, through a real Lambda invoke (moto's Lambda, its calls run
in-process by the offline router: a user's grader from ``graders.py``, or the deployed reward function)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from customizer import aws
from customizer.errors import GraderRejectedError
from customizer.grading.preflight import Sample, check_grader, read_samples, samples_of
from customizer.grading.spec import GraderSettings
from offline.router import LambdaRouter
from tests.unit.conftest import ACCOUNT, REGION

REWARD = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:reward"


@pytest.fixture
def functions(moto_aws: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str, str], str]]:
    """``create(name, handler)`` makes a moto Lambda function whose invokes run ``handler`` here; its ARN."""
    # As the stack sets it for every function (the reward function's handler publishes a metric).
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "unit")
    role = boto3.client("iam").create_role(RoleName="grader", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    router = LambdaRouter()

    def create(name: str, handler: str) -> str:
        created = boto3.client("lambda").create_function(
            FunctionName=name,
            Runtime="python3.12",
            Role=role,
            Handler=handler,
            Code={"ZipFile": b"PK\x05\x06" + b"\0" * 18},
        )
        return str(created["FunctionArn"])

    with router.installed():
        create.router = router  # type: ignore[attr-defined]
        yield create


SAMPLES = [
    Sample(1, [{"role": "user", "content": "Capital of France?"}], "Paris", {"task_id": "geo-1"}),
    Sample(2, [{"role": "user", "content": "2 + 2?"}], "4"),
]


def _user(functions: Callable[[str, str], str], handler: str) -> tuple[GraderSettings, str]:
    arn = functions(handler.replace("_", "-"), f"tests.graders.{handler}")
    return GraderSettings(lambda_arn=arn), arn


def test_a_good_user_grader_passes(functions: Callable[[str, str], str]) -> None:
    grader, arn = _user(functions, "exact")
    result = check_grader(grader, SAMPLES, reward_function_arn=REWARD, allowed_lambda_arns=[arn])
    assert result.reference_scores == {"preflight-1-reference": 1.0, "preflight-2-reference": 1.0}
    assert result.empty_scores == {"preflight-1-empty": 0.0, "preflight-2-empty": 0.0}
    (call,) = functions.router.invocations  # type: ignore[attr-defined]
    # The documented request: the answer as the assistant's last turn, the reference in metadata.
    assert call.event[0] == {
        "id": "preflight-1-reference",
        "messages": [{"role": "user", "content": "Capital of France?"}, {"role": "assistant", "content": "Paris"}],
        # The record's other fields too, as Bedrock passes them.
        "metadata": {"task_id": "geo-1", "reference_answer": "Paris"},
    }


@pytest.mark.parametrize(
    ("handler", "message"),
    [
        ("crashes", r"crashed \(Unhandled\): KeyError: 'reference_answer'"),
        ("out_of_range", r"aggregate_reward_score 10.0 is outside \[0, 1\]"),
        ("not_a_number", r'aggregate_reward_score is not a number: "1.0"'),
        ("http_style", r"an HTTP-style object"),
        ("loses_an_id", r"no result for id 'preflight-1-reference'"),
        ("harsh", r"gives the reference answer of training line 1 0.5, less than the maximum 1"),
        ("lenient", r"gives an empty answer to training line 1 the maximum 1: any answer would satisfy it"),
    ],
)
def test_a_bad_user_grader_is_refused_naming_it(
    functions: Callable[[str, str], str], handler: str, message: str
) -> None:
    grader, arn = _user(functions, handler)
    with pytest.raises(GraderRejectedError, match=message) as caught:
        check_grader(grader, SAMPLES, reward_function_arn=REWARD, allowed_lambda_arns=[arn])
    assert f"the grader {arn} (settings.grader.lambda_arn)" in str(caught.value)


def test_a_grader_that_times_out_is_refused(functions: Callable[[str, str], str]) -> None:
    grader, arn = _user(functions, "exact")
    functions.router.lose_reply("exact")  # type: ignore[attr-defined]
    with pytest.raises(GraderRejectedError, match=r"timed out: RequestId: .* Task timed out after 3.00 seconds"):
        check_grader(grader, SAMPLES, reward_function_arn=REWARD, allowed_lambda_arns=[arn])


def test_a_grader_iam_does_not_let_the_pipeline_call_is_refused_naming_the_setting(
    functions: Callable[[str, str], str],
) -> None:
    grader, _ = _user(functions, "exact")
    with Stubber(aws.client("lambda", own_retries=True)) as stub:
        stub.add_client_error("invoke", "AccessDeniedException", "not authorized to perform lambda:InvokeFunction")
        with pytest.raises(GraderRejectedError, match=r"could not be called: .*AccessDeniedException") as caught:
            check_grader(grader, SAMPLES, reward_function_arn=REWARD, allowed_lambda_arns=[])
    assert "not among the graders this deployment may call (pipeline.grader_lambda_arns in cdk.json: none)" in str(
        caught.value
    )


def test_a_missing_grader_function_is_refused(functions: Callable[[str, str], str]) -> None:
    arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:gone"
    with pytest.raises(GraderRejectedError, match="could not be called"):
        check_grader(GraderSettings(lambda_arn=arn), SAMPLES, reward_function_arn=REWARD, allowed_lambda_arns=[arn])


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"scorer": "token_f1"}, None),
        ({"scorer": "numeric", "tolerance": 0}, None),
        # The reference "Paris" does not look like an answer this regex accepts: refused.
        ({"scorer": "regex", "pattern": r"\A\d+\Z"}, "reference answer of training line 1 0, less than"),
        # A regex that matches everything gives an empty answer the maximum: refused.
        ({"scorer": "regex", "pattern": ".*"}, "gives an empty answer to training line 1 the maximum"),
    ],
)
def test_the_deployed_reward_function_is_checked_with_the_runs_scorers(
    functions: Callable[[str, str], str], spec: dict[str, Any], message: str | None
) -> None:
    reward = functions("reward", "handlers.reward.handler")
    grader = GraderSettings.model_validate(spec)
    samples = SAMPLES if spec.get("scorer") != "numeric" else [Sample(1, [], "x = 4"), Sample(2, [], "-3.5")]
    if message is None:
        result = check_grader(grader, samples, reward_function_arn=reward)
        assert set(result.reference_scores.values()) == {1.0}
        (call,) = functions.router.invocations  # type: ignore[attr-defined]
        # The run's grader travels in the record, as in the training data prepared for the job.
        assert call.event[0]["metadata"]["bedrock_customize_grader"] == grader.spec()
        return
    with pytest.raises(GraderRejectedError, match=message) as caught:
        check_grader(grader, samples, reward_function_arn=reward)
    assert f"the pipeline's reward function {reward} with settings.grader {json.dumps(grader.spec())}" in str(
        caught.value
    )


def test_a_structured_reference_is_offered_as_the_scorers_see_it(functions: Callable[[str, str], str]) -> None:
    reward = functions("reward", "handlers.reward.handler")
    samples = [Sample(1, [], {"label": "refund", "why": "late"})]
    for spec in ({"scorer": "json_field", "path": "label"}, {"scorer": "exact_match", "reference_path": "label"}):
        check_grader(GraderSettings.model_validate(spec), samples, reward_function_arn=reward)
    sent = [c.event[0]["messages"][-1]["content"] for c in functions.router.invocations]  # type: ignore[attr-defined]
    assert sent == ['{"label":"refund","why":"late"}', "refund"]


def test_a_user_grader_with_structured_references_is_spared_only_the_reference_check(
    functions: Callable[[str, str], str],
) -> None:
    grader, arn = _user(functions, "lenient")
    with pytest.raises(GraderRejectedError, match="empty answer"):
        check_grader(grader, [Sample(1, [], {"label": "x"})], reward_function_arn=REWARD, allowed_lambda_arns=[arn])
    (call,) = functions.router.invocations  # type: ignore[attr-defined]
    assert [r["id"] for r in call.event] == ["preflight-1-empty"]


def test_samples_come_from_the_head_of_the_training_data(s3: Any, data_bucket: str) -> None:
    lines = [
        json.dumps({"messages": [{"role": "user", "content": f"q{i}"}], "reference_answer": f"a{i}", "task": i})
        for i in range(9)
    ]
    lines.insert(1, json.dumps({"messages": [{"role": "user", "content": "no reference"}]}))
    s3.put_object(Bucket=data_bucket, Key="train.jsonl", Body="\n".join(lines).encode())
    samples = read_samples(f"s3://{data_bucket}/train.jsonl")
    assert [(s.line, s.reference, s.extra) for s in samples] == [
        (1, "a0", {"task": 0}),
        (3, "a1", {"task": 1}),
        (4, "a2", {"task": 2}),
    ]


def test_a_trailing_assistant_turn_is_not_part_of_the_prompt() -> None:
    record = {
        "messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}],
        "reference_answer": "a",
    }
    (sample,) = samples_of([json.dumps(record).encode()])
    assert sample.messages == [{"role": "user", "content": "q"}]
