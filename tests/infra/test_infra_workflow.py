"""The state machine: its states, transitions, waits, choices, retries, catches and settings, read from the
synthesized DefinitionString (function ARNs appear as ${<function logical id>.Arn})."""

from __future__ import annotations

from typing import Any

import pytest

from customizer import errors
from tests.infra.template_tools import Synthesized

STATES = {
    "Validate the run": "Task",
    "Smoke test first?": "Choice",
    "Create the smoke job": "Task",
    "Wait for the smoke job": "Wait",
    "Check the smoke job": "Task",
    "Smoke job finished?": "Choice",
    "Create the customization job": "Task",
    "Wait for the job": "Wait",
    "Check the job": "Task",
    "Job finished?": "Choice",
    "Serve on demand?": "Choice",
    "Create the deployment": "Task",
    "Wait for the deployment": "Wait",
    "Check the deployment": "Task",
    "Deployment ready?": "Choice",
    "Create the throughput": "Task",
    "Wait for the throughput": "Wait",
    "Check the throughput": "Task",
    "Throughput ready?": "Choice",
    "Plan the evaluation": "Task",
    "Fan the evaluation out?": "Choice",
    "Evaluate custom against base": "Task",
    "Evaluate the test set in chunks": "Map",
    "Aggregate the evaluation": "Task",
    "Judge the answers?": "Choice",
    "Start the judge": "Task",
    "Wait for the judge": "Wait",
    "Check the judge": "Task",
    "Judge finished?": "Choice",
    "Conclude with the judge": "Task",
    "Apply the throughput policy": "Task",
    "Clean up": "Task",
    "Notify success": "Task",
    "Notify failure": "Task",
    "Run succeeded": "Succeed",
    "Run failed": "Fail",
}
# state -> (handler module, ResultPath)
TASKS = {
    "Validate the run": ("validate_run", "$.run"),
    "Create the smoke job": ("create_job", "$.smoke_job"),
    "Check the smoke job": ("check_job", "$.smoke_job"),
    "Create the customization job": ("create_job", "$.job"),
    "Check the job": ("check_job", "$.job"),
    "Create the throughput": ("create_throughput", "$.throughput"),
    "Check the throughput": ("check_throughput", "$.throughput"),
    "Create the deployment": ("create_throughput", "$.throughput"),
    "Check the deployment": ("check_throughput", "$.throughput"),
    "Plan the evaluation": ("plan_evaluation", "$.evaluation_plan"),
    "Evaluate custom against base": ("evaluate", "$.evaluation"),
    "Aggregate the evaluation": ("aggregate_evaluation", "$.evaluation"),
    "Start the judge": ("judge", "$.judge"),
    "Check the judge": ("judge", "$.judge"),
    "Conclude with the judge": ("judge", "$.evaluation"),
    "Apply the throughput policy": ("apply_policy", "$.policy"),
    "Clean up": ("cleanup", "$.cleanup"),
    "Notify success": ("notify", "$.notification"),
    "Notify failure": ("notify", "$.notification"),
}
# Everything that may have created a job or a throughput: any error here must be cleaned up.
AFTER_JOB_CREATION = [
    "Create the smoke job",
    "Check the smoke job",
    "Create the customization job",
    "Check the job",
    "Create the throughput",
    "Check the throughput",
    "Create the deployment",
    "Check the deployment",
    "Plan the evaluation",
    "Evaluate custom against base",
    "Evaluate the test set in chunks",
    "Aggregate the evaluation",
    "Start the judge",
    "Check the judge",
    "Conclude with the judge",
    "Apply the throughput policy",
]
NEXT = {
    "Validate the run": "Smoke test first?",
    "Create the smoke job": "Wait for the smoke job",
    "Wait for the smoke job": "Check the smoke job",
    "Check the smoke job": "Smoke job finished?",
    "Create the customization job": "Wait for the job",
    "Wait for the job": "Check the job",
    "Check the job": "Job finished?",
    "Create the throughput": "Wait for the throughput",
    "Wait for the throughput": "Check the throughput",
    "Check the throughput": "Throughput ready?",
    "Create the deployment": "Wait for the deployment",
    "Wait for the deployment": "Check the deployment",
    "Check the deployment": "Deployment ready?",
    "Plan the evaluation": "Fan the evaluation out?",
    "Evaluate custom against base": "Judge the answers?",
    "Evaluate the test set in chunks": "Aggregate the evaluation",
    "Aggregate the evaluation": "Judge the answers?",
    "Start the judge": "Wait for the judge",
    "Wait for the judge": "Check the judge",
    "Check the judge": "Judge finished?",
    "Conclude with the judge": "Apply the throughput policy",
    "Apply the throughput policy": "Notify success",
    "Notify success": "Run succeeded",
    "Clean up": "Notify failure",
    "Notify failure": "Run failed",
}
LAMBDA_ERRORS = [
    "Lambda.ClientExecutionTimeoutException",
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
]


def _states(definition: dict[str, Any]) -> dict[str, dict[str, Any]]:
    states: dict[str, dict[str, Any]] = definition["States"]
    return states


def test_states_are_named_as_sentences_and_typed(definition: dict[str, Any]) -> None:
    assert {name: state["Type"] for name, state in _states(definition).items()} == STATES
    assert definition["StartAt"] == "Validate the run"


@pytest.mark.parametrize("name", sorted(NEXT))
def test_next_state(definition: dict[str, Any], name: str) -> None:
    assert _states(definition)[name]["Next"] == NEXT[name]


@pytest.mark.parametrize("name", sorted(TASKS))
def test_each_task_invokes_its_function_directly_and_stores_only_its_result(
    definition: dict[str, Any], functions_by_module: dict[str, str], name: str
) -> None:
    module, result_path = TASKS[name]
    state = _states(definition)[name]
    # Resource is the function itself (payload response only): the result has no Lambda envelope.
    assert state["Resource"] == "${" + functions_by_module[module] + ".Arn}"
    assert state["ResultPath"] == result_path
    assert "ResultSelector" not in state
    assert "OutputPath" not in state


def test_validate_gets_the_request_and_the_execution_name(definition: dict[str, Any]) -> None:
    assert _states(definition)["Validate the run"]["Parameters"] == {
        "request.$": "$",
        "execution_name.$": "$$.Execution.Name",
        "execution_arn.$": "$$.Execution.Id",  # the run's lease names its holder by it
    }


SMOKE_TASKS = ("Create the smoke job", "Check the smoke job")


JUDGE_TASKS = {"Start the judge": "start", "Check the judge": "check", "Conclude with the judge": "conclude"}


@pytest.mark.parametrize(
    "name",
    [n for n in TASKS if n not in ("Validate the run", "Notify success", "Notify failure", *SMOKE_TASKS, *JUDGE_TASKS)],
)
def test_workflow_tasks_receive_the_whole_state(definition: dict[str, Any], name: str) -> None:
    state = _states(definition)[name]
    assert "Parameters" not in state
    assert "InputPath" not in state


@pytest.mark.parametrize("name", sorted(JUDGE_TASKS))
def test_judge_tasks_name_their_step_and_receive_the_whole_state(definition: dict[str, Any], name: str) -> None:
    assert _states(definition)[name]["Parameters"] == {"step": JUDGE_TASKS[name], "state.$": "$"}


def test_the_judge_runs_only_when_enabled_and_loops_until_its_jobs_end(definition: dict[str, Any]) -> None:
    states = _states(definition)
    assert states["Judge the answers?"]["Choices"] == [
        {"Variable": "$.run.settings.evaluation.judge.enabled", "BooleanEquals": True, "Next": "Start the judge"}
    ]
    assert states["Judge the answers?"]["Default"] == "Apply the throughput policy"
    assert states["Wait for the judge"]["SecondsPath"] == "$.run.settings.evaluation.judge.poll_seconds"
    assert states["Judge finished?"]["Choices"] == [
        {"Variable": "$.judge.status", "StringEquals": "InProgress", "Next": "Wait for the judge"}
    ]
    # Completed and Failed both conclude: a failed judge fails the run only if the rule names a judge metric
    assert states["Judge finished?"]["Default"] == "Conclude with the judge"


def test_smoke_tasks_select_the_smoke_job(definition: dict[str, Any]) -> None:
    states = _states(definition)
    assert states["Create the smoke job"]["Parameters"] == {"run.$": "$.run", "smoke": True}
    assert states["Check the smoke job"]["Parameters"] == {"run.$": "$.run", "job.$": "$.smoke_job", "smoke": True}


def test_smoke_test_first_choice(definition: dict[str, Any]) -> None:
    state = _states(definition)["Smoke test first?"]
    assert state["Choices"] == [{"Variable": "$.run.smoke", "IsPresent": True, "Next": "Create the smoke job"}]
    assert state["Default"] == "Create the customization job"


def test_smoke_job_finished_choice(definition: dict[str, Any]) -> None:
    state = _states(definition)["Smoke job finished?"]
    assert state["Choices"] == [
        {"Variable": "$.smoke_job.status", "StringEquals": "Completed", "Next": "Create the customization job"},
        {
            "Or": [
                {"Variable": "$.smoke_job.status", "StringEquals": "Failed"},
                {"Variable": "$.smoke_job.status", "StringEquals": "Stopped"},
            ],
            "Next": "Clean up",
        },
    ]
    assert state["Default"] == "Wait for the smoke job"


@pytest.mark.parametrize(("name", "outcome"), [("Notify success", "SUCCEEDED"), ("Notify failure", "FAILED")])
def test_notify_gets_the_outcome_and_the_state(definition: dict[str, Any], name: str, outcome: str) -> None:
    assert _states(definition)[name]["Parameters"] == {"outcome": outcome, "state.$": "$"}


@pytest.mark.parametrize(
    ("name", "path", "then"),
    [
        ("Wait for the job", "$.run.settings.poll.job_seconds", "Check the job"),
        ("Wait for the smoke job", "$.run.settings.poll.job_seconds", "Check the smoke job"),
        ("Wait for the throughput", "$.run.settings.poll.throughput_seconds", "Check the throughput"),
    ],
)
def test_waits_take_their_length_from_the_run_settings(
    definition: dict[str, Any], name: str, path: str, then: str
) -> None:
    state = _states(definition)[name]
    assert state == {"Type": "Wait", "SecondsPath": path, "Next": then}


def test_job_finished_choice(definition: dict[str, Any]) -> None:
    state = _states(definition)["Job finished?"]
    assert state["Choices"] == [
        {"Variable": "$.job.status", "StringEquals": "Completed", "Next": "Serve on demand?"},
        {
            "Or": [
                {"Variable": "$.job.status", "StringEquals": "Failed"},
                {"Variable": "$.job.status", "StringEquals": "Stopped"},
            ],
            "Next": "Clean up",
        },
    ]
    assert state["Default"] == "Wait for the job"


def test_throughput_ready_choice(definition: dict[str, Any]) -> None:
    state = _states(definition)["Throughput ready?"]
    assert state["Choices"] == [
        {"Variable": "$.throughput.status", "StringEquals": "InService", "Next": "Plan the evaluation"},
        {"Variable": "$.throughput.status", "StringEquals": "Failed", "Next": "Clean up"},
    ]
    assert state["Default"] == "Wait for the throughput"


def test_serve_on_demand_choice(definition: dict[str, Any]) -> None:
    state = _states(definition)["Serve on demand?"]
    assert state["Choices"] == [
        {"Variable": "$.run.settings.serving", "StringEquals": "on_demand", "Next": "Create the deployment"}
    ]
    assert state["Default"] == "Create the throughput"


def test_deployment_ready_choice_and_wait(definition: dict[str, Any]) -> None:
    states = _states(definition)
    assert states["Deployment ready?"]["Choices"] == [
        {"Variable": "$.throughput.status", "StringEquals": "InService", "Next": "Plan the evaluation"},
        {"Variable": "$.throughput.status", "StringEquals": "Failed", "Next": "Clean up"},
    ]
    assert states["Deployment ready?"]["Default"] == "Wait for the deployment"
    assert states["Wait for the deployment"]["SecondsPath"] == "$.run.settings.poll.throughput_seconds"


RETRIED = ["BedrockThrottledError", "AwsServiceUnavailableError", "StepInProgressError", "EvaluationPausedError"]
BACKOFF = {"IntervalSeconds": 2, "MaxAttempts": 5, "BackoffRate": 2, "JitterStrategy": "FULL"}
# A function timeout: run again, but fewer times (see stacks/constants.py).
TIMEOUTS = {"ErrorEquals": ["Sandbox.Timedout", "Lambda.Unknown"], **BACKOFF, "MaxAttempts": 2}


@pytest.mark.parametrize("name", sorted(TASKS))
def test_every_task_retries_throttling_transient_lambda_errors_and_timeouts(
    definition: dict[str, Any], name: str
) -> None:
    assert _states(definition)[name]["Retry"] == [
        {"ErrorEquals": RETRIED, **BACKOFF},
        {"ErrorEquals": LAMBDA_ERRORS, **BACKOFF},
        TIMEOUTS,
    ]


def test_retried_error_names_are_the_handlers_error_classes() -> None:
    for name in RETRIED:
        assert issubclass(getattr(errors, name), errors.PipelineError)
        assert name in errors.RETRYABLE_ERRORS


def test_a_failed_validation_is_reported_without_cleanup(definition: dict[str, Any]) -> None:
    assert _states(definition)["Validate the run"]["Catch"] == [
        {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Notify failure"}
    ]


@pytest.mark.parametrize("name", AFTER_JOB_CREATION)
def test_every_error_after_job_creation_is_cleaned_up(definition: dict[str, Any], name: str) -> None:
    assert _states(definition)[name]["Catch"] == [
        {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Clean up"}
    ]


def test_a_failed_cleanup_is_still_reported_with_its_own_error(definition: dict[str, Any]) -> None:
    assert _states(definition)["Clean up"]["Catch"] == [
        {"ErrorEquals": ["States.ALL"], "ResultPath": "$.cleanup_error", "Next": "Notify failure"}
    ]


def _edges(state: dict[str, Any]) -> set[str]:
    targets = {state[k] for k in ("Next", "Default") if k in state}
    targets |= {choice["Next"] for choice in state.get("Choices", [])}
    targets |= {catch["Next"] for catch in state.get("Catch", [])}
    return targets


def test_every_way_to_run_failed_after_job_creation_passes_through_clean_up(definition: dict[str, Any]) -> None:
    # Walk the graph without "Clean up": from (smoke) job creation on, "Run failed" must be unreachable.
    states = _states(definition)
    seen, todo = set(), ["Create the smoke job", "Create the customization job"]
    while todo:
        name = todo.pop()
        if name in seen or name == "Clean up":
            continue
        seen.add(name)
        todo.extend(_edges(states[name]))
    assert "Run failed" not in seen
    assert "Notify failure" not in seen


def test_every_state_is_reachable(definition: dict[str, Any]) -> None:
    states = _states(definition)
    seen, todo = set(), [definition["StartAt"]]
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(_edges(states[name]))
    assert seen == set(states)


def test_run_failed_is_a_fail_state(definition: dict[str, Any]) -> None:
    assert _states(definition)["Run failed"]["Error"] == "RunFailed"


def test_execution_timeout_comes_from_the_settings(definition: dict[str, Any], cdk_context: dict[str, Any]) -> None:
    assert definition["TimeoutSeconds"] == cdk_context["pipeline"]["execution_timeout_hours"] * 3600


def test_standard_workflow_with_full_logging_and_tracing(
    synth: Synthesized, state_machine: dict[str, Any], cdk_context: dict[str, Any]
) -> None:
    assert state_machine["StateMachineType"] == "STANDARD"
    assert state_machine["TracingConfiguration"] == {"Enabled": True}
    logging = state_machine["LoggingConfiguration"]
    assert logging["Level"] == "ALL"
    assert logging["IncludeExecutionData"] is True
    (destination,) = logging["Destinations"]
    log_group_id = destination["CloudWatchLogsLogGroup"]["LogGroupArn"]["Fn::GetAtt"][0]
    retention = synth.resources[log_group_id]["Properties"]["RetentionInDays"]
    assert retention == cdk_context["pipeline"]["log_retention_days"]


def test_state_machine_and_functions_are_exposed(synth: Synthesized) -> None:
    workflow, functions = synth.stack.workflow, synth.stack.functions
    assert workflow.state_machine is not None
    for module in TASKS.values():
        assert getattr(functions, module[0]) is not None
    assert functions.start_run is not None


# ---- the evaluation: one step, or a Distributed Map over chunks of the test set ----


def test_the_plan_decides_whether_the_evaluation_fans_out(definition: dict[str, Any]) -> None:
    assert _states(definition)["Fan the evaluation out?"] == {
        "Type": "Choice",
        "Choices": [
            {"Variable": "$.evaluation_plan.fan_out", "BooleanEquals": True, "Next": "Evaluate the test set in chunks"}
        ],
        "Default": "Evaluate custom against base",
    }


def test_chunks_are_evaluated_by_a_distributed_map_over_the_plans_chunk_list(definition: dict[str, Any]) -> None:
    from customizer.evaluation.steps import CHUNKS_AT_ONCE

    state = _states(definition)["Evaluate the test set in chunks"]
    # A list in the state, not an ItemReader over JSONL or an ItemBatcher: the same in AWS and offline (moto).
    assert state["ItemsPath"] == "$.evaluation_plan.chunks"
    assert "ItemReader" not in state and "ItemBatcher" not in state
    assert state["ItemSelector"] == {"run.$": "$.run", "throughput.$": "$.throughput", "chunk.$": "$$.Map.Item.Value"}
    assert state["MaxConcurrency"] == CHUNKS_AT_ONCE
    # The answers are in S3 beside each chunk: nothing of the children is kept in the state.
    assert state["ResultPath"] is None
    assert state["ItemProcessor"]["ProcessorConfig"] == {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}
    assert state["ItemProcessor"]["StartAt"] == "Evaluate one chunk"


def test_each_chunk_is_one_task_with_the_same_retries_its_failure_failing_the_map(
    definition: dict[str, Any], functions_by_module: dict[str, str]
) -> None:
    processor = _states(definition)["Evaluate the test set in chunks"]["ItemProcessor"]
    assert list(processor["States"]) == ["Evaluate one chunk"]
    task = processor["States"]["Evaluate one chunk"]
    assert task["Type"] == "Task"
    assert task["Resource"] == "${" + functions_by_module["evaluate_chunk"] + ".Arn}"
    assert task["End"] is True
    assert task["Retry"] == [{"ErrorEquals": RETRIED, **BACKOFF}, {"ErrorEquals": LAMBDA_ERRORS, **BACKOFF}, TIMEOUTS]
    # No Catch inside the map: "Clean up" is outside its scope; the map's own Catch sends a failure there.
    assert "Catch" not in task
