"""The judge (settings.evaluation.judge): datasets and jobs (stubbed Bedrock, checked against botocore's
shapes by the Stubber), polling, the output read back in the user guide's layout (written here by hand, in a
shuffled order), judge metrics with paired intervals in the decision, and a failed judge both ways."""

from __future__ import annotations

import json
import random
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.stub import ANY, Stubber

from customizer import aws
from customizer.errors import EvaluationError, JudgeFailedError
from customizer.evaluation import evaluate
from customizer.evaluation import judge as judge_module
from customizer.evaluation import runner as runner_module
from customizer.evaluation.judge import (
    MAX_PROMPTS,
    check,
    conclude,
    dataset_lines,
    job_name,
    start,
    stop_running_jobs,
)
from customizer.evaluation.steps import evaluation_uri
from customizer.models import Evaluation, JudgeJob, JudgeState, Run
from customizer.settings import EvaluationSettings, builtin_metric_key
from customizer.validation.cost import JUDGE_OUTPUT_TOKENS, JUDGE_PROMPT_TOKENS, estimate_judge_cost
from tests.unit.core.test_evaluation import job, jsonl, knows, pt, put_test_set, read

ROLE = "arn:aws:iam::123456789012:role/judge"
KEY = "arn:aws:kms:us-east-1:123456789012:key/0b1c2d3e-1111-2222-3333-444455556666"
RUBRIC = {
    "name": "Tone",
    "instructions": "Is the answer polite? {{prediction}}",
    "rating_scale": [{"definition": "rude", "value": 0}, {"definition": "polite", "value": 1}],
}
JUDGE_ON = {"enabled": True, "metrics": ["Builtin.Correctness"], "custom_metrics": [RUBRIC], "poll_seconds": 5}


@pytest.fixture(autouse=True)
def fast_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runner_module, "BACKOFF_BASE_SECONDS", 0.001)


def capitals(count: int) -> list[dict[str, str]]:
    return [{"prompt": f"Capital of country {i}?", "completion": f"City{i}"} for i in range(count)]


def evaluated(s3: Any, make_run: Any, count: int = 40, **evaluation: Any) -> tuple[Run, Evaluation]:
    """A run evaluated on ``count`` examples: custom right on all, base on none, one base call refused."""
    run = make_run({"evaluation": {"judge": JUDGE_ON, "max_examples": count, **evaluation}})
    examples = capitals(count)
    put_test_set(s3, run, jsonl(examples))
    models = knows({e["prompt"]: e["completion"] for e in examples})
    models.script[("amazon.titan-text-express-v1", examples[0]["prompt"])] = [("AccessDeniedException", 403)]
    return run, evaluate(run, pt(run), job(run))


def create_response(run: Run, model: str, chunk: int = 0) -> dict[str, Any]:
    return {"jobArn": f"arn:aws:bedrock:us-east-1:123456789012:evaluation-job/{model[:4]}{chunk:08d}"}


def test_settings_name_judge_metrics_and_the_rule_may_use_them() -> None:
    settings = EvaluationSettings.model_validate({"metric": "judge.tone", "judge": JUDGE_ON})
    assert settings.judge.metric_keys == ["judge.correctness", "judge.tone"]
    assert settings.judge.service_names == {"judge.correctness": "Builtin.Correctness", "judge.tone": "Tone"}
    assert builtin_metric_key("Builtin.ProfessionalStyleAndTone") == "judge.professional_style_and_tone"
    with pytest.raises(ValueError, match=re.escape("judge metrics need judge.enabled")):
        EvaluationSettings.model_validate({"metric": "judge.correctness"})
    with pytest.raises(ValueError, match="rating_scale needs at least two different values"):
        EvaluationSettings.model_validate(
            {"judge": {**JUDGE_ON, "custom_metrics": [{**RUBRIC, "rating_scale": [RUBRIC["rating_scale"][0]] * 2}]}}
        )
    assert EvaluationSettings().judge.enabled is False  # off by default


def test_start_writes_precomputed_datasets_and_creates_one_job_per_model(
    s3: Any, bedrock: Stubber, make_run: Any
) -> None:
    run, _ = evaluated(s3, make_run)
    for model in ("custom", "base"):
        expected = {
            "jobName": job_name(run, model, 0),
            "jobDescription": ANY,
            "roleArn": ROLE,
            "applicationType": "ModelEvaluation",
            "evaluationConfig": ANY,
            "inferenceConfig": {"models": [{"precomputedInferenceSource": {"inferenceSourceIdentifier": model}}]},
            "outputDataConfig": {"s3Uri": evaluation_uri(run, "judge/output/")},
            "clientRequestToken": ANY,
            "customerEncryptionKeyId": KEY,
            "jobTags": ANY,
        }
        bedrock.add_response("create_evaluation_job", create_response(run, model), expected)

    state = start(run, role_arn=ROLE, kms_key_arn=KEY, pipeline_tag="stack")

    assert [(j.model, j.chunk, j.status) for j in state.jobs] == [
        ("custom", 0, "InProgress"),
        ("base", 0, "InProgress"),
    ]
    custom = [
        json.loads(line) for line in read(s3, evaluation_uri(run, "judge/datasets/custom-000.jsonl")).splitlines()
    ]
    base = [json.loads(line) for line in read(s3, evaluation_uri(run, "judge/datasets/base-000.jsonl")).splitlines()]
    assert len(custom) == 40 and len(base) == 39  # the refused base call has no answer to grade
    assert custom[0] == {
        "prompt": "Capital of country 0?",
        "referenceResponse": "City0",
        "modelResponses": [{"response": "City0", "modelIdentifier": "custom"}],
    }
    assert base[0]["prompt"] == "Capital of country 1?"


def test_the_job_request_names_every_metric_and_the_rubric(make_run: Any) -> None:
    run = make_run({"evaluation": {"judge": JUDGE_ON}})
    request = judge_module.job_request(
        run,
        run.settings.evaluation.judge,
        name="n",
        model="custom",
        dataset_uri="s3://b/d.jsonl",
        output_uri="s3://b/o/",
    )
    automated = request["evaluationConfig"]["automated"]
    assert automated["datasetMetricConfigs"][0]["metricNames"] == ["Builtin.Correctness", "Tone"]
    assert automated["datasetMetricConfigs"][0]["taskType"] == "General"
    assert automated["evaluatorModelConfig"] == {
        "bedrockEvaluatorModels": [{"modelIdentifier": "amazon.nova-pro-v1:0"}]
    }
    definition = automated["customMetricConfig"]["customMetrics"][0]["customMetricDefinition"]
    assert definition["ratingScale"] == [
        {"definition": "rude", "value": {"floatValue": 0.0}},
        {"definition": "polite", "value": {"floatValue": 1.0}},
    ]


def test_datasets_are_chunked_at_the_services_limit_of_prompts(s3: Any, bedrock: Stubber, make_run: Any) -> None:
    # Given 1,001 saved examples (written as the evaluation writes examples.jsonl)
    run = make_run({"evaluation": {"judge": JUDGE_ON}})
    answer: dict[str, Any] = {"text": "a", "error": None, "scores": {}}
    rows = [
        {"index": i, "prompt": f"q{i}", "system": None, "expected": "a", "custom": answer, "base": answer}
        for i in range(MAX_PROMPTS + 1)
    ]
    bucket, key = aws.split_s3_uri(evaluation_uri(run, "examples.jsonl"))
    s3.put_object(Bucket=bucket, Key=key, Body="".join(json.dumps(r) + "\n" for r in rows).encode())
    assert len(dataset_lines(rows, "custom")) == MAX_PROMPTS + 1
    for model in ("custom", "base"):
        for chunk in (0, 1):
            bedrock.add_response(
                "create_evaluation_job", create_response(run, model, chunk), {"jobName": job_name(run, model, chunk)} | {
                    k: ANY for k in ("jobDescription", "roleArn", "applicationType", "evaluationConfig",
                                     "inferenceConfig", "outputDataConfig", "clientRequestToken",
                                     "customerEncryptionKeyId", "jobTags")})  # fmt: skip

    # When the judge starts, Then each model gets two jobs: 1,000 prompts and 1
    state = start(run, role_arn=ROLE, kms_key_arn=KEY, pipeline_tag="stack")
    assert [(j.model, j.chunk, j.first) for j in state.jobs] == [
        ("custom", 0, 0), ("custom", 1, 1000), ("base", 0, 0), ("base", 1, 1000)
    ]  # fmt: skip
    sizes = [len(read(s3, evaluation_uri(run, f"judge/datasets/custom-{c:03d}.jsonl")).splitlines()) for c in (0, 1)]
    assert sizes == [1000, 1]


def _state(run: Run, *statuses: str, started: datetime | None = None) -> JudgeState:
    jobs = [
        JudgeJob(
            model="custom" if i == 0 else "base",
            chunk=0,
            first=0,
            job_arn=f"arn:aws:bedrock:us-east-1:123456789012:evaluation-job/job{i:09d}",
            job_name=job_name(run, "custom" if i == 0 else "base", 0),
            output_uri=evaluation_uri(run, "judge/output/"),
            status=status,
        )
        for i, status in enumerate(statuses)
    ]
    return JudgeState(status="InProgress", jobs=jobs, started_at=(started or datetime.now(UTC)).isoformat())


def _described(job: JudgeJob, status: str, failures: list[str] | None = None) -> dict[str, Any]:
    described: dict[str, Any] = {
        "jobName": job.job_name,
        "status": status,
        "jobArn": job.job_arn,
        "roleArn": ROLE,
        "jobType": "Automated",
        "evaluationConfig": {
            "automated": {
                "datasetMetricConfigs": [
                    {
                        "taskType": "General",
                        "dataset": {"name": "answers", "datasetLocation": {"s3Uri": "s3://bucket/d.jsonl"}},
                        "metricNames": ["Builtin.Correctness"],
                    }
                ]
            }
        },
        "inferenceConfig": {"models": [{"precomputedInferenceSource": {"inferenceSourceIdentifier": job.model}}]},
        "outputDataConfig": {"s3Uri": job.output_uri},
        "creationTime": datetime.now(UTC),
    }
    if failures:
        described["failureMessages"] = failures
    return described


def test_check_waits_until_every_job_completed(bedrock: Stubber, make_run: Any) -> None:
    run = make_run({"evaluation": {"judge": JUDGE_ON}})
    state = _state(run, "InProgress", "InProgress")
    bedrock.add_response("get_evaluation_job", _described(state.jobs[0], "Completed"))
    bedrock.add_response("get_evaluation_job", _described(state.jobs[1], "InProgress"))
    state = check(run, state)
    assert (state.status, [j.status for j in state.jobs]) == ("InProgress", ["Completed", "InProgress"])
    bedrock.add_response("get_evaluation_job", _described(state.jobs[1], "Completed"))  # only the running one
    assert check(run, state).status == "Completed"


def test_one_failed_job_fails_the_judge_and_stops_the_other(bedrock: Stubber, make_run: Any) -> None:
    run = make_run({"evaluation": {"judge": JUDGE_ON}})
    state = _state(run, "InProgress", "InProgress")
    bedrock.add_response(
        "get_evaluation_job", _described(state.jobs[0], "Failed", ["The judge model is not available."])
    )
    bedrock.add_response("get_evaluation_job", _described(state.jobs[1], "InProgress"))
    bedrock.add_response(
        "get_evaluation_job", _described(state.jobs[1], "InProgress"), {"jobIdentifier": state.jobs[1].job_arn}
    )
    bedrock.add_response("stop_evaluation_job", {}, {"jobIdentifier": state.jobs[1].job_arn})
    checked = check(run, state)
    assert checked.status == "Failed"
    assert checked.message == (
        f"evaluation job {state.jobs[0].job_name} (custom answers) ended Failed: The judge model is not available."
    )


def test_a_judge_past_its_timeout_is_stopped_and_failed(bedrock: Stubber, make_run: Any) -> None:
    run = make_run({"evaluation": {"judge": {**JUDGE_ON, "timeout_minutes": 30}}})
    state = _state(run, "Completed", "InProgress", started=datetime.now(UTC) - timedelta(minutes=31))
    bedrock.add_response("get_evaluation_job", _described(state.jobs[1], "InProgress"))
    bedrock.add_response("get_evaluation_job", _described(state.jobs[1], "InProgress"))
    bedrock.add_response("stop_evaluation_job", {}, {"jobIdentifier": state.jobs[1].job_arn})
    checked = check(run, state)
    assert (checked.status, checked.message) == (
        "Failed",
        "the evaluation jobs did not finish within judge.timeout_minutes (30); stopped",
    )


def write_output(s3: Any, run: Run, job: JudgeJob, lines: list[dict[str, Any]]) -> None:
    """The user guide's layout: <output>/<job name>/<job uuid>/models/<label>/taskTypes/General/datasets/..."""
    bucket, prefix = aws.split_s3_uri(job.output_uri)
    key = f"{prefix}{job.job_name}/abc123/models/{job.model}/taskTypes/General/datasets/answers/0000_output.jsonl"
    s3.put_object(Bucket=bucket, Key=key, Body="".join(json.dumps(line) + "\n" for line in lines).encode())


def judged_line(record: dict[str, Any], correctness: float | None, tone: float) -> dict[str, Any]:
    scores = [
        {"metricName": "Tone", "result": tone, "evaluatorDetails": [{"explanation": f"tone {tone}"}]},
        {"metricName": "Builtin.Correctness", "result": correctness, "evaluatorDetails": [{"explanation": "why"}]},
    ]
    return {
        "automatedEvaluationResult": {"scores": scores},
        "inputRecord": {k: v for k, v in record.items() if k != "modelResponses"},
        "modelResponses": record["modelResponses"],
    }


def completed(s3: Any, run: Run, *, base_correctness: float = 0.0, missing: int = 0) -> JudgeState:
    """Both jobs Completed and their output written, the lines shuffled; ``missing`` custom lines lack a score."""
    state = _state(run, "Completed", "Completed").model_copy(update={"status": "Completed"})
    rng = random.Random(7)
    for job_, score in zip(state.jobs, (1.0, base_correctness), strict=True):
        records = [
            json.loads(line)
            for line in read(s3, evaluation_uri(run, f"judge/datasets/{job_.model}-000.jsonl")).splitlines()
        ]
        lines = [
            judged_line(r, None if i < missing and job_.model == "custom" else score, 1.0)
            for i, r in enumerate(records)
        ]
        rng.shuffle(lines)
        write_output(s3, run, job_, lines)
    return state


def _started(s3: Any, bedrock: Stubber, run: Run) -> None:
    for model in ("custom", "base"):
        bedrock.add_response("create_evaluation_job", create_response(run, model))
    start(run, role_arn=ROLE, kms_key_arn=KEY, pipeline_tag="stack")


def test_conclude_adds_judge_metrics_with_intervals_and_decides_by_one(
    s3: Any, bedrock: Stubber, make_run: Any
) -> None:
    run, evaluation = evaluated(s3, make_run, metric="judge.correctness")
    _started(s3, bedrock, run)
    concluded = conclude(run, pt(run), job(run), evaluation, completed(s3, run))

    compared = {c.metric: c for c in concluded.comparison}
    assert list(compared)[-2:] == ["judge.correctness", "judge.tone"]
    correctness = compared["judge.correctness"]
    # custom 1.0 on all 40; base 0 on its 39 answers and 0 on the refused call
    assert (correctness.custom, correctness.base, correctness.ci_low, correctness.ci_high) == (1.0, 0.0, 1.0, 1.0)
    assert compared["judge.tone"].difference == pytest.approx(1 / 40)  # the refused call scores 0 on tone too
    assert concluded.decision is not None and concluded.decision.metric == "judge.correctness"
    assert concluded.custom_beats_base is True
    assert concluded.decision.reason.startswith("promote: judge: correctness: custom 1.000 vs base 0.000")
    assert concluded.judge is not None and concluded.judge.status == "Completed"
    assert concluded.judge.scored == {"judge.correctness": 40, "judge.tone": 40}

    # the reports say so, with the judge's explanation for the examples that differ most
    markdown = read(s3, concluded.report_markdown_uri)
    assert "| judge: correctness | 1.000 | 0.000 | +1.000 | +1.000 to +1.000 |" in markdown
    assert "judge on custom: judge: tone 1.00: tone 1.0" in markdown
    assert "Judge model amazon.nova-pro-v1:0, 2 evaluation jobs" in markdown
    rows = [json.loads(line) for line in read(s3, evaluation_uri(run, "examples.jsonl")).splitlines()]
    assert rows[5]["custom"]["scores"]["judge.correctness"] == 1.0
    assert rows[5]["custom"]["judge"]["judge.correctness"] == "why"
    assert concluded.report_html_uri is not None
    assert "judge: correctness" in read(s3, concluded.report_html_uri)


def test_examples_without_a_judge_score_are_left_out_of_that_metric(s3: Any, bedrock: Stubber, make_run: Any) -> None:
    run, evaluation = evaluated(s3, make_run, metric="judge.correctness")
    _started(s3, bedrock, run)
    # 15 custom answers come back without a correctness score: 25 pairs remain, fewer than 30
    concluded = conclude(run, pt(run), job(run), evaluation, completed(s3, run, missing=15))
    assert concluded.judge is not None and concluded.judge.scored["judge.correctness"] == 25
    assert concluded.decision is not None and concluded.decision.promote is False
    assert "the interval rests on 25 test examples" in concluded.decision.reason


def test_a_failed_judge_leaves_the_string_decision_when_the_rule_names_a_string_metric(s3: Any, make_run: Any) -> None:
    run, evaluation = evaluated(s3, make_run, metric="token_f1")
    failed = _state(run, "Failed", "Stopped").model_copy(update={"status": "Failed", "message": "job x ended Failed"})
    concluded = conclude(run, pt(run), job(run), evaluation, failed)
    assert concluded.decision == evaluation.decision
    assert concluded.judge is not None and concluded.judge.status == "Failed"
    assert concluded.judge.message == "job x ended Failed; the string metrics decided (token_f1)"
    assert "The judge (amazon.nova-pro-v1:0) failed: job x ended Failed" in read(s3, concluded.report_markdown_uri)


def test_a_failed_judge_fails_the_run_when_the_rule_names_a_judge_metric(s3: Any, make_run: Any) -> None:
    run, evaluation = evaluated(s3, make_run, metric="judge.tone")
    failed = _state(run, "Failed", "Stopped").model_copy(update={"status": "Failed", "message": "job x ended Failed"})
    with pytest.raises(
        JudgeFailedError, match=re.escape("the promotion rule's metric is judge.tone, so the run cannot decide")
    ):
        conclude(run, pt(run), job(run), evaluation, failed)
    assert issubclass(JudgeFailedError, EvaluationError)


def test_cleanup_stops_the_runs_running_judge_jobs_by_name(bedrock: Stubber, make_run: Any) -> None:
    run = make_run({"evaluation": {"judge": JUDGE_ON}})
    mine = _state(run, "InProgress").jobs[0]
    summary = {
        "jobArn": mine.job_arn,
        "jobName": mine.job_name,
        "status": "InProgress",
        "creationTime": datetime.now(UTC),
        "jobType": "Automated",
        "evaluationTaskTypes": ["General"],
    }
    other = {**summary, "jobArn": mine.job_arn.replace("job0", "oth0"), "jobName": "judge-other-custom-000"}
    prefix = judge_module.job_prefix(run)
    bedrock.add_response(
        "list_evaluation_jobs",
        {"jobSummaries": [summary, other]},
        {"nameContains": prefix, "statusEquals": "InProgress"},
    )
    bedrock.add_response("get_evaluation_job", _described(mine, "InProgress"), {"jobIdentifier": mine.job_arn})
    bedrock.add_response("stop_evaluation_job", {}, {"jobIdentifier": mine.job_arn})
    assert stop_running_jobs(run) == [f"stopped evaluation job {mine.job_arn.rsplit('/', 1)[-1]}"]


def test_the_judges_tokens_and_price_are_estimated() -> None:
    estimate = estimate_judge_cost(
        judge_model_id="amazon.nova-pro-v1:0", metrics=2, examples=100, question_tokens=50, max_tokens=256
    )
    assert estimate.calls == 400  # 2 models x 100 answers x 2 metrics
    assert estimate.input_tokens == 400 * (JUDGE_PROMPT_TOKENS + 50 + 256)
    assert estimate.output_tokens == 400 * JUDGE_OUTPUT_TOKENS
    assert estimate.usd == round(estimate.input_tokens / 1000 * 0.0008 + estimate.output_tokens / 1000 * 0.0032, 2)
    unknown = estimate_judge_cost(judge_model_id="x.y", metrics=1, examples=1, question_tokens=1, max_tokens=1)
    assert unknown.usd is None
    priced = estimate_judge_cost(
        judge_model_id="x.y",
        metrics=1,
        examples=1,
        question_tokens=0,
        max_tokens=300,
        prices={"judge_per_1k_input_tokens": 1.0, "judge_per_1k_output_tokens": 2.0},
    )
    assert priced.usd == round(2 * 1000 / 1000 * 1.0 + 2 * 200 / 1000 * 2.0, 2)
