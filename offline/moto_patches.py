"""Where moto's ASL interpreter differs from Step Functions in a way the pipeline depends on, made to behave as
Step Functions does while the offline runtime runs.

- A Distributed Map whose children fail more than ``ToleratedFailureCount`` / ``ToleratedFailurePercentage``
  allow (both 0 by default: any failed child) fails with ``States.ExceedToleratedFailureThreshold``. moto 5.2
  counts the failed children and carries on ("TODO: add support for failure toleration fields"), so a chunk of
  the evaluation that failed would only be noticed by the aggregation step; in AWS the map state fails and its
  Catch runs."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, cast

from moto.stepfunctions.parser.api import EvaluationFailedEventDetails, HistoryEventType
from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
    FailureEvent,
    FailureEventException,
)
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import StatesErrorNameType
from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.distributed_iteration_component import (
    DistributedIterationComponent,
)
from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails


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
