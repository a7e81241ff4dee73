"""Evaluation of custom against base on the test set: stubbed bedrock-runtime, moto S3 for data and reports."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse
from botocore.response import StreamingBody
from botocore.stub import ANY, Stubber

from customizer import aws
from customizer.errors import EvaluationError
from customizer.evaluation import contains_match, evaluate
from customizer.models import Evaluation, Run, Throughput
from tests.unit.core.stubs import THROUGHPUT_ARN

BASE = "amazon.titan-text-express-v1"
QA = [
    {"prompt": "Capital of France?", "completion": "Paris"},
    {"prompt": "Capital of Italy?", "completion": "Rome"},
    {"prompt": "Capital of Spain?", "completion": "Madrid"},
]


def jsonl(records: list[Any]) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in records).encode()


def titan(text: str) -> dict[str, Any]:
    raw = json.dumps({"inputTextTokenCount": 3, "results": [{"tokenCount": 2, "outputText": text}]}).encode()
    return {"body": StreamingBody(io.BytesIO(raw), len(raw)), "contentType": "application/json"}


def converse(text: str) -> dict[str, Any]:
    return {
        "output": {"message": {"role": "assistant", "content": [{"text": text}]}},
        "stopReason": "end_turn",
        "usage": {"inputTokens": 3, "outputTokens": 2, "totalTokens": 5},
        "metrics": {"latencyMs": 10},
    }


def put_test_set(s3: Any, run: Run, body: bytes) -> None:
    assert run.data.test is not None
    bucket, key = aws.split_s3_uri(run.data.test.uri)
    s3.put_object(Bucket=bucket, Key=key, Body=body)


def read(s3: Any, uri: str) -> str:
    bucket, key = aws.split_s3_uri(uri)
    return str(s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode())


def invoke(runtime: Stubber, model_id: str, text: str) -> None:
    runtime.add_response(
        "invoke_model", titan(text), {"modelId": model_id, "body": ANY, "contentType": ANY, "accept": ANY}
    )


def pt(run: Run) -> Throughput:
    return Throughput(arn=THROUGHPUT_ARN, name=run.names.throughput_name, status="InService", model_units=1)


SEQUENTIAL = {"evaluation": {"concurrency": 1}}


@pytest.mark.parametrize(
    ("expected", "answer", "correct"),
    [
        ("Paris", "The answer is PARIS.", True),
        ("  paris ", "Paris", True),
        ("Paris", "Lyon", False),
        ("New York", "New  York", False),
    ],
)
def test_contains_match_is_case_insensitive_containment(expected, answer, correct):
    assert contains_match(expected, answer) is correct


def test_scores_count_correct_answers_and_errors_and_write_the_reports(runtime, s3, make_run, artifacts_bucket):
    # Given a three-example test set, a custom model right on two and a base model right on one, failing on one
    run = make_run(SEQUENTIAL)
    put_test_set(s3, run, jsonl(QA))
    invoke(runtime, THROUGHPUT_ARN, "It is Paris.")
    invoke(runtime, THROUGHPUT_ARN, "rome, of course")
    invoke(runtime, THROUGHPUT_ARN, "Barcelona")
    invoke(runtime, BASE, "paris")
    runtime.add_client_error("invoke_model", "ThrottlingException", "Too many requests", 429)
    invoke(runtime, BASE, "Seville")

    # When the run is evaluated
    result = evaluate(run, pt(run))

    # Then each model's score counts its right answers, and the failed call as an error (not dropped)
    assert (result.custom.examples, result.custom.correct, result.custom.errors) == (3, 2, 0)
    assert result.custom.accuracy == pytest.approx(2 / 3)
    assert result.custom.model_id == THROUGHPUT_ARN
    assert (result.base.examples, result.base.correct, result.base.errors) == (3, 1, 1)
    assert result.base.accuracy == pytest.approx(1 / 3)
    assert result.base.model_id == BASE
    assert result.custom_beats_base is True
    assert result.margin == 0.0

    # and the JSON and Markdown reports are in the run's report prefix
    assert result.report_uri == f"s3://{artifacts_bucket}/runs/{run.run_id}/evaluation/report.json"
    assert result.report_markdown_uri == f"s3://{artifacts_bucket}/runs/{run.run_id}/evaluation/report.md"
    report = json.loads(read(s3, result.report_uri))
    assert report["run_id"] == run.run_id
    assert Evaluation.model_validate(report["summary"]) == result
    assert [r["expected"] for r in report["examples"]] == ["Paris", "Rome", "Madrid"]
    assert [r["custom"]["correct"] for r in report["examples"]] == [True, True, False]
    assert [r["base"]["correct"] for r in report["examples"]] == [True, False, False]
    assert report["examples"][1]["base"]["text"] is None
    assert report["examples"][1]["base"]["error"].startswith(
        "BedrockThrottledError: invoking amazon.titan-text-express-v1: ThrottlingException"
    )
    markdown = read(s3, result.report_markdown_uri)
    assert f"# Evaluation of run {run.run_id}" in markdown
    assert "| custom | 3 | 2 | 0 | 66.7% |" in markdown
    assert "| base | 3 | 1 | 1 | 33.3% |" in markdown
    assert "Custom beats base: **yes**" in markdown
    assert "- prompt: 'Capital of Italy?'" in markdown
    assert "- prompt: 'Capital of France?'" not in markdown  # both right: not a difference


def test_the_requests_use_the_familys_body_and_the_evaluation_settings(runtime, s3, make_run):
    run = make_run({"evaluation": {"concurrency": 1, "max_tokens": 64, "temperature": 0.5, "top_p": 0.7}})
    put_test_set(s3, run, jsonl(QA[:1]))
    body = json.dumps(
        {
            "inputText": "Capital of France?",
            "textGenerationConfig": {"maxTokenCount": 64, "temperature": 0.5, "topP": 0.7},
        }
    )
    for model in (THROUGHPUT_ARN, BASE):
        runtime.add_response(
            "invoke_model",
            titan("Paris"),
            {"modelId": model, "body": body, "contentType": "application/json", "accept": "application/json"},
        )
    result = evaluate(run, pt(run))
    assert result.custom.correct == result.base.correct == 1
    assert result.custom_beats_base is False


def test_converse_models_are_called_through_converse_with_the_system_prompt(runtime, s3, make_run):
    run = make_run({"base_model_id": "amazon.nova-micro-v1:0", **SEQUENTIAL})
    record = {
        "schemaVersion": "bedrock-conversation-2024",
        "system": [{"text": "Answer with a city."}],
        "messages": [
            {"role": "user", "content": [{"text": "Capital of France?"}]},
            {"role": "assistant", "content": [{"text": "Paris"}]},
        ],
    }
    put_test_set(s3, run, jsonl([record]))
    for model, answer in ((THROUGHPUT_ARN, "Paris"), ("amazon.nova-micro-v1:0", "London")):
        runtime.add_response(
            "converse",
            converse(answer),
            {
                "modelId": model,
                "messages": [{"role": "user", "content": [{"text": "Capital of France?"}]}],
                "system": [{"text": "Answer with a city."}],
                "inferenceConfig": {"maxTokens": 256, "temperature": 0.0, "topP": 0.9},
            },
        )
    result = evaluate(run, pt(run))
    assert (result.custom.correct, result.base.correct) == (1, 0)


def test_the_margin_must_be_exceeded(runtime, s3, make_run):
    run = make_run({"evaluation": {"concurrency": 1, "min_improvement": 0.5}})
    put_test_set(s3, run, jsonl(QA[:2]))
    for text in ("Paris", "Rome"):
        invoke(runtime, THROUGHPUT_ARN, text)
    for text in ("Paris", "no idea"):
        invoke(runtime, BASE, text)
    result = evaluate(run, pt(run))
    assert (result.custom.accuracy, result.base.accuracy) == (1.0, 0.5)
    assert result.custom_beats_base is False  # 100% is not more than 50% + 50%
    assert result.margin == 0.5


def test_only_max_examples_are_evaluated_and_malformed_test_lines_are_skipped(runtime, s3, make_run):
    run = make_run({"evaluation": {"concurrency": 1, "max_examples": 2}})
    put_test_set(s3, run, b"not json\n\n" + jsonl([{"prompt": "q"}, *QA]))
    for model in (THROUGHPUT_ARN, BASE):
        invoke(runtime, model, "Paris")
        invoke(runtime, model, "Rome")
    result = evaluate(run, pt(run))
    assert result.custom.examples == result.base.examples == 2
    assert result.custom.correct == 2


def test_a_response_of_the_wrong_shape_is_an_error_not_a_wrong_answer(runtime, s3, make_run):
    run = make_run(SEQUENTIAL)
    put_test_set(s3, run, jsonl(QA[:2]))
    raw = b'{"generation": "Paris"}'
    runtime.add_response(
        "invoke_model", {"body": StreamingBody(io.BytesIO(raw), len(raw)), "contentType": "application/json"}
    )
    invoke(runtime, THROUGHPUT_ARN, "Rome")
    invoke(runtime, BASE, "Paris")
    invoke(runtime, BASE, "Rome")
    result = evaluate(run, pt(run))
    assert (result.custom.correct, result.custom.errors) == (1, 1)


def test_every_call_to_a_model_failing_is_an_evaluation_error(runtime, s3, make_run):
    run = make_run(SEQUENTIAL)
    put_test_set(s3, run, jsonl(QA[:2]))
    runtime.add_client_error("invoke_model", "ModelNotReadyException", "still loading", 429)
    runtime.add_client_error("invoke_model", "ModelNotReadyException", "still loading", 429)
    invoke(runtime, BASE, "Paris")
    invoke(runtime, BASE, "Rome")
    with pytest.raises(EvaluationError) as caught:
        evaluate(run, pt(run))
    assert str(caught.value) == (
        f"every call to {THROUGHPUT_ARN} failed; first error: AwsServiceUnavailableError: "
        f"invoking {THROUGHPUT_ARN}: ModelNotReadyException: still loading"
    )


def test_every_call_to_the_base_failing_is_an_evaluation_error_too(runtime, s3, make_run):
    run = make_run(SEQUENTIAL)
    put_test_set(s3, run, jsonl(QA[:1]))
    invoke(runtime, THROUGHPUT_ARN, "Paris")
    runtime.add_client_error("invoke_model", "AccessDeniedException", "no access to the base model", 403)
    with pytest.raises(EvaluationError, match=f"^every call to {BASE} failed; first error: AwsRequestRejectedError"):
        evaluate(run, pt(run))


def test_a_run_without_a_test_set_cannot_be_evaluated(runtime, make_run):
    run = make_run(test=False)
    with pytest.raises(EvaluationError, match=r"^the run has no test set \(input\.test_data\)$"):
        evaluate(run, pt(run))


def test_a_test_set_without_usable_examples_cannot_be_evaluated(runtime, s3, make_run):
    run = make_run()
    put_test_set(s3, run, b'{"prompt": "q"}\nnot json\n')
    assert run.data.test is not None
    with pytest.raises(EvaluationError, match=f"^no usable examples in {run.data.test.uri}$"):
        evaluate(run, pt(run))


def test_concurrent_calls_keep_each_answer_with_its_example(moto_aws, s3, make_run):
    # Given eight examples evaluated four at a time, and a model that answers by prompt:
    # the custom model knows the even-numbered examples, the base model none
    run = make_run({"evaluation": {"concurrency": 4}})
    examples = [{"prompt": f"code {i}?", "completion": f"answer-{i}"} for i in range(8)]
    put_test_set(s3, run, jsonl(examples))
    calls: list[str] = []

    def answer(params: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        prompt = json.loads(params["body"])["inputText"]
        number = int(prompt.split()[1].rstrip("?"))
        custom = THROUGHPUT_ARN.replace(":", "%3A").replace("/", "%2F") in params["url_path"]
        calls.append("custom" if custom else "base")
        text = f"answer-{number}" if custom and number % 2 == 0 else "unsure"
        return AWSResponse("https://bedrock-runtime", 200, {}, None), titan(text)

    aws.client("bedrock-runtime").meta.events.register("before-call.bedrock-runtime.InvokeModel", answer)

    # When evaluated
    result = evaluate(run, pt(run))

    # Then every example was asked of each model once, and each row holds its own example's answers
    assert sorted(calls) == ["base"] * 8 + ["custom"] * 8
    assert (result.custom.correct, result.base.correct) == (4, 0)
    report = json.loads(read(s3, result.report_uri))
    for row in report["examples"]:
        number = int(row["expected"].split("-")[1])
        assert row["custom"]["correct"] is (number % 2 == 0)
        assert row["custom"]["text"] == (row["expected"] if number % 2 == 0 else "unsure")
