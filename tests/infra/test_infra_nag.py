"""cdk-nag (AWS Solutions rules): synthesis passes with the plugin, every finding is acknowledged on the
construct that has it, every acknowledgment matches a real finding and says why."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from aws_cdk import Validations

from tests.infra.template_tools import Synthesized

PLUGIN = "AwsSolutions"
WEAK_REASONS = re.compile(r"\b(todo|fixme|tbd|n/a|ignore|suppress(ed)?|false positive|not needed|ok)\b", re.I)


@pytest.fixture(scope="module")
def report(synth: Synthesized) -> dict[str, Any]:
    """cdk-nag's part of CDK's policy-validation report (written by the synthesis of the fixture)."""
    path = synth.outdir / "validation-report.json"
    assert path.exists(), "no validation report: is the cdk-nag plugin still registered in app.py?"
    (plugin,) = [p for p in json.loads(path.read_text())["pluginReports"] if p["pluginName"] == PLUGIN]
    result: dict[str, Any] = plugin
    return result


@pytest.fixture(scope="module")
def acknowledgments(synth: Synthesized) -> list[tuple[str, str, str]]:
    """(construct path, acknowledged id, reason) for every acknowledgment in the app."""
    found: list[tuple[str, str, str]] = []
    for construct in synth.app.node.find_all():
        for entry in construct.node.metadata:
            if entry.type == Validations.ACKNOWLEDGED_RULES_METADATA_KEY:
                found.extend((construct.node.path, rule, reason) for rule, reason in entry.data.items())
    return found


def test_synthesis_passes_the_aws_solutions_checks(report: dict[str, Any]) -> None:
    assert report["conclusion"] == "success"
    assert report["violations"] == []


def test_there_are_findings_and_all_of_them_are_acknowledged(report: dict[str, Any]) -> None:
    # The checks really ran: the stack has findings (wildcards on run-time resources, X-Ray, the runtime).
    assert len(report["suppressedViolations"]) > 20
    for violation in report["suppressedViolations"]:
        assert violation["acknowledgedId"].startswith(f"{PLUGIN}::")
        assert violation["reason"]


def test_every_acknowledgment_matches_a_finding_on_its_construct(
    report: dict[str, Any], acknowledgments: list[tuple[str, str, str]]
) -> None:
    suppressed = {
        (violation["ruleName"], construct["constructPath"])
        for violation in report["suppressedViolations"]
        for construct in violation["violatingConstructs"]
    }
    stale = [
        (path, rule)
        for path, rule, _ in acknowledgments
        if not any(
            rule == f"{PLUGIN}::{finding}" and (where == path or where.startswith(path + "/"))
            for finding, where in suppressed
        )
    ]
    assert stale == []


def test_acknowledgments_are_for_this_rule_pack_only(acknowledgments: list[tuple[str, str, str]]) -> None:
    assert acknowledgments
    for _, rule, _ in acknowledgments:
        assert rule.startswith(f"{PLUGIN}::{PLUGIN}-"), rule


def test_acknowledgments_sit_on_resources_not_on_the_stack_or_a_capability(
    synth: Synthesized, acknowledgments: list[tuple[str, str, str]]
) -> None:
    # Acknowledging on the stack or on a whole capability (Storage, Functions...) would hide future findings.
    stack = synth.stack
    capabilities = (stack.storage, stack.customization_role, stack.notifications, stack.functions, stack.workflow)
    too_broad = {stack.node.path, stack.trigger.node.path} | {c.node.path for c in capabilities}
    assert [(path, rule) for path, rule, _ in acknowledgments if path in too_broad] == []


def test_every_reason_says_why(acknowledgments: list[tuple[str, str, str]]) -> None:
    for path, rule, reason in acknowledgments:
        assert len(reason) >= 80, (path, rule, reason)
        assert len(reason.split()) >= 12, (path, rule, reason)
        assert not WEAK_REASONS.search(reason), (path, rule, reason)
