"""Reading a synthesized template as plain data: intrinsics become strings (``${Logical.Arn}``,
``${AWS::Region}``) so policies and the state machine definition compare as JSON."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def resolve(value: Any) -> Any:
    """Intrinsics -> strings: Ref -> ${X}, GetAtt -> ${X.Attr}, Join -> the joined string, Sub -> as is."""
    if isinstance(value, dict) and len(value) == 1:
        (name, argument), *_ = value.items()
        if name in _INTRINSICS:
            return _INTRINSICS[name](argument)
    if isinstance(value, dict):
        return {k: resolve(v) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v) for v in value]
    return value


def _join(argument: list[Any]) -> str:
    separator, parts = argument
    return str(separator).join(str(resolve(part)) for part in parts)


_INTRINSICS: dict[str, Callable[[Any], Any]] = {
    "Ref": lambda name: "${" + name + "}",
    "Fn::GetAtt": lambda names: "${" + ".".join(names) + "}",
    "Fn::Join": _join,
    "Fn::Sub": lambda text: text,
}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


@dataclass
class Synthesized:
    app: Any  # aws_cdk.App
    stack: Any  # stacks.pipeline_stack.PipelineStack
    outdir: Path
    template: Any  # aws_cdk.assertions.Template
    template_json: dict[str, Any]

    @property
    def resources(self) -> dict[str, Any]:
        return dict(self.template_json["Resources"])

    def of_type(self, resource_type: str) -> dict[str, Any]:
        return {k: v for k, v in self.resources.items() if v["Type"] == resource_type}

    def logical_id(self, construct: Any) -> str:
        child = construct.node.default_child or construct
        return str(self.stack.get_logical_id(child))


def role_statements_of(resources: dict[str, Any], role_id: str) -> list[dict[str, Any]]:
    statements: list[dict[str, Any]] = []
    role = resources[role_id]["Properties"]
    for inline in role.get("Policies", []):
        statements.extend(inline["PolicyDocument"]["Statement"])
    for resource in resources.values():
        if resource["Type"] != "AWS::IAM::Policy":
            continue
        if {"Ref": role_id} in resource["Properties"].get("Roles", []):
            statements.extend(resource["Properties"]["PolicyDocument"]["Statement"])
    return [resolve(statement) for statement in statements]
