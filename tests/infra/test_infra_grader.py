"""The grader's infrastructure (stacks/grader.py): the reward function Bedrock calls, who may call it, and the
grants on a user's own graders (pipeline.grader_lambda_arns)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from stacks.constants import STACK_ID
from tests.infra.conftest import AWS_VARIABLES
from tests.infra.template_tools import as_list, resolve, role_statements_of

USERS_GRADER = "arn:aws:lambda:us-east-1:111122223333:function:team-grader"


def _role_of(resources: dict[str, Any], function_id: str) -> str:
    return str(resources[function_id]["Properties"]["Role"]["Fn::GetAtt"][0])


def _invokable(statements: list[dict[str, Any]]) -> set[str]:
    return {r for s in statements if "lambda:InvokeFunction" in as_list(s["Action"]) for r in as_list(s["Resource"])}


def test_the_reward_function_waits_as_long_as_lambda_allows(
    resources: dict[str, Any], functions_by_module: dict[str, str]
) -> None:
    function = resources[functions_by_module["reward"]]["Properties"]
    # The user guide advises raising a reward function's timeout "to maximum 15 minutes".
    assert function["Timeout"] == 900
    assert function["Handler"] == "handlers.reward.handler"


def test_only_bedrocks_role_and_the_preflight_check_may_invoke_it(
    resources: dict[str, Any], functions_by_module: dict[str, str], synth: Any
) -> None:
    reward = functions_by_module["reward"]
    customization_role = synth.logical_id(synth.stack.customization_role.role)
    validate_role = _role_of(resources, functions_by_module["validate_run"])
    (policy,) = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::Lambda::ResourcePolicy"]
    policy = resolve(policy)
    assert policy["ResourceArn"] == f"${{{reward}.Arn}}"
    (statement,) = policy["PolicyDocument"]["Statement"]
    assert statement["Effect"] == "Deny" and statement["Principal"] == "*"
    assert statement["Action"] == "lambda:InvokeFunction" and statement["Resource"] == f"${{{reward}.Arn}}"
    assert statement["Condition"] == {
        "ArnNotEquals": {"aws:PrincipalArn": [f"${{{customization_role}.Arn}}", f"${{{validate_role}.Arn}}"]}
    }
    # No resource-based Allow for anyone: no Lambda permission names the reward function.
    permissions = [resolve(r["Properties"]) for r in resources.values() if r["Type"] == "AWS::Lambda::Permission"]
    assert all(p["FunctionName"] not in (f"${{{reward}.Arn}}", f"${{{reward}}}") for p in permissions)


def test_who_holds_invoke_on_the_reward_function(
    resources: dict[str, Any], functions_by_module: dict[str, str], synth: Any
) -> None:
    reward = f"${{{functions_by_module['reward']}.Arn}}"
    holders = {
        module
        for module, function_id in functions_by_module.items()
        if reward in _invokable(role_statements_of(resources, _role_of(resources, function_id)))
    }
    assert holders == {"validate_run"}
    customization_role = synth.logical_id(synth.stack.customization_role.role)
    assert _invokable(role_statements_of(resources, customization_role)) == {reward}


@pytest.fixture(scope="module")
def with_users_grader(cdk_context: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The stack synthesized with pipeline.grader_lambda_arns naming a user's grader (cdk-nag on)."""
    import app as cdk_app

    context = copy.deepcopy(cdk_context)
    context.setdefault("pipeline", {})["grader_lambda_arns"] = [USERS_GRADER]
    outdir = tmp_path_factory.mktemp("cdk.out.grader")
    with pytest.MonkeyPatch.context() as patch:
        for name in AWS_VARIABLES:
            patch.delenv(name, raising=False)
        application = cdk_app.build_app(context, outdir=str(outdir))
        assembly = application.synth()
    template: dict[str, Any] = assembly.get_stack_by_name(STACK_ID).template
    return dict(template["Resources"])


def test_a_users_grader_is_granted_to_bedrock_the_check_and_the_evaluation(with_users_grader: dict[str, Any]) -> None:
    resources = with_users_grader
    by_module = {
        r["Properties"]["Handler"].split(".")[1]: logical_id
        for logical_id, r in resources.items()
        if r["Type"] == "AWS::Lambda::Function" and r["Properties"].get("Handler", "").startswith("handlers.")
    }
    holders = {
        module
        for module, function_id in by_module.items()
        if USERS_GRADER in _invokable(role_statements_of(resources, _role_of(resources, function_id)))
    }
    assert holders == {"validate_run", "evaluate", "aggregate_evaluation"}
    (customization_role,) = [
        logical_id
        for logical_id, r in resources.items()
        if r["Type"] == "AWS::IAM::Role"
        and "bedrock.amazonaws.com" in str(r["Properties"]["AssumeRolePolicyDocument"])
        and "model-customization-job" in str(r["Properties"]["AssumeRolePolicyDocument"])
    ]
    assert USERS_GRADER in _invokable(role_statements_of(resources, customization_role))
    validate_env = resources[by_module["validate_run"]]["Properties"]["Environment"]["Variables"]
    assert validate_env["GRADER_LAMBDA_ARNS"] == f'["{USERS_GRADER}"]'


def test_a_wrong_users_grader_arn_fails_the_synthesis(cdk_context: dict[str, Any]) -> None:
    from customizer.errors import SettingsError
    from customizer.settings import parse_deployment_settings

    with pytest.raises(SettingsError, match=r"pipeline\.grader_lambda_arns\[0\]: not a Lambda function ARN"):
        parse_deployment_settings({**cdk_context.get("pipeline", {}), "grader_lambda_arns": ["team-grader"]})
