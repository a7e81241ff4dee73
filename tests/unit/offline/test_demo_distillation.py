"""make demo TYPE=DISTILLATION: what the demo sets (a student and teacher Bedrock pairs, the teacher rule) and
the bundled sample as distillation prompts (every other training prompt without its answer; test answers kept;
no validation file)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from customizer.settings import check_family, resolve_run_settings
from offline.__main__ import _demo_settings, _parser, _sample_for
from offline.runtime import sample_dir


def _args(*argv: str) -> argparse.Namespace:
    return _parser().parse_args(["demo", *argv])


def test_the_demo_picks_a_pair_bedrock_allows_and_the_teacher_rule() -> None:
    settings = _demo_settings(_args("--type", "DISTILLATION"), Path(sample_dir()))
    run = resolve_run_settings({"throughput_policy": "keep"}, settings)
    assert run.distillation is not None and run.distillation.teacher_model_id == "amazon.nova-pro-v1:0"
    assert run.evaluation.min_fraction_of_teacher == 0.9
    assert check_family(run, has_validation_data=False) == {}
    own = _demo_settings(_args("--type", "DISTILLATION", "--base-model", "amazon.nova-lite-v1:0"), Path(sample_dir()))
    assert own["base_model_id"] == "amazon.nova-lite-v1:0"  # the given student wins over the demo's


def test_the_sample_becomes_distillation_prompts() -> None:
    folder = Path(sample_dir())
    files = {name: (folder / name).read_bytes() for name in ("train.jsonl", "validation.jsonl", "test.jsonl")}
    converted = _sample_for({"base_model_id": "amazon.nova-micro-v1:0", "customization_type": "DISTILLATION"}, files)
    assert set(converted) == {"train.jsonl", "test.jsonl"}
    train = [json.loads(line) for line in converted["train.jsonl"].decode().splitlines()]
    roles = [[m["role"] for m in r["messages"]] for r in train]
    assert roles[0] == ["user", "assistant"] and roles[1] == ["user"]
    assert sum(r == ["user"] for r in roles) == len(train) // 2
    test = [json.loads(line) for line in converted["test.jsonl"].decode().splitlines()]
    assert all(len(r["messages"]) == 2 for r in test)
