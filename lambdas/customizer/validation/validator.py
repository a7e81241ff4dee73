"""The pre-flight check: settings, then each file once as a stream (training, validation, test), then
the counts and the cost. Knows nothing of Lambda or S3: a source is anything that yields byte chunks."""

from __future__ import annotations

import enum
import json
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from customizer.errors import SettingsError
from customizer.families import BaseModel, CustomizationType, DataFormat, base_model, distillation, rft
from customizer.families.formats import Example, RecordError
from customizer.validation import reader, tokens
from customizer.validation.cost import estimate_cost, with_rft, with_teacher
from customizer.validation.quality import DEFAULT_CAPACITY, KeyTable, prompt_key, record_key
from customizer.validation.records import RecordChecker
from customizer.validation.report import FileSummary, Findings, Report

if TYPE_CHECKING:
    from customizer.settings import RunSettings

SHORT_COMPLETION_CHARS = 3
ESTIMATOR = (
    f"Tokens are estimated, erring high: one per {tokens.CHARS_PER_TOKEN} characters of ASCII text, plus one per "
    f"{tokens.EXTRA_BYTES_PER_TOKEN} bytes that other characters take beyond the first in UTF-8, plus "
    f"{tokens.RECORD_OVERHEAD} a record. Records over the limit are errors; over {tokens.NEAR_LIMIT:.0%} of it, "
    "warnings."
)


class Role(enum.StrEnum):
    TRAINING = "training"
    VALIDATION = "validation"
    TEST = "test"


@dataclass
class DataSource:
    """One file to check. ``open`` is called once and yields the file's bytes in chunks; ``name`` is how
    findings name the file (``input.training_data``, or a path); ``size``, when known up front, lets an
    oversized file be refused without reading it."""

    role: Role
    name: str
    open: Callable[[], Iterable[bytes]]
    location: str = ""
    size: int | None = None

    @classmethod
    def from_path(cls, role: Role, path: str) -> DataSource:
        return cls(role, path, lambda: reader.file_chunks(path), location=path, size=os.path.getsize(path))


@dataclass(frozen=True)
class CheckSettings:
    base_model_id: str
    customization_type: str
    hyperparameters: Mapping[str, Any] = field(default_factory=dict)
    model_units: int = 1
    prices: Mapping[str, Any] | None = None
    # Distillation: the teacher and the longest answer it may give (settings.distillation).
    teacher_model_id: str | None = None
    max_response_length: int = 1000

    @classmethod
    def of_run(cls, settings: RunSettings) -> CheckSettings:
        """What the check reads of a run's settings (the pipeline's "Validate the run" and the command line)."""
        distilling = settings.distillation
        return cls(
            base_model_id=settings.base_model_id,
            customization_type=settings.customization_type.value,
            hyperparameters=settings.hyperparameters,
            model_units=settings.model_units,
            prices=settings.prices.model_dump() if settings.prices else None,
            teacher_model_id=distilling.teacher_model_id if distilling else None,
            max_response_length=distilling.max_response_length if distilling else cls.max_response_length,
        )


def _settings_error(errors: Findings, exc: SettingsError) -> None:
    where, _, message = str(exc).partition(": ")
    errors.add("settings", None, None, where, message)


def _check_settings(
    settings: CheckSettings, report: Report, has_validation_data: bool
) -> tuple[BaseModel | None, DataFormat | None, dict[str, str]]:
    try:
        model = base_model(settings.base_model_id)
    except SettingsError as exc:
        _settings_error(report.errors, exc)
        return None, None, {}
    report.model_name = model.name
    data_format: DataFormat | None = None
    try:
        data_format = model.data_format(settings.customization_type)
        report.data_format = data_format.value
    except (SettingsError, ValueError) as exc:
        if isinstance(exc, SettingsError):
            _settings_error(report.errors, exc)
        else:
            allowed = ", ".join(t.value for t in CustomizationType)
            report.errors.add(
                "settings",
                None,
                None,
                "settings.customization_type",
                f"{settings.customization_type!r}; allowed: {allowed}",
            )
    if settings.customization_type == CustomizationType.DISTILLATION.value:
        for name in settings.hyperparameters:
            report.errors.add(
                "settings",
                None,
                None,
                f"settings.hyperparameters.{name}",
                "a distillation job takes no hyperparameters (Bedrock sets them); remove it",
            )
        report.token_limit = model.token_limit({})
        return model, data_format, {}
    # Each hyperparameter on its own, so every wrong one is named; then all the right ones together. A
    # reinforcement fine-tuning job has its own (families/rft.py).
    ctype = settings.customization_type
    wrong = set()
    for name, value in settings.hyperparameters.items():
        try:
            model.resolve_hyperparameters(
                {name: value}, has_validation_data=has_validation_data, customization_type=ctype
            )
        except SettingsError as exc:
            _settings_error(report.errors, exc)
            wrong.add(name)
    given = {k: v for k, v in settings.hyperparameters.items() if k not in wrong}
    hyperparameters = model.resolve_hyperparameters(
        given, has_validation_data=has_validation_data, customization_type=ctype
    )
    report.hyperparameters = hyperparameters
    report.token_limit = model.token_limit(hyperparameters)
    return model, data_format, hyperparameters


class _Tracking:
    """Duplicate and leakage tables, sized from the model's record limits (see quality.py). Training
    prompts are kept only when there is a test set to compare them with."""

    def __init__(self, model: BaseModel, *, with_test: bool) -> None:
        r = model.records
        self.model = model
        self.training_records = KeyTable(r.max_training or r.max_combined or DEFAULT_CAPACITY)
        self.training_prompts = KeyTable(r.max_training or r.max_combined or DEFAULT_CAPACITY) if with_test else None

    def table_for(self, role: Role) -> KeyTable:
        if role is Role.TRAINING:
            return self.training_records
        r = self.model.records
        if role is Role.VALIDATION:
            return KeyTable(r.max_validation or r.max_combined or DEFAULT_CAPACITY)
        return KeyTable(DEFAULT_CAPACITY)


def _json_problem(raw: bytes) -> tuple[str, str]:
    """Why a line did not parse: (kind, message). Only called on failures, so it may be slow."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return "invalid_utf8", f"not valid UTF-8: byte 0x{raw[exc.start]:02x} at byte {exc.start + 1} of the line"
    stripped = text.strip()
    if stripped in ("{", "}", "},", "[", "]", "],") or (stripped.startswith('"') and '":' in stripped):
        return (
            "pretty_printed",
            "part of a JSON value spread over several lines (pretty-printed?); JSON Lines needs each record on one line",
        )
    try:
        reader.stdlib_loads(raw)
    except json.JSONDecodeError as exc:
        message = f"not valid JSON: {exc.msg} (column {exc.colno})"
    except (ValueError, RecursionError) as exc:
        message = f"not valid JSON: {str(exc) or type(exc).__name__}"
    else:
        # Taken by the standard library, refused by orjson: only nesting between their depth limits is left.
        message = "not valid JSON: nested deeper than the parser takes"
    if stripped.endswith(","):
        message += "; the line ends with a comma, as inside a JSON array: JSON Lines has no commas between lines"
    return "invalid_json", message


class _FileScan:
    """One pass over one file: every line checked, findings added to the report as they are found."""

    def __init__(
        self,
        source: DataSource,
        report: Report,
        model: BaseModel,
        data_format: DataFormat,
        *,
        tracking: _Tracking,
        hyperparameters: Mapping[str, str],
    ) -> None:
        self.source = source
        self.name = source.name
        self.errors, self.warnings = report.errors, report.warnings
        self.report = report
        self.model = model
        self.test = source.role is Role.TEST
        self.training = source.role is Role.TRAINING
        self.checker = RecordChecker(model, data_format, hyperparameters, test_set=self.test)
        self.stats = tokens.TokenStats(self.checker.limit)
        self.near = int(self.checker.limit * tokens.NEAR_LIMIT)
        self.cpt = data_format is DataFormat.CONTINUED_PRE_TRAINING
        self.prompts = data_format is DataFormat.DISTILLATION_PROMPTS  # answers optional
        self.rft = data_format is DataFormat.RFT_CHAT  # a reference answer, often short ("4"), not a completion
        self.tracking = tracking
        self.table = tracking.table_for(source.role)
        # Bound once: the per-record path runs a million times on a large file.
        self._loads = reader.loads
        self._check = self.checker.check
        self._add = self.table.add
        self._find = tracking.training_records.find
        prompts = tracking.training_prompts
        self._prompts_add = prompts.add if prompts is not None and self.training and not self.cpt else None
        self._prompts_find = prompts.find if prompts is not None and self.test and not self.cpt else None
        self._stats_add = self.stats.add
        self.facts = reader.FileFacts()
        self.summary = FileSummary(role=source.role.value, name=source.name, location=source.location)
        self.records = 0
        self.blank = 0
        self.first_blank = 0
        self.max_bytes = {
            Role.TRAINING: distillation.PROMPTS_MAX_BYTES if self.prompts else model.training_file_max_bytes,
            Role.VALIDATION: model.validation_file_max_bytes,
        }.get(source.role)

    def run(self) -> FileSummary:
        size = self.source.size
        if self.max_bytes and size is not None and size > self.max_bytes:
            self.summary.bytes = size
            self._too_large(size)
            return self.summary
        self.summary.checked = True
        record = self._record
        for start, lines in reader.batches(self.source.open(), self.facts):
            number = start
            for raw in lines:
                number += 1
                if raw is None:
                    self.records += 1
                    self.errors.add(
                        "line_too_long", self.name, number, None, f"longer than {reader.MAX_LINE_BYTES:,} bytes"
                    )
                elif not raw or raw.isspace():
                    self.blank += 1
                    self.first_blank = self.first_blank or number
                else:
                    self.records += 1
                    if self.records == 1 and raw.lstrip().startswith(b"["):
                        self.errors.add(
                            "json_array",
                            self.name,
                            number,
                            None,
                            "the file is a JSON array, not JSON Lines: write one JSON object per line, without [ ] around them",
                        )
                    else:
                        record(number, raw)
        return self._finish()

    def _record(self, number: int, raw: bytes) -> None:
        try:
            parsed = self._loads(raw)
        except (ValueError, RecursionError):
            kind, message = _json_problem(raw)
            self.errors.add(kind, self.name, number, None, message)
            return
        try:
            example, total = self._check(parsed)
        except RecordError as exc:
            if exc.kind == "too_many_tokens":
                self.stats.over_limit += 1
            self.errors.add(exc.kind, self.name, number, exc.field, exc.message)
            return
        if not self.test:
            self._stats_add(total, number)
            if total > self.near:
                self._near_limit(number, total)
            if (
                not self.cpt
                and not self.rft
                and not (self.prompts and not example.completion)
                and len(example.completion) < SHORT_COMPLETION_CHARS + 8
            ):
                self._short_completion(number, example.completion)
        for ref in example.media:
            self.report.add_media(self.name, number, ref.field, ref.uri, "" if self.test else ref.kind)
        key = record_key(example)
        seen = self._add(key, number)
        if seen:
            self.warnings.add("duplicate_record", self.name, number, None, f"the same record as line {seen}")
        if self.training:
            if self._prompts_add is not None:
                self._prompts_add(prompt_key(example), number)
        else:
            self._leakage(number, key, example)

    def _leakage(self, number: int, key: int, example: Example) -> None:
        seen = self._find(key)
        if seen:
            self.warnings.add("leakage", self.name, number, None, f"the same record as training line {seen}")
        elif self._prompts_find is not None:
            seen = self._prompts_find(prompt_key(example))
            if seen:
                self.warnings.add(
                    "test_overlap",
                    self.name,
                    number,
                    "prompt",
                    f"the same prompt as training line {seen}: the evaluation would reward memorizing it",
                )

    def _near_limit(self, number: int, total: int) -> None:
        self.stats.near_limit += 1
        self.warnings.add(
            "near_token_limit",
            self.name,
            number,
            None,
            f"about {total:,} tokens (estimated), within {1 - tokens.NEAR_LIMIT:.0%} of the limit of {self.checker.limit:,}",
        )

    def _short_completion(self, number: int, completion: str) -> None:
        length = len(completion.strip())
        if length < SHORT_COMPLETION_CHARS:
            self.warnings.add(
                "short_completion",
                self.name,
                number,
                "completion",
                f"only {length} character{'s' if length != 1 else ''}: a model learns little from it",
            )

    def _too_large(self, size: int) -> None:
        self.errors.add(
            "file_too_large",
            self.name,
            None,
            None,
            f"{size:,} bytes; {self.model.model_id} takes at most {self.max_bytes:,}",
        )

    def _finish(self) -> FileSummary:
        facts, summary = self.facts, self.summary
        summary.bytes = facts.bytes_read
        summary.lines = facts.lines
        summary.records = self.records
        summary.blank_lines = self.blank
        summary.line_endings = facts.line_endings
        summary.final_newline = facts.final_newline
        summary.byte_order_mark = facts.byte_order_mark
        summary.tracked_records = self.table.count
        if not self.test:
            summary.tokens = self.stats.as_dict()
        if facts.byte_order_mark:
            self.errors.add(
                "byte_order_mark",
                self.name,
                1,
                None,
                "the file starts with a UTF-8 byte-order mark (EF BB BF), which JSON Lines does not allow; "
                "save it as UTF-8 without BOM",
            )
        if self.blank:
            self.warnings.add(
                "blank_lines",
                self.name,
                self.first_blank,
                None,
                f"{self.blank:,} blank line{'s' if self.blank > 1 else ''} (the first here), skipped; remove them to be safe",
            )
        if self.max_bytes and facts.bytes_read > self.max_bytes:
            self._too_large(facts.bytes_read)
        if self.table.untracked:
            self.warnings.add(
                "untracked",
                self.name,
                None,
                None,
                f"only the first {self.table.capacity:,} distinct records were checked for duplicates and leakage",
            )
        if self.records == 0:
            self.errors.add(
                "no_records", self.name, None, None, f"{self.source.location or self.name} holds no records"
            )
        return summary


def _prompt_counts(report: Report, where: str, training: int) -> bool:
    """The counts of distillation and reinforcement fine-tuning, whose own limits replace the base's
    fine-tuning limits; False for the other types."""
    errors = report.errors
    if report.customization_type == CustomizationType.DISTILLATION.value:
        # AWS's distillation validator (families/distillation.py): at least 100 prompts.
        if 0 < training < distillation.MIN_PROMPTS:
            errors.add(
                "too_few_records",
                where,
                None,
                None,
                f"{training} prompts; distillation needs at least {distillation.MIN_PROMPTS}",
            )
        return True
    if report.customization_type == CustomizationType.REINFORCEMENT_FINE_TUNING.value:
        # The user guide's rft-prepare-data (families/rft.py): at least 100 records, at most 20,000 prompts.
        if 0 < training < rft.MIN_RECORDS:
            errors.add(
                "too_few_records",
                where,
                None,
                None,
                f"{training} records; reinforcement fine-tuning needs at least {rft.MIN_RECORDS}",
            )
        if training > rft.MAX_PROMPTS:
            errors.add(
                "too_many_records",
                where,
                None,
                None,
                f"{training:,} prompts; reinforcement fine-tuning takes at most {rft.MAX_PROMPTS:,}",
            )
        return True
    return False


def _check_counts(report: Report, model: BaseModel, sources: Sequence[DataSource]) -> None:
    limits = model.records
    by_role = {s.role: s for s in sources}
    training_file = report.file(Role.TRAINING.value)
    validation_file = report.file(Role.VALIDATION.value)
    if training_file is None or not training_file.checked:
        return
    training = training_file.records
    validation = validation_file.records if validation_file else 0
    name = model.model_id
    where = by_role[Role.TRAINING].name
    errors = report.errors
    if _prompt_counts(report, where, training):
        return
    if 0 < training < limits.min_training:
        errors.add(
            "too_few_records", where, None, None, f"{training} records; {name} needs at least {limits.min_training}"
        )
    if limits.max_training and training > limits.max_training:
        errors.add(
            "too_many_records", where, None, None, f"{training} records; {name} takes at most {limits.max_training}"
        )
    if validation_file and validation_file.checked and 0 < validation < limits.min_validation:
        errors.add(
            "too_few_records",
            by_role[Role.VALIDATION].name,
            None,
            None,
            f"{validation} records; {name} needs at least {limits.min_validation}",
        )
    if validation_file and limits.max_validation and validation > limits.max_validation:
        errors.add(
            "too_many_records",
            by_role[Role.VALIDATION].name,
            None,
            None,
            f"{validation} records; {name} takes at most {limits.max_validation}",
        )
    combined = training + validation
    if training and limits.min_combined and combined < limits.min_combined:
        errors.add(
            "too_few_records",
            where,
            None,
            None,
            f"{combined} training and validation records; {name} needs at least {limits.min_combined}",
        )
    if limits.max_combined and combined > limits.max_combined:
        errors.add(
            "too_many_records",
            where,
            None,
            None,
            f"{combined} training and validation records; {name} takes at most {limits.max_combined}",
        )


def _check_dataset(report: Report, model: BaseModel, sources: Sequence[DataSource]) -> None:
    """Rules over the whole dataset rather than one record."""
    if not model.validation_data:
        for source in sources:
            if source.role is Role.VALIDATION:
                report.errors.add("validation_not_used", source.name, None, None, model.validation_data_note)
    first = report.media_first
    if model.media.one_kind_per_dataset and "image" in first and "video" in first:
        image_file, image_line, _ = first["image"]
        video_file, video_line, video_field = first["video"]
        report.errors.add(
            "media_mixed",
            video_file,
            video_line,
            video_field,
            f"a video, in a dataset that also holds images ({image_file} line {image_line}): {model.name} is trained "
            "on images or videos, not both in one dataset (Bedrock user guide)",
        )


def validate_data(settings: CheckSettings, sources: Sequence[DataSource]) -> Report:
    """Check the settings and the data of one run; return the report (``report.valid`` is the verdict).

    Sources are read in the order given, training first, each once. The data is never modified."""
    order = {Role.TRAINING: 0, Role.VALIDATION: 1, Role.TEST: 2}
    sources = sorted(sources, key=lambda s: order[s.role])
    report = Report(
        base_model_id=settings.base_model_id,
        customization_type=str(settings.customization_type),
        json_library=reader.JSON_LIBRARY,
        estimator=ESTIMATOR,
    )
    has_validation = any(s.role is Role.VALIDATION for s in sources)
    model, data_format, hyperparameters = _check_settings(settings, report, has_validation)
    if model is None or data_format is None:
        report.files = [FileSummary(s.role.value, s.name, s.location) for s in sources]
        return report
    tracking = _Tracking(model, with_test=any(s.role is Role.TEST for s in sources))
    for source in sources:
        report.files.append(
            _FileScan(source, report, model, data_format, tracking=tracking, hyperparameters=hyperparameters).run()
        )
    _check_counts(report, model, sources)
    _check_dataset(report, model, sources)
    training = report.file(Role.TRAINING.value)
    report.cost = estimate_cost(
        model,
        int(training.tokens["total"]) if training and training.tokens else 0,
        hyperparameters,
        model_units=settings.model_units,
        prices=settings.prices,
    )
    if settings.teacher_model_id and training and training.tokens:
        try:
            teacher = distillation.teacher(settings.teacher_model_id)
        except SettingsError:
            pass  # the settings check names it
        else:
            report.cost = with_teacher(
                report.cost,
                teacher,
                prompts=training.records,
                prompt_tokens=int(training.tokens["total"]),
                max_response_length=settings.max_response_length,
            )
    if data_format is DataFormat.RFT_CHAT and training and training.tokens:
        report.cost = with_rft(
            report.cost, hyperparameters, prompts=training.records, prompt_tokens=int(training.tokens["total"])
        )
    return report
