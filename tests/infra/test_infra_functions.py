"""The functions: runtime, handler, layer, tracing, log groups, environment; the idempotency table; the
topic; and what the code asset holds."""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App, Stack
from aws_cdk import aws_kms as kms
from aws_cdk.assertions import Template

from customizer.settings import parse_deployment_settings
from stacks import constants
from stacks.notifications import Notifications
from tests.infra.template_tools import Synthesized

ROOT = Path(__file__).resolve().parents[2]
COMMON_ENV = {
    "POWERTOOLS_SERVICE_NAME": "bedrock-customization",
    "POWERTOOLS_METRICS_NAMESPACE": "BedrockCustomization",
}
# handler module -> the variables docs/design.md says it reads.
ENVIRONMENT = {
    "validate_run": {
        "DATA_BUCKET",
        "ARTIFACTS_BUCKET",
        "RUN_DEFAULTS",
        "SWEEPER",
        "REWARD_FUNCTION_ARN",
        "GRADER_LAMBDA_ARNS",
        "RUN_LEASES_TABLE",
    },
    "create_job": {
        "CUSTOMIZATION_ROLE_ARN",
        "KMS_KEY_ARN",
        "ARTIFACTS_BUCKET",
        "IDEMPOTENCY_TABLE",
        "PIPELINE_TAG",
        "REWARD_FUNCTION_ARN",
    },
    "check_job": {"ARTIFACTS_BUCKET"},
    "create_throughput": {"IDEMPOTENCY_TABLE", "PIPELINE_TAG"},
    "check_throughput": set(),
    "plan_evaluation": set(),
    "evaluate": {"DATA_BUCKET", "ARTIFACTS_BUCKET"},
    "evaluate_chunk": set(),
    "aggregate_evaluation": set(),
    "judge": {"EVALUATION_ROLE_ARN", "KMS_KEY_ARN", "PIPELINE_TAG"},
    "apply_policy": set(),
    "cleanup": set(),
    "notify": {"TOPIC_ARN"},
    "start_run": {"STATE_MACHINE_ARN", "DATA_BUCKET", "RUN_PREFIX", "IDEMPOTENCY_TABLE"},
    "after_execution": {"TOPIC_ARN"},
    "record_run": {"RUNS_TABLE", "ARTIFACTS_BUCKET"},
    "sweep": {"TOPIC_ARN", "PIPELINE_TAG", "SWEEP_OPTIONS"},
    "reward": set(),
}
LAYER_PARAMETER = "/aws/service/powertools/python/x86_64/python3.12/3.37.0"


def _function(synth: Synthesized, functions_by_module: dict[str, str], module: str) -> dict[str, Any]:
    properties: dict[str, Any] = synth.resources[functions_by_module[module]]["Properties"]
    return properties


@pytest.mark.parametrize("module", sorted(ENVIRONMENT))
def test_function_runtime_handler_layer_and_tracing(
    synth: Synthesized, functions_by_module: dict[str, str], module: str
) -> None:
    function = _function(synth, functions_by_module, module)
    assert function["Runtime"] == "python3.12"
    assert function["Architectures"] == ["x86_64"]
    assert function["Handler"] == f"handlers.{module}.handler"
    # The Powertools layer of exactly the pinned version, from AWS's public SSM parameter at deploy time, and the
    # stack's layer of the pinned SDK (tests/infra/test_infra_sdk_layer.py).
    powertools, sdk = function["Layers"]
    parameter = synth.template_json["Parameters"][powertools["Ref"]]
    assert parameter == {"Type": "AWS::SSM::Parameter::Value<String>", "Default": LAYER_PARAMETER}
    assert sdk == {"Ref": synth.logical_id(synth.stack.functions.sdk_layer)}
    assert function["TracingConfig"] == {"Mode": "Active"}


@pytest.mark.parametrize("module", sorted(ENVIRONMENT))
def test_function_environment_is_exactly_what_its_handler_reads(
    synth: Synthesized, functions_by_module: dict[str, str], module: str
) -> None:
    variables = _function(synth, functions_by_module, module)["Environment"]["Variables"]
    assert set(variables) == ENVIRONMENT[module] | set(COMMON_ENV)
    assert {k: variables[k] for k in COMMON_ENV} == COMMON_ENV


def test_environment_values_name_the_stacks_resources(
    synth: Synthesized, functions_by_module: dict[str, str], cdk_context: dict[str, Any]
) -> None:
    stack = synth.stack
    expected = {
        "DATA_BUCKET": {"Ref": synth.logical_id(stack.storage.data_bucket)},
        "ARTIFACTS_BUCKET": {"Ref": synth.logical_id(stack.storage.artifacts_bucket)},
        "CUSTOMIZATION_ROLE_ARN": {"Fn::GetAtt": [synth.logical_id(stack.customization_role.role), "Arn"]},
        "KMS_KEY_ARN": {"Fn::GetAtt": [synth.logical_id(stack.storage.key), "Arn"]},
        "IDEMPOTENCY_TABLE": {"Ref": synth.logical_id(stack.functions.idempotency_table)},
        "TOPIC_ARN": {"Ref": synth.logical_id(stack.notifications.topic)},
        "STATE_MACHINE_ARN": {"Ref": synth.logical_id(stack.workflow.state_machine)},
        "RUN_PREFIX": cdk_context["pipeline"]["run_prefix"],
        "PIPELINE_TAG": constants.STACK_ID,
    }
    for module in ENVIRONMENT:
        variables = _function(synth, functions_by_module, module)["Environment"]["Variables"]
        for name, value in variables.items():
            if name in expected:
                assert value == expected[name], (module, name)


def test_run_defaults_are_the_checked_defaults_of_cdk_json(
    synth: Synthesized, functions_by_module: dict[str, str], cdk_context: dict[str, Any]
) -> None:
    variables = _function(synth, functions_by_module, "validate_run")["Environment"]["Variables"]
    settings = parse_deployment_settings(cdk_context["pipeline"])
    assert variables["RUN_DEFAULTS"] == settings.defaults.model_dump_json()
    # the sweeper's settings bound a kept throughput's estimated hours
    assert variables["SWEEPER"] == settings.sweeper.model_dump_json()
    assert json.loads(variables["RUN_DEFAULTS"])["hyperparameters"] == {
        "epochCount": 2,
        "learningRate": 0.00001,
        "learningRateWarmupSteps": 10,
    }


@pytest.mark.parametrize("module", sorted(ENVIRONMENT))
def test_each_function_logs_to_its_own_group_with_the_configured_retention(
    synth: Synthesized, functions_by_module: dict[str, str], cdk_context: dict[str, Any], module: str
) -> None:
    log_group_id = _function(synth, functions_by_module, module)["LoggingConfig"]["LogGroup"]["Ref"]
    log_group = synth.resources[log_group_id]
    assert log_group["Type"] == "AWS::Logs::LogGroup"
    assert log_group["Properties"]["RetentionInDays"] == cdk_context["pipeline"]["log_retention_days"]
    others = {
        f["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
        for m, f_id in functions_by_module.items()
        if m != module
        for f in [synth.resources[f_id]]
    }
    assert log_group_id not in others


@pytest.mark.parametrize(
    ("module", "timeout", "memory"),
    [(spec.module, int(spec.timeout.to_seconds()), spec.memory_mb) for spec in constants.ALL_FUNCTIONS],
)
def test_function_size_comes_from_the_constants(
    synth: Synthesized, functions_by_module: dict[str, str], module: str, timeout: int, memory: int
) -> None:
    function = _function(synth, functions_by_module, module)
    assert (function["Timeout"], function["MemorySize"]) == (timeout, memory)


def test_idempotency_table(synth: Synthesized) -> None:
    key_id = synth.logical_id(synth.stack.storage.key)
    synth.template.resource_count_is("AWS::DynamoDB::Table", 2)  # idempotency, and the run records
    synth.template.has_resource_properties(
        "AWS::DynamoDB::Table",
        {
            "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}],
            "BillingMode": "PAY_PER_REQUEST",
            "TimeToLiveSpecification": {"AttributeName": "expiration", "Enabled": True},
            "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
            "SSESpecification": {
                "SSEEnabled": True,
                "SSEType": "KMS",
                "KMSMasterKeyId": {"Fn::GetAtt": [key_id, "Arn"]},
            },
        },
    )


def test_topic_is_encrypted_with_the_key_and_requires_tls(synth: Synthesized) -> None:
    key_id = synth.logical_id(synth.stack.storage.key)
    topic_id = synth.logical_id(synth.stack.notifications.topic)
    synth.template.has_resource_properties("AWS::SNS::Topic", {"KmsMasterKeyId": {"Fn::GetAtt": [key_id, "Arn"]}})
    (policy,) = synth.of_type("AWS::SNS::TopicPolicy").values()
    assert policy["Properties"]["Topics"] == [{"Ref": topic_id}]
    # (the other statement lets CloudWatch alarms publish: tests/infra/test_infra_observability.py)
    (statement,) = [s for s in policy["Properties"]["PolicyDocument"]["Statement"] if s["Effect"] == "Deny"]
    assert statement["Effect"] == "Deny"
    assert statement["Action"] == "sns:Publish"
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_no_email_subscription_without_an_address(synth: Synthesized, cdk_context: dict[str, Any]) -> None:
    assert cdk_context["pipeline"]["notification_email"] is None
    synth.template.resource_count_is("AWS::SNS::Subscription", 0)


def test_email_subscription_when_an_address_is_set() -> None:
    stack = Stack(App(), "Probe")
    Notifications(stack, "Notifications", key=kms.Key(stack, "Key"), email="team@example.com")
    Template.from_stack(stack).has_resource_properties(
        "AWS::SNS::Subscription", {"Protocol": "email", "Endpoint": "team@example.com"}
    )


def _asset_dir(synth: Synthesized, functions_by_module: dict[str, str]) -> Path:
    (assets,) = synth.outdir.glob("*.assets.json")
    files = json.loads(assets.read_text())["files"]
    key = _function(synth, functions_by_module, "create_job")["Code"]["S3Key"]
    (entry,) = [f for f in files.values() if any(d["objectKey"] == key for d in f["destinations"].values())]
    return Path(synth.outdir / entry["source"]["path"])


def test_every_function_runs_the_same_code_asset(synth: Synthesized, functions_by_module: dict[str, str]) -> None:
    codes = {json.dumps(_function(synth, functions_by_module, m)["Code"], sort_keys=True) for m in ENVIRONMENT}
    assert len(codes) == 1


def test_code_asset_holds_only_the_lambda_code(synth: Synthesized, functions_by_module: dict[str, str]) -> None:
    root = _asset_dir(synth, functions_by_module)
    names = {p.relative_to(root).as_posix() for p in root.rglob("*")}
    assert {p.split("/")[0] for p in names} == {"handlers", "customizer"}
    for module in ENVIRONMENT:
        assert f"handlers/{module}.py" in names
    assert "customizer/settings.py" in names
    unwanted = [n for n in names if "__pycache__" in n or n.endswith(".pyc") or "/tests" in n or n.startswith(".")]
    assert unwanted == []
    assert "requirements.txt" not in names


def _handler_source(module: str) -> ast.Module:
    return ast.parse((ROOT / "lambdas" / "handlers" / f"{module}.py").read_text())


@pytest.mark.parametrize("module", sorted(ENVIRONMENT))
def test_each_handler_module_exists_with_a_handler_function(module: str) -> None:
    names = {node.name for node in _handler_source(module).body if isinstance(node, ast.FunctionDef)}
    assert "handler" in names


@pytest.mark.parametrize("module", sorted(ENVIRONMENT))
def test_every_variable_a_handler_requires_is_set_on_its_function(
    synth: Synthesized, functions_by_module: dict[str, str], module: str
) -> None:
    # The handlers parse their environment into a model named _Env (handlers/observability.py).
    required = {
        statement.target.id
        for node in _handler_source(module).body
        if isinstance(node, ast.ClassDef) and node.name == "_Env"
        for statement in node.body
        if isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name)
    }
    variables = _function(synth, functions_by_module, module)["Environment"]["Variables"]
    assert required <= set(variables)
