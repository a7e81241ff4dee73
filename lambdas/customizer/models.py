"""The run's state as the state machine carries it (see docs/design.md). Each step reads the parts it
needs (unknown keys ignored) and returns its own part, which the state machine stores by ResultPath."""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from customizer.settings import RunSettings


class _State(BaseModel):
    model_config = ConfigDict(extra="ignore")


class RunRequest(BaseModel):
    """The execution input (console), or what the upload trigger builds from a manifest."""

    model_config = ConfigDict(extra="forbid")

    # Single hyphens between letters and digits only: the names derived from it (custom model, throughput) allow
    # no "--" and no trailing "-" (botocore pattern ``([0-9a-zA-Z][_-]?)+``).
    run_name: str = Field(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9]+(-[A-Za-z0-9]+)*$")
    training_data: str
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


class ModelScore(_State):
    model_id: str
    examples: int
    correct: int
    errors: int
    accuracy: float


class Evaluation(_State):
    custom: ModelScore
    base: ModelScore
    custom_beats_base: bool
    margin: float
    report_uri: str
    report_markdown_uri: str


class Policy(_State):
    action: Literal["kept", "deleted", "none"]
    reason: str


class StateAfterValidation(_State):
    run: Run


class StateAfterJob(StateAfterValidation):
    job: Job


class StateAfterThroughput(StateAfterJob):
    throughput: Throughput


class StateAfterEvaluation(StateAfterThroughput):
    evaluation: Evaluation


class CaughtError(_State):
    Error: str = "Unknown"
    Cause: str = ""


class AnyState(_State):
    """Whatever state a run had reached when it ends or is cleaned up: every part optional."""

    run: Run | None = None
    job: Job | None = None
    throughput: Throughput | None = None
    evaluation: Evaluation | None = None
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


class NotifyInput(_State):
    outcome: Literal["SUCCEEDED", "FAILED"]
    state: AnyState
