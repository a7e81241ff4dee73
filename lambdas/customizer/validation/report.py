"""The pre-flight check's verdict and report: bounded lists of findings, per-file facts, token statistics,
the cost estimate; rendered as JSON (for tools) and Markdown (for people)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from customizer.validation.cost import CostEstimate, JudgeCostEstimate, ThroughputEstimate

EXAMPLES_PER_KIND = 5  # findings kept per kind; every finding is counted
SUMMARY_ERRORS = 5  # errors named in a one-line summary (the failure notification)
TEXT_LIMIT = 300  # characters of a field or message kept (a key or value may be any size)

ERROR_KINDS = {
    "settings": "a setting the base model does not take",
    "file_too_large": "the file is larger than the model takes",
    "byte_order_mark": "the file starts with a UTF-8 byte-order mark",
    "json_array": "the file is a JSON array, not JSON Lines",
    "pretty_printed": "a record spread over several lines",
    "line_too_long": "a line too long to be a record",
    "invalid_utf8": "not UTF-8",
    "invalid_json": "not JSON",
    "not_an_object": "not a JSON object",
    "missing_key": "a required key is missing",
    "unknown_key": "a key the format does not have",
    "wrong_type": "a value of the wrong type",
    "empty_text": "an empty text",
    "role_order": "messages out of order",
    "schema_version": "a schemaVersion that is not a string",
    "media": "an image or video the model does not take, or out of the rules",
    "reserved_string": "a string the model reserves",
    "too_many_tokens": "longer than the model's token limit",
    "no_records": "a file without records",
    "too_few_records": "fewer records than the model needs",
    "too_many_records": "more records than the model takes",
    "not_offered_here": "a customization Bedrock does not offer in that region",
    "media_missing": "an image or video that does not exist or cannot be read",
    "media_too_large": "an image or video larger than the model takes",
    "media_mixed": "images and videos in one dataset, which the model does not take",
    "validation_not_used": "a validation file the model's training does not use",
}
MAX_MEDIA_KEPT = 10_000
WARNING_KINDS = {
    "blank_lines": "blank lines (skipped)",
    "near_token_limit": "close to the token limit",
    "short_completion": "a very short completion",
    "duplicate_record": "a record repeated in the same file",
    "leakage": "a validation or test record that is also in the training data",
    "test_overlap": "a test prompt that is also in the training data",
    "untracked": "records past the model's maximum, not checked for duplicates",
    "short_lifetime": "the sweeper may delete the throughput before the evaluation ends",
    "legacy_base": "a base model in the Legacy state",
    "not_listed": "a base model the user guide no longer lists for customization",
    "live_check_not_made": "a check that could not be made",
    "media_not_checked": "images or videos not checked to exist",
}


def _clip(text: str) -> str:
    text = " ".join(text.split()) if "\n" in text or "\r" in text else text
    return text if len(text) <= TEXT_LIMIT else text[: TEXT_LIMIT - 1] + "…"


@dataclass(frozen=True)
class Finding:
    kind: str
    file: str | None
    line: int | None
    field: str | None
    message: str
    order: int = 0

    def text(self) -> str:
        where = self.file or "settings"
        if self.line is not None:
            where += f" line {self.line}"
        return f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "file": self.file, "line": self.line, "field": self.field, "message": self.message}


class Findings:
    """Findings of one severity: the first ``EXAMPLES_PER_KIND`` of each kind, and a count of all."""

    _order = itertools.count()

    def __init__(self) -> None:
        self.kept: dict[str, list[Finding]] = {}
        self.counts: dict[str, int] = {}

    def add(self, kind: str, file: str | None, line: int | None, field: str | None, message: str) -> None:
        count = self.counts.get(kind, 0)
        self.counts[kind] = count + 1
        if count < EXAMPLES_PER_KIND:
            self.kept.setdefault(kind, []).append(
                Finding(kind, file, line, _clip(field) if field else None, _clip(message), next(self._order))
            )

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def first(self, n: int) -> list[Finding]:
        """The first ``n`` findings in the order they were found (each is among the first of its kind)."""
        return sorted((f for kept in self.kept.values() for f in kept), key=lambda f: f.order)[:n]

    def __iter__(self) -> Iterator[Finding]:
        return iter(self.first(EXAMPLES_PER_KIND * len(self.kept)))

    def as_dict(self) -> list[dict[str, Any]]:
        return [
            {"kind": kind, "count": self.counts[kind], "examples": [f.as_dict() for f in self.kept[kind]]}
            for kind in sorted(self.kept, key=lambda k: self.kept[k][0].order)
        ]


@dataclass
class FileSummary:
    role: str
    name: str
    location: str
    checked: bool = False
    bytes: int = 0
    lines: int = 0
    records: int = 0
    blank_lines: int = 0
    line_endings: str = "LF"
    final_newline: bool = True
    byte_order_mark: bool = False
    tokens: dict[str, int | float] | None = None
    tracked_records: int = 0

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class Report:
    base_model_id: str
    customization_type: str
    model_name: str | None = None
    data_format: str | None = None
    hyperparameters: dict[str, str] = field(default_factory=dict)
    token_limit: int | None = None
    json_library: str = ""
    estimator: str = ""
    files: list[FileSummary] = field(default_factory=list)
    errors: Findings = field(default_factory=Findings)
    warnings: Findings = field(default_factory=Findings)
    cost: CostEstimate | None = None
    throughput: ThroughputEstimate | None = None  # set by the pipeline, which knows the run's serving and policy
    judge: JudgeCostEstimate | None = None  # set by the pipeline when settings.evaluation.judge is on
    # Set by the pipeline for an RFT run: the grader's pre-flight check, passed (grading.preflight.PreflightResult).
    grader_check: dict[str, Any] | None = None
    # The images and videos the records name (file, line, field, URI), the first MAX_MEDIA_KEPT distinct
    # URIs: the pipeline checks they exist (HEAD) before any job; media_total counts every one named.
    media: list[tuple[str, int, str, str]] = field(default_factory=list)
    media_total: int = 0
    # The first image and the first video named in training and validation data: (file, line, field), by kind.
    media_first: dict[str, tuple[str, int, str]] = field(default_factory=dict)
    _media_seen: set[str] = field(default_factory=set, repr=False)

    def add_media(self, file: str, line: int, field_path: str, uri: str, kind: str = "") -> None:
        self.media_total += 1
        if kind:
            self.media_first.setdefault(kind, (file, line, field_path))
        if uri not in self._media_seen and len(self.media) < MAX_MEDIA_KEPT:
            self._media_seen.add(uri)
            self.media.append((file, line, field_path, uri))

    @property
    def valid(self) -> bool:
        return not self.errors.counts

    @property
    def verdict(self) -> str:
        if not self.valid:
            return "invalid"
        return "valid, with warnings" if self.warnings.counts else "valid"

    def file(self, role: str) -> FileSummary | None:
        return next((f for f in self.files if f.role == role), None)

    def summary(self, limit: int = SUMMARY_ERRORS) -> str:
        """The first errors, in file and line order, then how many more there are."""
        shown = self.errors.first(limit)
        parts = [f.text() for f in shown]
        more = self.errors.total - len(shown)
        if more:
            parts.append(f"{more} more error{'s' if more > 1 else ''}")
        return "; ".join(parts)

    def as_dict(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "valid": self.valid,
            "base_model_id": self.base_model_id,
            "model_name": self.model_name,
            "customization_type": self.customization_type,
            "data_format": self.data_format,
            "hyperparameters": self.hyperparameters,
            "token_limit": self.token_limit,
            "error_count": self.errors.total,
            "errors": self.errors.as_dict(),
            "warning_count": self.warnings.total,
            "warnings": self.warnings.as_dict(),
            "files": [f.as_dict() for f in self.files],
            "cost": self.cost.as_dict() if self.cost else None,
            "throughput_estimate": self.throughput.as_dict() if self.throughput else None,
            "judge_estimate": self.judge.as_dict() if self.judge else None,
            "grader_check": self.grader_check,
            "media_named": self.media_total,
            "token_estimator": self.estimator,
            "json_library": self.json_library,
        }

    def to_markdown(self) -> str:
        return "\n".join(_markdown(self)) + "\n"


def _hours(hours: float | None, usd: float | None) -> str:
    if hours is None:
        return "no end: nothing deletes it"
    return f"{hours:,.2f} h" + ("" if usd is None else f", USD {usd:,.2f}")


def _throughput_markdown(t: ThroughputEstimate) -> Iterator[str]:
    yield "## Throughput hours (estimate)"
    yield ""
    if not t.billed_hourly:
        yield f"Served by {t.serving}: {t.kept_until}."
        yield ""
        return
    yield "| while | hours |"
    yield "|---|---|"
    yield f"| provisioning | {t.provisioning_hours:,.2f} h |"
    yield (
        f"| evaluating {t.evaluated_examples:,} test examples, {t.concurrency} at a time | "
        f"{t.evaluation_hours:,.2f} h |"
    )
    yield f"| until the decision (every run) | {_hours(t.hours_until_decision, t.usd_until_decision)} |"
    yield f"| if kept ({t.policy}): until {t.kept_until} | {_hours(t.hours_if_kept, t.usd_if_kept)} |"
    yield ""
    price = "no price for a commitment in the table" if t.usd_per_hour is None else f"USD {t.usd_per_hour:,.2f} an hour"
    yield f"Assumes {t.assumptions}; {price}."
    yield ""


def _grader_check_markdown(check: dict[str, Any]) -> Iterator[str]:
    yield "## Grader check (passed)"
    yield ""
    yield (
        f"Called {_cell(check['grader'])} on {check['samples']:,} training records before any job: the reference "
        "answer must get the maximum (1), an empty answer less."
    )
    yield ""
    yield "| record | score |"
    yield "|---|---|"
    for record_id, score in {**check["reference_scores"], **check["empty_scores"]}.items():
        yield f"| {_cell(record_id)} | {score:g} |"
    yield ""


def _cell(value: object) -> str:
    return "" if value is None else str(value).replace("|", "\\|")


def _findings_markdown(title: str, findings: Findings, kinds: dict[str, str]) -> Iterator[str]:
    yield f"## {title} ({findings.total:,})"
    yield ""
    if not findings.counts:
        yield "None."
        yield ""
        return
    for entry in findings.as_dict():
        kind, count = entry["kind"], entry["count"]
        yield f"### {kind}: {kinds.get(kind, kind)} ({count:,})"
        yield ""
        yield "| file | line | field | message |"
        yield "|---|---|---|---|"
        for f in entry["examples"]:
            yield f"| {_cell(f['file'])} | {_cell(f['line'])} | {_cell(f['field'])} | {_cell(f['message'])} |"
        if count > len(entry["examples"]):
            yield f"| | | | and {count - len(entry['examples']):,} more |"
        yield ""


def _method_cost_rows(c: CostEstimate) -> Iterator[str]:
    """What reinforcement fine-tuning and distillation add to the training figure."""
    if c.samples_per_prompt:
        yield (
            f"| reinforcement fine-tuning | {c.samples_per_prompt} answers sampled per prompt and epoch, prompts "
            f"and answers counted; {_cell(c.guessed)} |"
        )
    if c.teacher_model_id:
        yield (
            f"| the teacher's answers | at most {c.teacher_usd:,.2f}: {c.teacher_model_id} on demand, every "
            "prompt answered at the longest allowed |"
        )


def _markdown(report: Report) -> Iterator[str]:
    yield f"# Pre-flight check: {report.verdict}"
    yield ""
    model = f"{report.model_name} (`{report.base_model_id}`)" if report.model_name else f"`{report.base_model_id}`"
    yield f"- Base model: {model}, {report.customization_type}"
    if report.data_format:
        yield f"- Record format: `{report.data_format}`"
    if report.hyperparameters:
        yield "- Hyperparameters: " + ", ".join(f"{k} {v}" for k, v in report.hyperparameters.items())
    if report.token_limit:
        yield f"- Token limit: {report.token_limit:,} a record (estimated tokens; see below)"
    yield f"- Errors: {report.errors.total:,}; warnings: {report.warnings.total:,}"
    yield ""
    yield "## Files"
    yield ""
    yield "| file | checked | bytes | lines | records | blank lines | line endings | tokens mean / p95 / max |"
    yield "|---|---|---|---|---|---|---|---|"
    for f in report.files:
        t = f.tokens
        tokens = f"{t['mean']:,} / {t['p95']:,} / {t['max']:,}" if t and t["records"] else ""
        endings = f.line_endings + ("" if f.final_newline else ", no final newline")
        yield (
            f"| {f.role}: {_cell(f.location or f.name)} | {'yes' if f.checked else 'no'} | {f.bytes:,} | {f.lines:,} "
            f"| {f.records:,} | {f.blank_lines:,} | {endings} | {tokens} |"
        )
    yield ""
    yield from _findings_markdown("Errors", report.errors, ERROR_KINDS)
    yield from _findings_markdown("Warnings", report.warnings, WARNING_KINDS)
    if report.cost:
        c = report.cost
        yield "## Cost estimate (USD)"
        yield ""
        yield "| item | estimate |"
        yield "|---|---|"
        yield (
            f"| training | {c.training_usd:,.2f}: about {c.training_tokens:,} tokens x {c.epochs} epochs at "
            f"{c.training_per_1k_tokens:g} per 1,000 tokens |"
        )
        yield from _method_cost_rows(c)
        yield f"| custom model storage | {c.storage_usd_per_month:,.2f} a month |"
        if report.judge:
            j = report.judge
            price = (
                f"{j.usd:,.2f}"
                if j.usd is not None
                else "price unknown for this judge model (set prices.judge_per_1k_input_tokens and _output_tokens)"
            )
            yield (
                f"| judge ({_cell(j.judge_model_id)}) | {price}: {j.calls:,} judge calls, about "
                f"{j.input_tokens:,} input and {j.output_tokens:,} output tokens ({_cell(j.assumptions)}) |"
            )
        yield (
            f"| provisioned throughput | {c.throughput_usd_per_hour:,.2f} an hour ({c.model_units} model unit"
            f"{'s' if c.model_units > 1 else ''}, no commitment) |"
        )
        yield ""
        overridden = f"; overridden in settings: {', '.join(c.overridden)}" if c.overridden else ""
        yield f"Prices as of {c.prices_as_of}{overridden}. Training tokens are the conservative estimate below."
        yield ""
    if report.throughput:
        yield from _throughput_markdown(report.throughput)
    if report.grader_check:
        yield from _grader_check_markdown(report.grader_check)
    yield "## How tokens are estimated"
    yield ""
    yield report.estimator
    yield ""
    yield f"Parsed with {report.json_library}."
