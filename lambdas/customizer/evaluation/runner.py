"""Asking both models every test question: concurrently within a bound, backing off when Bedrock pushes
back, keeping every answer exactly once, and saving progress so a retried step resumes.

- **Concurrency**: each model has its own bound (``concurrency_bounds``: ``settings.evaluation.concurrency``,
  or what the throughput's model units allow for the custom model and an on-demand default for the base
  model), and both models are asked at the same time.
- **Adaptive backoff**: a throttled call (ThrottlingException) or one the model was not ready for
  (ModelNotReadyException, 5xx, timeouts) is retried after an exponential backoff with full jitter, up to
  ``max_attempts`` calls; then it is recorded as an error. When throttling is dense (more than
  ``THROTTLED_SHARE`` of the recent calls), the model's bound shrinks by ``DECREASE`` (at most once per round
  trip); each answered call grows it back by 1/bound (additive increase, multiplicative decrease).
- **Fail fast**: when the first ``FAIL_FAST_CALLS`` calls to a model were all refused (not throttled), its
  remaining examples are recorded as not asked instead of being called one by one.
- **Exactly once**: answers are kept by example index; recording an index twice is a bug and raises.
- **Resume**: ``Checkpoint`` saves the answers (every ``SAVE_SECONDS`` and at the end) under the run's report
  prefix. A retried step loads them and asks only what is missing; a step that runs out of time stops
  starting calls, saves, and says so (``EvaluationPausedError``, which the state machine retries)."""

from __future__ import annotations

import json
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from customizer import aws
from customizer.errors import AwsServiceUnavailableError, BedrockThrottledError, EvaluationError, ResourceMissingError
from customizer.families import InvocationStyle
from customizer.families.base import TEXT_ONLY, MediaSupport
from customizer.families.formats import Example
from customizer.families.invocation import InferenceConfig, build_request, extract_text

# Calls in flight by default: per model unit of the custom model's throughput, and for the base model on
# demand. A starting point, not a quota: the adaptive bound shrinks when Bedrock throttles.
CALLS_PER_MODEL_UNIT = 32
ON_DEMAND_CALLS = 32
MAX_CONCURRENCY = 256
# Backoff of a retried call: uniform in [0, min(cap, base * 2 ** (attempt - 1))] seconds.
BACKOFF_BASE_SECONDS = 0.5
BACKOFF_CAP_SECONDS = 20.0
# The adaptive bound: shrink by this factor when more than THROTTLED_SHARE of the last calls were throttled.
DECREASE = 0.7
THROTTLED_SHARE = 0.2
WINDOW_MIN_CALLS = 20
SAVE_SECONDS = 5.0
# Fail fast: once this many calls to a model were refused (not throttled: a wrong model id, no access, a body
# the model rejects) and none was answered, the rest of its examples are not asked: each would be refused too,
# while the custom model's throughput bills by the hour.
FAIL_FAST_CALLS = 20

CUSTOM, BASE = "custom", "base"
MODELS = (CUSTOM, BASE)
# A distillation's teacher answers the test set too (the third arm); ARMS are every model a run may ask.
TEACHER = "teacher"
ARMS = (CUSTOM, BASE, TEACHER)


@dataclass(frozen=True)
class Answer:
    """One model's answer to one example: its text, or the error it ended with after ``attempts`` calls."""

    text: str | None
    latency_ms: float | None
    attempts: int
    error: str | None = None

    def to_json(self) -> list[Any]:
        return [self.text, self.latency_ms, self.attempts, self.error]

    @classmethod
    def from_json(cls, value: Sequence[Any]) -> Answer:
        text, latency, attempts, error = value
        return cls(text, latency, int(attempts), error)


Invoke = Callable[[Example], str]


def media_blocks(
    example: Example, media: MediaSupport, read: Callable[[str], bytes] | None = None
) -> list[dict[str, Any]]:
    """The example's images and videos as Converse content blocks: by S3 location where the model takes that
    (Converse's ImageSource / VideoSource ``s3Location``: Nova), else an image's bytes, read with ``read``."""
    blocks: list[dict[str, Any]] = []
    for ref in example.media:
        if media.converse_s3_location:
            source: dict[str, Any] = {"s3Location": {"uri": ref.uri}}
        else:
            if read is None:
                raise EvaluationError(f"{ref.field}: {ref.uri} must be read to be sent, and no reader was given")
            source = {"bytes": read(ref.uri)}
        blocks.append({ref.kind: {"format": ref.format, "source": source}})
    return blocks


def read_s3_object(uri: str) -> bytes:
    bucket, key = aws.split_s3_uri(uri, "an image of the test set")
    with aws.translate_errors(f"reading {uri}"):
        return bytes(aws.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read())


def bedrock_invoker(
    style: InvocationStyle, model_id: str, config: InferenceConfig, media: MediaSupport = TEXT_ONLY
) -> Invoke:
    """Ask ``model_id`` one example with the family's request body (its images and videos through Converse);
    the answer's text. SDK failures come out as the pipeline's typed errors (BedrockThrottledError,
    AwsServiceUnavailableError for ModelNotReady...)."""
    runtime = aws.client("bedrock-runtime", own_retries=True)

    def invoke(example: Example) -> str:
        blocks = media_blocks(example, media, read_s3_object) if example.media else []
        request = build_request(style, model_id, example.prompt, config, system=example.system, media=blocks)
        with aws.translate_errors(f"invoking {model_id}"):
            if request.operation == "converse":
                response: dict[str, Any] = runtime.converse(**request.kwargs)
            else:
                response = json.loads(runtime.invoke_model(**request.kwargs)["body"].read())
        return extract_text(style, response)

    return invoke


def concurrency_bounds(configured: int | None, model_units: int, *, teacher: bool = False) -> dict[str, int]:
    """Calls in flight at most, per model. No model units (an on-demand deployment): called like the base. A
    distillation's teacher (``teacher``) is called on demand, like the base."""
    arms = ARMS if teacher else MODELS
    if configured is not None:
        return dict.fromkeys(arms, configured)
    custom = min(MAX_CONCURRENCY, CALLS_PER_MODEL_UNIT * model_units) if model_units > 0 else ON_DEMAND_CALLS
    return {CUSTOM: custom, BASE: ON_DEMAND_CALLS, **({TEACHER: ON_DEMAND_CALLS} if teacher else {})}


class AdaptiveLimit:
    """At most ``limit`` calls in flight (1 to ``maximum``): additive increase on answers, multiplicative
    decrease when throttling is dense, at most once per round trip (the mean latency of recent calls)."""

    def __init__(self, maximum: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.maximum = maximum
        self.limit = float(maximum)
        self.lowest = float(maximum)
        self.in_flight = 0
        self.throttled = 0
        self._clock = clock
        self._recent: deque[bool] = deque(maxlen=max(WINDOW_MIN_CALLS, 2 * maximum))
        self._round_trip = 0.1
        self._last_cut = -1e9
        self._condition = threading.Condition()

    def acquire(self) -> None:
        with self._condition:
            while self.in_flight >= int(self.limit):
                self._condition.wait()
            self.in_flight += 1

    def release(self, *, throttled: bool = False, seconds: float | None = None) -> None:
        with self._condition:
            self.in_flight -= 1
            self._recent.append(throttled)
            if throttled:
                self.throttled += 1
                self._maybe_decrease()
            elif seconds is not None:
                self._round_trip = 0.8 * self._round_trip + 0.2 * seconds
                self.limit = min(float(self.maximum), self.limit + 1 / self.limit)
            self._condition.notify_all()

    def _maybe_decrease(self) -> None:
        now = self._clock()
        dense = len(self._recent) >= WINDOW_MIN_CALLS and sum(self._recent) > THROTTLED_SHARE * len(self._recent)
        if dense and now - self._last_cut >= self._round_trip:
            self.limit = max(1.0, self.limit * DECREASE)
            self.lowest = min(self.lowest, self.limit)
            self._last_cut = now
            self._recent.clear()


def backoff_seconds(attempt: int, rng: random.Random) -> float:
    return rng.uniform(0, min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2 ** (attempt - 1)))


class DoubleCountError(RuntimeError):
    """An example's answer was recorded twice: a bug, never a result."""


@dataclass
class Progress:
    """Answers per model by example index, each recorded once. Thread-safe."""

    answers: dict[str, dict[int, Answer]] = field(default_factory=lambda: {m: {} for m in MODELS})
    version: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record(self, model: str, index: int, answer: Answer) -> None:
        with self._lock:
            found = self.answers.setdefault(model, {})  # the teacher's only in a distillation
            if index in found:
                raise DoubleCountError(f"{model} answer to example {index} recorded twice")
            found[index] = answer
            self.version += 1

    def snapshot(self) -> tuple[int, dict[str, dict[int, Answer]]]:
        with self._lock:
            return self.version, {model: dict(answers) for model, answers in self.answers.items()}

    def missing(self, model: str, count: int) -> list[int]:
        with self._lock:
            found = self.answers.get(model, {})
            return [i for i in range(count) if i not in found]


@dataclass
class Refusals:
    """Per model: calls refused and answered so far, and the refusal that stopped it. Thread-safe."""

    threshold: int = FAIL_FAST_CALLS
    refused: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ARMS, 0))
    answered: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ARMS, 0))
    stopped: dict[str, str] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def count(self, model: str, error: str | None) -> None:
        with self._lock:
            if error is None:
                self.answered[model] += 1
                return
            self.refused[model] += 1
            if self.refused[model] >= self.threshold and not self.answered[model] and model not in self.stopped:
                self.stopped[model] = error

    def reason(self, model: str) -> str | None:
        with self._lock:
            return self.stopped.get(model)


class ObjectStore(Protocol):
    """Where checkpoints live (S3 in the pipeline)."""

    def get(self, uri: str) -> bytes | None: ...

    def put(self, uri: str, body: bytes, content_type: str) -> None: ...


class S3Store:
    def get(self, uri: str) -> bytes | None:
        bucket, key = aws.split_s3_uri(uri, "checkpoint")
        try:
            with aws.translate_errors("reading the evaluation checkpoint"):
                return bytes(aws.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read())
        except ResourceMissingError:
            return None

    def put(self, uri: str, body: bytes, content_type: str) -> None:
        bucket, key = aws.split_s3_uri(uri, "checkpoint")
        with aws.translate_errors("writing the evaluation checkpoint"):
            aws.client("s3").put_object(Bucket=bucket, Key=key, Body=body, ContentType=content_type)


@dataclass
class Checkpoint:
    """The answers so far, at ``uri``. ``fingerprint`` names what they answer (test data, models, inference
    settings): answers saved for anything else are not reused."""

    store: ObjectStore
    uri: str
    fingerprint: str

    def load(self) -> tuple[dict[str, dict[int, Answer]], bool]:
        """(answers, complete). An incomplete checkpoint keeps only the answers (its errors are asked again)."""
        raw = self.store.get(self.uri)
        empty: dict[str, dict[int, Answer]] = {m: {} for m in MODELS}
        if raw is None:
            return empty, False
        saved = json.loads(raw)
        if saved.get("fingerprint") != self.fingerprint:
            return empty, False
        complete = bool(saved.get("complete"))
        answers = {
            model: {int(i): Answer.from_json(a) for i, a in saved["answers"].get(model, {}).items()}
            for model in ARMS
            if model in MODELS or model in saved["answers"]
        }
        if not complete:
            answers = {m: {i: a for i, a in found.items() if a.error is None} for m, found in answers.items()}
        return answers, complete

    def save(self, answers: Mapping[str, Mapping[int, Answer]], *, complete: bool) -> None:
        body = {
            "fingerprint": self.fingerprint,
            "complete": complete,
            "answers": {m: {str(i): a.to_json() for i, a in sorted(found.items())} for m, found in answers.items()},
        }
        self.store.put(self.uri, json.dumps(body, separators=(",", ":")).encode(), "application/json")


@dataclass(frozen=True)
class Target:
    model: str  # CUSTOM, BASE or TEACHER
    model_id: str
    invoke: Invoke
    concurrency: int


@dataclass
class RunStats:
    calls: int = 0
    throttled: int = 0
    lowest_limit: dict[str, float] = field(default_factory=dict)


class Runner:
    """Asks each target every example not answered yet. ``run`` returns True when every example has an
    answer or an error for every model, False when ``should_stop`` ended it early."""

    def __init__(
        self,
        examples: Sequence[Example],
        targets: Sequence[Target],
        progress: Progress,
        *,
        max_attempts: int,
        should_stop: Callable[[], bool] = lambda: False,
        checkpoint: Checkpoint | None = None,
        save_seconds: float = SAVE_SECONDS,
        sleep: Callable[[float], None] = time.sleep,
        seed: int = 0,
    ) -> None:
        self.examples = examples
        self.targets = targets
        self.progress = progress
        self.max_attempts = max_attempts
        self.should_stop = should_stop
        self.checkpoint = checkpoint
        self.save_seconds = save_seconds
        self.sleep = sleep
        self.stats = RunStats()
        self._rng = random.Random(seed)  # noqa: S311 - backoff jitter, not cryptography
        self._rng_lock = threading.Lock()
        self._stats_lock = threading.Lock()
        self._limits = {t.model: AdaptiveLimit(t.concurrency) for t in targets}
        self.refusals = Refusals()

    def run(self) -> bool:
        stop_saving = threading.Event()
        saver = threading.Thread(target=self._save_periodically, args=(stop_saving,), daemon=True)
        if self.checkpoint is not None:
            saver.start()
        pools = [
            ThreadPoolExecutor(max_workers=t.concurrency, thread_name_prefix=f"ask-{t.model}") for t in self.targets
        ]
        try:
            futures = [
                pool.submit(self._ask, target, index)
                for pool, target in zip(pools, self.targets, strict=True)
                for index in self.progress.missing(target.model, len(self.examples))
            ]
            for future in futures:
                future.result()  # a bug in a call raises here, never silently
        finally:
            for pool in pools:
                pool.shutdown(wait=True)
            stop_saving.set()
            if saver.is_alive():
                saver.join()
        self.stats.lowest_limit = {m: limit.lowest for m, limit in self._limits.items()}
        complete = all(not self.progress.missing(t.model, len(self.examples)) for t in self.targets)
        if self.checkpoint is not None:
            self.checkpoint.save(self.progress.snapshot()[1], complete=complete)
        return complete

    def _save_periodically(self, stop: threading.Event) -> None:
        assert self.checkpoint is not None
        saved = 0
        while not stop.wait(self.save_seconds):
            version, answers = self.progress.snapshot()
            if version != saved:
                self.checkpoint.save(answers, complete=False)
                saved = version

    def _backoff(self, attempt: int) -> float:
        with self._rng_lock:
            return backoff_seconds(attempt, self._rng)

    def _count(self, *, throttled: bool) -> None:
        with self._stats_lock:
            self.stats.calls += 1
            self.stats.throttled += throttled

    def _ask(self, target: Target, index: int) -> None:
        limit = self._limits[target.model]
        example = self.examples[index]
        for attempt in range(1, self.max_attempts + 1):
            if self.should_stop():
                return  # left unanswered: the next attempt of the step resumes here
            refused = self.refusals.reason(target.model)
            if refused is not None:
                error = (
                    f"not asked: the first {self.refusals.threshold} calls to {target.model_id} were all refused; "
                    f"the first: {refused}"
                )
                self.progress.record(target.model, index, Answer(None, None, 0, error))
                return
            limit.acquire()
            started = time.perf_counter()
            try:
                text = target.invoke(example)
            except (BedrockThrottledError, AwsServiceUnavailableError) as exc:
                throttled = isinstance(exc, BedrockThrottledError)
                limit.release(throttled=throttled)
                self._count(throttled=throttled)
                if attempt == self.max_attempts:
                    error = f"{type(exc).__name__}: {exc} (after {attempt} attempts)"
                    self.progress.record(target.model, index, Answer(None, None, attempt, error))
                    return
                self.sleep(self._backoff(attempt))
                continue
            except Exception as exc:
                limit.release()
                self._count(throttled=False)
                error = f"{type(exc).__name__}: {exc}"
                self.refusals.count(target.model, error)
                self.progress.record(target.model, index, Answer(None, None, attempt, error))
                return
            seconds = time.perf_counter() - started
            limit.release(seconds=seconds)
            self._count(throttled=False)
            self.refusals.count(target.model, None)
            self.progress.record(target.model, index, Answer(text, round(seconds * 1000, 3), attempt))
            return


def answers_json(answers: Mapping[int, Answer]) -> dict[str, Any]:
    return {str(i): asdict(a) for i, a in sorted(answers.items())}
