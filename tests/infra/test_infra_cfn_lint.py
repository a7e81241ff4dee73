"""cfn-lint over every template the app synthesizes."""

from __future__ import annotations

import json
from pathlib import Path

from cfnlint.api import ManualArgs, lint_file

from tests.infra.template_tools import Synthesized

# Regions where Bedrock model customization is offered; the stack is linted for each.
REGIONS = ["us-east-1", "us-west-2", "eu-central-1"]
# W3005 "dependency already enforced by a GetAtt": CDK writes explicit DependsOn on a function's role and
# its policy on purpose (the policy must exist before the function runs); nothing to fix in this project.
ACCEPTED_WARNINGS = {"W3005"}


def _templates(synth: Synthesized) -> list[Path]:
    manifest = json.loads((synth.outdir / "manifest.json").read_text())
    return [
        synth.outdir / artifact["properties"]["templateFile"]
        for artifact in manifest["artifacts"].values()
        if artifact["type"] == "aws:cloudformation:stack"
    ]


def test_there_is_one_template(synth: Synthesized) -> None:
    assert [p.name for p in _templates(synth)] == ["BedrockCustomization.template.json"]


def test_cfn_lint_finds_nothing_wrong_in_any_template(synth: Synthesized) -> None:
    for template in _templates(synth):
        matches = lint_file(template, config=ManualArgs(regions=REGIONS))
        problems = [
            f"{template.name}: {m.rule.id} {m.message} ({m.path_string})"
            for m in matches
            if m.rule.id not in ACCEPTED_WARNINGS
        ]
        assert problems == []
