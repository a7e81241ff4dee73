"""The evaluator against the seed's sequential loop, with moto (S3) and the Bedrock emulator each serving
from a process of its own on 127.0.0.1, as the services do in AWS: the benchmark's process does the
evaluator's work only (its SDK calls, threads, scoring and reports): the emulator's work no longer runs on the
evaluator's interpreter, and with 2 cores or more the services are pinned to cores other than the evaluator's
(``_separate_cores``), as in AWS their CPU is not the client's. The emulator is steered over its admin API
(``/_emulator/``); both children are
stopped when the run ends, fails or is interrupted, and die with the benchmark's process even if it is killed
(Linux: ``PR_SET_DEATHSIG``).

A custom model is trained on the bundled sample's training set and served through provisioned throughput;
the test set is 500 examples in the sample's style. Every model call takes 100 ms more (the emulator's
``set_latency``).

- ``eval_seconds_sequential``: the seed's loop: each example asked of the custom model, then of the base
  model, one call after another (its code, with the SDK's standard retries).
- ``eval_seconds``: this project's evaluator as the "Evaluate custom against base" step runs it
  (``customizer.evaluation.evaluate``: test set from S3, checkpoints and reports to S3), with its default
  concurrency for one model unit; ``eval_speedup_vs_sequential`` is the ratio.
- ``eval_seconds_limit``: the least time those calls can take. Each model ``m`` is asked ``N_m`` times (the
  calls the emulator answered for it during the run), each call takes at least ``L`` (the injected latency),
  and at most ``C_m`` calls to ``m`` are in flight at once (the evaluator's bound for the run,
  ``concurrency_bounds``); the models are asked at the same time, each within its own bound, so
  ``limit = max over m of ceil(N_m / C_m) * L``. (At most ``C`` calls in flight, each taking ``L`` or more:
  in ``T`` seconds each of ``C`` slots completes at most ``floor(T / L)`` calls.) ``eval_vs_limit`` is
  ``limit / eval_seconds``: 1.0 would be the evaluator adding nothing to the calls' own latency. ``eval_calls``
  is the sum of ``N_m``; ``eval_concurrency_custom`` and ``eval_concurrency_base`` are the ``C_m``.
- With 10% of the calls throttled (``set_throttle_rate``, seeded), the evaluator again, on a fresh report prefix:
  ``eval_examples_lost_under_throttling`` counts test examples that have neither an answer nor a recorded
  error for a model; ``eval_examples_double_counted`` counts examples recorded more than once for a model,
  plus answers in excess of the calls the emulator answered. Both are summed over the two models.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import random
import re
import subprocess
import sys
import threading
import time
from collections import Counter, deque
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3

import offline  # noqa: F401 - the offline runtime's package puts lambdas/ (customizer) on the import path
from offline.bedrock_emulator.admin_client import EmulatorAdmin

EXAMPLES = 500
LATENCY_MS = 100
THROTTLE_RATE = 0.1
BASE_MODEL = "amazon.titan-text-express-v1"
DATA_BUCKET, ARTIFACTS_BUCKET = "bench-data", "bench-artifacts"
ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
# A child may take long to import on a loaded machine; stopping waits this long before it kills.
START_TIMEOUT_SECONDS = 120.0
STOP_TIMEOUT_SECONDS = 10.0
# Werkzeug prints its banner (moto's) through a logger that may colour it.
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
MOTO_READY = re.compile(r"Running on (http://\S+)")
EMULATOR_READY = re.compile(r"Bedrock emulator listening on (http://\S+)")

# Run in the child before its module: ask the kernel to SIGTERM it when the benchmark's process dies however
# it dies (a SIGKILL runs no finally block), then run the module as ``python -m`` would.
_LAUNCHER = """
import os, runpy, signal, sys
if sys.platform.startswith("linux"):
    import ctypes
    PR_SET_DEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_DEATHSIG, signal.SIGTERM)
    if os.getppid() != int(sys.argv[1]):
        sys.exit("the parent exited before the child started")
sys.argv = sys.argv[2:]
runpy.run_module(sys.argv[0], run_name="__main__", alter_sys=True)
"""


def eval_limit_seconds(calls: Mapping[str, int], bounds: Mapping[str, int], latency_seconds: float) -> float:
    """The least time ``calls[m]`` calls per model can take when each takes ``latency_seconds`` or more and at
    most ``bounds[m]`` calls to model ``m`` are in flight at once, the models asked at the same time:
    ``max over m of ceil(calls[m] / bounds[m]) * latency_seconds``."""
    if any(bounds[m] < 1 for m in calls):
        raise ValueError("a concurrency bound must be at least 1")
    return max((math.ceil(n / bounds[m]) * latency_seconds for m, n in calls.items()), default=0.0)


@dataclass
class Child:
    """A process serving on loopback: its ``url`` (from its readiness line) and the last lines it printed."""

    name: str
    process: subprocess.Popen[str]
    url: str = ""
    lines: deque[str] = field(default_factory=lambda: deque(maxlen=40))

    def output(self) -> str:
        return "".join(self.lines)


def _drain(child: Child, ready: re.Pattern[str], found: threading.Event) -> None:
    """Read everything the child prints (a full pipe would block it), noting the first readiness line."""
    assert child.process.stdout is not None
    for line in child.process.stdout:
        child.lines.append(line)
        if not found.is_set():
            match = ready.search(_ANSI.sub("", line))
            if match:
                child.url = match.group(1)
                found.set()
    found.set()  # end of output: whoever waits sees the process has exited


def _stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextlib.contextmanager
def serving(
    name: str,
    module: str,
    args: Sequence[str],
    ready: re.Pattern[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path = ROOT,
    timeout: float = START_TIMEOUT_SECONDS,
) -> Iterator[Child]:
    """``python -m module args`` in a child process, until it prints a line ``ready`` matches (its first group
    is the child's URL); stopped (SIGTERM, then SIGKILL) when the block ends, however it ends."""
    process = subprocess.Popen(  # noqa: S603 - this interpreter, a fixed launcher, the caller's arguments
        [sys.executable, "-c", _LAUNCHER, str(os.getpid()), module, *args],
        cwd=cwd,
        env=dict(os.environ if env is None else env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        # Undecodable output must not end the reader (a full pipe would then block the child).
        encoding="utf-8",
        errors="replace",
        bufsize=1,
    )
    child = Child(name, process)
    found = threading.Event()
    reader = threading.Thread(target=_drain, args=(child, ready, found), name=f"{name}-output", daemon=True)
    try:
        reader.start()
        if not found.wait(timeout):
            raise TimeoutError(f"{name} printed no readiness line in {timeout} s; its output:\n{child.output()}")
        if not child.url:
            process.wait(timeout=STOP_TIMEOUT_SECONDS)
            raise RuntimeError(
                f"{name} exited ({process.returncode}) before it was ready; its output:\n{child.output()}"
            )
        yield child
    finally:
        _stop(process)
        reader.join(timeout=STOP_TIMEOUT_SECONDS)
        if process.stdout is not None:
            process.stdout.close()


_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_DEFAULT_REGION": "us-east-1",
    # Never a real account's settings: no profile, no shared files, no instance metadata.
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    "AWS_EC2_METADATA_DISABLED": "true",
}
_CLEARED = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_REGION")


def _child_environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _CLEARED and not k.startswith("AWS_ENDPOINT_URL")}
    return {**env, **_CREDENTIALS}


@contextlib.contextmanager
def _offline_aws() -> Iterator[EmulatorAdmin]:
    """moto and the emulator in processes of their own, and the SDK settings that reach them (restored after);
    the emulator's admin client."""
    env = _child_environment()
    with contextlib.ExitStack() as stack:
        moto = stack.enter_context(serving("moto", "moto.server", ["-H", HOST, "-p", "0"], MOTO_READY, env=env))
        emulator = stack.enter_context(
            serving(
                "the Bedrock emulator",
                "offline.bedrock_emulator",
                ["--host", HOST, "--port", "0", "--job-seconds", "0.2", "--throughput-seconds", "0.2"],
                EMULATOR_READY,
                env={**env, "AWS_ENDPOINT_URL": moto.url, "BEDROCK_EMULATOR_S3_ENDPOINT_URL": moto.url},
            )
        )
        stack.enter_context(_separate_cores(moto, emulator))
        settings = {
            **_CREDENTIALS,
            "AWS_ENDPOINT_URL": moto.url,
            "AWS_ENDPOINT_URL_BEDROCK": emulator.url,
            "AWS_ENDPOINT_URL_BEDROCK_RUNTIME": emulator.url,
        }
        stack.enter_context(_environment(settings))
        yield EmulatorAdmin(emulator.url)


@contextlib.contextmanager
def _separate_cores(*children: Child) -> Iterator[None]:
    """The services on the other cores, the evaluator on one, as in AWS, where the services run on machines of
    their own: the evaluator's figure is then not the services' CPU. Linux, 2 cores or more; restored after."""
    if not hasattr(os, "sched_getaffinity"):
        yield
        return
    mine = os.sched_getaffinity(0)
    cores = sorted(mine)
    if len(cores) < 2:
        yield
        return
    for child in children:
        os.sched_setaffinity(child.process.pid, set(cores[1:]))
    os.sched_setaffinity(0, {cores[0]})
    try:
        yield
    finally:
        os.sched_setaffinity(0, mine)


@contextlib.contextmanager
def _environment(settings: Mapping[str, str]) -> Iterator[None]:
    from customizer import aws

    saved = {k: os.environ.get(k) for k in (*settings, *_CLEARED)}
    os.environ.update(settings)
    for name in _CLEARED:
        os.environ.pop(name, None)
    aws.client.cache_clear()
    try:
        yield
    finally:
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


def _miscounts(emulator: EmulatorAdmin, result: Any, calls_before: Mapping[str, int]) -> tuple[int, int, int]:
    """(lost, double counted, errors) over both models, from the report's rows and the emulator's counts."""
    rows = [json.loads(line) for line in _read(result.report_uri.replace("report.json", "examples.jsonl")).splitlines()]
    answered_calls = _answered(emulator)
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


def _answered(emulator: EmulatorAdmin) -> dict[str, int]:
    """Calls the emulator answered so far, by model id."""
    return {str(k): int(v) for k, v in emulator.state()["invocations"].items()}


def run() -> dict[str, float]:
    from customizer.evaluation import evaluate
    from customizer.evaluation.runner import BASE, CUSTOM, concurrency_bounds
    from offline.runtime import sample_dir
    from offline.sample_data import HELD_OUT_OPENINGS, _all_records

    with _offline_aws() as emulator:
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
        concurrent_run, throughput = _run(training, test, "concurrent"), _throughput(throughput_arn)
        # The bound evaluate() applies to this run: its settings, else its defaults for the model units.
        bounds = concurrency_bounds(concurrent_run.settings.evaluation.concurrency, throughput.model_units)
        before = _answered(emulator)
        started = time.perf_counter()
        result = evaluate(concurrent_run, throughput)
        concurrent = time.perf_counter() - started
        assert result.custom.examples == result.base.examples == EXAMPLES
        after = _answered(emulator)
        calls = {
            side: after.get(model_id, 0) - before.get(model_id, 0)
            for side, model_id in ((CUSTOM, result.custom.model_id), (BASE, result.base.model_id))
        }
        limit = eval_limit_seconds(calls, bounds, LATENCY_MS / 1000)

        emulator.set_throttle_rate(THROTTLE_RATE, "InvokeModel", seed=11)
        before = _answered(emulator)
        throttles_before = emulator.state()["calls"].get("InvokeModel", 0)
        started = time.perf_counter()
        throttled = evaluate(_run(training, test, "throttled"), _throughput(throughput_arn))
        throttled_seconds = time.perf_counter() - started
        invoke_calls = emulator.state()["calls"].get("InvokeModel", 0) - throttles_before
        lost, double, errors = _miscounts(emulator, throttled, before)
        answered = sum(_answered(emulator).get(m, 0) - before.get(m, 0) for m in (throughput_arn, BASE_MODEL))
    return {
        "eval_examples": float(EXAMPLES),
        "eval_calls": float(sum(calls.values())),
        "eval_concurrency_custom": float(bounds[CUSTOM]),
        "eval_concurrency_base": float(bounds[BASE]),
        "eval_seconds_sequential": sequential,
        "eval_seconds": concurrent,
        "eval_speedup_vs_sequential": sequential / concurrent,
        "eval_seconds_limit": limit,
        "eval_vs_limit": limit / concurrent,
        "eval_seconds_throttled": throttled_seconds,
        "eval_throttled_calls": float(invoke_calls - answered),
        "eval_errors_under_throttling": float(errors),
        "eval_examples_lost_under_throttling": float(lost),
        "eval_examples_double_counted": float(double),
    }
