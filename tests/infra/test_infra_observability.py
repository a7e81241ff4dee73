"""Operations: the sweeper's schedule and its options, the dashboard, the alarms on the outcome topic, and the
key and topic policies that let CloudWatch publish to the encrypted topic."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from aws_cdk.assertions import Template

import app as cdk_app
from customizer.settings import parse_deployment_settings
from stacks.constants import STACK_ID
from stacks.pipeline_stack import PipelineStack
from tests.infra.template_tools import Synthesized, resolve, role_statements_of

PIPELINE_METRICS = {
    "RunsStarted",
    "RunsValidated",
    "ValidationErrors",
    "RunsSucceeded",
    "RunsFailed",
    "JobsCreated",
    "JobsCompleted",
    "JobsFailed",
    "JobsStopped",
    "JobDuration",
    "CustomAccuracy",
    "BaseAccuracy",
    "ThroughputsCreated",
    "ThroughputsSwept",
    "DeletedThroughputHours",
    "ThroughputHours",
    "EstimatedThroughputHours",
    "ThroughputsOverLifetime",
    "Cleanups",
    "ResourcesCleanedAfterExecution",
    "CustomModelsSwept",
}
EXECUTION_METRICS = {
    "ExecutionsStarted",
    "ExecutionsSucceeded",
    "ExecutionsFailed",
    "ExecutionsAborted",
    "ExecutionsTimedOut",
}


def _ref(synth: Synthesized, construct: Any) -> dict[str, str]:
    return {"Ref": synth.logical_id(construct)}


@pytest.fixture(scope="module")
def alarms(synth: Synthesized) -> dict[str, dict[str, Any]]:
    """Alarm construct id -> its properties."""
    return {
        name: synth.resources[synth.logical_id(alarm)]["Properties"]
        for name, alarm in synth.stack.observability.alarms.items()
    }


@pytest.fixture(scope="module")
def dashboard(synth: Synthesized) -> dict[str, Any]:
    """The dashboard body as JSON, references shown as ${Logical} (tests/infra/template_tools.py)."""
    (resource,) = synth.of_type("AWS::CloudWatch::Dashboard").values()
    body: dict[str, Any] = json.loads(resolve(resource["Properties"]["DashboardBody"]))
    return body


def _metrics(widget: dict[str, Any]) -> list[list[Any]]:
    """A metric widget's metrics: [namespace, name, dimension name, value, ..., {options}]."""
    return [[part for part in m if not isinstance(part, dict)] for m in widget["properties"].get("metrics", [])]


# ---- the sweeper's schedule ----


def test_the_sweeper_runs_every_configured_interval_with_the_configured_options(
    synth: Synthesized, functions_by_module: dict[str, str], cdk_context: dict[str, Any]
) -> None:
    settings = parse_deployment_settings(cdk_context["pipeline"]).sweeper
    assert settings.schedule_minutes == 60
    rule = synth.resources[synth.logical_id(synth.stack.sweeper.rule)]["Properties"]
    assert rule["ScheduleExpression"] == "rate(1 hour)"
    assert rule["State"] == "ENABLED"
    (target,) = rule["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": [functions_by_module["sweep"], "Arn"]}
    assert target["RetryPolicy"] == {"MaximumRetryAttempts": 2}
    assert "Input" not in target  # the scheduled event itself: the handler takes the configured options
    variables = synth.resources[functions_by_module["sweep"]]["Properties"]["Environment"]["Variables"]
    assert json.loads(variables["SWEEP_OPTIONS"]) == {
        "max_throughput_hours": 24.0,
        "delete_orphan_models": False,
        "dry_run": False,
    }
    assert variables["PIPELINE_TAG"] == STACK_ID
    # EventBridge may invoke it
    permissions = [
        p["Properties"]
        for p in synth.of_type("AWS::Lambda::Permission").values()
        if p["Properties"]["FunctionName"] == {"Fn::GetAtt": [functions_by_module["sweep"], "Arn"]}
    ]
    assert [(p["Principal"], p["SourceArn"]) for p in permissions] == [
        ("events.amazonaws.com", {"Fn::GetAtt": [synth.logical_id(synth.stack.sweeper.rule), "Arn"]})
    ]


@pytest.fixture(scope="module")
def model_sweeping(cdk_context: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Template:
    """The stack with a 15-minute schedule, a 48-hour lifetime, model deletion and a dry run."""
    pipeline = {
        **cdk_context["pipeline"],
        "sweeper": {"schedule_minutes": 15, "max_throughput_hours": 48, "delete_orphan_models": True, "dry_run": True},
    }
    app = cdk_app.build_app({**cdk_context, "pipeline": pipeline}, outdir=str(tmp_path_factory.mktemp("cdk.out")))
    stack = app.node.find_child(STACK_ID)
    assert isinstance(stack, PipelineStack)
    return Template.from_stack(stack)


def test_other_sweeper_settings_reach_the_schedule_the_function_and_its_role(model_sweeping: Template) -> None:
    template = model_sweeping.to_json()
    resources = template["Resources"]
    (sweep_id,) = [k for k, v in resources.items() if v["Properties"].get("Handler") == "handlers.sweep.handler"]
    function = resources[sweep_id]["Properties"]
    assert json.loads(function["Environment"]["Variables"]["SWEEP_OPTIONS"]) == {
        "max_throughput_hours": 48.0,
        "delete_orphan_models": True,
        "dry_run": True,
    }
    model_sweeping.has_resource_properties("AWS::Events::Rule", {"ScheduleExpression": "rate(15 minutes)"})
    model_sweeping.has_resource_properties(
        "AWS::CloudWatch::Alarm", {"MetricName": "ThroughputsOverLifetime", "Period": 900}
    )
    # Only a deployment that deletes models lets the sweeper list, read and delete them
    grants = {
        (action, resource.rsplit(":", 1)[-1])
        for statement in role_statements_of(resources, function["Role"]["Fn::GetAtt"][0])
        for action in ([statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"])
        for resource in ([statement["Resource"]] if isinstance(statement["Resource"], str) else statement["Resource"])
    }
    assert {
        ("bedrock:ListCustomModels", "*"),
        ("bedrock:ListTagsForResource", "custom-model/*"),
        ("bedrock:DeleteCustomModel", "custom-model/*"),
    } <= grants


# ---- alarms ----


def test_execution_alarms_watch_failed_and_timed_out_executions_of_the_state_machine(
    synth: Synthesized, alarms: dict[str, dict[str, Any]]
) -> None:
    topic = _ref(synth, synth.stack.notifications.topic)
    machine = _ref(synth, synth.stack.workflow.state_machine)
    for name, metric in (("ExecutionsFailed", "ExecutionsFailed"), ("ExecutionsTimedOut", "ExecutionsTimedOut")):
        alarm = alarms[name]
        assert (alarm["Namespace"], alarm["MetricName"]) == ("AWS/States", metric)
        assert alarm["Dimensions"] == [{"Name": "StateMachineArn", "Value": machine}]
        assert (alarm["Statistic"], alarm["Period"], alarm["EvaluationPeriods"]) == ("Sum", 300, 1)
        assert (alarm["ComparisonOperator"], alarm["Threshold"]) == ("GreaterThanThreshold", 0)
        assert alarm["TreatMissingData"] == "notBreaching"
        assert alarm["AlarmActions"] == [topic]


def test_the_lifetime_alarm_fires_while_a_sweep_finds_throughput_past_its_lifetime(
    synth: Synthesized, alarms: dict[str, dict[str, Any]]
) -> None:
    alarm = alarms["ThroughputOverLifetime"]
    assert (alarm["Namespace"], alarm["MetricName"]) == ("BedrockCustomization", "ThroughputsOverLifetime")
    assert alarm["Dimensions"] == [{"Name": "service", "Value": "bedrock-customization"}]
    # One sweep per period (the schedule's), its count as is; between sweeps the alarm keeps its state
    assert (alarm["Statistic"], alarm["Period"], alarm["EvaluationPeriods"]) == ("Maximum", 3600, 1)
    assert (alarm["ComparisonOperator"], alarm["Threshold"]) == ("GreaterThanThreshold", 0)
    assert alarm["TreatMissingData"] == "ignore"
    assert alarm["AlarmActions"] == [_ref(synth, synth.stack.notifications.topic)]


def test_the_cleanup_functions_alarm_sums_the_errors_of_aftercare_and_the_sweeper(
    synth: Synthesized, alarms: dict[str, dict[str, Any]], functions_by_module: dict[str, str]
) -> None:
    alarm = alarms["CleanupFunctionsFailed"]
    (expression,) = [m for m in alarm["Metrics"] if "Expression" in m]
    assert expression["ReturnData"] is True
    watched = {m["Id"]: m["MetricStat"] for m in alarm["Metrics"] if "MetricStat" in m and m["ReturnData"] is False}
    assert expression["Expression"] == " + ".join(sorted(watched))
    assert {
        (s["Metric"]["Namespace"], s["Metric"]["MetricName"], s["Stat"], s["Period"]) for s in watched.values()
    } == {("AWS/Lambda", "Errors", "Sum", 300)}
    functions = {s["Metric"]["Dimensions"][0]["Value"]["Ref"] for s in watched.values()}
    assert functions == {functions_by_module["after_execution"], functions_by_module["sweep"]}
    assert (alarm["ComparisonOperator"], alarm["Threshold"]) == ("GreaterThanThreshold", 0)
    assert alarm["AlarmActions"] == [_ref(synth, synth.stack.notifications.topic)]


def test_every_alarm_publishes_to_the_topic_and_nothing_else(synth: Synthesized) -> None:
    topic = _ref(synth, synth.stack.notifications.topic)
    found = synth.of_type("AWS::CloudWatch::Alarm")
    assert len(found) == 4
    for alarm in found.values():
        assert alarm["Properties"]["AlarmActions"] == [topic]
        assert "OKActions" not in alarm["Properties"]


def test_cloudwatch_may_use_the_key_and_publish_only_this_accounts_alarms_to_the_topic(synth: Synthesized) -> None:
    key = synth.resources[synth.logical_id(synth.stack.storage.key)]["Properties"]["KeyPolicy"]["Statement"]
    (for_alarms,) = [s for s in key if s.get("Principal") == {"Service": "cloudwatch.amazonaws.com"}]
    # Issue 15, item 5: the key statement is limited to this account's alarms, as the topic policy is.
    assert resolve(for_alarms) == {
        "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
        "Effect": "Allow",
        "Principal": {"Service": "cloudwatch.amazonaws.com"},
        "Resource": "*",
        "Condition": {
            "StringEquals": {"aws:SourceAccount": "${AWS::AccountId}"},
            "ArnLike": {"aws:SourceArn": "arn:${AWS::Partition}:cloudwatch:${AWS::Region}:${AWS::AccountId}:alarm:*"},
        },
    }
    (policy,) = synth.of_type("AWS::SNS::TopicPolicy").values()
    statements = resolve(policy["Properties"]["PolicyDocument"]["Statement"])
    (publish,) = [s for s in statements if s["Effect"] == "Allow"]
    assert publish["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert publish["Action"] == "sns:Publish"
    assert publish["Resource"] == "${" + synth.logical_id(synth.stack.notifications.topic) + "}"
    assert publish["Condition"] == {
        "StringEquals": {"aws:SourceAccount": "${AWS::AccountId}"},
        "ArnLike": {"aws:SourceArn": "arn:${AWS::Partition}:cloudwatch:${AWS::Region}:${AWS::AccountId}:alarm:*"},
    }


# ---- dashboard ----


def test_the_dashboard_shows_the_executions_of_the_state_machine(synth: Synthesized, dashboard: dict[str, Any]) -> None:
    machine = "${" + synth.logical_id(synth.stack.workflow.state_machine) + "}"
    (executions,) = [w for w in dashboard["widgets"] if w["properties"].get("title") == "Executions"]
    assert {(m[0], m[1], m[2], m[3]) for m in _metrics(executions)} == {
        ("AWS/States", name, "StateMachineArn", machine) for name in EXECUTION_METRICS
    }


def test_the_dashboard_shows_every_pipeline_metric(dashboard: dict[str, Any]) -> None:
    shown = {(m[1], m[2], m[3]) for w in dashboard["widgets"] for m in _metrics(w) if m[0] == "BedrockCustomization"}
    assert shown == {(name, "service", "bedrock-customization") for name in PIPELINE_METRICS}


def test_the_dashboard_shows_the_errors_of_every_function(
    dashboard: dict[str, Any], functions_by_module: dict[str, str]
) -> None:
    (errors,) = [w for w in dashboard["widgets"] if w["properties"].get("title") == "Lambda errors"]
    assert {(m[0], m[1], m[2], m[3]) for m in _metrics(errors)} == {
        ("AWS/Lambda", "Errors", "FunctionName", "${" + function_id + "}")
        for function_id in functions_by_module.values()
    }


def test_the_dashboard_shows_the_alarms(synth: Synthesized, dashboard: dict[str, Any]) -> None:
    (status,) = [w for w in dashboard["widgets"] if w["properties"].get("title") == "Alarms"]
    assert set(status["properties"]["alarms"]) == {
        "${" + synth.logical_id(alarm) + ".Arn}" for alarm in synth.stack.observability.alarms.values()
    }


def test_the_dashboard_is_named_after_the_stack_and_region(synth: Synthesized) -> None:
    (resource,) = synth.of_type("AWS::CloudWatch::Dashboard").values()
    assert resolve(resource["Properties"]["DashboardName"]) == "${AWS::StackName}-${AWS::Region}"


def test_each_widget_has_a_title(dashboard: dict[str, Any]) -> None:
    titled: Callable[[dict[str, Any]], bool] = lambda w: bool(w["properties"].get("title"))  # noqa: E731
    assert all(titled(w) for w in dashboard["widgets"])
