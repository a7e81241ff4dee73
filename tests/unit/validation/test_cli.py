"""The command line: the same check on a laptop, before uploading. Exit 0 valid, 1 invalid, 2 usage."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest

from customizer.validation.cli import main
from tests.unit.validation.corpus import COHERE, TITAN, jsonl, pair

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


@pytest.fixture
def files(tmp_path):
    def write(name: str, body: bytes) -> str:
        path = tmp_path / name
        path.write_bytes(body)
        return str(path)

    return write


def test_valid_data_prints_the_report_and_exits_0(files, capsys):
    train = files("train.jsonl", jsonl([pair(i) for i in range(5)]))
    test = files("test.jsonl", jsonl([pair(i) for i in range(10, 13)]))
    assert main([train, "--model", TITAN, "--test", test, "--hyperparameters", '{"epochCount": 2}']) == 0
    out = capsys.readouterr().out
    assert out.startswith("# Pre-flight check: valid\n")
    assert "epochCount 2" in out


def test_warnings_alone_still_exit_0(files, capsys):
    train = files("train.jsonl", jsonl([pair(1), pair(1)]))
    assert main([train, "--model", TITAN]) == 0
    assert capsys.readouterr().out.startswith("# Pre-flight check: valid, with warnings\n")


def test_invalid_data_exits_1_and_names_line_and_field(files, capsys):
    train = files("train.jsonl", jsonl([pair(1), {"prompt": "q"}]))
    assert main([train, "--model", TITAN, "--format", "json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["verdict"] == "invalid"
    [entry] = report["errors"]
    assert entry["examples"][0] | {"file": None} == {
        "kind": "missing_key",
        "file": None,
        "line": 2,
        "field": "completion",
        "message": "required key is missing",
    }
    assert entry["examples"][0]["file"] == train


def test_wrong_settings_are_invalid_not_usage_errors(files, capsys):
    train = files("train.jsonl", jsonl([pair(1)]))
    assert main([train, "--model", COHERE, "--type", "CONTINUED_PRE_TRAINING"]) == 1
    assert main([train, "--model", TITAN, "--hyperparameters", '{"epochCount": 99}']) == 1
    assert "settings.hyperparameters.epochCount" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "the following arguments are required"),
        (["{train}"], "the following arguments are required: --model"),
        (
            ["{train}", "--model", "amazon.titan-text-ultra-v9"],
            "--model: 'amazon.titan-text-ultra-v9' is not a supported base model",
        ),
        (["{train}", "--model", TITAN, "--type", "IMPORTED"], "--type: 'IMPORTED'"),
        (["{train}", "--model", TITAN, "--hyperparameters", "{epochCount: 2}"], "--hyperparameters: not valid JSON"),
        (["{train}", "--model", TITAN, "--hyperparameters", "[2]"], "--hyperparameters: must be a JSON object"),
        (["{train}", "--model", TITAN, "--test", "/nonexistent/test.jsonl"], "/nonexistent/test.jsonl: no such file"),
        (["{train}", "--model", TITAN, "--format", "yaml"], "invalid choice: 'yaml'"),
    ],
)
def test_usage_errors_exit_2(files, capsys, args, message):
    train = files("train.jsonl", jsonl([pair(1)]))
    with pytest.raises(SystemExit) as caught:
        main([a.replace("{train}", train) for a in args])
    assert caught.value.code == 2
    assert message in capsys.readouterr().err


def test_python_dash_m_runs_it_with_the_exit_status(files):
    train = files("train.jsonl", b'{"prompt": "q"}\n')
    result = subprocess.run(
        [sys.executable, "-m", "customizer.validation", train, "--model", TITAN],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": os.path.join(ROOT, "lambdas")},
        check=False,
    )
    assert result.returncode == 1, result.stderr
    assert "missing_key" in result.stdout


# ---- where the run could be: --region, --live ----

LLAMA = "meta.llama3-1-8b-instruct-v1:0"


def _report(capsys) -> dict[str, Any]:
    report: dict[str, Any] = json.loads(capsys.readouterr().out)
    return report


def _kinds(report: dict[str, Any], key: str) -> list[str]:
    return [entry["kind"] for entry in report[key]]


def test_a_region_that_does_not_offer_the_customization_is_an_error(files, capsys):
    train = files("train.jsonl", jsonl([pair(i) for i in range(100)]))
    assert main([train, "--model", LLAMA, "--region", "us-east-1", "--format", "json"]) == 1
    report = _report(capsys)
    assert _kinds(report, "errors") == ["not_offered_here"]
    message = report["errors"][0]["examples"][0]["message"]
    assert message == (
        f"FINE_TUNING of {LLAMA} is not offered in us-east-1 by this project's table of the user guide "
        "(2026-12-01): offered in us-west-2"
    )


def test_without_live_it_says_bedrock_was_not_asked(files, capsys):
    train = files("train.jsonl", jsonl([pair(i) for i in range(100)]))
    assert main([train, "--model", LLAMA, "--region", "us-west-2", "--format", "json"]) == 0
    report = _report(capsys)
    assert _kinds(report, "warnings") == ["live_check_not_made"]
    assert (
        "Bedrock was not asked (give --live, with AWS credentials)" in report["warnings"][0]["examples"][0]["message"]
    )


def test_a_base_no_longer_listed_is_a_warning(files, capsys):
    train = files("train.jsonl", jsonl([pair(i) for i in range(10)]))
    assert main([train, "--model", COHERE, "--region", "us-east-1", "--format", "json"]) == 0
    assert "not_listed" in _kinds(_report(capsys), "warnings")


def test_live_without_credentials_says_which_check_it_could_not_make(files, capsys, monkeypatch):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    train = files("train.jsonl", jsonl([pair(i) for i in range(5)]))
    assert main([train, "--model", TITAN, "--region", "us-east-1", "--live", "--format", "json"]) == 0
    report = _report(capsys)
    assert report["warnings"][0]["examples"][0]["message"] == (
        "no AWS credentials found: Bedrock was not asked; availability is from this project's table only"
    )


def test_live_asks_get_foundation_model_as_the_pipeline_does(files, capsys, monkeypatch):
    from customizer import catalog

    asked = []

    def describe(model_id, client=None):
        asked.append((model_id, client.meta.region_name))
        return catalog.Offering(model_id, ("FINE_TUNING",), ("ON_DEMAND",), "LEGACY", None, None, None)

    monkeypatch.setattr(catalog, "describe", describe)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    train = files("train.jsonl", jsonl([pair(i) for i in range(5)]))
    assert main([train, "--model", TITAN, "--region", "us-west-2", "--live", "--format", "json"]) == 0
    assert asked == [(TITAN, "us-west-2")]
    report = _report(capsys)
    assert _kinds(report, "warnings") == ["legacy_base"]


def test_live_refuses_what_bedrock_does_not_offer_there_as_the_pipeline_does(files, capsys, monkeypatch):
    from customizer import catalog

    monkeypatch.setattr(catalog, "describe", lambda model_id, client=None: None)  # unknown in that region
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    train = files("train.jsonl", jsonl([pair(i) for i in range(5)]))
    assert main([train, "--model", TITAN, "--region", "us-west-2", "--live", "--format", "json"]) == 1
    (error,) = _report(capsys)["errors"]
    assert error["kind"] == "not_offered_here"
    assert error["examples"][0]["message"].startswith(
        f"GetFoundationModel in us-west-2: settings.base_model_id: Bedrock does not know {TITAN} in us-west-2; "
    )
