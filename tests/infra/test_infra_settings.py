"""Settings: cdk.json's context is checked at synthesis; a wrong value stops it with a message that names
the setting; synthesis needs no AWS account, region or credentials."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import app as cdk_app
from customizer.errors import SettingsError
from customizer.settings import DeploymentSettings, parse_deployment_settings
from tests.infra.template_tools import Synthesized

ROOT = Path(__file__).resolve().parents[2]

# (change to cdk.json's pipeline settings, what the message must name). A check across fields reports
# "pipeline: <field> ..." rather than "pipeline.<field>: ...".
WRONG = [
    ({"log_retention_days": 2}, "pipeline: log_retention_days"),
    ({"run_prefix": "runs"}, "pipeline.run_prefix"),
    ({"notification_email": "not-an-address"}, "pipeline.notification_email"),
    ({"execution_timeout_hours": 0}, "pipeline.execution_timeout_hours"),
    ({"defaults": {"throughput_policy": "sometimes"}}, "pipeline.defaults.throughput_policy"),
    ({"defaults": {"base_model_id": "no.such-model"}}, "pipeline.defaults.base_model_id"),
    ({"defaults": {"hyperparameters": {"epochCount": 99}}}, "pipeline.defaults.hyperparameters.epochCount"),
    ({"unknown_setting": 1}, "pipeline.unknown_setting"),
]


def _with(cdk_context: dict[str, Any], change: dict[str, Any]) -> dict[str, Any]:
    pipeline = json.loads(json.dumps(cdk_context["pipeline"]))
    for key, value in change.items():
        if isinstance(value, dict) and isinstance(pipeline.get(key), dict):
            pipeline[key].update(value)
        else:
            pipeline[key] = value
    return {**cdk_context, "pipeline": pipeline}


def test_cdk_json_settings_are_valid_and_complete(cdk_context: dict[str, Any]) -> None:
    settings = parse_deployment_settings(cdk_context["pipeline"])
    assert settings.notification_email is None
    # Active and fine-tunable in us-east-1 today (the user guide's table; the families' regions).
    assert settings.defaults.base_model_id == "amazon.nova-micro-v1:0"
    assert settings.defaults.customization_type.value == "FINE_TUNING"
    assert settings.defaults.throughput_policy.value == "keep_if_better"
    assert (settings.defaults.poll.job_seconds, settings.defaults.poll.throughput_seconds) == (300, 60)
    # Every setting is written out in cdk.json, so a deployer sees what can be changed.
    assert set(cdk_context["pipeline"]) == set(DeploymentSettings.model_fields)


@pytest.mark.parametrize(("change", "setting"), WRONG)
def test_a_wrong_setting_stops_synthesis_naming_the_setting(
    cdk_context: dict[str, Any], change: dict[str, Any], setting: str, tmp_path: Path
) -> None:
    with pytest.raises(SettingsError, match=re.escape(setting)):
        cdk_app.build_app(_with(cdk_context, change), outdir=str(tmp_path))


def _clean_environment(tmp_path: Path, context: dict[str, Any]) -> dict[str, str]:
    """What the CDK CLI hands the app, and nothing that could reach AWS: no credentials, region or profile."""
    return {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),  # no ~/.aws
        "AWS_CONFIG_FILE": str(tmp_path / "none"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
        "AWS_EC2_METADATA_DISABLED": "true",
        "JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION": "1",
        "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
        "PYTHONDONTWRITEBYTECODE": "1",
        "CDK_OUTDIR": str(tmp_path / "cdk.out"),
        "CDK_CONTEXT_JSON": json.dumps(context),
    }


def test_app_py_exits_with_the_settings_message_and_no_traceback(
    cdk_context: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wrong = _with(cdk_context, {"log_retention_days": 2})
    real_build_app = cdk_app.build_app
    # main() builds the app from the context the CDK CLI passes; here, from the wrong one.
    monkeypatch.setattr(cdk_app, "build_app", lambda: real_build_app(wrong, outdir=str(tmp_path)))
    with pytest.raises(SystemExit) as exit_:
        cdk_app.main()
    assert str(exit_.value.code).startswith(
        "cdk.json context 'pipeline' is not valid: pipeline: log_retention_days must be one of"
    )


def test_app_py_synthesizes_without_any_aws_settings(
    synth: Synthesized, cdk_context: dict[str, Any], tmp_path: Path
) -> None:
    result = subprocess.run(
        [sys.executable, "app.py"],
        cwd=ROOT,
        env=_clean_environment(tmp_path, cdk_context),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    template = (tmp_path / "cdk.out" / "BedrockCustomization.template.json").read_text()
    # The code asset's hash changes whenever lambdas/ does (it may, between two synths); all else is equal.
    assert _without_asset_hashes(template) == _without_asset_hashes(json.dumps(synth.template_json))


def _without_asset_hashes(template: str) -> Any:
    return json.loads(re.sub(r'"[0-9a-f]{64}\.zip"', '"<asset>.zip"', template))


def test_stack_is_environment_agnostic(synth: Synthesized) -> None:
    # Asset hashes are hex: twelve of their digits in a row are no account id (one such hash made this fail).
    text = json.dumps(_without_asset_hashes(json.dumps(synth.template_json)))
    assert set(re.findall(r"(?<!\d)\d{12}(?!\d)", text)) == set()
    assert re.findall(r"\b(?:us|eu|ap|sa|ca|me|af|il|mx|cn)-(?:[a-z]+-)+\d\b", text) == []
    assert synth.stack.resolve(synth.stack.account) == {"Ref": "AWS::AccountId"}
    assert synth.stack.resolve(synth.stack.region) == {"Ref": "AWS::Region"}
