"""Evaluation of custom against base on the test set, both paths (one step; planned chunks then aggregation):
fake models on the evaluator's own bedrock-runtime client, moto S3 for data, checkpoints and reports."""

from __future__ import annotations

import json
from typing import Any

import pytest

from customizer import aws
from customizer.errors import EvaluationError, EvaluationPausedError
from customizer.evaluation import aggregate, contains_match, evaluate, evaluate_chunk, plan
from customizer.evaluation import runner as runner_module
from customizer.evaluation.steps import answers_uri, evaluation_uri
from customizer.families import InvocationStyle
from customizer.models import Evaluation, Job, Run, Throughput
from tests.unit.core.stubs import JOB_ARN, MODEL_ARN, THROUGHPUT_ARN
from tests.unit.evaluation.fakes import FakeModels, by_table

BASE = "amazon.titan-text-express-v1"
QA = [
    {"prompt": "Capital of France?", "completion": "Paris"},
    {"prompt": "Capital of Italy?", "completion": "Rome"},
    {"prompt": "Capital of Spain?", "completion": "Madrid"},
]


@pytest.fixture(autouse=True)
def fast_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """Retries back off for milliseconds, not seconds."""
    monkeypatch.setattr(runner_module, "BACKOFF_BASE_SECONDS", 0.001)


def jsonl(records: list[Any]) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in records).encode()


def put_test_set(s3: Any, run: Run, body: bytes) -> None:
    assert run.data.test is not None
    bucket, key = aws.split_s3_uri(run.data.test.uri)
    s3.put_object(Bucket=bucket, Key=key, Body=body)


def read(s3: Any, uri: str) -> str:
    bucket, key = aws.split_s3_uri(uri)
    return str(s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode())


def exists(s3: Any, uri: str) -> bool:
    bucket, key = aws.split_s3_uri(uri)
    return "Contents" in s3.list_objects_v2(Bucket=bucket, Prefix=key)


def pt(run: Run) -> Throughput:
    return Throughput(arn=THROUGHPUT_ARN, name=run.names.throughput_name, status="InService", model_units=1)


def job(run: Run, metrics: dict[str, Any] | None = None) -> Job:
    return Job(
        job_arn=JOB_ARN, job_name=run.names.job_name, status="Completed", model_arn=MODEL_ARN, metrics=metrics or {}
    )


def knows(custom: dict[str, str], base: dict[str, str] | None = None) -> FakeModels:
    """Models that answer from tables of prompt -> answer (anything else: "I do not know.")."""
    table = {(THROUGHPUT_ARN, p): a for p, a in custom.items()} | {(BASE, p): a for p, a in (base or {}).items()}
    return FakeModels(by_table(table))


def capitals(count: int) -> list[dict[str, str]]:
    return [{"prompt": f"Capital of country {i}?", "completion": f"City{i}"} for i in range(count)]


def test_contains_match_is_still_exported():
    assert contains_match("Paris", "It is PARIS.")


def test_scores_count_correct_answers_and_errors_and_write_the_reports(moto_aws, s3, make_run, artifacts_bucket):
    # Given three examples, a custom model right on two, and a base model right on one and denied on another
    run = make_run()
    put_test_set(s3, run, jsonl(QA))
    models = knows(
        {
            "Capital of France?": "It is Paris.",
            "Capital of Italy?": "rome, of course",
            "Capital of Spain?": "Barcelona",
        },
        {"Capital of France?": "paris", "Capital of Spain?": "Seville"},
    )
    models.script[(BASE, "Capital of Italy?")] = [("AccessDeniedException", 403)]

    # When the run is evaluated
    result = evaluate(run, pt(run), job(run))

    # Then each model's score counts its right answers, and the failed call as an error (not dropped)
    assert (result.custom.examples, result.custom.correct, result.custom.errors) == (3, 2, 0)
    assert result.custom.accuracy == pytest.approx(2 / 3)
    assert result.custom.model_id == THROUGHPUT_ARN
    assert (result.base.examples, result.base.correct, result.base.errors) == (3, 1, 1)
    assert result.base.accuracy == pytest.approx(1 / 3)
    assert result.base.model_id == BASE
    # exact match: "paris" (base) only; token F1: custom 1/2 (France) + 1/2 (Italy, "rome of course") + 0
    assert (result.custom.exact_match, result.base.exact_match) == pytest.approx((0.0, 1 / 3))
    assert result.custom.token_f1 == pytest.approx((0.5 + 0.5) / 3)
    assert result.custom.latency_p50_ms is not None
    assert result.mode == "single"

    # and the comparison: +1/3 contains match, but three examples cannot show it is not noise
    compared = {c.metric: c for c in result.comparison}
    assert list(compared) == ["contains_match", "exact_match", "token_f1", "rouge_l", "output_words"]
    assert compared["contains_match"].difference == pytest.approx(1 / 3)
    assert compared["contains_match"].ci_low == 0.0
    assert result.decision is not None
    assert result.decision.promote is result.custom_beats_base is False
    assert result.decision.reason.endswith(
        "the interval rests on 3 test examples, fewer than the 30 it is trusted on (below that the bootstrap "
        "interval is too narrow)"
    )
    assert result.margin == 0.0

    # and the reports are in the run's report prefix
    prefix = f"s3://{artifacts_bucket}/runs/{run.run_id}/evaluation/"
    assert (result.report_uri, result.report_markdown_uri, result.report_html_uri) == (
        prefix + "report.json",
        prefix + "report.md",
        prefix + "report.html",
    )
    report = json.loads(read(s3, result.report_uri))
    assert report["run_id"] == run.run_id
    assert Evaluation.model_validate(report["summary"]) == result
    assert report["examples_uri"] == prefix + "examples.jsonl"
    rows = [json.loads(line) for line in read(s3, report["examples_uri"]).splitlines()]
    assert [r["expected"] for r in rows] == ["Paris", "Rome", "Madrid"]
    assert [r["custom"]["scores"]["contains_match"] for r in rows] == [1.0, 1.0, 0.0]
    assert [r["base"]["scores"]["contains_match"] for r in rows] == [1.0, 0.0, 0.0]
    assert rows[1]["base"]["text"] is None
    assert rows[1]["base"]["error"].startswith(
        "AwsRequestRejectedError: invoking amazon.titan-text-express-v1: AccessDeniedException"
    )
    markdown = read(s3, result.report_markdown_uri)
    assert f"# Evaluation of run {run.run_id}" in markdown
    assert "## Decision: Do not promote the custom model" in markdown
    assert "| contains match | 0.667 | 0.333 | +0.333 |" in markdown
    assert "| errors | 0 of 3 | 1 of 3 |  |  |" in markdown
    assert "- prompt: 'Capital of Italy?'" in markdown
    assert "- prompt: 'Capital of France?'" in markdown  # both contain Paris; token F1 tells them apart
    assert "- prompt: 'Capital of Spain?'" not in markdown  # both wrong on every metric: no difference
    assert result.report_html_uri is not None
    html = read(s3, result.report_html_uri)
    assert html.startswith("<!doctype html>")
    assert html.count("<svg") == 3  # metric bars, differences with intervals, loss curves


def test_the_requests_use_the_familys_body_and_the_evaluation_settings(moto_aws, s3, make_run):
    run = make_run({"evaluation": {"max_tokens": 64, "temperature": 0.5, "top_p": 0.7}})
    put_test_set(s3, run, jsonl(QA[:1]))
    models = knows({"Capital of France?": "Paris"}, {"Capital of France?": "Paris"})
    result = evaluate(run, pt(run))
    expected = {
        "inputText": "Capital of France?",
        "textGenerationConfig": {"maxTokenCount": 64, "temperature": 0.5, "topP": 0.7},
    }
    assert sorted((op, model) for op, model, _ in models.requests) == [
        ("InvokeModel", BASE),
        ("InvokeModel", THROUGHPUT_ARN),
    ]
    assert all(body == expected for _, _, body in models.requests)
    assert result.custom.correct == result.base.correct == 1
    assert result.custom_beats_base is False
    assert result.training is None  # no job given: nothing to judge


def test_converse_models_are_called_through_converse_with_the_system_prompt(moto_aws, s3, make_run):
    run = make_run({"base_model_id": "amazon.nova-micro-v1:0"})
    record = {
        "schemaVersion": "bedrock-conversation-2024",
        "system": [{"text": "Answer with a city."}],
        "messages": [
            {"role": "user", "content": [{"text": "Capital of France?"}]},
            {"role": "assistant", "content": [{"text": "Paris"}]},
        ],
    }
    put_test_set(s3, run, jsonl([record]))
    models = FakeModels(by_table({(THROUGHPUT_ARN, "Capital of France?"): "Paris"}, "London"), InvocationStyle.CONVERSE)
    result = evaluate(run, pt(run))
    assert {(op, model) for op, model, _ in models.requests} == {
        ("Converse", THROUGHPUT_ARN),
        ("Converse", "amazon.nova-micro-v1:0"),
    }
    for _, _, body in models.requests:
        assert body == {
            "messages": [{"role": "user", "content": [{"text": "Capital of France?"}]}],
            "system": [{"text": "Answer with a city."}],
            "inferenceConfig": {"maxTokens": 256, "temperature": 0.0, "topP": 0.9},
        }
    assert (result.custom.correct, result.base.correct) == (1, 0)


def test_a_clear_win_on_enough_examples_promotes(moto_aws, s3, make_run):
    run = make_run({"evaluation": {"metric": "token_f1"}})
    examples = capitals(30)  # decision.MIN_CONFIDENT_EXAMPLES
    put_test_set(s3, run, jsonl(examples))
    knows({e["prompt"]: e["completion"] for e in examples})
    result = evaluate(run, pt(run))
    assert result.decision is not None
    assert result.decision.metric == "token_f1"
    assert result.custom_beats_base is result.decision.promote is True
    f1 = next(c for c in result.comparison if c.metric == "token_f1")
    assert (f1.custom, f1.base, f1.ci_low, f1.ci_high) == (1.0, 0.0, 1.0, 1.0)


@pytest.mark.parametrize(
    ("rule", "why"),
    [
        ({"min_improvement": 0.6}, "custom does not beat base by more than 0.6"),
        ({"floor": 0.9, "require_confidence": False}, "custom is below the floor 0.9"),
    ],
)
def test_the_promotion_rules_knobs_come_from_the_settings(moto_aws, s3, make_run, rule, why):
    # custom right on 16 of 20, base on 6 of 20 (the same first six): +0.5 contains match, custom at 0.8
    run = make_run({"evaluation": rule})
    examples = capitals(20)
    put_test_set(s3, run, jsonl(examples))
    knows({e["prompt"]: e["completion"] for e in examples[:16]}, {e["prompt"]: e["completion"] for e in examples[:6]})
    result = evaluate(run, pt(run))
    assert (result.custom.accuracy, result.base.accuracy) == (0.8, 0.3)
    assert result.custom_beats_base is False
    assert result.decision is not None and why in result.decision.reason
    assert result.margin == run.settings.evaluation.min_improvement


def test_only_max_examples_are_evaluated_and_malformed_test_lines_are_skipped(moto_aws, s3, make_run):
    run = make_run({"evaluation": {"max_examples": 2}})
    put_test_set(s3, run, b"not json\n\n" + jsonl([{"prompt": "q"}, *QA]))
    models = knows({"Capital of France?": "Paris", "Capital of Italy?": "Rome"})
    result = evaluate(run, pt(run))
    assert result.custom.examples == result.base.examples == 2
    assert result.custom.correct == 2
    assert sum(models.calls.values()) == 4


def test_a_response_of_the_wrong_shape_is_an_error_not_a_wrong_answer(moto_aws, s3, make_run):
    run = make_run()
    put_test_set(s3, run, jsonl(QA[:2]))
    models = knows({"Capital of Italy?": "Rome"}, {"Capital of France?": "Paris", "Capital of Italy?": "Rome"})
    models.script[(THROUGHPUT_ARN, "Capital of France?")] = [{"generation": "Paris"}]  # a Llama body
    result = evaluate(run, pt(run))
    assert (result.custom.correct, result.custom.errors) == (1, 1)


def test_throttled_and_not_ready_calls_are_retried_not_counted_as_errors(moto_aws, s3, make_run):
    run = make_run()
    put_test_set(s3, run, jsonl(QA))
    answers = {q["prompt"]: q["completion"] for q in QA}
    models = knows(answers, answers)
    models.script[(THROUGHPUT_ARN, "Capital of Italy?")] = [("ThrottlingException", 429)] * 3
    models.script[(BASE, "Capital of Spain?")] = [("ModelNotReadyException", 429), ("ThrottlingException", 429)]
    result = evaluate(run, pt(run))
    assert (result.custom.correct, result.custom.errors, result.base.correct, result.base.errors) == (3, 0, 3, 0)
    assert models.calls[(THROUGHPUT_ARN, "Capital of Italy?")] == 4
    assert models.calls[(BASE, "Capital of Spain?")] == 3
    rows = [json.loads(line) for line in read(s3, evaluation_uri(run, "examples.jsonl")).splitlines()]
    assert [r["custom"]["attempts"] for r in rows] == [1, 4, 1]


def test_every_call_to_a_model_failing_is_an_evaluation_error(moto_aws, s3, make_run):
    run = make_run({"evaluation": {"max_attempts": 1}})
    put_test_set(s3, run, jsonl(QA[:2]))
    knows({}, {"Capital of France?": "Paris", "Capital of Italy?": "Rome"}).answer = lambda model, prompt: (
        ("ModelNotReadyException", 429) if model == THROUGHPUT_ARN else "Paris"
    )
    with pytest.raises(EvaluationError) as caught:
        evaluate(run, pt(run))
    assert str(caught.value) == (
        f"every call to {THROUGHPUT_ARN} failed; first error: AwsServiceUnavailableError: "
        f"invoking {THROUGHPUT_ARN}: ModelNotReadyException: ModelNotReadyException (fake) (after 1 attempts)"
    )


def test_every_call_to_the_base_failing_is_an_evaluation_error_too(moto_aws, s3, make_run):
    run = make_run()
    put_test_set(s3, run, jsonl(QA[:1]))
    models = knows({"Capital of France?": "Paris"})
    models.script[(BASE, "Capital of France?")] = [("AccessDeniedException", 403)]
    with pytest.raises(EvaluationError, match=f"^every call to {BASE} failed; first error: AwsRequestRejectedError"):
        evaluate(run, pt(run))


def test_a_run_without_a_test_set_cannot_be_evaluated(moto_aws, make_run):
    run = make_run(test=False)
    with pytest.raises(EvaluationError, match=r"^the run has no test set \(input\.test_data\)$"):
        evaluate(run, pt(run))
    with pytest.raises(EvaluationError, match=r"^the run has no test set \(input\.test_data\)$"):
        plan(run, pt(run))


def test_a_test_set_without_usable_examples_cannot_be_evaluated(moto_aws, s3, make_run):
    run = make_run()
    put_test_set(s3, run, b'{"prompt": "q"}\nnot json\n')
    assert run.data.test is not None
    with pytest.raises(EvaluationError, match=f"^no usable examples in {run.data.test.uri}$"):
        evaluate(run, pt(run))


def test_concurrent_calls_keep_each_answer_with_its_example(moto_aws, s3, make_run):
    # Given forty examples asked eight at a time; the custom model knows the even-numbered ones, the base none
    run = make_run({"evaluation": {"concurrency": 8}})
    examples = [{"prompt": f"code {i}?", "completion": f"answer-{i}"} for i in range(40)]
    put_test_set(s3, run, jsonl(examples))
    models = knows({e["prompt"]: e["completion"] for i, e in enumerate(examples) if i % 2 == 0})

    result = evaluate(run, pt(run))

    # Then every example was asked of each model once, and each row holds its own example's answers
    assert set(models.calls.values()) == {1}
    assert len(models.calls) == 80
    assert (result.custom.correct, result.base.correct) == (20, 0)
    rows = [json.loads(line) for line in read(s3, evaluation_uri(run, "examples.jsonl")).splitlines()]
    for row in rows:
        number = int(row["expected"].split("-")[1])
        assert row["custom"]["text"] == (row["expected"] if number % 2 == 0 else "I do not know.")


def test_a_step_short_of_time_saves_its_answers_and_the_retry_resumes(moto_aws, s3, make_run):
    # Given 30 examples, and a step whose time runs out once ten calls have been made
    run = make_run({"evaluation": {"concurrency": 2}})
    examples = capitals(30)
    put_test_set(s3, run, jsonl(examples))
    models = knows({e["prompt"]: e["completion"] for e in examples})

    def time_left() -> float:
        return 600.0 if sum(models.calls.values()) < 10 else 30.0

    # When the step runs, it stops starting calls, saves what it has, and says so
    with pytest.raises(EvaluationPausedError, match=r"answers saved to s3://.*/evaluation/partial/answers\.json"):
        evaluate(run, pt(run), time_left=time_left)
    saved = json.loads(read(s3, evaluation_uri(run, "partial/answers.json")))
    asked_first = sum(models.calls.values())
    assert saved["complete"] is False
    assert sum(len(a) for a in saved["answers"].values()) == asked_first

    # Then the retried step asks only the rest: no example is asked twice, none counted twice
    result = evaluate(run, pt(run))
    assert set(models.calls.values()) == {1}
    assert sum(models.calls.values()) == 60
    assert (result.custom.examples, result.custom.correct, result.base.examples) == (30, 30, 30)
    assert json.loads(read(s3, evaluation_uri(run, "partial/answers.json")))["complete"] is True

    # and a step retried after it finished asks nothing again
    evaluate(run, pt(run))
    assert sum(models.calls.values()) == 60


def test_small_test_sets_are_evaluated_in_one_step(moto_aws, s3, make_run):
    run = make_run({"evaluation": {"fan_out_above": 3}})
    put_test_set(s3, run, jsonl(QA))
    planned = plan(run, pt(run))
    assert (planned.examples, planned.fan_out, planned.chunks) == (3, False, [])


def test_large_test_sets_fan_out_in_chunks_and_aggregate_to_the_one_step_result(moto_aws, s3, make_run):
    # Given 23 examples, chunks of 5 above 10 examples, and a custom model that knows two thirds of them
    run = make_run({"evaluation": {"fan_out_above": 10, "chunk_size": 5, "concurrency": 4}})
    examples = capitals(23)
    put_test_set(s3, run, jsonl(examples))
    models = knows({e["prompt"]: e["completion"] for i, e in enumerate(examples) if i % 3})

    # When the evaluation is planned, each chunk evaluated, and the chunks aggregated
    planned = plan(run, pt(run))
    assert planned.fan_out is True
    assert [(c.index, c.first, c.examples) for c in planned.chunks] == [
        (0, 0, 5),
        (1, 5, 5),
        (2, 10, 5),
        (3, 15, 5),
        (4, 20, 3),
    ]
    assert all(c.uri == evaluation_uri(run, f"chunks/{c.index:04d}.json") for c in planned.chunks)
    assert all(c.concurrency == {"custom": 1, "base": 1} for c in planned.chunks)  # 4 shared by 5 chunks at once
    for chunk in planned.chunks:
        summary = evaluate_chunk(run, pt(run), chunk)
        assert summary == {
            "chunk": chunk.index,
            "examples": chunk.examples,
            "errors": {"custom": 0, "base": 0},
            "answers_uri": answers_uri(chunk),
        }
    fanned = aggregate(run, pt(run), job(run), planned)

    # Then each example was asked once per model, and the result is the one-step path's, to the digit
    assert sum(models.calls.values()) == 46 and set(models.calls.values()) == {1}
    single = evaluate(run.model_copy(update={"report_prefix": run.report_prefix + "single/"}), pt(run), job(run))
    assert fanned.mode == "fan_out"
    assert fanned.custom.correct == 15
    for field in ("examples", "correct", "errors", "accuracy", "exact_match", "token_f1", "rouge_l", "output_words"):
        assert getattr(fanned.custom, field) == getattr(single.custom, field), field
        assert getattr(fanned.base, field) == getattr(single.base, field), field
    assert fanned.comparison == single.comparison
    assert fanned.decision == single.decision
    rows = [json.loads(line) for line in read(s3, evaluation_uri(run, "examples.jsonl")).splitlines()]
    assert [r["index"] for r in rows] == list(range(23))
    assert [r["expected"] for r in rows] == [e["completion"] for e in examples]


def test_aggregation_refuses_a_chunk_without_complete_answers(moto_aws, s3, make_run):
    run = make_run({"evaluation": {"fan_out_above": 2, "chunk_size": 2}})
    put_test_set(s3, run, jsonl(QA))
    planned = plan(run, pt(run))
    knows({})
    evaluate_chunk(run, pt(run), planned.chunks[0])
    assert not exists(s3, answers_uri(planned.chunks[1]))
    with pytest.raises(EvaluationError, match=r"^chunk 1 has no complete answers at s3://.*/chunks/0001.answers.json$"):
        aggregate(run, pt(run), None, planned)


def test_the_training_run_is_judged_from_the_jobs_metric_files(moto_aws, s3, make_run, artifacts_bucket):
    run = make_run(validation=True)
    put_test_set(s3, run, jsonl(QA))
    knows({})
    root = f"s3://{artifacts_bucket}/runs/{run.run_id}/job-output/model-customization-job-x/"
    training = "step_number,epoch_number,training_loss,perplexity\n" + "".join(
        f"{s},0,{2 - s / 10},{2.7 ** (2 - s / 10)}\n" for s in range(1, 13)
    )
    validation = "step_number,epoch_number,validation_loss,perplexity\n4,0,1.5,4.48\n8,0,1.2,3.32\n12,0,1.4,4.05\n"
    bucket, key = aws.split_s3_uri(root)
    s3.put_object(Bucket=bucket, Key=key + "training_artifacts/step_wise_training_metrics.csv", Body=training)
    s3.put_object(
        Bucket=bucket,
        Key=key + "validation_artifacts/post_fine_tuning_validation/validation/validation_metrics.csv",
        Body=validation,
    )

    result = evaluate(run, pt(run), job(run, {"output_uri": root}))

    assert result.training is not None
    assert (result.training.training_steps, result.training.validation_points) == (12, 3)
    assert result.training.final_training_loss == pytest.approx(0.8)
    assert result.training.best_validation_loss == 1.2
    assert result.training.final_validation_perplexity == 4.05
    assert [w.split(":")[0] for w in result.training.warnings] == ["overfitting"]
    report = json.loads(read(s3, result.report_uri))
    assert len(report["loss_curves"]["training"]) == 12
    assert result.report_html_uri is not None
    assert "overfitting: validation loss rose from 1.2 (step 8) to 1.4 (step 12)" in read(s3, result.report_html_uri)


def test_a_label_like_test_set_gets_per_label_accuracy(moto_aws, s3, make_run):
    run = make_run()
    examples = [{"prompt": f"Review {i}: ...", "completion": "positive" if i % 2 else "negative"} for i in range(12)]
    put_test_set(s3, run, jsonl(examples))
    knows({e["prompt"]: e["completion"] for e in examples}, {e["prompt"]: "positive" for e in examples})
    result = evaluate(run, pt(run))
    report = json.loads(read(s3, result.report_uri))
    assert report["labels"] == [
        {"label": "negative", "support": 6, "custom": 1.0, "base": 0.0},
        {"label": "positive", "support": 6, "custom": 1.0, "base": 1.0},
    ]
    assert "## Per-label accuracy (exact match)" in read(s3, result.report_markdown_uri)
