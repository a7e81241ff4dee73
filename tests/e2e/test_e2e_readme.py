"""The README's command-line examples ("Starting a run", the block after ``<!-- readme-offline-examples -->``),
run as they are, in order, against the offline stack."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli import app as cli_app
from offline.runtime import sample_dir
from tests.e2e.harness import E2E

ROOT = Path(__file__).resolve().parents[2]
MARKER = "<!-- readme-offline-examples -->"


def readme_examples() -> list[list[str]]:
    text = (ROOT / "README.md").read_text()
    block = re.search(re.escape(MARKER) + r"\s*```bash\n(.*?)```", text, re.DOTALL)
    assert block, f"README.md has no ```bash block after {MARKER}"
    lines = [line for line in block.group(1).splitlines() if line.strip()]
    commands = [shlex.split(line) for line in lines]
    assert all(c[0] == "bedrock-customize" for c in commands)
    return [c[1:] for c in commands]


@pytest.mark.e2e
def test_the_readme_examples_run_as_written(e2e: E2E, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BEDROCK_CUSTOMIZE_ENDPOINTS", str(e2e.runtime.write_endpoints(tmp_path / "endpoints.json")))
    (tmp_path / "offline").mkdir()
    (tmp_path / "offline" / "sample").symlink_to(sample_dir())
    monkeypatch.chdir(tmp_path)  # the README's paths are relative to the repository; reports land here
    examples = readme_examples()
    assert {args[1] for args in examples} >= {"start", "runs", "show", "report", "compare", "cost"}
    outputs = {}
    for args in examples:
        result = CliRunner().invoke(cli_app.app, args, catch_exceptions=False)
        assert result.exit_code == 0, (args, result.stdout, result.stderr)
        outputs[args[1]] = result.stdout
    assert "Run succeeded" in outputs["start"] and "Decision: " in outputs["start"]
    assert "support-bot" in outputs["runs"]
    assert "Run support-bot-" in outputs["show"]
    assert Path(outputs["report"].strip()).is_file()
    assert "Decision metric contains match: " in outputs["compare"]
    assert "training" in outputs["cost"]
    assert json.loads(cli_json(["--offline", "show", "support-bot-v2", "--json"]))["settings"]["base_model_id"] == (
        "amazon.titan-text-lite-v1"
    )


def cli_json(args: list[str]) -> str:
    return CliRunner().invoke(cli_app.app, args, catch_exceptions=False).stdout
