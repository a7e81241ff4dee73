"""The bundled sample dataset: what ships is what the generator makes, and it is clean."""

from __future__ import annotations

import json

from offline import sample_data


def test_the_shipped_files_are_a_fresh_generation():
    for name, records in sample_data.generate().items():
        assert (sample_data.OUT / name).read_text(encoding="utf-8") == sample_data.render(records), name


def test_no_duplicates_and_no_leakage_between_splits():
    splits = {
        name: [json.dumps(r, sort_keys=True) for r in records] for name, records in sample_data.generate().items()
    }
    for name, lines in splits.items():
        assert len(lines) == len(set(lines)), f"{name} has duplicate records"
    prompts = {name: {json.loads(line)["prompt"] for line in lines} for name, lines in splits.items()}
    assert not prompts["train.jsonl"] & prompts["validation.jsonl"]
    assert not prompts["train.jsonl"] & prompts["test.jsonl"]
    assert (len(splits["train.jsonl"]), len(splits["validation.jsonl"]), len(splits["test.jsonl"])) == (1200, 150, 150)
