"""The evaluator against the seed's sequential loop, on the Bedrock emulator, in this one process.

moto (S3) and the Bedrock emulator serve on loopback ports; a custom model is trained on the bundled sample's
training set and served through provisioned throughput; the test set is 500 examples in the sample's style.
Every model call takes 100 ms more (the emulator's ``set_latency``).

- ``eval_seconds_sequential``: the seed's loop: each example asked of the custom model, then of the base
  model, one call after another (its code, with the SDK's standard retries).
- ``eval_seconds``: this project's evaluator as the "Evaluate custom against base" step runs it
  (``customizer.evaluation.evaluate``: test set from S3, checkpoints and reports to S3), with its default
  concurrency for one model unit; ``eval_speedup_vs_sequential`` is the ratio.
- With 10% of the calls throttled (``set_throttle_rate``, seeded), the evaluator again, on a fresh report prefix:
  ``eval_examples_lost_under_throttling`` counts test examples that have neither an answer nor a recorded
  error for a model; ``eval_examples_double_counted`` counts examples recorded more than once for a model,
  plus answers in excess of the calls the emulator answered. Both are summed over the two models.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import random
import socket
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
from moto.server import ThreadedMotoServer

import offline  # noqa: F401 - the offline runtime's package puts lambdas/ (customizer) on the import path

EXAMPLES = 500
LATENCY_MS = 100
THROTTLE_RATE = 0.1
BASE_MODEL = "amazon.titan-text-express-v1"
DATA_BUCKET, ARTIFACTS_BUCKET = "bench-data", "bench-artifacts"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def _offline_aws() -> Iterator[Any]:
    """moto and the emulator on loopback ports, and the SDK settings that reach them (restored after)."""
    from offline.bedrock_emulator import EmulatorServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no access log line per request
    port = _free_port()
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    moto.start()
    emulator = EmulatorServer(port=0).start()
    settings = {
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
        **emulator.client_environment(),
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": "us-east-1",
        "BEDROCK_EMULATOR_S3_ENDPOINT_URL": f"http://127.0.0.1:{port}",
    }
    saved = {k: os.environ.get(k) for k in (*settings, "AWS_PROFILE", "AWS_SESSION_TOKEN")}
    os.environ.update(settings)
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
        os.environ.pop(name, None)
    from customizer import aws

    aws.client.cache_clear()
    try:
        yield emulator
    finally:
        emulator.stop()
        moto.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        aws.client.cache_clear()


def _jsonl(records: list[dict[str, str]]) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in records).encode()


def _put(bucket: str, key: str, body: bytes) -> dict[str, Any]:
    boto3.client("s3").put_object(Bucket=bucket, Key=key, Body=body)
    records = body.count(b"\n")
    return {
        "uri": f"s3://{bucket}/{key}",
        "size": len(body),
        "sha256": hashlib.sha256(body).hexdigest(),
        "records": records,
    }


def _until(check: Any, what: str, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.05)
    raise TimeoutError(f"{what} did not happen in {timeout} s")


def _custom_model_throughput(training: dict[str, Any]) -> str:
    """Train a custom model on the emulator and serve it through provisioned throughput; its ARN."""
    bedrock = boto3.client("bedrock")
    job = bedrock.create_model_customization_job(
        jobName="bench-job",
        customModelName="bench-model",
        roleArn="arn:aws:iam::123456789012:role/bench",
        baseModelIdentifier=BASE_MODEL,
        trainingDataConfig={"s3Uri": training["uri"]},
        outputDataConfig={"s3Uri": f"s3://{ARTIFACTS_BUCKET}/bench/job-output/"},
        hyperParameters={"epochCount": "1", "batchSize": "1", "learningRate": "0.00001"},
    )["jobArn"]
    model = _until(
        lambda: bedrock.get_model_customization_job(jobIdentifier=job).get("outputModelArn"), "the training job"
    )
    arn = bedrock.create_provisioned_model_throughput(modelUnits=1, provisionedModelName="bench-pt", modelId=model)[
        "provisionedModelArn"
    ]
    _until(
        lambda: bedrock.get_provisioned_model_throughput(provisionedModelId=arn)["status"] == "InService",
        "the throughput",
    )
    return str(arn)


def _run(training: dict[str, Any], test: dict[str, Any], prefix: str) -> Any:
    """The run as "Validate the run" would describe it (the names matter to nothing here)."""
    from customizer.models import DataObject, DataSet, Names, Run
    from customizer.settings import resolve_run_settings

    settings = resolve_run_settings({}, {"evaluation": {"max_examples": EXAMPLES}})
    return Run(
        run_id=prefix,
        run_name="bench",
        execution_name="bench",
        settings=settings,
        hyperparameters={},
        data=DataSet(training=DataObject(**training), test=DataObject(**test)),
        names=Names(job_name="bench-job", model_name="bench-model", throughput_name="bench-pt", client_token="b"),  # noqa: S106 - a name, not a secret
        output_uri=f"s3://{ARTIFACTS_BUCKET}/bench/job-output/",
        report_prefix=f"s3://{ARTIFACTS_BUCKET}/{prefix}/",
        started_at=datetime.now(UTC).isoformat(),
    )


def seed_sequential(run: Any, throughput_arn: str) -> float:
    """The seed's evaluate_model loop: one call after another, custom model first; seconds taken."""
    from customizer import aws
    from customizer.evaluation import contains_match, load_examples
    from customizer.families.invocation import InferenceConfig, build_request, extract_text

    settings = run.settings.evaluation
    style = run.settings.model.invocation
    config = InferenceConfig(max_tokens=settings.max_tokens, temperature=settings.temperature, top_p=settings.top_p)
    started = time.perf_counter()
    examples = load_examples(run.data.test.uri, run.settings.model.data_format("FINE_TUNING"), settings.max_examples)
    runtime = aws.client("bedrock-runtime")
    correct = Counter[str]()
    for model_id in (throughput_arn, run.settings.base_model_id):
        for example in examples:
            request = build_request(style, model_id, example.prompt, config, system=example.system)
            text = extract_text(style, json.loads(runtime.invoke_model(**request.kwargs)["body"].read()))
            correct[model_id] += contains_match(example.completion, text)
    assert len(examples) == EXAMPLES
    return time.perf_counter() - started


def _throughput(throughput_arn: str) -> Any:
    from customizer.models import Throughput

    return Throughput(arn=throughput_arn, name="bench-pt", status="InService", model_units=1)


def _miscounts(emulator: Any, result: Any, calls_before: dict[str, int]) -> tuple[int, int, int]:
    """(lost, double counted, errors) over both models, from the report's rows and the emulator's counts."""
    rows = [json.loads(line) for line in _read(result.report_uri.replace("report.json", "examples.jsonl")).splitlines()]
    answered_calls = emulator.state()["invocations"]
    lost = double = errors = 0
    for side, model_id in (("custom", result.custom.model_id), ("base", result.base.model_id)):
        indexes = Counter(r["index"] for r in rows if r[side]["text"] is not None or r[side]["error"] is not None)
        lost += sum(1 for i in range(EXAMPLES) if indexes[i] == 0)
        double += sum(n - 1 for n in indexes.values() if n > 1)
        answers = sum(1 for r in rows if r[side]["text"] is not None)
        double += max(0, answers - (answered_calls.get(model_id, 0) - calls_before.get(model_id, 0)))
        errors += sum(1 for r in rows if r[side]["error"] is not None)
    return lost, double, errors


def _read(uri: str) -> str:
    bucket, key = uri.removeprefix("s3://").split("/", 1)
    return str(boto3.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read().decode())


def run() -> dict[str, float]:
    from customizer.evaluation import evaluate
    from offline.runtime import sample_dir
    from offline.sample_data import HELD_OUT_OPENINGS, _all_records

    with _offline_aws() as server:
        emulator = server.emulator
        emulator.set_durations(job_seconds=0.2, throughput_seconds=0.2)
        s3 = boto3.client("s3")
        for bucket in (DATA_BUCKET, ARTIFACTS_BUCKET):
            s3.create_bucket(Bucket=bucket)
        training = _put(DATA_BUCKET, "bench/train.jsonl", (sample_dir() / "train.jsonl").read_bytes())
        # The sample's held-out style (phrasings and openings kept out of training), 500 of them.
        examples = _all_records(HELD_OUT_OPENINGS)
        random.Random(EXAMPLES).shuffle(examples)  # noqa: S311 - test data
        examples = examples[:EXAMPLES]
        test = _put(DATA_BUCKET, "bench/test.jsonl", _jsonl(examples))
        throughput_arn = _custom_model_throughput(training)
        emulator.set_latency(LATENCY_MS, "InvokeModel")

        sequential = seed_sequential(_run(training, test, "sequential"), throughput_arn)
        started = time.perf_counter()
        result = evaluate(_run(training, test, "concurrent"), _throughput(throughput_arn))
        concurrent = time.perf_counter() - started
        assert result.custom.examples == result.base.examples == EXAMPLES

        emulator.set_throttle_rate(THROTTLE_RATE, "InvokeModel", seed=11)
        before = dict(emulator.state()["invocations"])
        throttles_before = emulator.state()["calls"].get("InvokeModel", 0)
        started = time.perf_counter()
        throttled = evaluate(_run(training, test, "throttled"), _throughput(throughput_arn))
        throttled_seconds = time.perf_counter() - started
        calls = emulator.state()["calls"].get("InvokeModel", 0) - throttles_before
        lost, double, errors = _miscounts(emulator, throttled, before)
        answered = sum(
            emulator.state()["invocations"].get(m, 0) - before.get(m, 0) for m in (throughput_arn, BASE_MODEL)
        )
    return {
        "eval_examples": float(EXAMPLES),
        "eval_seconds_sequential": sequential,
        "eval_seconds": concurrent,
        "eval_speedup_vs_sequential": sequential / concurrent,
        "eval_seconds_throttled": throttled_seconds,
        "eval_throttled_calls": float(calls - answered),
        "eval_errors_under_throttling": float(errors),
        "eval_examples_lost_under_throttling": float(lost),
        "eval_examples_double_counted": float(double),
    }
