"""The grader's check before any job (``Validate the run``, RFT runs): the run's grader is called with the
documented request (``customizer.grading.reward``) on sample records built from the training data, and refused
(GraderRejectedError, naming the grader) when it

- crashes (the invoke answers with a FunctionError), times out, or answers out of the documented form
  (not a list, an id missing, a score that is not a number, or one outside [0, 1]): ``invoke.call_grader``;
- gives a record's reference answer, offered as the model's answer, less than the maximum (1): a grader that
  cannot recognise the answer it is meant to reward would train the model on noise;
- gives an empty answer the maximum: a grader any answer satisfies teaches nothing.

The reference answer as an answer: text as it is; an object or list as the text the project's scorers compare
(their ``reference_path``, or the JSON text). A user's own Lambda given structured reference answers is spared the
reference check (what answer it expects for an object is its own), and is checked for the rest."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from customizer import aws
from customizer.errors import AwsRequestRejectedError, GraderRejectedError, ResourceMissingError
from customizer.grading.invoke import call_grader
from customizer.grading.reward import GRADER_FIELD, REFERENCE_FIELD, request_records
from customizer.grading.scorers import reference_text, text_of
from customizer.grading.spec import GraderSettings
from customizer.validation import reader

# Records of the training data the check builds its samples from (two samples each: reference and empty).
SAMPLE_RECORDS = 3
MAXIMUM = 1.0
_CLOSE = 1e-9


@dataclass(frozen=True)
class Sample:
    """A training record reduced to what a grader gets: its prompt messages and its reference answer."""

    line: int
    messages: list[Any]
    reference: Any
    # The record's other fields, which Bedrock passes to the grader in metadata (the user guide's "Additional
    # properties"): a grader may need them.
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PreflightResult:
    grader: str  # how the check named the grader
    samples: int
    reference_scores: dict[str, float]
    empty_scores: dict[str, float]

    def as_dict(self) -> dict[str, Any]:
        """For the validation report (``grader_check``): what was called, on how many records, what it gave."""
        return asdict(self)


def describe(grader: GraderSettings, reward_function_arn: str | None) -> str:
    if grader.lambda_arn is not None:
        return f"the grader {grader.lambda_arn} (settings.grader.lambda_arn)"
    return f"the pipeline's reward function {reward_function_arn} with settings.grader {json.dumps(grader.spec())}"


def samples_of(lines: Iterable[bytes], count: int = SAMPLE_RECORDS) -> list[Sample]:
    """The first ``count`` records with prompt messages and a reference answer (the data check has run)."""
    found: list[Sample] = []
    for number, line in enumerate(lines, start=1):
        if len(found) >= count:
            break
        try:
            record = json.loads(line)
        except (UnicodeDecodeError, json.JSONDecodeError):
            continue
        if not isinstance(record, dict) or record.get(REFERENCE_FIELD) is None:
            continue
        messages = record.get("messages")
        if not isinstance(messages, list) or not messages:
            continue
        # The model answers the prompt: an assistant turn at the end of a record is not part of it.
        if isinstance(messages[-1], dict) and messages[-1].get("role") == "assistant":
            messages = messages[:-1]
        extra = {k: v for k, v in record.items() if k not in ("messages", REFERENCE_FIELD, GRADER_FIELD)}
        found.append(Sample(number, messages, record[REFERENCE_FIELD], extra))
    return found


def read_samples(training_uri: str, count: int = SAMPLE_RECORDS) -> list[Sample]:
    """The samples from the head of the training data (streamed: the rest is not read)."""
    bucket, key = aws.split_s3_uri(training_uri, "input.training_data")
    with aws.translate_errors("reading input.training_data for the grader's check"):
        body = aws.client("s3").get_object(Bucket=bucket, Key=key)["Body"]
        lines: list[bytes] = []
        for line in body.iter_lines(chunk_size=reader.CHUNK_BYTES):
            if line.strip():
                lines.append(line)
                if len(lines) >= count * 4:
                    break
        body.close()
    return samples_of(lines, count)


def _as_answer(grader: GraderSettings, reference: Any) -> str | None:
    """The reference answer offered as the model's answer; None where the check cannot say what it is."""
    if isinstance(reference, str):
        return reference
    if not grader.builtin:
        return None
    paths = {part.reference_path for part in grader.parts if part.scorer not in ("regex", "json_field")}
    text = reference_text(reference, paths.pop() if len(paths) == 1 else None)
    return text if text is not None else text_of(reference)


def check_grader(
    grader: GraderSettings,
    samples: Sequence[Sample],
    *,
    reward_function_arn: str | None,
    allowed_lambda_arns: Sequence[str] = (),
) -> PreflightResult:
    """Call the grader on the samples and refuse it as the module's docstring says."""
    what = describe(grader, reward_function_arn)
    arn = grader.lambda_arn or reward_function_arn
    if not arn:
        raise GraderRejectedError(f"{what}: the stack gives this function no reward function to call")
    if not samples:
        raise GraderRejectedError(
            f"{what}: no training record with messages and a reference_answer to check the grader on"
        )
    references: dict[str, str] = {}
    rows: list[tuple[str, list[Any], str, Any, dict[str, Any]]] = []
    for sample in samples:
        answer = _as_answer(grader, sample.reference)
        if answer is not None:
            references[f"preflight-{sample.line}-reference"] = answer
            rows.append((f"preflight-{sample.line}-reference", sample.messages, answer, sample.reference, sample.extra))
        rows.append((f"preflight-{sample.line}-empty", sample.messages, "", sample.reference, sample.extra))
    try:
        scores = call_grader(arn, request_records(rows, grader), what=what)
    except (ResourceMissingError, AwsRequestRejectedError) as exc:
        hint = ""
        if grader.lambda_arn is not None and grader.lambda_arn not in allowed_lambda_arns:
            # IAM decides who may call it; this deployment grants only the graders cdk.json names.
            hint = (
                f"; it is not among the graders this deployment may call (pipeline.grader_lambda_arns in cdk.json: "
                f"{', '.join(allowed_lambda_arns) or 'none'}): add it there and deploy, so that Bedrock's "
                "customization role and the pipeline are granted lambda:InvokeFunction on it"
            )
        raise GraderRejectedError(f"{what} could not be called: {exc}{hint}") from None
    line_of = {f"preflight-{s.line}-{kind}": s.line for s in samples for kind in ("reference", "empty")}
    for record_id in references:
        if scores[record_id] < MAXIMUM - _CLOSE:
            raise GraderRejectedError(
                f"{what} gives the reference answer of training line {line_of[record_id]} {scores[record_id]:g}, "
                f"less than the maximum {MAXIMUM:g}: it does not reward the answer it is meant to "
                f"(answer sent: {references[record_id][:120]!r})"
            )
    empty = {i: s for i, s in scores.items() if i.endswith("-empty")}
    for record_id, score in empty.items():
        if score >= MAXIMUM - _CLOSE:
            raise GraderRejectedError(
                f"{what} gives an empty answer to training line {line_of[record_id]} the maximum {score:g}: "
                "any answer would satisfy it"
            )
    return PreflightResult(
        grader=what,
        samples=len(samples),
        reference_scores={i: scores[i] for i in references},
        empty_scores=empty,
    )
