"""Pipeline settings: typed, checked, with defaults.

Two layers:
- ``DeploymentSettings``: fixed when the stack is synthesized (``cdk.json`` context key ``pipeline``),
  such as the notification e-mail and the execution's hard timeout. Checked at synth time.
- ``RunSettings``: the defaults for every run (``pipeline.defaults`` in ``cdk.json``), which a run may
  override: by a run config uploaded with the data, then by the execution input's ``settings``. Checked
  at synth time (the defaults) and by the first step of every run (the merged result), before any job is
  created.

Every error names the setting (``settings.throughput_policy``...) and what is allowed."""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from customizer.errors import SettingsError
from customizer.families import BASE_MODELS, CustomizationType, base_model, distillation
from customizer.families import BaseModel as FamilyModel
from customizer.grading.spec import GraderSettings, LambdaArn
from customizer.invocation_logs import CONVERTERS


class ThroughputPolicy(enum.StrEnum):
    KEEP = "keep"  # leave the throughput in service after evaluation
    DELETE = "delete"  # always delete it after evaluation (evaluation-only runs)
    KEEP_IF_BETTER = "keep_if_better"  # keep it only if the custom model beats its base


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_enum_values=False)


# The metrics the promotion rule can compare (customizer.evaluation.metrics), all in [0, 1]; with the judge on,
# also ``judge.<metric>`` (JudgeSettings.metric_keys).
STRING_METRICS = ("contains_match", "exact_match", "token_f1", "rouge_l")
GRADER_METRIC = "grader"  # customizer.grading.evaluate: the run's grader scoring the test set's answers
JUDGE_METRIC_PREFIX = "judge."
# Bedrock's built-in judge metrics (user guide, "Use metrics to understand model performance", model as a judge).
BuiltinJudgeMetric = Literal[
    "Builtin.Correctness",
    "Builtin.Completeness",
    "Builtin.Faithfulness",
    "Builtin.Helpfulness",
    "Builtin.Coherence",
    "Builtin.Relevance",
    "Builtin.FollowingInstructions",
    "Builtin.ProfessionalStyleAndTone",
    "Builtin.Harmfulness",
    "Builtin.Stereotyping",
    "Builtin.Refusal",
]


DEFAULT_JUDGE_METRICS: tuple[BuiltinJudgeMetric, ...] = ("Builtin.Correctness", "Builtin.Completeness")


def builtin_metric_key(name: str) -> str:
    """``Builtin.FollowingInstructions`` -> ``judge.following_instructions``."""
    words = re.sub(r"(?<!^)(?=[A-Z])", "_", name.removeprefix("Builtin.")).lower()
    return JUDGE_METRIC_PREFIX + words


class RatingLevel(_Strict):
    definition: str = Field(min_length=1, max_length=100, description="what the judge reads for this rating")
    value: float = Field(description="the rating's value; results are scaled to [0, 1] by the lowest and highest")


class CustomJudgeMetric(_Strict):
    """A metric with a rubric (CreateEvaluationJob's CustomMetricDefinition)."""

    name: str = Field(min_length=1, max_length=63, pattern=r"^[0-9a-zA-Z_.-]+$")
    instructions: str = Field(
        min_length=1, max_length=5000, description="the judge's prompt; {{prompt}}, {{prediction}}, {{ground_truth}}"
    )
    rating_scale: list[RatingLevel] = Field(min_length=2, max_length=10)

    @model_validator(mode="after")
    def _distinct_values(self) -> CustomJudgeMetric:
        if len({level.value for level in self.rating_scale}) < 2:
            raise ValueError("rating_scale needs at least two different values")
        return self


class JudgeSettings(_Strict):
    """Bedrock evaluation jobs (model as a judge) grade both models' saved answers; off by default."""

    enabled: bool = Field(False, description="grade both models' answers with a Bedrock judge model")
    model_id: str = Field(
        "amazon.nova-pro-v1:0",
        max_length=2048,
        pattern=r"^[a-z0-9][a-z0-9:._/-]*$",
        description="the evaluator model (a model id or inference profile id Bedrock offers as a judge)",
    )
    metrics: list[BuiltinJudgeMetric] = Field(
        default_factory=lambda: list(DEFAULT_JUDGE_METRICS), max_length=11, description="Bedrock's built-in metrics"
    )
    custom_metrics: list[CustomJudgeMetric] = Field(default_factory=list, max_length=10)
    poll_seconds: int = Field(60, ge=1, le=3600, description="wait between evaluation job checks")
    timeout_minutes: float = Field(
        240.0, gt=0, le=1440, description="stop the evaluation jobs and fail the judge part after this long"
    )

    @model_validator(mode="after")
    def _check(self) -> JudgeSettings:
        if self.enabled and not self.metrics and not self.custom_metrics:
            raise ValueError("a judge needs at least one metric (metrics or custom_metrics)")
        keys = self.metric_keys
        if len(set(keys)) != len(keys):
            raise ValueError("judge metric names must be distinct (custom names are compared in lower case)")
        return self

    @property
    def metric_keys(self) -> list[str]:
        """``judge.correctness``, ``judge.<custom name>``: the names the report and the promotion rule use."""
        return [builtin_metric_key(m) for m in self.metrics] + [
            JUDGE_METRIC_PREFIX + c.name.lower() for c in self.custom_metrics
        ]

    @property
    def service_names(self) -> dict[str, str]:
        """Each key's metric name in the evaluation job (``Builtin.Correctness``, the custom name)."""
        names: dict[str, str] = {builtin_metric_key(m): m for m in self.metrics}
        names.update({JUDGE_METRIC_PREFIX + c.name.lower(): c.name for c in self.custom_metrics})
        return names


class EvaluationSettings(_Strict):
    max_examples: int = Field(200, ge=1, le=100_000, description="test examples evaluated at most")
    # The family decides the upper bound (check_family: BaseModel.max_answer_tokens); this only bounds nonsense.
    max_tokens: int = Field(256, ge=1, le=100_000, description="answer length limit per call")
    temperature: float = Field(0.0, ge=0.0, le=1.0)
    top_p: float = Field(0.9, ge=0.0, le=1.0)
    concurrency: int | None = Field(
        None, ge=1, le=256, description="calls in flight at once per model; default: what the model units allow"
    )
    max_attempts: int = Field(
        8, ge=1, le=20, description="calls of one example (throttled, model not ready) before it is an error"
    )
    base_invoke_id: str | None = Field(
        None,
        max_length=2048,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9:._/-]*$",
        description="what the base model is called by (model id, inference profile id or ARN); default: its id, "
        "or its cross-region inference profile for the bases Bedrock serves on demand only that way",
    )
    # The promotion rule: keep_if_better keeps the throughput only if all of these hold.
    metric: str = Field(
        "contains_match",
        description="the metric the promotion rule compares: contains_match, exact_match, token_f1, rouge_l, or a "
        "judge metric (judge.correctness, judge.<custom name>) when the judge is on",
    )
    min_improvement: float = Field(
        0.0, ge=0.0, le=1.0, description="custom must beat base on the metric by more than this"
    )
    floor: float = Field(0.0, ge=0.0, le=1.0, description="custom must reach at least this on the metric")
    require_confidence: bool = Field(
        True, description="the 95% confidence interval of custom - base must lie above zero"
    )
    # This project's rule, not Bedrock's: a distilled student must keep this share of its teacher's score.
    min_fraction_of_teacher: float | None = Field(
        None,
        ge=0.0,
        le=1.0,
        description="DISTILLATION only: custom must reach at least this fraction of the teacher's score on the "
        "metric (the teacher answers the test set as a third arm); none: no such condition",
    )
    fan_out_above: int = Field(
        1000, ge=1, le=100_000, description="more test examples than this are evaluated in chunks, in parallel"
    )
    chunk_size: int = Field(250, ge=1, le=10_000, description="test examples per chunk when fanned out")
    bootstrap_resamples: int = Field(1000, ge=100, le=10_000, description="resamples of the confidence intervals")
    judge: JudgeSettings = Field(default_factory=JudgeSettings)

    @model_validator(mode="after")
    def _metric_is_known(self) -> EvaluationSettings:
        # "grader": the run's grader (settings.grader, checked by check_family).
        allowed = [*STRING_METRICS, GRADER_METRIC, *(self.judge.metric_keys if self.judge.enabled else [])]
        if self.metric not in allowed:
            hint = (
                " (judge metrics need judge.enabled and the metric in judge.metrics or judge.custom_metrics)"
                if self.metric.startswith(JUDGE_METRIC_PREFIX)
                else ""
            )
            raise ValueError(f"metric must be one of {', '.join(allowed)}{hint}")
        return self


class PollSettings(_Strict):
    job_seconds: int = Field(300, ge=1, le=3600, description="wait between customization job checks")
    throughput_seconds: int = Field(60, ge=1, le=3600, description="wait between throughput checks")


class TimeoutSettings(_Strict):
    job_hours: float = Field(48.0, gt=0, le=720, description="stop the job and clean up after this long")
    throughput_minutes: float = Field(120.0, gt=0, le=1440, description="give up on a throughput not InService")


class SmokeSettings(_Strict):
    """Start small: a short job (a sample of the training data, one epoch) before the full job, which runs
    only if the short one completes."""

    enabled: bool = Field(False, description="run the short job first")
    records: int = Field(
        100, ge=1, le=10_000, description="training records of the short job (at least the family's minimum)"
    )


class PriceSettings(_Strict):
    """Overrides of the base model's list prices (``customizer.families``, taken on PRICES_AS_OF) for the
    cost estimate of the pre-flight check, e.g. a region's or a contract's prices. USD."""

    training_per_1k_tokens: float | None = Field(None, ge=0)
    storage_per_month: float | None = Field(None, ge=0)
    throughput_per_hour_no_commitment: float | None = Field(None, ge=0, description="per model unit")
    judge_per_1k_input_tokens: float | None = Field(None, ge=0, description="the judge model's on-demand price")
    judge_per_1k_output_tokens: float | None = Field(None, ge=0, description="the judge model's on-demand price")
    as_of: str | None = Field(None, max_length=40, description="when these prices were taken")


class DistillationSettings(_Strict):
    """The teacher of a DISTILLATION run (customizationConfig.distillationConfig.teacherModelConfig)."""

    teacher_model_id: str = Field(
        ..., min_length=1, max_length=2048, description="a teacher the student may learn from"
    )
    # TeacherModelConfig.maxResponseLengthForInference: botocore states no range; 1 to 32,000 is this project's.
    max_response_length: int = Field(1000, ge=1, le=32_000, description="most tokens a teacher answer may hold")


# botocore's RequestMetadataMap: one key/value pair; its key and value patterns (API reference,
# RequestMetadataFilters).
_METADATA_KEY = r"^[a-zA-Z0-9\s._:/=+$@-]{1,256}$"
_METADATA_VALUE = r"^[a-zA-Z0-9\s._:/=+$@-]{0,256}$"


def _one_pair(value: dict[str, str] | None) -> dict[str, str] | None:
    if value is None:
        return None
    if len(value) != 1:
        raise ValueError("must hold exactly one key and value (botocore's RequestMetadataMap)")
    ((key, text),) = value.items()
    if not re.fullmatch(_METADATA_KEY, key) or not re.fullmatch(_METADATA_VALUE, text):
        raise ValueError(f"key and value must match {_METADATA_KEY} and {_METADATA_VALUE}")
    return value


class MetadataBaseFilter(_Strict):
    """botocore's RequestMetadataBaseFilters (its names): ``equals`` and/or ``notEquals``, one pair each."""

    equals: dict[str, str] | None = None
    notEquals: dict[str, str] | None = None

    @model_validator(mode="after")
    def _check(self) -> MetadataBaseFilter:
        _one_pair(self.equals)
        _one_pair(self.notEquals)
        if self.equals is None and self.notEquals is None:
            raise ValueError("a base filter needs equals or notEquals")
        return self


class MetadataFilters(_Strict):
    """botocore's RequestMetadataFilters (its names), a union: exactly one of ``equals``, ``notEquals``,
    ``andAll``, ``orAll`` (1 to 16 base filters)."""

    equals: dict[str, str] | None = None
    notEquals: dict[str, str] | None = None
    andAll: list[MetadataBaseFilter] | None = Field(None, min_length=1, max_length=16)
    orAll: list[MetadataBaseFilter] | None = Field(None, min_length=1, max_length=16)

    @model_validator(mode="after")
    def _one_member(self) -> MetadataFilters:
        given = [name for name in ("equals", "notEquals", "andAll", "orAll") if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError(f"exactly one of equals, notEquals, andAll, orAll (a union); given: {given or 'none'}")
        _one_pair(self.equals)
        _one_pair(self.notEquals)
        return self


class InvocationLogsSettings(_Strict):
    """Bedrock model invocation logs as the training data (trainingDataConfig.invocationLogsConfig), instead of
    input.training_data; for DISTILLATION and REINFORCEMENT_FINE_TUNING (customizer.invocation_logs.CONVERTERS)."""

    s3_uri: str = Field(
        ...,
        max_length=1024,
        pattern=r"^s3://[a-z0-9][-.a-z0-9]{1,61}[a-z0-9](?:/[-!_*'().a-z0-9A-Z]+(?:/[-!_*'().a-z0-9A-Z]+)*)?/?$",
        description="the log prefix (botocore's S3Uri), in the pipeline's data bucket",
    )
    use_prompt_response: bool = Field(
        False, description="train on the logged responses too (the teacher is not asked again)"
    )
    request_metadata_filters: MetadataFilters | None = Field(
        None, description="botocore's RequestMetadataFilters: only the records whose requestMetadata match"
    )

    def as_config(self) -> dict[str, Any]:
        """CreateModelCustomizationJob's trainingDataConfig.invocationLogsConfig."""
        config: dict[str, Any] = {
            "invocationLogSource": {"s3Uri": self.s3_uri},
            "usePromptResponse": self.use_prompt_response,
        }
        if self.request_metadata_filters is not None:
            config["requestMetadataFilters"] = self.request_metadata_filters.model_dump(exclude_none=True)
        return config


class RunSettings(_Strict):
    base_model_id: str = "amazon.titan-text-express-v1"
    customization_type: CustomizationType = CustomizationType.FINE_TUNING
    # Values stay as given (Any, not str | int | float, which would turn JSON true into 1): the family check
    # (check_family) turns them into Bedrock's strings and names any wrong one with its allowed range.
    hyperparameters: dict[str, Any] = Field(default_factory=dict)
    model_units: int = Field(1, ge=1, le=100)
    commitment: Literal["OneMonth", "SixMonths"] | None = None
    throughput_policy: ThroughputPolicy = ThroughputPolicy.KEEP_IF_BETTER
    evaluation: EvaluationSettings = Field(default_factory=EvaluationSettings)
    poll: PollSettings = Field(default_factory=PollSettings)
    timeouts: TimeoutSettings = Field(default_factory=TimeoutSettings)
    prices: PriceSettings | None = None
    smoke_test: SmokeSettings = Field(default_factory=SmokeSettings)
    # How the custom model is served for the evaluation: provisioned throughput (any base), or an on-demand
    # custom model deployment (only the bases whose BaseModel.on_demand_deployment is true).
    serving: Literal["provisioned_throughput", "on_demand"] = "provisioned_throughput"
    # Only for customization_type DISTILLATION, which needs it.
    distillation: DistillationSettings | None = None
    # The training data from invocation logs instead of input.training_data (DISTILLATION, REINFORCEMENT_FINE_TUNING).
    invocation_logs: InvocationLogsSettings | None = None
    # The reward of a REINFORCEMENT_FINE_TUNING job and the evaluation's ``grader`` metric (customizer.grading).
    grader: GraderSettings | None = None

    @model_validator(mode="after")
    def _committed_throughput_cannot_be_deleted(self) -> RunSettings:
        if self.commitment and self.throughput_policy is not ThroughputPolicy.KEEP:
            raise ValueError(
                "a throughput with a commitment cannot be deleted before its term ends; "
                "set throughput_policy to 'keep' or remove commitment"
            )
        return self

    @property
    def model(self) -> FamilyModel:
        return base_model(self.base_model_id)


_EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
LOG_RETENTION_DAYS = (
    1,
    3,
    5,
    7,
    14,
    30,
    60,
    90,
    120,
    150,
    180,
    365,
    400,
    545,
    731,
    1096,
    1827,
    2192,
    2557,
    2922,
    3288,
    3653,
)


class SweepOptions(_Strict):
    """What one sweep does: the sweeper's configuration, or a manual run's input merged over it."""

    max_throughput_hours: float = Field(
        24.0, ge=0, le=8760, description="a pipeline throughput (or deployment) older than this is deleted"
    )
    delete_orphan_models: bool = Field(
        False, description="also delete custom models that lost their evaluation (tag evaluation=lost)"
    )
    dry_run: bool = Field(False, description="report what would be deleted, delete nothing")


class SweeperSettings(SweepOptions):
    """The scheduled sweeper (``pipeline.sweeper``): a safety net for throughput nobody deleted."""

    schedule_minutes: int = Field(60, ge=1, le=1440, description="how often the sweeper runs")

    @property
    def options(self) -> SweepOptions:
        return SweepOptions.model_validate(self.model_dump(exclude={"schedule_minutes"}))


class DeploymentSettings(_Strict):
    notification_email: str | None = Field(None, pattern=_EMAIL_PATTERN)
    execution_timeout_hours: int = Field(96, ge=1, le=8760, description="hard limit of one execution")
    run_prefix: str = Field("runs/", pattern=r"^[A-Za-z0-9!_.*'()/-]+/$")
    log_retention_days: int = 30
    defaults: RunSettings = Field(default_factory=RunSettings)
    sweeper: SweeperSettings = Field(default_factory=SweeperSettings)
    # Users' own grader functions (settings.grader.lambda_arn) this deployment may call: Bedrock's customization
    # role, the pre-flight check and the evaluation are granted lambda:InvokeFunction on these and on no other.
    grader_lambda_arns: list[LambdaArn] = Field(default_factory=list, max_length=20)

    @model_validator(mode="after")
    def _check(self) -> DeploymentSettings:
        if self.log_retention_days not in LOG_RETENTION_DAYS:
            raise ValueError(f"log_retention_days must be one of {', '.join(map(str, LOG_RETENTION_DAYS))}")
        t = self.defaults.timeouts
        if self.execution_timeout_hours < t.job_hours + t.throughput_minutes / 60:
            raise ValueError(
                "execution_timeout_hours must be at least defaults.timeouts.job_hours plus "
                "defaults.timeouts.throughput_minutes, so the run's own timeouts (which clean up) come first"
            )
        if self.sweeper.max_throughput_hours * 60 <= t.throughput_minutes:
            raise ValueError(
                "sweeper.max_throughput_hours must exceed defaults.timeouts.throughput_minutes, so a run's "
                "throughput can come into service and be evaluated before the sweeper may delete it"
            )
        return self


def _describe(error: ValidationError, prefix: str) -> str:
    lines = []
    for item in error.errors():
        # A list's item by its index: settings.grader.weighted[1].pattern.
        where = "".join(
            f"[{p}]" if isinstance(p, int) else f".{p}" for p in (prefix, *item["loc"]) if p != ""
        ).removeprefix(".")
        message = item["msg"].removeprefix("Value error, ")
        got = item.get("input")
        shown = (
            "" if isinstance(got, Mapping) or item["type"] == "missing" else f" (got {json.dumps(got, default=str)})"
        )
        if item["type"] == "extra_forbidden":
            message = "unknown setting"
        lines.append(f"{where}: {message}{shown}")
    return "; ".join(lines)


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """``override`` on top of ``base``; nested objects merge, everything else replaces.
    Hyperparameters replace key by key, like any nested object."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def parse_deployment_settings(context: Mapping[str, Any] | None) -> DeploymentSettings:
    """Settings from ``cdk.json`` context (key ``pipeline``). Raises SettingsError naming the setting."""
    try:
        settings = DeploymentSettings.model_validate(context or {})
    except ValidationError as exc:
        raise SettingsError(_describe(exc, "pipeline")) from None
    check_family(settings.defaults, has_validation_data=True, where="pipeline.defaults")
    return settings


def resolve_run_settings(defaults: Mapping[str, Any], *overrides: Mapping[str, Any]) -> RunSettings:
    """Merge overrides (run config, then execution input) onto the defaults and check the result.

    Hyperparameters belong to a base model and a customization type: the defaults' hyperparameters apply only
    while the run keeps the defaults' base model and type. A run on another base model or type starts from that
    model's own defaults (filled in by ``check_family``) plus the hyperparameters the run itself gives."""
    merged: dict[str, Any] = dict(defaults)
    for override in overrides:
        if not isinstance(override, Mapping):
            raise SettingsError(f"settings: must be a JSON object, not {type(override).__name__}")
        merged = deep_merge(merged, override)
    default_model = defaults.get("base_model_id", RunSettings.model_fields["base_model_id"].default)
    default_type = str(defaults.get("customization_type", CustomizationType.FINE_TUNING.value))
    if merged.get("base_model_id", default_model) != default_model or (
        str(merged.get("customization_type", default_type)) != default_type
    ):
        given: dict[str, Any] = {}
        for override in overrides:
            hyperparameters = override.get("hyperparameters")
            if isinstance(hyperparameters, Mapping):
                given.update(hyperparameters)
            elif hyperparameters is not None:
                given = hyperparameters  # let validation name the wrong type
        merged["hyperparameters"] = given
    try:
        return RunSettings.model_validate(merged)
    except ValidationError as exc:
        raise SettingsError(_describe(exc, "settings")) from None


def check_family(settings: RunSettings, *, has_validation_data: bool, where: str = "settings") -> dict[str, str]:
    """Check the settings against the base model's knowledge; return the resolved hyperparameters."""
    try:
        model = settings.model
        model.data_format(settings.customization_type)
        if settings.evaluation.max_tokens > model.max_answer_tokens:
            raise SettingsError(
                f"settings.evaluation.max_tokens: {settings.evaluation.max_tokens} is more than {model.model_id} "
                f"answers with (at most {model.max_answer_tokens} tokens); allowed: 1 to {model.max_answer_tokens}"
            )
        if settings.serving == "on_demand" and not model.on_demand_deployment:
            allowed = ", ".join(m.model_id for m in BASE_MODELS if m.on_demand_deployment)
            raise SettingsError(
                f"settings.serving: 'on_demand' is not available for models customized from {model.model_id}; "
                f"bases that allow it: {allowed} (or use 'provisioned_throughput')"
            )
        if settings.invocation_logs is not None:
            check_invocation_logs(settings)
        if settings.evaluation.metric == GRADER_METRIC and settings.grader is None:
            raise SettingsError(
                "settings.evaluation.metric: 'grader' is the run's grader scoring the test set; set settings.grader "
                "(one of the project's scorers or your own Lambda) or choose another metric"
            )
        if settings.customization_type is CustomizationType.DISTILLATION:
            return check_distillation(settings)
        if settings.distillation is not None:
            raise SettingsError(
                "settings.distillation: only for customization_type DISTILLATION; remove it or change the type"
            )
        if settings.evaluation.min_fraction_of_teacher is not None:
            raise SettingsError(
                "settings.evaluation.min_fraction_of_teacher: only for customization_type DISTILLATION (a run "
                "without a teacher has nothing to compare with); remove it"
            )
        if settings.customization_type is CustomizationType.REINFORCEMENT_FINE_TUNING:
            return check_rft(settings, has_validation_data=has_validation_data)
        return model.resolve_hyperparameters(settings.hyperparameters, has_validation_data=has_validation_data)
    except SettingsError as exc:
        if where == "settings":
            raise
        raise SettingsError(str(exc).replace("settings.", f"{where}.", 1)) from None


def check_invocation_logs(settings: RunSettings) -> None:
    """Invocation logs are training data of the types whose records are made of them
    (customizer.invocation_logs.CONVERTERS); Bedrock takes them for DISTILLATION and REINFORCEMENT_FINE_TUNING."""
    ctype = settings.customization_type
    if ctype in CONVERTERS:
        return
    raise SettingsError(
        f"settings.invocation_logs: Bedrock trains {ctype.value} on files, not invocation logs (they are for "
        "DISTILLATION and REINFORCEMENT_FINE_TUNING); give input.training_data"
    )


def check_distillation(settings: RunSettings) -> dict[str, str]:
    """A teacher the student may learn from (families/distillation.py), and no hyperparameters (a distillation
    job takes none); returns the (empty) hyperparameters."""
    model = settings.model
    if settings.distillation is None:
        raise SettingsError(
            'settings.distillation: required for DISTILLATION: {"teacher_model_id": ..., "max_response_length": ...}'
        )
    teacher = distillation.teacher(settings.distillation.teacher_model_id)
    if teacher.model_id not in model.distillation_teachers:
        allowed = ", ".join(model.distillation_teachers)
        raise SettingsError(
            f"settings.distillation.teacher_model_id: {model.model_id} cannot learn from {teacher.model_id} "
            f"(the user guide's teacher and student pairs, {distillation.PAIRS_AS_OF}); its teachers: {allowed}"
        )
    evaluation = settings.evaluation
    if evaluation.min_fraction_of_teacher is not None and evaluation.metric.startswith(JUDGE_METRIC_PREFIX):
        raise SettingsError(
            f"settings.evaluation.min_fraction_of_teacher: the judge grades the custom and base models' answers, "
            f"not the teacher's, so {evaluation.metric} cannot be compared with the teacher; choose a string metric "
            f"({', '.join(STRING_METRICS)}) or remove min_fraction_of_teacher"
        )
    if settings.smoke_test.enabled:
        raise SettingsError(
            "settings.smoke_test.enabled: not for distillation (this project's rule: the short job would pay the "
            "teacher for its answers as well); set it to false"
        )
    if settings.hyperparameters:
        name = next(iter(settings.hyperparameters))
        raise SettingsError(
            f"settings.hyperparameters.{name}: a distillation job takes no hyperparameters (Bedrock sets them); remove it"
        )
    return {}


def check_rft(settings: RunSettings, *, has_validation_data: bool) -> dict[str, str]:
    """Reinforcement fine-tuning (families/rft.py): its own hyperparameters (customizationConfig.rftConfig.
    hyperParameters), a grader, and no smoke test; returns the checked hyperparameters."""
    if settings.smoke_test.enabled:
        raise SettingsError(
            "settings.smoke_test.enabled: not for reinforcement fine-tuning (this project's rule: the short job "
            "would need 100 prompts and the grader as well); set it to false"
        )
    hyperparameters = settings.model.resolve_hyperparameters(
        settings.hyperparameters,
        has_validation_data=has_validation_data,
        customization_type=CustomizationType.REINFORCEMENT_FINE_TUNING,
    )
    logs = settings.invocation_logs
    if logs is not None and not logs.use_prompt_response:
        raise SettingsError(
            "settings.invocation_logs.use_prompt_response: must be true for REINFORCEMENT_FINE_TUNING (this "
            "project's rule: each logged response is its prompt's reference_answer, which the grader scores against)"
        )
    if logs is not None and settings.grader is not None and settings.grader.builtin:
        raise SettingsError(
            "settings.grader: the project's scorers with settings.invocation_logs are not built (the stack's reward "
            "function reads the run's grader from each training record, and Bedrock makes those of the logs); give "
            'your own {"lambda_arn": ...} or input.training_data'
        )
    if settings.grader is None:
        raise SettingsError(
            "settings.grader: required for REINFORCEMENT_FINE_TUNING: the reward Bedrock trains on, one of the "
            'project\'s scorers ({"scorer": "token_f1"}) or your own Lambda ({"lambda_arn": "arn:aws:lambda:..."})'
        )
    return hyperparameters


def grader_lambda_arn(settings: RunSettings) -> str | None:
    """The user's own reward Lambda, where the run names one (``settings.grader.lambda_arn``); None for the
    project's scorers, which the stack's reward function serves."""
    return settings.grader.lambda_arn if settings.grader is not None else None
