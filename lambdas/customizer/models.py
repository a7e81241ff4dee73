"""The run's state as the state machine carries it (see docs/design.md). Each step reads the parts it
needs (unknown keys ignored) and returns its own part, which the state machine stores by ResultPath."""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from customizer.settings import RunSettings
from customizer.validation.cost import ThroughputEstimate


class _State(BaseModel):
    model_config = ConfigDict(extra="ignore")


class RunRequest(BaseModel):
    """The execution input (console), or what the upload trigger builds from a manifest."""

    model_config = ConfigDict(extra="forbid")

    # Single hyphens between letters and digits only: the names derived from it (custom model, throughput) allow
    # no "--" and no trailing "-" (botocore pattern ``([0-9a-zA-Z][_-]?)+``).
    run_name: str = Field(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9]+(-[A-Za-z0-9]+)*$")
    # None only with settings.invocation_logs (the training data from Bedrock's invocation logs).
    training_data: str | None = None
    validation_data: str | None = None
    test_data: str | None = None
    settings: dict[str, Any] = Field(default_factory=dict)
    config_data: str | None = Field(None, description="s3 URI of a run config (settings JSON) uploaded with the data")
    attempt: int = Field(1, ge=1, le=999, description="raise to re-run identical data and settings as a new job")


class DataObject(_State):
    uri: str
    version_id: str | None = None
    size: int
    sha256: str
    records: int


class DataSet(_State):
    training: DataObject
    validation: DataObject | None = None
    test: DataObject | None = None


class Names(_State):
    job_name: str
    model_name: str
    throughput_name: str
    client_token: str


class SmokePlan(_State):
    """The short job "Start small" runs first: a sample of the training data, one epoch, its own names."""

    training_uri: str
    records: int
    job_name: str
    model_name: str
    client_token: str
    output_uri: str
    hyperparameters: dict[str, str]


class Run(_State):
    run_id: str
    run_name: str
    execution_name: str
    settings: RunSettings
    hyperparameters: dict[str, str]
    data: DataSet
    names: Names
    output_uri: str
    report_prefix: str
    started_at: str
    smoke: SmokePlan | None = None
    throughput_estimate: ThroughputEstimate | None = None  # the hours its throughput will bill, estimated
    base_invoke_id: str | None = None  # what the evaluation calls the base model by (None: settings.base_model_id)
    # A distillation's teacher, as the evaluation's third arm calls it on demand (None: no teacher arm).
    teacher_invoke_id: str | None = None
    # The training data the job reads where it is not input.training_data: a reinforcement fine-tuning run graded
    # by the project's scorers trains on a copy with its grader in every record (customizer.grading.data).
    job_training_uri: str | None = None
    warnings: list[str] = Field(default_factory=list)  # what the run should know before it is paid for (a Legacy base)

    @property
    def base_model_invoke_id(self) -> str:
        return self.base_invoke_id or self.settings.base_model_id


class Job(_State):
    job_arn: str
    job_name: str
    status: Literal["InProgress", "Completed", "Failed", "Stopping", "Stopped"]
    model_arn: str | None = None
    failure_message: str | None = None
    metrics: dict[str, Any] = Field(default_factory=dict)
    checked_at: str | None = None
    created_at: str | None = None
    ended_at: str | None = None  # when it completed, failed or stopped


class Throughput(_State):
    arn: str
    name: str
    status: Literal["Creating", "InService", "Updating", "Failed"]
    model_units: int
    commitment: str | None = None
    failure_message: str | None = None
    created_at: str | None = None
    # "deployment": an on-demand custom model deployment (settings.serving on_demand), kept here in the same
    # shape (its Active shown as InService) so evaluation, policy, cleanup and records serve both.
    kind: Literal["throughput", "deployment"] = "throughput"


class ModelScore(_State):
    """One model on the test set. ``accuracy`` is the contains-match accuracy; every metric is a mean over all
    examples, a failed call scoring 0 (``errors`` says how many failed); latency is over the calls answered."""

    model_id: str
    examples: int
    correct: int
    errors: int
    accuracy: float
    exact_match: float = 0.0
    token_f1: float = 0.0
    rouge_l: float = 0.0
    output_words: float = 0.0
    latency_p50_ms: float | None = None
    latency_p95_ms: float | None = None


class MetricComparison(_State):
    """custom - base on one metric, with its paired bootstrap 95% confidence interval."""

    metric: str
    custom: float
    base: float
    difference: float
    ci_low: float
    ci_high: float


class TeacherComparison(_State):
    """custom - teacher on one metric (a distillation's third arm), with its paired bootstrap 95% interval;
    ``fraction``: custom / teacher (None when the teacher scored 0)."""

    metric: str
    custom: float
    teacher: float
    difference: float
    ci_low: float
    ci_high: float
    fraction: float | None = None


class Decision(_State):
    """The promotion rule's verdict (settings.evaluation: metric, min_improvement, floor, require_confidence)."""

    promote: bool
    metric: str
    reason: str


class DistillationOutputs(_State):
    """A distillation job's synthetic data samples and prompt insights (customizer.distillation_outputs)."""

    found: bool = False  # the job wrote either file
    synthetic_samples: int = 0
    samples: list[dict[str, str]] = Field(default_factory=list)  # the first few: prompt, response, source
    prompts: int = 0  # prompts the insights judged
    accepted: int = 0
    rejected: int = 0
    reasons: dict[str, int] = Field(default_factory=dict)  # rejections by reason
    rejections: list[dict[str, str]] = Field(default_factory=list)  # the first few: record, reason


class TrainingHealth(_State):
    """Final and best losses of the job's metric files, and what they warn of."""

    training_steps: int = 0
    validation_points: int = 0
    final_training_loss: float | None = None
    best_training_loss: float | None = None
    final_validation_loss: float | None = None
    best_validation_loss: float | None = None
    final_training_perplexity: float | None = None
    final_validation_perplexity: float | None = None
    # Reinforcement fine-tuning: the mean reward of the grader's scores per training step.
    reward_points: int = 0
    first_training_reward: float | None = None
    final_training_reward: float | None = None
    best_training_reward: float | None = None
    warnings: list[str] = Field(default_factory=list)
    distillation: DistillationOutputs | None = None  # a distillation job's outputs


class JudgeSummary(_State):
    """What the judge (settings.evaluation.judge) did: its metrics are in ``Evaluation.comparison``."""

    status: Literal["Completed", "Failed"]
    model_id: str
    metrics: list[str] = Field(default_factory=list)  # judge.correctness, judge.<custom name>
    jobs: list[str] = Field(default_factory=list)  # the evaluation jobs' ARNs
    message: str | None = None  # why it failed
    scored: dict[str, int] = Field(default_factory=dict)  # per metric: examples both models got a score on


class Evaluation(_State):
    custom: ModelScore
    base: ModelScore
    custom_beats_base: bool  # the decision: promote the custom model (keep_if_better keeps its throughput)
    margin: float
    report_uri: str
    report_markdown_uri: str
    report_html_uri: str | None = None
    mode: Literal["single", "fan_out"] = "single"
    decision: Decision | None = None
    comparison: list[MetricComparison] = Field(default_factory=list)
    training: TrainingHealth | None = None
    judge: JudgeSummary | None = None
    # A distillation's teacher on the same test set (the third arm), and custom - teacher per metric.
    teacher: ModelScore | None = None
    teacher_comparison: list[TeacherComparison] = Field(default_factory=list)


class EvaluationChunk(_State):
    """A slice of the test set, written as its own object, evaluated by one child of the Distributed Map."""

    index: int
    uri: str
    first: int  # the test-set index of its first example
    examples: int
    concurrency: dict[str, int] = Field(default_factory=dict)  # calls in flight per model ("custom", "base")


class EvaluationPlan(_State):
    """How the test set is evaluated: in this step's Lambda, or fanned out over chunks (``fan_out``)."""

    examples: int
    fan_out: bool
    chunks: list[EvaluationChunk] = Field(default_factory=list)


class Policy(_State):
    # What the throughput is after the policy: kept, deleted ("deleted" too when a retried step finds the first
    # call already deleted it), or "none" when the delete did not happen.
    action: Literal["kept", "deleted", "none"]
    reason: str
    # This call deleted it (False when it was already gone): its hours are counted once.
    deleted_now: bool = False


class StateAfterValidation(_State):
    run: Run


class StateAfterJob(StateAfterValidation):
    job: Job


class CreateJobInput(StateAfterValidation):
    """What "Create the customization job" gets; "Create the smoke job" adds ``smoke: true``."""

    smoke: bool = False


class CheckJobInput(StateAfterJob):
    """What "Check the job" gets; "Check the smoke job" gives the smoke job as ``job`` and ``smoke: true``."""

    smoke: bool = False


class StateAfterThroughput(StateAfterJob):
    throughput: Throughput


class StateAfterPlan(StateAfterThroughput):
    evaluation_plan: EvaluationPlan


class ChunkInput(_State):
    """What the Distributed Map gives each child: the run, the throughput and one chunk."""

    run: Run
    throughput: Throughput
    chunk: EvaluationChunk


class StateAfterEvaluation(StateAfterThroughput):
    evaluation: Evaluation


class JudgeJob(_State):
    """One evaluation job: one model's answers (``model``: custom or base), one chunk of the test set."""

    model: Literal["custom", "base"]
    chunk: int
    first: int  # where its dataset starts among the model's graded answers (failed calls are not sent)
    job_arn: str
    job_name: str
    output_uri: str  # the job's outputDataConfig.s3Uri
    status: str = "InProgress"
    failure: str | None = None


class JudgeState(_State):
    """The judge's evaluation jobs as "Check the judge" last saw them."""

    status: Literal["InProgress", "Completed", "Failed"]
    jobs: list[JudgeJob] = Field(default_factory=list)
    started_at: str
    message: str | None = None


class StateAfterJudge(StateAfterEvaluation):
    judge: JudgeState


class JudgeInput(_State):
    """What the judge's steps get: the step ("start", "check", "conclude") and the state."""

    step: Literal["start", "check", "conclude"]
    state: dict[str, Any]


class CaughtError(_State):
    Error: str = "Unknown"
    Cause: str = ""


class AnyState(_State):
    """Whatever state a run had reached when it ends or is cleaned up: every part optional."""

    run: Run | None = None
    job: Job | None = None
    smoke_job: Job | None = None
    throughput: Throughput | None = None
    evaluation: Evaluation | None = None
    judge: JudgeState | None = None
    policy: Policy | None = None
    error: CaughtError | None = None
    cleanup: dict[str, Any] | None = None
    cleanup_error: CaughtError | None = None
    # Validation failed before $.run existed: the original request is at the top level.
    run_name: str | None = None

    @field_validator("run_name", mode="before")
    @classmethod
    def _run_name_as_text(cls, value: Any) -> Any:
        # A malformed run_name may be why validation failed: it must not stop the failure notice.
        return value if value is None or isinstance(value, str) else json.dumps(value)


class ValidateInput(_State):
    request: dict[str, Any]
    execution_name: str
    execution_arn: str  # $$.Execution.Id: the run's lease names its holder by it (customizer/leases.py)


class NotifyInput(_State):
    outcome: Literal["SUCCEEDED", "FAILED"]
    state: AnyState
