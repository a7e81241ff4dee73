#!/usr/bin/env python3
"""The CDK app: the pipeline's stack, checked by cdk-nag (AWS Solutions rules).

Synthesis makes no AWS calls and needs no credentials: the stack is environment-agnostic (account and
region stay CloudFormation pseudo parameters). Settings come from the ``pipeline`` context key of
cdk.json and are checked by ``customizer.settings``; a wrong value stops synthesis with a message that
names the setting."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

_LAMBDAS = str(Path(__file__).resolve().parent / "lambdas")
if _LAMBDAS not in sys.path:
    sys.path.insert(0, _LAMBDAS)  # the settings models live with the Lambda code: one definition

import aws_cdk as cdk  # noqa: E402
from cdk_nag import AwsSolutionsChecks  # noqa: E402

from customizer.errors import SettingsError  # noqa: E402
from customizer.settings import parse_deployment_settings  # noqa: E402
from stacks.constants import STACK_ID  # noqa: E402
from stacks.pipeline_stack import PipelineStack  # noqa: E402

CONTEXT_KEY = "pipeline"


def build_app(context: Mapping[str, Any] | None = None, outdir: str | None = None) -> cdk.App:
    """The app with its one stack and the cdk-nag plugin. Raises SettingsError on a wrong setting."""
    app = cdk.App(context=dict(context) if context is not None else None, outdir=outdir)
    settings = parse_deployment_settings(app.node.try_get_context(CONTEXT_KEY))
    PipelineStack(
        app,
        STACK_ID,
        settings=settings,
        description="Amazon Bedrock model customization pipeline (Step Functions + Lambda)",
    )
    # cdk-nag v3 is a policy-validation plugin: an unacknowledged finding fails synthesis.
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return app


def main() -> None:
    try:
        app = build_app()
    except SettingsError as exc:
        sys.exit(f"cdk.json context '{CONTEXT_KEY}' is not valid: {exc}")
    app.synth()


if __name__ == "__main__":
    main()
