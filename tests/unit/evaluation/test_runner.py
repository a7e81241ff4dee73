"""The runner without AWS: fake models, a recorded sleep, an in-memory checkpoint store."""

from __future__ import annotations

import threading
import time
from collections import Counter

import pytest

from customizer.errors import AwsRequestRejectedError, AwsServiceUnavailableError, BedrockThrottledError
from customizer.evaluation.runner import (
    BASE,
    CUSTOM,
    FAIL_FAST_CALLS,
    AdaptiveLimit,
    Answer,
    Checkpoint,
    DoubleCountError,
    Progress,
    Runner,
    Target,
    concurrency_bounds,
)
from customizer.families.formats import Example

EXAMPLES = [Example(prompt=f"q{i}", completion=f"a{i}") for i in range(40)]


class Memory:
    """An object store in memory, counting writes."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.puts = 0

    def get(self, uri: str) -> bytes | None:
        return self.objects.get(uri)

    def put(self, uri: str, body: bytes, content_type: str) -> None:
        self.objects[uri] = body
        self.puts += 1


class Model:
    """Answers "a<i>" to "q<i>"; ``script`` gives an example's first outcomes (exceptions) before it answers.
    Counts calls per prompt and the most calls in flight at once."""

    def __init__(
        self, script: dict[str, list[Exception]] | None = None, seconds: float = 0.0, together: int = 0
    ) -> None:
        self.script = {k: list(v) for k, v in (script or {}).items()}
        self.seconds = seconds
        # The first ``together`` calls wait for one another (a barrier; it breaks, failing those calls, if they
        # are never in flight at once): concurrency shown by synchronization, not by sleeps racing.
        self._together = threading.Barrier(together, timeout=30) if together > 1 else None
        self._first_calls = together
        self.calls: Counter[str] = Counter()
        self.in_flight = self.most_in_flight = 0
        self._lock = threading.Lock()

    def __call__(self, example: Example) -> str:
        with self._lock:
            self.calls[example.prompt] += 1
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
            outcome = self.script.get(example.prompt, []).pop(0) if self.script.get(example.prompt) else None
            meet = self._together is not None and self._first_calls > 0
            self._first_calls -= 1
        try:
            if meet:
                assert self._together is not None
                self._together.wait()
            if self.seconds:
                time.sleep(self.seconds)
            if outcome is not None:
                raise outcome
            return "a" + example.prompt[1:]
        finally:
            with self._lock:
                self.in_flight -= 1


def run(
    custom: Model,
    base: Model,
    *,
    examples: list[Example] = EXAMPLES,
    concurrency: int = 4,
    max_attempts: int = 3,
    progress: Progress | None = None,
    **options: object,
) -> tuple[Runner, Progress, bool, list[float]]:
    sleeps: list[float] = []
    progress = progress or Progress()
    runner = Runner(
        examples,
        [Target(CUSTOM, "custom-id", custom, concurrency), Target(BASE, "base-id", base, concurrency)],
        progress,
        max_attempts=max_attempts,
        sleep=sleeps.append,
        **options,  # type: ignore[arg-type]
    )
    complete = runner.run()
    return runner, progress, complete, sleeps


def test_every_example_is_asked_of_each_model_once_within_the_bound():
    custom, base = Model(together=5), Model(together=5)
    _, progress, complete, _ = run(custom, base, concurrency=5)
    assert complete
    for model, answers in progress.answers.items():
        assert sorted(answers) == list(range(40)), model
        assert all(answers[i].text == f"a{i}" and answers[i].attempts == 1 for i in answers)
    assert set(custom.calls.values()) == set(base.calls.values()) == {1}
    assert custom.most_in_flight == base.most_in_flight == 5  # five met at the barrier, never six at once


def test_throttled_and_not_ready_calls_are_retried_with_backoff():
    script: dict[str, list[Exception]] = {
        "q3": [BedrockThrottledError("ThrottlingException"), BedrockThrottledError("ThrottlingException")],
        "q7": [AwsServiceUnavailableError("ModelNotReadyException")],
    }
    custom = Model(script)
    _, progress, complete, sleeps = run(custom, Model(), max_attempts=3)
    assert complete
    assert progress.answers[CUSTOM][3] == Answer("a3", progress.answers[CUSTOM][3].latency_ms, 3)
    assert progress.answers[CUSTOM][7].attempts == 2
    assert (custom.calls["q3"], custom.calls["q7"]) == (3, 2)
    assert len(sleeps) == 3  # one backoff before each retry
    assert all(0 <= s <= 1.0 for s in sleeps)  # first retries: within [0, 0.5] and [0, 1.0] seconds


def test_an_example_still_throttled_after_the_last_attempt_is_recorded_as_an_error_once():
    custom = Model({"q5": [BedrockThrottledError("ThrottlingException: slow down")] * 5})
    _, progress, complete, _ = run(custom, Model(), max_attempts=3)
    assert complete
    answer = progress.answers[CUSTOM][5]
    assert (answer.text, answer.attempts) == (None, 3)
    assert answer.error == "BedrockThrottledError: ThrottlingException: slow down (after 3 attempts)"
    assert custom.calls["q5"] == 3
    assert len(progress.answers[CUSTOM]) == 40


def test_a_rejected_call_is_an_error_at_once():
    custom = Model({"q2": [AwsRequestRejectedError("AccessDeniedException: no")]})
    _, progress, _, sleeps = run(custom, Model())
    assert progress.answers[CUSTOM][2] == Answer(None, None, 1, "AwsRequestRejectedError: AccessDeniedException: no")
    assert sleeps == []


def test_a_stopped_run_saves_what_it_has_and_the_next_run_asks_only_the_rest():
    store = Memory()
    checkpoint = Checkpoint(store, "s3://b/partial.json", "fingerprint-1")
    asked = Counter[str]()
    lock = threading.Lock()

    def stop_after_ten() -> bool:
        with lock:
            return sum(asked.values()) >= 10

    class Counting(Model):
        def __call__(self, example: Example) -> str:
            with lock:
                asked[example.prompt] += 1
            return super().__call__(example)

    _, first, complete, _ = run(
        Counting(), Counting(), concurrency=1, should_stop=stop_after_ten, checkpoint=checkpoint
    )
    assert not complete
    saved, saved_complete = checkpoint.load()
    assert not saved_complete
    assert saved == first.answers
    answered = sum(len(a) for a in saved.values())
    assert 10 <= answered < 80

    custom, base = Model(), Model()
    _, second, complete, _ = run(custom, base, progress=Progress(answers=saved), checkpoint=checkpoint)
    assert complete
    assert sum(custom.calls.values()) + sum(base.calls.values()) == 80 - answered  # nothing asked twice
    assert all(sorted(second.answers[m]) == list(range(40)) for m in (CUSTOM, BASE))
    assert checkpoint.load() == (second.answers, True)


def test_a_model_whose_first_calls_are_all_refused_is_asked_no_more():
    # Given a base model every call of which is refused (say, a model id Bedrock will not serve on demand)
    refusal = AwsRequestRejectedError("ValidationException: use an inference profile")
    base = Model({e.prompt: [refusal] for e in EXAMPLES})
    _, progress, complete, _ = run(Model(), base, concurrency=1, max_attempts=3)
    # Then after FAIL_FAST_CALLS refusals the rest is recorded as not asked, with the first refusal
    assert complete
    assert sum(base.calls.values()) == FAIL_FAST_CALLS
    not_asked = [a for a in progress.answers[BASE].values() if a.attempts == 0]
    assert len(not_asked) == len(EXAMPLES) - FAIL_FAST_CALLS
    assert not_asked[0].error == (
        f"not asked: the first {FAIL_FAST_CALLS} calls to base-id were all refused; "
        "the first: AwsRequestRejectedError: ValidationException: use an inference profile"
    )
    # And the other model is asked everything
    assert all(a.text for a in progress.answers[CUSTOM].values()) and len(progress.answers[CUSTOM]) == 40


def test_refusals_after_an_answer_never_stop_a_model():
    # Given a model that answers the first example, then refuses all others (one bad prompt after another)
    refusal = AwsRequestRejectedError("ValidationException: too long")
    custom = Model({e.prompt: [refusal] for e in EXAMPLES[1:]})
    _, progress, _, _ = run(custom, Model(), concurrency=1)
    # Then every example is still asked: refusals of some prompts say nothing of the others
    assert sum(custom.calls.values()) == 40
    assert [a.attempts for a in progress.answers[CUSTOM].values()].count(0) == 0


def test_saved_errors_are_asked_again_but_a_complete_checkpoint_is_final():
    store = Memory()
    checkpoint = Checkpoint(store, "s3://b/partial.json", "fp")
    answers = {CUSTOM: {0: Answer("a0", 5.0, 1), 1: Answer(None, None, 8, "throttled")}, BASE: {}}
    checkpoint.save(answers, complete=False)
    assert checkpoint.load() == ({CUSTOM: {0: Answer("a0", 5.0, 1)}, BASE: {}}, False)
    checkpoint.save(answers, complete=True)
    assert checkpoint.load() == (answers, True)


def test_answers_saved_for_something_else_are_not_reused():
    store = Memory()
    Checkpoint(store, "s3://b/p.json", "old-fingerprint").save(
        {CUSTOM: {0: Answer("x", 1.0, 1)}, BASE: {}}, complete=True
    )
    assert Checkpoint(store, "s3://b/p.json", "new-fingerprint").load() == ({CUSTOM: {}, BASE: {}}, False)


def test_progress_saves_periodically_while_running():
    store = Memory()
    checkpoint = Checkpoint(store, "s3://b/p.json", "fp")
    run(Model(seconds=0.01), Model(seconds=0.01), concurrency=1, checkpoint=checkpoint, save_seconds=0.05)
    assert store.puts >= 3  # some while running, and the final one


def test_recording_an_example_twice_is_a_bug():
    progress = Progress()
    progress.record(CUSTOM, 3, Answer("a", 1.0, 1))
    with pytest.raises(DoubleCountError, match=r"^custom answer to example 3 recorded twice$"):
        progress.record(CUSTOM, 3, Answer("b", 1.0, 1))


def test_any_other_failure_of_a_call_is_that_examples_error():
    def broken(example: Example) -> str:
        raise AssertionError("bug")

    progress = Progress()
    runner = Runner(EXAMPLES[:2], [Target(CUSTOM, "c", broken, 1)], progress, max_attempts=1)
    assert runner.run()
    assert progress.answers[CUSTOM][0].error == "AssertionError: bug"


def test_the_bound_shrinks_when_throttling_is_dense_and_grows_back():
    now = [0.0]
    limit = AdaptiveLimit(16, clock=lambda: now[0])
    for i in range(21):  # 21 calls, 11 throttled: dense
        limit.acquire()
        limit.release(throttled=i % 2 == 0)
    assert limit.limit == pytest.approx(16 * 0.7)
    now[0] += 1.0
    for _ in range(200):
        limit.acquire()
        limit.release(seconds=0.1)
    assert limit.limit == 16  # additive increase, capped at the maximum
    assert limit.lowest == pytest.approx(11.2)


def test_sparse_throttling_keeps_the_bound():
    limit = AdaptiveLimit(8)
    for i in range(100):
        limit.acquire()
        limit.release(throttled=i % 10 == 0, seconds=None if i % 10 == 0 else 0.1)
    assert limit.limit == 8


def test_concurrency_defaults_to_what_the_model_units_allow():
    assert concurrency_bounds(None, 1) == {CUSTOM: 32, BASE: 32}
    assert concurrency_bounds(None, 3) == {CUSTOM: 96, BASE: 32}
    assert concurrency_bounds(None, 0) == {CUSTOM: 32, BASE: 32}  # an on-demand deployment: no model units
    assert concurrency_bounds(None, 100) == {CUSTOM: 256, BASE: 32}
    assert concurrency_bounds(5, 3) == {CUSTOM: 5, BASE: 5}


# ---- multimodal test examples: their images and videos go to Converse ----


def test_media_blocks_name_the_s3_location_for_nova_and_send_bytes_otherwise() -> None:
    from dataclasses import asdict

    from customizer.evaluation.runner import media_blocks
    from customizer.families import base_model
    from customizer.families.base import MediaRef
    from customizer.families.formats import Example, example_from_json

    example = Example(
        "What is shown?",
        "A cat.",
        media=(MediaRef("image", "png", "s3://data/1.png", "messages[0].content[1].image"),),
    )
    assert example_from_json(asdict(example)) == example  # as the evaluation's chunk files carry it
    nova = base_model("amazon.nova-lite-v1:0").media
    assert media_blocks(example, nova) == [
        {"image": {"format": "png", "source": {"s3Location": {"uri": "s3://data/1.png"}}}}
    ]
    llama = base_model("meta.llama3-2-11b-instruct-v1:0").media
    read: list[str] = []

    def reader(uri: str) -> bytes:
        read.append(uri)
        return b"\x89PNG"

    blocks = media_blocks(example, llama, reader)
    assert blocks == [{"image": {"format": "png", "source": {"bytes": b"\x89PNG"}}}] and read == ["s3://data/1.png"]
