"""Evaluate the custom model (through its throughput) and its base model on the held-out test set.

The metric is the seed article's contains-match accuracy: an answer is correct when it contains the
expected completion, case-insensitively. Calls run concurrently within ``settings.evaluation.concurrency``;
a call that still fails after the SDK's retries is counted as an error, never silently dropped."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any

from customizer import aws
from customizer.errors import EvaluationError
from customizer.families import DataFormat, InvocationStyle
from customizer.families.formats import Example, RecordError, evaluation_example
from customizer.families.invocation import InferenceConfig, build_request, extract_text
from customizer.models import Evaluation, ModelScore, Run, Throughput


@dataclass
class Answer:
    text: str | None
    correct: bool
    latency_ms: float
    error: str | None = None


def contains_match(expected: str, predicted: str) -> bool:
    return expected.strip().lower() in predicted.lower()


def load_examples(uri: str, data_format: DataFormat, limit: int) -> list[Example]:
    bucket, key = aws.split_s3_uri(uri, "input.test_data")
    with aws.translate_errors("reading the test set"):
        body = aws.client("s3").get_object(Bucket=bucket, Key=key)["Body"]
        examples: list[Example] = []
        for raw in body.iter_lines():
            if len(examples) >= limit:
                break
            if not raw.strip():
                continue
            try:
                examples.append(evaluation_example(json.loads(raw), data_format))
            except (ValueError, RecordError):
                continue  # the validate step already reported malformed records
    return examples


def invoke(style: InvocationStyle, model_id: str, example: Example, config: InferenceConfig) -> Answer:
    request = build_request(style, model_id, example.prompt, config, system=example.system)
    runtime = aws.client("bedrock-runtime")
    started = time.perf_counter()
    try:
        with aws.translate_errors(f"invoking {model_id}"):
            if request.operation == "converse":
                response: dict[str, Any] = runtime.converse(**request.kwargs)
            else:
                response = json.loads(runtime.invoke_model(**request.kwargs)["body"].read())
        text = extract_text(style, response)
    except Exception as exc:
        return Answer(None, False, (time.perf_counter() - started) * 1000, f"{type(exc).__name__}: {exc}")
    return Answer(text, contains_match(example.completion, text), (time.perf_counter() - started) * 1000)


def _score(model_id: str, answers: list[Answer]) -> ModelScore:
    correct = sum(a.correct for a in answers)
    return ModelScore(
        model_id=model_id,
        examples=len(answers),
        correct=correct,
        errors=sum(a.error is not None for a in answers),
        accuracy=correct / len(answers) if answers else 0.0,
    )


def _markdown(run: Run, evaluation: Evaluation, rows: list[dict[str, Any]]) -> str:
    c, b = evaluation.custom, evaluation.base
    lines = [
        f"# Evaluation of run {run.run_id}",
        "",
        f"Base model `{run.settings.base_model_id}`, custom model served by `{c.model_id}`.",
        "",
        "| model | examples | correct | errors | contains-match accuracy |",
        "|---|---|---|---|---|",
        f"| custom | {c.examples} | {c.correct} | {c.errors} | {c.accuracy:.1%} |",
        f"| base | {b.examples} | {b.correct} | {b.errors} | {b.accuracy:.1%} |",
        "",
        f"Custom beats base: **{'yes' if evaluation.custom_beats_base else 'no'}** "
        f"(required margin {evaluation.margin:.1%}).",
        "",
        "## Examples where the models differ",
        "",
    ]
    differing = [r for r in rows if r["custom"]["correct"] != r["base"]["correct"]][:10]
    for row in differing:
        lines += [
            f"- prompt: {row['prompt'][:200]!r}",
            f"  - expected: {row['expected'][:200]!r}",
            f"  - custom ({'right' if row['custom']['correct'] else 'wrong'}): {str(row['custom']['text'])[:200]!r}",
            f"  - base ({'right' if row['base']['correct'] else 'wrong'}): {str(row['base']['text'])[:200]!r}",
        ]
    if not differing:
        lines.append("None: both models answered every example alike.")
    return "\n".join(lines) + "\n"


def evaluate(run: Run, throughput: Throughput) -> Evaluation:
    if not run.data.test:
        raise EvaluationError("the run has no test set (input.test_data)")
    model = run.settings.model
    settings = run.settings.evaluation
    examples = load_examples(
        run.data.test.uri, model.data_format(run.settings.customization_type), settings.max_examples
    )
    if not examples:
        raise EvaluationError(f"no usable examples in {run.data.test.uri}")
    config = InferenceConfig(max_tokens=settings.max_tokens, temperature=settings.temperature, top_p=settings.top_p)
    with ThreadPoolExecutor(max_workers=settings.concurrency) as pool:
        custom = list(pool.map(lambda e: invoke(model.invocation, throughput.arn, e, config), examples))
        base = list(pool.map(lambda e: invoke(model.invocation, run.settings.base_model_id, e, config), examples))
    custom_score, base_score = _score(throughput.arn, custom), _score(run.settings.base_model_id, base)
    for score in (custom_score, base_score):
        if score.errors == score.examples:
            first = next(a.error for a in (custom if score is custom_score else base) if a.error)
            raise EvaluationError(f"every call to {score.model_id} failed; first error: {first}")
    margin = settings.min_improvement
    rows = [
        {"prompt": e.prompt, "expected": e.completion, "custom": asdict(c), "base": asdict(b)}
        for e, c, b in zip(examples, custom, base, strict=True)
    ]
    bucket, prefix = aws.split_s3_uri(run.report_prefix + "evaluation/report.json", "report")
    markdown_key = prefix.rsplit("/", 1)[0] + "/report.md"
    evaluation = Evaluation(
        custom=custom_score,
        base=base_score,
        custom_beats_base=custom_score.accuracy > base_score.accuracy + margin,
        margin=margin,
        report_uri=f"s3://{bucket}/{prefix}",
        report_markdown_uri=f"s3://{bucket}/{markdown_key}",
    )
    report = {"run_id": run.run_id, "summary": evaluation.model_dump(mode="json"), "examples": rows}
    s3 = aws.client("s3")
    with aws.translate_errors("writing the evaluation report"):
        s3.put_object(
            Bucket=bucket, Key=prefix, Body=json.dumps(report, indent=2).encode(), ContentType="application/json"
        )
        s3.put_object(
            Bucket=bucket, Key=markdown_key, Body=_markdown(run, evaluation, rows).encode(), ContentType="text/markdown"
        )
    return evaluation
