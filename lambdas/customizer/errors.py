"""Typed errors. The state machine's Retry and Catch name these classes (a Lambda error's type is its
class name), so renaming one is a change to the workflow's contract: see ``stacks/workflow.py``."""

from __future__ import annotations


class PipelineError(Exception):
    """Base class of every error the pipeline raises on purpose."""


class RunInputError(PipelineError):
    """The run's input, settings or data are wrong. Not retried: the run stops before money is spent."""


class SettingsError(RunInputError):
    """A setting has a wrong value. The message names the setting and what is allowed."""


class DataNotFoundError(RunInputError):
    """A data object named by the run does not exist or cannot be read."""


class GraderRejectedError(RunInputError):
    """The run's grader (settings.grader) failed the check before any job: it crashed, timed out, answered out of
    the documented form or range, gave the reference answer less than the maximum or an empty answer the
    maximum. Not retried: the message names the grader and what it did."""


class RewardRequestError(PipelineError):
    """The reward function got a batch it cannot grade: a record without an id, or without the grader spec the
    pipeline embeds in the training data it prepares (customizer.grading.data)."""


class BedrockThrottledError(PipelineError):
    """Bedrock throttled the call even after the SDK's own retries. Retried by the state machine."""


class AwsServiceUnavailableError(PipelineError):
    """A transient service-side failure (5xx, timeouts). Retried by the state machine."""


class AwsRequestRejectedError(PipelineError):
    """AWS rejected a request (ValidationException, AccessDenied and similar). Not retried."""


class ResourceMissingError(PipelineError):
    """A job, model or throughput the run expects is gone."""


class StepInProgressError(PipelineError):
    """Another execution of the same run is inside the same step right now (a duplicated start). Retried:
    once that step finishes, this execution gets its result instead of doing the work twice."""


class RunAlreadyRunningError(PipelineError):
    """Another execution of the same run still runs (a duplicated start; customizer/leases.py). Not retried:
    this execution ends at validation, before anything is created, naming the execution that runs the run."""


class WaitTimeoutError(PipelineError):
    """A job or throughput took longer than its configured timeout. Caught: the run cleans up."""


class EvaluationError(PipelineError):
    """The evaluation could not produce a result (no usable test examples, every call failed)."""


class JudgeFailedError(EvaluationError):
    """The judge's evaluation jobs failed (or timed out) and the promotion rule names a judge metric, so the run
    cannot decide. Caught: the run cleans up. With a string metric the run goes on without the judge."""


class EvaluationPausedError(PipelineError):
    """The evaluation step ran short of time and saved its answers so far. Retried: the next attempt resumes
    from the saved answers instead of starting again."""


# The names the state machine uses. Kept here so the workflow and the handlers cannot drift apart.
# The error of the state machine's "Run failed" state, which follows "Notify failure": an execution that failed
# with it was reported; one that failed with another error (its notify step failed) was not.
RUN_FAILED_ERROR = "RunFailed"

RETRYABLE_ERRORS = (
    BedrockThrottledError.__name__,
    AwsServiceUnavailableError.__name__,
    StepInProgressError.__name__,
    EvaluationPausedError.__name__,
)
