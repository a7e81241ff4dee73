"""Where the offline runtime makes moto's interpreter behave as Step Functions: a Distributed Map's failure
tolerance (the end-to-end suite runs it: a failed chunk fails the map), and the names of a Lambda task's
failures (the end-to-end suite's lost replies and refused invokes are retried by those names)."""

from __future__ import annotations

import json
import logging

import pytest
from botocore.exceptions import ClientError

from offline.moto_patches import exceeds_tolerance, lambda_error_name


@pytest.mark.parametrize(
    ("failed", "total", "count", "percentage", "fails"),
    [
        (0, 10, None, None, False),
        (1, 10, None, None, True),  # nothing tolerated by default
        (1, 10, 0, 0.0, True),
        (2, 10, 2, None, False),
        (3, 10, 2, None, True),
        (2, 10, None, 20.0, False),
        (3, 10, None, 20.0, True),
        (3, 10, 5, 20.0, True),  # both set: exceeding either fails
        (3, 10, 2, 50.0, True),
        (2, 10, 5, 50.0, False),
    ],
)
def test_a_map_fails_when_its_failed_children_exceed_either_threshold(failed, total, count, percentage, fails):
    assert exceeds_tolerance(failed, total, count, percentage) is fails


def _function_error(payload: object) -> Exception:
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.lambda_eval_utils import (
        LambdaFunctionErrorException,
    )

    return LambdaFunctionErrorException("Unhandled", json.dumps(payload))


def test_a_function_error_keeps_its_error_type() -> None:
    assert lambda_error_name(_function_error({"errorType": "Sandbox.Timedout", "errorMessage": "x"})) is None


@pytest.mark.parametrize("payload", [{"errorMessage": "Task timed out after 60.00 seconds"}, "out of memory", None])
def test_a_function_error_without_an_error_type_is_lambda_unknown(payload: object) -> None:
    assert lambda_error_name(_function_error(payload)) == ("Lambda.Unknown", json.dumps(payload))


def test_lambdas_refusal_of_the_invoke_is_named_by_its_code() -> None:
    refused = ClientError({"Error": {"Code": "TooManyRequestsException", "Message": "Rate exceeded"}}, "Invoke")
    assert lambda_error_name(refused) == ("Lambda.TooManyRequestsException", "Rate exceeded")


def test_other_errors_keep_moto_s_name() -> None:
    assert lambda_error_name(RuntimeError("anything else")) is None


def test_a_stopped_or_timed_out_execution_keeps_its_end() -> None:
    from datetime import UTC, datetime

    from moto.stepfunctions.parser.asl.eval.program_state import ProgramRunning, ProgramStopped, ProgramTimedOut

    from offline.moto_patches import keeps_its_end

    assert keeps_its_end(ProgramStopped(stop_date=datetime.now(UTC), cause=None, error=None))
    assert keeps_its_end(ProgramTimedOut())
    assert not keeps_its_end(ProgramRunning())  # type: ignore[no-untyped-call]


class _Env:
    """What a Choice variable's evaluation touches of moto's Environment."""

    def __init__(self, state: object) -> None:
        self.stack: list[object] = [state]
        self.next_field_name: str | None = None

    def is_running(self) -> bool:
        return True


def _choice_variable(path: str, state: object) -> object:
    from moto.stepfunctions.parser.asl.component.common.string.string_expression import StringJsonPath
    from moto.stepfunctions.parser.asl.component.state.choice.comparison.variable import Variable

    env = _Env(state)
    Variable(StringJsonPath(path)).eval(env)  # type: ignore[arg-type]
    return env.stack.pop()


def test_an_absent_choice_variable_is_not_logged_as_an_error(caplog: pytest.LogCaptureFixture) -> None:
    from moto.stepfunctions.parser.asl.component.state.choice.comparison.variable import NoSuchVariable

    from offline.moto_patches import offline_patches

    # Unpatched, moto 5.2 logs "Exception=NoSuchJsonPathError ... '$.run.smoke'" here (the line the demo printed);
    # not asserted, since an offline runtime left running in this test process has the patches installed.
    with offline_patches(), caplog.at_level(logging.ERROR, logger="moto"):
        absent = _choice_variable("$.run.smoke", {"run": {}})
        present = _choice_variable("$.run.smoke", {"run": {"smoke": {"records": 5}}})
    assert caplog.records == []
    assert isinstance(absent, NoSuchVariable)  # IsPresent false, as before
    assert present == {"records": 5}
