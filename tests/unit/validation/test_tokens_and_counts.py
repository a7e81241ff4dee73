"""Length against each family's token limit (the estimate errs high), and record counts against each
family's minimum and maximum."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from customizer.families import DataFormat
from customizer.families.base import RecordLimits
from customizer.validation import validator as validator_module
from customizer.validation.records import RecordChecker
from customizer.validation.tokens import RECORD_OVERHEAD, TokenStats, estimate_tokens
from tests.unit.validation.corpus import (
    CLAUDE,
    COHERE,
    LLAMA_CONV,
    LLAMA_PC,
    NOVA,
    TITAN,
    TITAN_LITE,
    check,
    claude,
    conversation,
    good_records,
    model,
    only,
    pair,
)

RECORD_FORMAT = {
    pair: DataFormat.PROMPT_COMPLETION,
    conversation: DataFormat.CONVERSATION,
    claude: DataFormat.CLAUDE_MESSAGES,
}

# ---- the estimator ----


def test_ascii_text_counts_one_token_per_three_characters():
    assert estimate_tokens("") == 0
    assert estimate_tokens("abc") == 1
    assert estimate_tokens("abcd") == 2
    assert estimate_tokens("x" * 3000) == 1000


def test_other_text_counts_more_per_character():
    assert estimate_tokens("é") == 1 + 1  # 1 character, 1 extra byte (each part rounds up)
    assert estimate_tokens("数据模型") == 2 + 4  # 4 characters, 8 extra bytes
    assert estimate_tokens("😀") == 1 + 2  # 1 character, 3 extra bytes


@given(st.text())
def test_the_estimate_is_never_under_a_third_of_the_utf8_bytes(text):
    # BPE tokenizers of these families average 3 to 4 bytes a token on English; the estimate stays above.
    size = len(text.encode("utf-8", "surrogatepass"))
    assert estimate_tokens(text) * 3 >= size
    assert estimate_tokens(text) >= estimate_tokens(text[: len(text) // 2])


def test_token_statistics_are_exact_where_they_can_be_and_bounded_where_not():
    stats = TokenStats(limit=1000)
    for line, tokens in enumerate([10, 500, 990, 20, 1500], start=1):
        stats.add(tokens, line)
    summary = stats.as_dict()
    assert (summary["records"], summary["total"], summary["min"], summary["max"], summary["max_line"]) == (
        5,
        3020,
        10,
        1500,
        5,
    )
    assert summary["mean"] == 604.0
    assert 20 <= summary["p50"] <= 510  # an upper bound within 1% of the limit of the true median (500)
    assert summary["p95"] == 1500
    assert len(stats.histogram) == 101  # constant memory, however many records


# ---- limits ----


def _chars_for(tokens: int) -> int:
    """ASCII characters whose estimate, with the record overhead, is ``tokens``."""
    return (tokens - RECORD_OVERHEAD) * 3


def _sized(model_id: str, make: Callable[..., Any], i: int, tokens: int) -> Any:
    """A record of ``make``'s shape whose estimate is exactly ``tokens``."""
    checker = RecordChecker(model(model_id), RECORD_FORMAT[make], {}, test_set=False)
    _, base = checker.check(make(i, "q", "a"))  # "a" counts 1 token; 3 characters count 1 too
    return make(i, "q", "a" * (3 * (tokens - base + 1)))


@pytest.mark.parametrize(
    ("model_id", "make", "limit"),
    [
        (TITAN, pair, 4096),
        ("amazon.titan-text-premier-v1:0", pair, 4096),
        (LLAMA_PC, pair, 16_000),
        ("meta.llama3-2-90b-instruct-v1:0", conversation, 10_000),
        (NOVA, conversation, 32_000),
        (CLAUDE, claude, 32_000),
    ],
)
def test_a_record_over_the_limit_is_an_error_and_one_near_it_a_warning(model_id, make, limit):
    records = good_records(model_id)
    at_limit = _sized(model_id, make, 1, limit)
    over = _sized(model_id, make, 2, limit + 1)
    report = check([*records[:-2], at_limit, over], model_id)
    error = only(report, "too_many_tokens")
    assert (error.line, error.field) == (len(records), "(record)")
    assert f"over the limit of {limit:,} for {model_id}" in error.message
    near = only(report, "near_token_limit", warnings=True)
    assert near.line == len(records) - 1
    training = report.file("training")
    assert training is not None and training.tokens is not None
    assert (training.tokens["near_limit"], training.tokens["over_limit"]) == (1, 1)
    assert training.tokens["max"] == limit  # the over-limit record is counted in the errors, not the statistics


@pytest.mark.parametrize(
    ("model_id", "batch", "limit"),
    [(TITAN, 1, 4096), (TITAN, 2, 2048), (TITAN, 64, 2048), (TITAN_LITE, 2, 4096), (TITAN_LITE, 3, 2048)],
)
def test_titan_limits_depend_on_the_batch_size(model_id, batch, limit):
    text = "a" * _chars_for(3000)
    report = check([pair(1), pair(2, "q", text[: -1 - 3])], model_id, hyperparameters={"batchSize": batch})
    assert report.token_limit == limit
    if limit > 3000:
        assert report.valid, report.summary()
    else:
        error = only(report, "too_many_tokens")
        assert error.line == 2
        assert error.message.endswith(f"over the limit of {limit:,} for {model_id} at batchSize {batch}")


def test_cohere_limits_input_and_output_apart():
    ok = pair(1, "q " * 6000, "a " * 3000)  # about 4,000 in, 2,000 out
    report = check([ok, pair(2)], COHERE)
    assert report.valid, report.summary()


# ---- counts ----


@pytest.mark.parametrize(
    ("model_id", "make", "training", "validation", "kind", "where", "message"),
    [
        (CLAUDE, claude, 31, 0, "too_few_records", "train.jsonl", f"31 records; {CLAUDE} needs at least 32"),
        (NOVA, conversation, 7, 0, "too_few_records", "train.jsonl", f"7 records; {NOVA} needs at least 8"),
        (TITAN, pair, 3, 1001, "too_many_records", "validation.jsonl", f"1001 records; {TITAN} takes at most 1000"),
        (COHERE, pair, 10, 1001, "too_many_records", "validation.jsonl", f"1001 records; {COHERE} takes at most 1000"),
        (
            LLAMA_PC,
            pair,
            60,
            39,
            "too_few_records",
            "train.jsonl",
            f"99 training and validation records; {LLAMA_PC} needs at least 100",
        ),
        (
            LLAMA_CONV,
            conversation,
            10_000,
            1,
            "too_many_records",
            "train.jsonl",
            f"10001 training and validation records; {LLAMA_CONV} takes at most 10000",
        ),
    ],
)
def test_record_counts_outside_the_family_limits(model_id, make, training, validation, kind, where, message):
    report = check(
        [make(i) for i in range(training)],
        model_id,
        validation=[make(i) for i in range(training, training + validation)] if validation else None,
    )
    assert report.errors.counts == {kind: 1}
    finding = only(report, kind)
    assert (finding.file, finding.line, finding.field, finding.message) == (where, None, None, message)


def test_too_many_training_records(monkeypatch):
    small = dataclasses.replace(model(COHERE), records=RecordLimits(max_training=5, max_validation=2))
    monkeypatch.setattr(validator_module, "base_model", lambda _: small)
    report = check([pair(i) for i in range(6)], COHERE)
    assert only(report, "too_many_records").message == f"6 records; {COHERE} takes at most 5"
    # Past the maximum, records are no longer tracked for duplicates: the count already fails the file.
    untracked = only(report, "untracked", warnings=True)
    assert "first 5 distinct records" in untracked.message


def test_counts_include_records_with_errors():
    report = check([pair(1), {"prompt": "q"}, pair(2)], TITAN)
    assert report.file("training").records == 3  # type: ignore[union-attr]
