"""Multimodal fine-tuning records (Nova Lite): images named in the data bucket are checked to exist before any
job, and a run whose images are all there trains and is evaluated on its text test set."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.e2e.harness import E2E, jsonl, path_of, sample_files
from tests.e2e.test_e2e_runs import as_conversation

NOVA_LITE = {"base_model_id": "amazon.nova-lite-v1:0", "hyperparameters": {"epochCount": 1}}


def _with_images(e2e: E2E, run_name: str, missing_at: int | None = None) -> dict[str, bytes]:
    """The sample as conversations, every tenth training record with an image uploaded beside the data (one
    left out at ``missing_at``, a 0-based record index)."""
    files = {name: as_conversation(body) for name, body in sample_files().items()}
    records: list[dict[str, Any]] = [json.loads(line) for line in files["train.jsonl"].decode().splitlines()]
    for i in range(0, len(records), 10):
        key = f"{e2e.runtime.run_prefix}{run_name}/images/{i}.png"
        if i != missing_at:
            e2e.runtime.upload(key, b"\x89PNG\r\n\x1a\n")
        block = {"image": {"format": "png", "source": {"s3Location": {"uri": f"s3://{e2e.runtime.data_bucket}/{key}"}}}}
        records[i]["messages"][0]["content"].append(block)
    files["train.jsonl"] = jsonl(records)
    return files


@pytest.mark.e2e
def test_a_run_whose_images_are_there_trains_on_them(e2e: E2E) -> None:
    run_name = e2e.run_name("images")
    result = e2e.run(lambda: e2e.start_console(run_name, e2e.settings(NOVA_LITE), _with_images(e2e, run_name)))
    assert result.status == "SUCCEEDED", (result.error, result.cause)
    assert [j["status"] for j in e2e.jobs_for(run_name)] == ["Completed"]


@pytest.mark.e2e
def test_a_missing_image_stops_the_run_before_any_job_naming_its_line(e2e: E2E) -> None:
    run_name = e2e.run_name("image-missing")
    creates_before = e2e.calls().get("CreateModelCustomizationJob", 0)
    files = _with_images(e2e, run_name, missing_at=30)
    result = e2e.run(lambda: e2e.start_console(run_name, e2e.settings(NOVA_LITE), files))

    assert result.status == "FAILED"
    assert path_of(result) == ["Validate the run", "Notify failure", "Run failed"]
    assert e2e.jobs_for(run_name) == []
    assert e2e.calls().get("CreateModelCustomizationJob", 0) == creates_before
    (note,) = e2e.notifications_for(run_name)
    assert "input.training_data line 31: messages[0].content[1].image: s3://" in note["reason"], note["reason"]
    assert f"{run_name}/images/30.png does not exist or cannot be read" in note["reason"]
