"""What a distillation job leaves beside its metrics: synthetic data samples (prompts with the answers the
student was trained on) and prompt insights (each input prompt accepted or rejected, with the reason).

The user guide names both ("Analyze the results of a model customization job", model-customization-analyze:
"Synthetic data (Model Distillation only) - Sample prompts from the synthetic dataset that Amazon Bedrock
generated from your teacher model and used to fine tune your student model"; "Prompt insights (Model Distillation
only) - A report of input prompts that were accepted and rejected (along with a reason why)") but documents
neither their paths nor their records. The layout below is this project's guess, which the offline emulator
writes and the pipeline reads; a job that wrote none leaves the summary empty and the training health says so:

- ``distillation_artifacts/synthetic_data_samples.jsonl``: ``{"prompt", "system", "response", "source"}`` per
  line, ``source`` one of ``teacher`` (the teacher answered), ``provided`` (the prompt's own answer),
  ``invocation_log`` (the logged response, usePromptResponse);
- ``distillation_artifacts/prompt_insights.jsonl``: ``{"record", "status", "reason"}`` per line, ``record`` the
  input record's number (1-based), ``status`` ``ACCEPTED`` or ``REJECTED``."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from customizer import aws
from customizer.errors import ResourceMissingError
from customizer.models import DistillationOutputs

SYNTHETIC_SAMPLES = "distillation_artifacts/synthetic_data_samples.jsonl"
PROMPT_INSIGHTS = "distillation_artifacts/prompt_insights.jsonl"
ACCEPTED, REJECTED = "ACCEPTED", "REJECTED"
# How many of each the summary keeps (the run record travels in the state machine's state).
KEPT_SAMPLES = 3
KEPT_REJECTIONS = 10


def _lines(root: str, relative: str) -> list[dict[str, Any]] | None:
    """The JSON lines of ``root + relative``; None when the job wrote no such file."""
    bucket, key = aws.split_s3_uri(root.rstrip("/") + "/" + relative, "job output")
    try:
        with aws.translate_errors("reading the distillation outputs"):
            body = aws.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read().decode("utf-8")
    except ResourceMissingError:
        return None
    found = []
    for line in body.splitlines():
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict):
            found.append(value)
    return found


def read(root: str) -> DistillationOutputs:
    """The distillation outputs under the job's output folder (``model-customization-job-<id>/``)."""
    samples, insights = _lines(root, SYNTHETIC_SAMPLES), _lines(root, PROMPT_INSIGHTS)
    rejected = [i for i in insights or [] if str(i.get("status", "")).upper() == REJECTED]
    return DistillationOutputs(
        found=samples is not None or insights is not None,
        synthetic_samples=len(samples or []),
        samples=[
            {key: str(s.get(key, "")) for key in ("prompt", "response", "source")}
            for s in (samples or [])[:KEPT_SAMPLES]
        ],
        prompts=len(insights or []),
        accepted=sum(str(i.get("status", "")).upper() == ACCEPTED for i in insights or []),
        rejected=len(rejected),
        reasons=dict(Counter(str(i.get("reason") or "no reason given") for i in rejected).most_common()),
        rejections=[
            {"record": str(i.get("record", "")), "reason": str(i.get("reason") or "")}
            for i in rejected[:KEPT_REJECTIONS]
        ],
    )


def warnings(outputs: DistillationOutputs) -> list[str]:
    """What the training health should say of them."""
    if not outputs.found:
        return ["no distillation outputs were found (synthetic data samples, prompt insights)"]
    if not outputs.rejected:
        return []
    first = outputs.rejections[0] if outputs.rejections else {"record": "?", "reason": "?"}
    return [
        f"the distillation rejected {outputs.rejected} of {outputs.prompts} prompts (first: record {first['record']}: "
        f"{first['reason']}); the prompt insights list them"
    ]
