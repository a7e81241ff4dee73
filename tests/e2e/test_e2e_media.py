"""Multimodal fine-tuning records (Nova Lite): images named in the data bucket are checked to exist before any
job, and a run whose images are all there trains and is evaluated on its text test set."""

from __future__ import annotations

import json
from typing import Any

import boto3
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


def _test_set_with_images(e2e: E2E, run_name: str, files: dict[str, bytes]) -> list[str]:
    """Every test example with an image uploaded beside the data; the images' keys, in order."""
    records: list[dict[str, Any]] = [json.loads(line) for line in files["test.jsonl"].decode().splitlines()]
    keys = []
    for i, record in enumerate(records):
        key = f"{e2e.runtime.run_prefix}{run_name}/test-images/{i}.png"
        e2e.runtime.upload(key, b"\x89PNG\r\n\x1a\n")
        block = {"image": {"format": "png", "source": {"s3Location": {"uri": f"s3://{e2e.runtime.data_bucket}/{key}"}}}}
        record["messages"][0]["content"].insert(0, block)
        keys.append(key)
    files["test.jsonl"] = jsonl(records)
    return keys


@pytest.mark.e2e
def test_test_examples_with_images_are_evaluated_with_them_through_converse(e2e: E2E) -> None:
    # Given a test set whose every example shows an image, When the run evaluates
    run_name = e2e.run_name("test-images")
    files = {name: as_conversation(body) for name, body in sample_files().items()}
    keys = _test_set_with_images(e2e, run_name, files)
    settings = {**NOVA_LITE, "evaluation": {"concurrency": 1, "max_examples": 4}}
    e2e.emulator.hold("Converse")
    try:
        arn = e2e.start_console(run_name, e2e.settings(settings), files)
        e2e.emulator.wait_held("Converse")
        # The first question is being asked: take away the image of the last example before it is asked.
        boto3.client("s3").delete_object(Bucket=e2e.runtime.data_bucket, Key=keys[3])
    finally:
        e2e.emulator.release("Converse")
    result = e2e.wait(arn)

    # Then each model is asked every example with its image: the three whose image is there are answered, and
    # the one whose image was taken away is refused by Converse, which reads it from S3.
    assert result.status == "SUCCEEDED", (result.error, result.cause)
    evaluation = (result.output or {})["evaluation"]
    assert evaluation["custom"]["examples"] == evaluation["base"]["examples"] == 4
    assert evaluation["custom"]["errors"] == evaluation["base"]["errors"] == 1
