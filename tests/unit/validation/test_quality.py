"""Warnings that do not block: duplicates, leakage between the files, a test set that overlaps training,
very short completions; tracked in fixed memory."""

from __future__ import annotations

import random

from customizer.validation.quality import KeyTable
from tests.unit.validation.corpus import CLAUDE, NOVA, TITAN, check, claude, conversation, cpt, only, pair


def test_a_repeated_record_names_its_first_copy():
    report = check([pair(1), pair(2), pair(1), pair(3), pair(2)])
    assert report.valid and report.verdict == "valid, with warnings"
    duplicates = report.warnings.kept["duplicate_record"]
    assert [(f.line, f.message) for f in duplicates] == [
        (3, "the same record as line 1"),
        (5, "the same record as line 2"),
    ]


def test_duplicates_are_found_by_content_not_by_bytes():
    report = check([b'{"prompt": "q", "completion": "a"}', b'{"completion":"a","prompt":"q"}', pair(9)])
    assert only(report, "duplicate_record", warnings=True).line == 2


def test_the_same_prompt_with_another_answer_is_not_a_duplicate():
    report = check([pair(1, "q", "answer one"), pair(2, "q", "answer two")])
    assert report.verdict == "valid"


def test_validation_records_that_are_in_the_training_data_leak():
    report = check([pair(1), pair(2), pair(3)], validation=[pair(4), pair(2)])
    leak = only(report, "leakage", warnings=True)
    assert (leak.file, leak.line, leak.message) == ("validation.jsonl", 2, "the same record as training line 2")


def test_test_records_that_are_in_the_training_data_leak():
    report = check([pair(1), pair(2), pair(3)], test=[pair(3), pair(5)])
    leak = only(report, "leakage", warnings=True)
    assert (leak.file, leak.line, leak.message) == ("test.jsonl", 1, "the same record as training line 3")


def test_a_test_prompt_seen_in_training_overlaps():
    report = check(
        [pair(1), pair(2, "Where is my order?", "On its way.")], test=[pair(2, "Where is my order?", "Shipped.")]
    )
    overlap = only(report, "test_overlap", warnings=True)
    assert (overlap.file, overlap.line, overlap.field) == ("test.jsonl", 1, "prompt")
    assert "training line 2" in overlap.message


def test_overlap_across_formats_compares_what_the_model_reads():
    # A Nova training conversation and a prompt/completion test record with the same user text and system.
    training = [conversation(i) for i in range(8)]
    test = [{"prompt": "What is item 3?", "completion": "x"}]
    report = check(training, NOVA, test=test)
    # The system prompt differs (the test record has none), so this is not the same prompt.
    assert "test_overlap" not in report.warnings.counts
    report = check([claude(i) for i in range(32)], CLAUDE, test=[claude(5, assistant="other")])
    assert only(report, "test_overlap", warnings=True).line == 1


def test_very_short_completions_are_warned_about():
    report = check([pair(1, "Is it red?", "no"), pair(2, "Is it blue?", "yes"), pair(3, "Size?", " L ")])
    warnings = report.warnings.kept["short_completion"]
    assert [(f.line, f.field) for f in warnings] == [(1, "completion"), (3, "completion")]
    assert warnings[0].message.startswith("only 2 characters")


def test_continued_pre_training_has_no_completions_to_be_short():
    report = check([cpt(1, "ab"), cpt(2)], TITAN, "CONTINUED_PRE_TRAINING")
    assert "short_completion" not in report.warnings.counts


def test_the_key_table_is_fixed_and_remembers_first_lines():
    table = KeyTable(capacity=1000)
    size = table.nbytes
    rng = random.Random(3)
    keys = [rng.randrange(-(2**63), 2**63) or 1 for _ in range(1000)]
    for line, key in enumerate(keys, start=1):
        assert table.add(key, line) == 0
    assert table.nbytes == size == 2048 * 12  # 8-byte keys, 4-byte lines, at most half full
    assert table.add(keys[10], 5000) == 11
    assert table.find(keys[999]) == 1000
    assert table.find(12345) == 0
    # Full: new keys are counted as untracked, known ones still found.
    assert table.add(777, 1001) == 0 and table.untracked == 1
    assert table.find(777) == 0
    assert table.add(keys[0], 1002) == 1
