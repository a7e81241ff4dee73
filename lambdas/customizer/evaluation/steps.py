"""The evaluation as the state machine runs it (``stacks/workflow.py``):

- ``plan``: read the test set; up to ``settings.evaluation.fan_out_above`` examples, one step evaluates them
  all (``evaluate``); above, write the test set as chunk objects for a Distributed Map;
- ``evaluate``: ask both models every example (``runner``), then ``conclude``;
- ``evaluate_chunk``: one child of the Distributed Map: ask both models the examples of one chunk and save the
  answers beside it;
- ``aggregate``: read every chunk's answers back, in test-set order, then ``conclude``.

``conclude`` scores every answer (``metrics``), compares the models with paired bootstrap intervals
(``bootstrap``), applies the promotion rule (``decision``), judges the training run (``training_health``)
and writes the report (``report``). Both paths give the same result for the same answers.

A DISTILLATION run (``run.teacher_invoke_id``) has a third arm: the teacher answers every example on demand
too, and the report and the promotion rule (``evaluation.min_fraction_of_teacher``) compare custom with it.

Everything lives under ``<report prefix>evaluation/``: ``partial/answers.json`` (the one-step path's saved
answers), ``chunks/NNNN.json`` and ``chunks/NNNN.answers.json`` (the fanned-out path's), and the reports."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from typing import Any

from customizer import aws, distillation_outputs
from customizer.errors import EvaluationError, EvaluationPausedError
from customizer.evaluation import report
from customizer.evaluation.bootstrap import paired_bootstrap
from customizer.evaluation.decision import decide
from customizer.evaluation.metrics import (
    COMPARED_METRICS,
    is_label_like,
    mean,
    per_label_accuracy,
    percentile,
    score_answer,
)
from customizer.evaluation.runner import (
    BASE,
    CUSTOM,
    MODELS,
    TEACHER,
    Answer,
    Checkpoint,
    Progress,
    Runner,
    S3Store,
    Target,
    bedrock_invoker,
    concurrency_bounds,
)
from customizer.evaluation.training_health import Curves, assess, curves
from customizer.families import BaseModel, CustomizationType, DataFormat
from customizer.families.formats import Example, RecordError, evaluation_example, example_from_json
from customizer.families.invocation import InferenceConfig
from customizer.grading.evaluate import GRADER_METRIC, grader_scores
from customizer.jobs import read_metric_files
from customizer.models import (
    Decision,
    Evaluation,
    EvaluationChunk,
    EvaluationPlan,
    Job,
    MetricComparison,
    ModelScore,
    Run,
    TeacherComparison,
    Throughput,
    TrainingHealth,
)

# Seconds a step keeps for itself: it starts no call later than this before its time runs out (a call may take
# up to the evaluator client's read timeout, 60 s), then saves its answers and pauses. A step started with
# less time keeps a quarter of it.
RESERVE_SECONDS = 90.0
# Chunks evaluated at once: the Distributed Map's MaxConcurrency. The concurrency bound is shared among them.
CHUNKS_AT_ONCE = 10
# At most this many chunks (larger chunks beyond): the chunk list travels in the state (256 KB at most).
MAX_CHUNKS = 400
PARALLEL_S3 = 16

TimeLeft = Callable[[], float]  # seconds left in the step


# ---- reading ----


def load_examples(uri: str, data_format: DataFormat, limit: int, model: BaseModel | None = None) -> list[Example]:
    """The first ``limit`` usable examples of a JSONL test set (malformed lines were reported by the
    validation step and are skipped here), with the images and videos ``model`` takes."""
    bucket, key = aws.split_s3_uri(uri, "input.test_data")
    examples: list[Example] = []
    with aws.translate_errors("reading the test set"):
        body = aws.client("s3").get_object(Bucket=bucket, Key=key)["Body"]
        for raw in body.iter_lines():
            if len(examples) >= limit:
                break
            if not raw.strip():
                continue
            try:
                examples.append(evaluation_example(json.loads(raw), data_format, model))
            except (ValueError, RecordError):
                continue
    return examples


def _test_examples(run: Run) -> list[Example]:
    if not run.data.test:
        raise EvaluationError("the run has no test set (input.test_data)")
    data_format = run.settings.model.data_format(run.settings.customization_type)
    examples = load_examples(run.data.test.uri, data_format, run.settings.evaluation.max_examples, run.settings.model)
    if not examples:
        raise EvaluationError(f"no usable examples in {run.data.test.uri}")
    return examples


def _get_json(uri: str, what: str) -> Any:
    bucket, key = aws.split_s3_uri(uri, what)
    with aws.translate_errors(f"reading {what}"):
        return json.loads(aws.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read())


def _put(uri: str, body: bytes, content_type: str, what: str) -> None:
    bucket, key = aws.split_s3_uri(uri, what)
    with aws.translate_errors(f"writing {what}"):
        aws.client("s3").put_object(Bucket=bucket, Key=key, Body=body, ContentType=content_type)


def evaluation_uri(run: Run, name: str) -> str:
    return f"{run.report_prefix.rstrip('/')}/evaluation/{name}"


def answers_uri(chunk: EvaluationChunk) -> str:
    return chunk.uri.removesuffix(".json") + ".answers.json"


def chunk_examples(chunk: EvaluationChunk) -> list[Example]:
    saved = _get_json(chunk.uri, f"evaluation chunk {chunk.index}")
    return [example_from_json(example) for example in saved["examples"]]


# ---- asking ----


def _fingerprint(run: Run, throughput: Throughput, scope: str) -> str:
    """What saved answers answer: the same test data, models, inference settings and part of the test set."""
    settings = run.settings.evaluation
    assert run.data.test is not None
    identity = {
        "test": run.data.test.sha256,
        "max_examples": settings.max_examples,
        "custom": throughput.arn,
        "base": run.base_model_invoke_id,
        **({"teacher": run.teacher_invoke_id} if run.teacher_invoke_id else {}),
        "inference": [settings.max_tokens, settings.temperature, settings.top_p],
        "scope": scope,
    }
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()


def _ask(
    run: Run,
    throughput: Throughput,
    examples: Sequence[Example],
    *,
    checkpoint: Checkpoint,
    bounds: Mapping[str, int],
    time_left: TimeLeft | None,
) -> dict[str, dict[int, Answer]]:
    saved, complete = checkpoint.load()
    if complete:
        return saved
    settings = run.settings.evaluation
    config = InferenceConfig(max_tokens=settings.max_tokens, temperature=settings.temperature, top_p=settings.top_p)
    style, media = run.settings.model.invocation, run.settings.model.media
    base_id = run.base_model_invoke_id
    targets = [
        Target(CUSTOM, throughput.arn, bedrock_invoker(style, throughput.arn, config, media), bounds[CUSTOM]),
        Target(BASE, base_id, bedrock_invoker(style, base_id, config, media), bounds[BASE]),
    ]
    teacher_id = run.teacher_invoke_id
    if teacher_id:
        # The teacher shares the student's provider, so it takes the same request bodies.
        teacher_bound = bounds.get(TEACHER, bounds[BASE])
        targets.append(Target(TEACHER, teacher_id, bedrock_invoker(style, teacher_id, config, media), teacher_bound))
    progress = Progress(answers=saved)
    should_stop: Callable[[], bool] = lambda: False  # noqa: E731
    if time_left is not None:
        reserve = min(RESERVE_SECONDS, time_left() / 4)
        should_stop = lambda: time_left() < reserve  # noqa: E731
    runner = Runner(
        examples, targets, progress, max_attempts=settings.max_attempts, should_stop=should_stop, checkpoint=checkpoint
    )
    if not runner.run():
        _, answers = progress.snapshot()
        done = sum(len(found) for found in answers.values())
        raise EvaluationPausedError(
            f"{done} of {len(arms(run)) * len(examples)} answers saved to {checkpoint.uri} before the step's time ran "
            "out; the retried step resumes from them"
        )
    return progress.snapshot()[1]


def arms(run: Run) -> tuple[str, ...]:
    """The models the run's evaluation asks: custom and base, and a distillation's teacher."""
    return (*MODELS, TEACHER) if run.teacher_invoke_id else MODELS


# ---- the steps ----


def evaluate(
    run: Run, throughput: Throughput, job: Job | None = None, *, time_left: TimeLeft | None = None
) -> Evaluation:
    """Evaluate custom against base on the whole test set in this step."""
    examples = _test_examples(run)
    checkpoint = Checkpoint(
        S3Store(), evaluation_uri(run, "partial/answers.json"), _fingerprint(run, throughput, "all")
    )
    bounds = concurrency_bounds(
        run.settings.evaluation.concurrency, throughput.model_units, teacher=bool(run.teacher_invoke_id)
    )
    answers = _ask(run, throughput, examples, checkpoint=checkpoint, bounds=bounds, time_left=time_left)
    return conclude(run, throughput, job, examples, answers, mode="single")


def plan(run: Run, throughput: Throughput) -> EvaluationPlan:
    """One step, or chunks for a Distributed Map when the test set has more than ``fan_out_above`` examples."""
    examples = _test_examples(run)
    settings = run.settings.evaluation
    count = len(examples)
    if count <= settings.fan_out_above:
        return EvaluationPlan(examples=count, fan_out=False)
    size = max(settings.chunk_size, math.ceil(count / MAX_CHUNKS))
    starts = list(range(0, count, size))
    at_once = min(len(starts), CHUNKS_AT_ONCE)
    bounds = concurrency_bounds(settings.concurrency, throughput.model_units, teacher=bool(run.teacher_invoke_id))
    per_chunk = {model: max(1, bound // at_once) for model, bound in bounds.items()}
    chunks = [
        EvaluationChunk(
            index=index,
            uri=evaluation_uri(run, f"chunks/{index:04d}.json"),
            first=first,
            examples=len(examples[first : first + size]),
            concurrency=per_chunk,
        )
        for index, first in enumerate(starts)
    ]

    def write(chunk: EvaluationChunk) -> None:
        part = examples[chunk.first : chunk.first + chunk.examples]
        body = {"first": chunk.first, "examples": [asdict(e) for e in part]}
        _put(chunk.uri, json.dumps(body).encode(), "application/json", f"evaluation chunk {chunk.index}")

    with ThreadPoolExecutor(max_workers=PARALLEL_S3) as pool:
        list(pool.map(write, chunks))
    return EvaluationPlan(examples=count, fan_out=True, chunks=chunks)


def evaluate_chunk(
    run: Run, throughput: Throughput, chunk: EvaluationChunk, *, time_left: TimeLeft | None = None
) -> dict[str, Any]:
    """Ask both models the examples of one chunk; their answers are saved beside it (``answers_uri``)."""
    examples = chunk_examples(chunk)
    checkpoint = Checkpoint(S3Store(), answers_uri(chunk), _fingerprint(run, throughput, chunk.uri))
    bounds = chunk.concurrency or concurrency_bounds(
        run.settings.evaluation.concurrency, throughput.model_units, teacher=bool(run.teacher_invoke_id)
    )
    answers = _ask(run, throughput, examples, checkpoint=checkpoint, bounds=bounds, time_left=time_left)
    return {
        "chunk": chunk.index,
        "examples": len(examples),
        "errors": {model: sum(a.error is not None for a in answers[model].values()) for model in arms(run)},
        "answers_uri": checkpoint.uri,
    }


def aggregate(run: Run, throughput: Throughput, job: Job | None, plan: EvaluationPlan) -> Evaluation:
    """Every chunk's examples and answers, back in test-set order, concluded as one evaluation."""

    def read(chunk: EvaluationChunk) -> tuple[list[Example], dict[str, dict[int, Answer]]]:
        checkpoint = Checkpoint(S3Store(), answers_uri(chunk), _fingerprint(run, throughput, chunk.uri))
        answers, complete = checkpoint.load()
        if not complete:
            raise EvaluationError(f"chunk {chunk.index} has no complete answers at {checkpoint.uri}")
        return chunk_examples(chunk), answers

    with ThreadPoolExecutor(max_workers=PARALLEL_S3) as pool:
        parts = list(pool.map(read, sorted(plan.chunks, key=lambda c: c.first)))
    examples: list[Example] = []
    answers: dict[str, dict[int, Answer]] = {model: {} for model in arms(run)}
    for chunk, (part, found) in zip(sorted(plan.chunks, key=lambda c: c.first), parts, strict=True):
        if chunk.first != len(examples):
            raise EvaluationError(f"chunk {chunk.index} starts at example {chunk.first}, not {len(examples)}")
        examples.extend(part)
        for model in arms(run):
            answers[model].update({chunk.first + local: answer for local, answer in found[model].items()})
    if len(examples) != plan.examples:
        raise EvaluationError(f"the chunks hold {len(examples)} examples; the plan has {plan.examples}")
    return conclude(run, throughput, job, examples, answers, mode="fan_out")


# ---- concluding ----


def _model_score(model_id: str, answers: Sequence[Answer], scores: Sequence[Mapping[str, float]]) -> ModelScore:
    latencies = [a.latency_ms for a in answers if a.latency_ms is not None]
    return ModelScore(
        model_id=model_id,
        examples=len(answers),
        correct=sum(int(s["contains_match"]) for s in scores),
        errors=sum(a.error is not None for a in answers),
        accuracy=mean(s["contains_match"] for s in scores),
        exact_match=mean(s["exact_match"] for s in scores),
        token_f1=mean(s["token_f1"] for s in scores),
        rouge_l=mean(s["rouge_l"] for s in scores),
        output_words=mean(s["output_words"] for s in scores),
        latency_p50_ms=round(percentile(latencies, 0.50), 3) if latencies else None,
        latency_p95_ms=round(percentile(latencies, 0.95), 3) if latencies else None,
    )


def _training(run: Run, job: Job | None) -> tuple[TrainingHealth | None, Curves]:
    if job is None:
        return None, Curves([], [])
    root = job.metrics.get("output_uri")
    training, validation = read_metric_files(str(root)) if root else ([], [])
    health = assess(training, validation, has_validation_data=run.data.validation is not None)
    if run.settings.customization_type is CustomizationType.DISTILLATION and root:
        outputs = distillation_outputs.read(str(root))
        health = health.model_copy(
            update={"distillation": outputs, "warnings": [*health.warnings, *distillation_outputs.warnings(outputs)]}
        )
    return health, curves(training, validation)


def _side(answer: Answer, scores: Mapping[str, float]) -> dict[str, Any]:
    return {
        "text": answer.text,
        "error": answer.error,
        "attempts": answer.attempts,
        "latency_ms": answer.latency_ms,
        "scores": dict(scores),
    }


def conclude(
    run: Run,
    throughput: Throughput,
    job: Job | None,
    examples: Sequence[Example],
    answers: Mapping[str, Mapping[int, Answer]],
    *,
    mode: str,
) -> Evaluation:
    """Score, compare, decide, judge the training, and write the reports."""
    settings = run.settings.evaluation
    model_ids = {CUSTOM: throughput.arn, BASE: run.base_model_invoke_id, TEACHER: run.teacher_invoke_id or ""}
    ordered = {model: [answers[model][i] for i in range(len(examples))] for model in arms(run)}
    for model in MODELS:
        if all(a.error is not None for a in ordered[model]):
            first = next(a.error for a in ordered[model] if a.error)
            raise EvaluationError(f"every call to {model_ids[model]} failed; first error: {first}")
    scores = {
        model: [score_answer(e.completion, a.text) for e, a in zip(examples, ordered[model], strict=True)]
        for model in arms(run)
    }
    compared: tuple[str, ...] = COMPARED_METRICS
    if run.settings.grader is not None:
        # The run's grader scores the answers too (customizer.grading): the metric the reward was.
        compared = (*COMPARED_METRICS, GRADER_METRIC)
        for model in arms(run):
            graded = grader_scores(run.settings.grader, examples, [a.text for a in ordered[model]], model=model)
            for score, value in zip(scores[model], graded, strict=True):
                score[GRADER_METRIC] = value
    per_model = {model: _model_score(model_ids[model], ordered[model], scores[model]) for model in arms(run)}
    intervals = paired_bootstrap(
        {m: [s[m] for s in scores[CUSTOM]] for m in compared},
        {m: [s[m] for s in scores[BASE]] for m in compared},
        resamples=settings.bootstrap_resamples,
    )
    comparison = [
        MetricComparison(
            metric=m,
            custom=mean(s[m] for s in scores[CUSTOM]),
            base=mean(s[m] for s in scores[BASE]),
            difference=intervals[m].difference,
            ci_low=intervals[m].low,
            ci_high=intervals[m].high,
        )
        for m in compared
    ]
    teacher_comparison = _against_teacher(scores, compared, settings.bootstrap_resamples) if TEACHER in scores else []
    chosen = next((c for c in comparison if c.metric == settings.metric), None)
    decision = (
        decide(
            chosen,
            settings,
            len(examples),
            teacher=teacher_on(teacher_comparison, settings.metric),
            teacher_answered=TEACHER in per_model and per_model[TEACHER].errors < per_model[TEACHER].examples,
        )
        if chosen is not None
        # The rule names a judge metric: "Conclude with the judge" decides, once the judge has graded the answers.
        else Decision(
            promote=False,
            metric=settings.metric,
            reason=f"do not promote yet: {settings.metric} comes from the judge, which has not graded the answers",
        )
    )
    health, loss_curves = _training(run, job)
    uris = {name: evaluation_uri(run, name) for name in REPORT_FILES}
    evaluation = Evaluation(
        custom=per_model[CUSTOM],
        base=per_model[BASE],
        custom_beats_base=decision.promote,
        margin=settings.min_improvement,
        report_uri=uris["report.json"],
        report_markdown_uri=uris["report.md"],
        report_html_uri=uris["report.html"],
        mode="fan_out" if mode == "fan_out" else "single",
        decision=decision,
        comparison=comparison,
        training=health,
        teacher=per_model.get(TEACHER),
        teacher_comparison=teacher_comparison,
    )
    rows = [
        {
            "index": i,
            "prompt": e.prompt,
            "system": e.system,
            "expected": e.completion,
            CUSTOM: _side(ordered[CUSTOM][i], scores[CUSTOM][i]),
            BASE: _side(ordered[BASE][i], scores[BASE][i]),
            **({TEACHER: _side(ordered[TEACHER][i], scores[TEACHER][i])} if TEACHER in ordered else {}),
        }
        for i, e in enumerate(examples)
    ]
    publish(run, throughput, evaluation, rows, loss_curves)
    return evaluation


def _against_teacher(
    scores: Mapping[str, Sequence[Mapping[str, float]]], compared: Sequence[str], resamples: int
) -> list[TeacherComparison]:
    """custom - teacher on every compared metric (the grader's too), with paired bootstrap intervals, and
    custom / teacher."""
    intervals = paired_bootstrap(
        {m: [s[m] for s in scores[CUSTOM]] for m in compared},
        {m: [s[m] for s in scores[TEACHER]] for m in compared},
        resamples=resamples,
    )
    found = []
    for m in compared:
        custom, teacher = mean(s[m] for s in scores[CUSTOM]), mean(s[m] for s in scores[TEACHER])
        found.append(
            TeacherComparison(
                metric=m,
                custom=custom,
                teacher=teacher,
                difference=intervals[m].difference,
                ci_low=intervals[m].low,
                ci_high=intervals[m].high,
                fraction=custom / teacher if teacher > 0 else None,
            )
        )
    return found


def teacher_on(comparison: Sequence[TeacherComparison], metric: str) -> TeacherComparison | None:
    return next((c for c in comparison if c.metric == metric), None)


REPORT_FILES = ("report.json", "report.md", "report.html", "examples.jsonl")


def publish(
    run: Run, throughput: Throughput, evaluation: Evaluation, rows: Sequence[Mapping[str, Any]], loss_curves: Curves
) -> None:
    """Write the reports and every example (``examples.jsonl``) under the run's report prefix."""
    uris = {name: evaluation_uri(run, name) for name in REPORT_FILES}
    expected = [str(r["expected"]) for r in rows]
    labels = (
        per_label_accuracy(expected, [r[CUSTOM]["text"] for r in rows], [r[BASE]["text"] for r in rows])
        if is_label_like(expected)
        else []
    )
    data = report.ReportData(
        run_id=run.run_id,
        base_model_id=run.base_model_invoke_id,
        custom_model_id=throughput.arn,
        evaluation=evaluation,
        settings=run.settings.evaluation,
        rows=[dict(r) for r in rows],
        curves=loss_curves,
        labels=labels,
    )
    machine = json.dumps(report.to_json(data, uris["examples.jsonl"]), indent=2).encode()
    _put(uris["examples.jsonl"], report.to_jsonl(rows), "application/x-ndjson", "the evaluation's examples")
    _put(uris["report.md"], report.to_markdown(data).encode(), "text/markdown; charset=utf-8", "the report")
    _put(uris["report.html"], report.to_html(data).encode(), "text/html; charset=utf-8", "the report")
    _put(uris["report.json"], machine, "application/json", "the report")
