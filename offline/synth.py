"""Synthesize the CDK app exactly as ``cdk synth`` does, and cache the template.

The app is run as the CDK CLI runs it (``python app.py`` with the cdk.json context in CDK_CONTEXT_JSON and
an output directory in CDK_OUTDIR); no AWS credentials are involved. The template is cached under
``.offline/`` keyed by the contents of everything that shapes it, so repeated demos and test sessions
synthesize once."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
STACK_NAME = "BedrockCustomization"
CACHE = ROOT / ".offline" / "synth"


def _fingerprint(context: dict[str, Any]) -> str:
    digest = hashlib.sha256(json.dumps(context, sort_keys=True).encode())
    for path in sorted([ROOT / "app.py", ROOT / "cdk.json", *(ROOT / "stacks").rglob("*.py")]):
        digest.update(str(path.relative_to(ROOT)).encode())
        digest.update(path.read_bytes())
    # The handlers' names and the settings model shape the template too.
    for path in sorted((ROOT / "lambdas").rglob("*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:20]


def cdk_context(pipeline_overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """The context the CDK CLI would pass: cdk.json's, with the pipeline settings overridden."""
    context: dict[str, Any] = json.loads((ROOT / "cdk.json").read_text()).get("context", {})
    if pipeline_overrides:
        from customizer.settings import deep_merge

        context = {**context, "pipeline": deep_merge(context.get("pipeline", {}), pipeline_overrides)}
    return context


def synthesize(pipeline_overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """The stack's CloudFormation template (a dict), from cache when nothing that shapes it changed."""
    context = cdk_context(pipeline_overrides)
    outdir = CACHE / _fingerprint(context)
    template_path = outdir / f"{STACK_NAME}.template.json"
    if not template_path.exists():
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update(
            CDK_OUTDIR=str(outdir),
            CDK_CONTEXT_JSON=json.dumps(context),
            JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION="1",
            JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION="20",
        )
        result = subprocess.run(
            [sys.executable, "app.py"], cwd=ROOT, env=env, capture_output=True, text=True, check=False
        )
        if result.returncode != 0 or not template_path.exists():
            raise RuntimeError(f"cdk synth failed:\n{result.stdout}\n{result.stderr}")
    template: dict[str, Any] = json.loads(template_path.read_text())
    return template
