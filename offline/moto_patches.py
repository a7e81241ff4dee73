"""Where moto's ASL interpreter differs from Step Functions in a way the pipeline depends on, made to behave as
Step Functions does while the offline runtime runs.

- A Distributed Map whose children fail more than ``ToleratedFailureCount`` / ``ToleratedFailurePercentage``
  allow (both 0 by default: any failed child) fails with ``States.ExceedToleratedFailureThreshold``. moto 5.2
  counts the failed children and carries on ("TODO: add support for failure toleration fields"), so a chunk of
  the evaluation that failed would only be noticed by the aggregation step; in AWS the map state fails and its
  Catch runs.
- A Lambda task's failure is named as Step Functions names it (developer guide, "Handle Lambda service
  exceptions"): a function error whose payload has no ``errorType`` (a function that timed out or ran out of
  memory) is ``Lambda.Unknown``, and Lambda's own refusal of the invoke is ``Lambda.<code>``
  (``Lambda.TooManyRequestsException``...); moto 5.2 calls both ``Exception``, which no Retry would match.

- An execution stopped by hand (or timed out) stays ABORTED (TIMED_OUT) when the step that was running then
  fails: moto 5.2's ``Environment.set_error`` overrides the stopped state, so a stop during a step whose reply
  is lost ends FAILED (found by the chaos suite); Step Functions ends a stopped execution ABORTED at once.
- A Choice rule's variable that is not in the input is not an error: ``IsPresent: false`` tests exactly that
  ("Smoke test first?" asks ``$.run.smoke``). moto 5.2 evaluates the path through its logging wrapper, which
  logs ``Exception=NoSuchJsonPathError`` at ERROR before the Choice catches it and carries on correctly; the
  path is evaluated here without that wrapper, the outcome (moto's ``NoSuchVariable``) unchanged.

``offline_patches`` installs them all."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any, cast

from botocore.exceptions import ClientError
from moto.stepfunctions.parser.api import (
    EvaluationFailedEventDetails,
    HistoryEventType,
    LambdaFunctionFailedEventDetails,
)
from moto.stepfunctions.parser.asl.component.common.error_name.custom_error_name import CustomErrorName
from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
    FailureEvent,
    FailureEventException,
)
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import StatesErrorNameType
from moto.stepfunctions.parser.asl.component.common.string.string_expression import StringJsonPath
from moto.stepfunctions.parser.asl.component.state.choice.comparison.variable import NoSuchVariable, Variable
from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.distributed_iteration_component import (
    DistributedIterationComponent,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils
from moto.stepfunctions.parser.asl.component.state.exec.state_task.state_task_lambda import StateTaskLambda
from moto.stepfunctions.parser.asl.eval.environment import Environment
from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails
from moto.stepfunctions.parser.asl.eval.program_state import ProgramStopped, ProgramTimedOut
from moto.stepfunctions.parser.asl.utils.json_path import NoSuchJsonPathError


def exceeds_tolerance(failed: int, total: int, tolerated_count: int | None, tolerated_percentage: float | None) -> bool:
    """Step Functions' rule: the map fails when failures exceed either threshold set (0 when neither is)."""
    if failed == 0:
        return False
    over_count = failed > (tolerated_count or 0)
    over_percentage = total > 0 and 100.0 * failed / total > (tolerated_percentage or 0.0)
    if tolerated_count and tolerated_percentage:
        return over_count or over_percentage
    if tolerated_count:
        return over_count
    if tolerated_percentage:
        return over_percentage
    return True


@contextmanager
def distributed_map_failure_tolerance() -> Iterator[None]:
    original = DistributedIterationComponent._map_run

    def map_run(self: DistributedIterationComponent, env: Any, eval_input: Any) -> None:
        original(self, env, eval_input)
        items = eval_input.map_run_record.item_counter
        failed = items.failed.get() + items.timed_out.get()
        total = items.total.get()
        if exceeds_tolerance(
            failed, total, eval_input.tolerated_failure_count, eval_input.tolerated_failure_percentage
        ):
            env.stack.pop()  # the children's outputs: the map has none when it fails
            error = StatesErrorName(typ=StatesErrorNameType.StatesExceedToleratedFailureThreshold)
            cause = f"The specified tolerated failure threshold was exceeded: {failed} of {total} items failed."
            details = EvaluationFailedEventDetails(error=error.error_name, cause=cause)
            raise FailureEventException(
                FailureEvent(
                    env=env,
                    error_name=error,
                    event_type=HistoryEventType.EvaluationFailed,
                    event_details=cast(EventDetails, {"evaluationFailedEventDetails": details}),
                )
            )

    DistributedIterationComponent._map_run = map_run  # type: ignore[method-assign]
    try:
        yield
    finally:
        DistributedIterationComponent._map_run = original  # type: ignore[method-assign]


LAMBDA_UNKNOWN = "Lambda.Unknown"


def lambda_error_name(ex: Exception) -> tuple[str, str] | None:
    """(error, cause) as Step Functions names a failed Lambda task, where moto 5.2 names it otherwise: a function
    error without ``errorType`` is ``Lambda.Unknown``; Lambda's refusal of the invoke (throttled, its own
    failure) is ``Lambda.<code>`` ("Lambda errors are reported as Lambda.<code>", the same page). None: moto's
    name is Step Functions' already."""
    if isinstance(ex, lambda_eval_utils.LambdaFunctionErrorException):
        try:
            decoded = json.loads(ex.payload)
        except ValueError:
            decoded = None
        if isinstance(decoded, dict) and isinstance(decoded.get("errorType"), str):
            return None
        return LAMBDA_UNKNOWN, ex.payload
    if isinstance(ex, ClientError):
        error = ex.response.get("Error", {})
        return f"Lambda.{error.get('Code', 'Unknown')}", str(error.get("Message", ex))
    return None


@contextmanager
def lambda_error_names() -> Iterator[None]:
    original = StateTaskLambda._from_error

    def from_error(self: StateTaskLambda, env: Any, ex: Exception) -> FailureEvent:
        named = lambda_error_name(ex)
        if named is None:
            return original(self, env, ex)
        error, cause = named
        return FailureEvent(
            env=env,
            error_name=CustomErrorName(error),
            event_type=HistoryEventType.LambdaFunctionFailed,
            event_details=cast(
                EventDetails,
                {"lambdaFunctionFailedEventDetails": LambdaFunctionFailedEventDetails(error=error, cause=cause)},
            ),
        )

    StateTaskLambda._from_error = from_error  # type: ignore[method-assign]
    try:
        yield
    finally:
        StateTaskLambda._from_error = original  # type: ignore[method-assign]


def keeps_its_end(state: object) -> bool:
    """A stopped or timed-out execution keeps that end whatever its running step does next."""
    return isinstance(state, ProgramStopped | ProgramTimedOut)


@contextmanager
def stopped_stays_stopped() -> Iterator[None]:
    original = Environment.set_error

    def set_error(self: Environment, error: Any) -> None:
        if keeps_its_end(self._program_state):
            return
        original(self, error)

    Environment.set_error = set_error  # type: ignore[method-assign]
    try:
        yield
    finally:
        Environment.set_error = original  # type: ignore[method-assign]


@contextmanager
def absent_choice_variables() -> Iterator[None]:
    original = Variable._eval_body

    def eval_body(self: Variable, env: Any) -> None:
        sampler = self.string_sampler
        if not isinstance(sampler, StringJsonPath):
            original(self, env)
            return
        try:
            sampler._eval_body(env)  # the path itself, as moto's wrapper would run it, minus its error log
            value = env.stack.pop()
        except NoSuchJsonPathError as ex:
            value = NoSuchVariable(f"{sampler.literal_value}, {ex}")
        env.stack.append(value)

    Variable._eval_body = eval_body  # type: ignore[method-assign]
    try:
        yield
    finally:
        Variable._eval_body = original  # type: ignore[method-assign]


@contextmanager
def offline_patches() -> Iterator[None]:
    with ExitStack() as stack:
        stack.enter_context(absent_choice_variables())
        stack.enter_context(distributed_map_failure_tolerance())
        stack.enter_context(lambda_error_names())
        stack.enter_context(stopped_stays_stopped())
        yield
