"""Infrastructure tests: the app is synthesized once per test session (per xdist worker), with the
context of cdk.json and no AWS credentials, and every test reads that one template.

The fixtures also turn CloudFormation intrinsics into readable strings (``${Logical.Arn}``,
``${AWS::Region}``), so tests can compare policies and the state machine definition as plain data."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.infra.template_tools import Synthesized, resolve, role_statements_of

ROOT = Path(__file__).resolve().parents[2]
CDK_JSON = ROOT / "cdk.json"
# Variables that could hand the synthesis an account, a region or credentials.
AWS_VARIABLES = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "CDK_DEFAULT_ACCOUNT",
    "CDK_DEFAULT_REGION",
)
os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")


@pytest.fixture(scope="session")
def cdk_context() -> dict[str, Any]:
    context: dict[str, Any] = json.loads(CDK_JSON.read_text())["context"]
    return context


@pytest.fixture(scope="session")
def synth(cdk_context: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Synthesized]:
    """The app of app.py, with cdk.json's context, synthesized once with cdk-nag and no AWS settings."""
    from aws_cdk.assertions import Template

    import app as cdk_app
    from stacks.constants import STACK_ID
    from stacks.pipeline_stack import PipelineStack

    outdir = tmp_path_factory.mktemp("cdk.out")
    with pytest.MonkeyPatch.context() as patch:
        for name in AWS_VARIABLES:
            patch.delenv(name, raising=False)
        patch.setenv("AWS_CONFIG_FILE", str(outdir / "no-such-config"))
        patch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(outdir / "no-such-credentials"))
        application = cdk_app.build_app(cdk_context, outdir=str(outdir))
        # Raises if cdk-nag reports a finding nobody acknowledged.
        assembly = application.synth()
    stack = application.node.find_child(STACK_ID)
    assert isinstance(stack, PipelineStack)
    template_json = json.loads(Path(assembly.get_stack_by_name(STACK_ID).template_full_path).read_text())
    yield Synthesized(
        app=application,
        stack=stack,
        outdir=outdir,
        template=Template.from_stack(stack),
        template_json=template_json,
    )


@pytest.fixture(scope="session")
def resources(synth: Synthesized) -> dict[str, Any]:
    return synth.resources


@pytest.fixture(scope="session")
def functions_by_module(synth: Synthesized) -> dict[str, str]:
    """handler module (``create_job``...) -> the function's logical id."""
    found = {}
    for logical_id, resource in synth.of_type("AWS::Lambda::Function").items():
        handler = resource["Properties"].get("Handler", "")
        if handler.startswith("handlers."):
            found[handler.split(".")[1]] = logical_id
    return found


@pytest.fixture(scope="session")
def role_statements(resources: dict[str, Any]) -> Callable[[str], list[dict[str, Any]]]:
    """role logical id -> every statement of its inline and attached policies, intrinsics resolved."""
    return lambda role_id: role_statements_of(resources, role_id)


@pytest.fixture(scope="session")
def function_statements(
    resources: dict[str, Any], functions_by_module: dict[str, str]
) -> dict[str, list[dict[str, Any]]]:
    """handler module -> the statements of its function's role."""
    result = {}
    for module, function_id in functions_by_module.items():
        role_id = resources[function_id]["Properties"]["Role"]["Fn::GetAtt"][0]
        result[module] = role_statements_of(resources, role_id)
    return result


@pytest.fixture(scope="session")
def state_machine(synth: Synthesized) -> dict[str, Any]:
    (resource,) = synth.of_type("AWS::StepFunctions::StateMachine").values()
    return dict(resource["Properties"])


@pytest.fixture(scope="session")
def definition(state_machine: dict[str, Any]) -> dict[str, Any]:
    """The state machine's ASL, with function ARNs shown as ${<function logical id>.Arn}."""
    parsed: dict[str, Any] = json.loads(resolve(state_machine["DefinitionString"]))
    return parsed
