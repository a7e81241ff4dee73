"""The command line: the same check on a laptop, before uploading. Exit 0 valid, 1 invalid, 2 usage."""

from __future__ import annotations

import json
import os
import subprocess
import sys

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
        (["{train}", "--model", TITAN, "--type", "DISTILLATION"], "--type: 'DISTILLATION'"),
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
