"""The metrics against values computed by hand (SQuAD's and ROUGE's definitions), and the bit-parallel LCS
against the textbook dynamic programme."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from customizer.evaluation.metrics import (
    contains_match,
    exact_match,
    is_label_like,
    lcs_length,
    mean,
    normalize,
    per_label_accuracy,
    percentile,
    rouge_l,
    score_answer,
    token_f1,
    word_count,
)


@pytest.mark.parametrize(
    ("expected", "answer", "correct"),
    [
        ("Paris", "The answer is PARIS.", True),
        ("  paris ", "Paris", True),
        ("Paris", "Lyon", False),
        ("New York", "New  York", False),  # the first version's metric does not normalize whitespace
    ],
)
def test_contains_match_is_the_first_versions_case_insensitive_containment(expected, answer, correct):
    assert contains_match(expected, answer) is correct


@pytest.mark.parametrize(
    ("text", "normalized"),
    [
        ("The Cat, sat!", "cat sat"),
        ("  An   apple a day ", "apple day"),
        ("theater", "theater"),  # articles are whole words only
        ("\uff30\uff41\uff52\uff49\uff53", "\uff50\uff41\uff52\uff49\uff53"),  # full-width: lower-cased, not folded
        ("x\u00b2", "x\u00b2"),  # no NFKC: x² stays x² (the first version folded it to x2)
        ("", ""),
    ],
)
def test_normalize_is_squads(text, normalized):
    assert normalize(text) == normalized


def test_exact_match_compares_normalized_texts():
    assert exact_match("The Eiffel Tower.", "eiffel   tower")
    assert not exact_match("Eiffel Tower", "the Eiffel Tower in Paris")


@pytest.mark.parametrize(
    ("expected", "answer", "f1"),
    [
        # tokens [cat sat on mat] vs [cat sat on hat]: 3 shared, P = R = 3/4
        ("the cat sat on the mat", "a cat sat on a hat", 0.75),
        # [paris] vs [it is paris]: P = 1/3, R = 1, F1 = 2 * (1/3) / (4/3) = 1/2
        ("Paris", "It is Paris.", 0.5),
        # multisets: [x x y] vs [x y y] share one x and one y: P = R = 2/3
        ("x x y", "x y y", 2 / 3),
        ("Paris", "Lyon", 0.0),
        ("", "", 0.0),  # SQuAD v1.1: nothing shared scores 0, even two empty answers (v2.0 says 1)
        ("the", "a", 0.0),  # both normalize to nothing
        ("the", "Paris", 0.0),  # normalizes to nothing against something
    ],
)
def test_token_f1_hand_computed(expected, answer, f1):
    assert token_f1(expected, answer) == pytest.approx(f1)


@pytest.mark.parametrize(
    ("reference", "candidate", "expected"),
    [
        # Lin (2004), section 3.1: LCS "police the gunman" = 3 of 4 words each way, F = 3/4
        ("police killed the gunman", "police kill the gunman", 0.75),
        # ...and "the gunman" = 2 of 4: F = 1/2
        ("police killed the gunman", "the gunman kill police", 0.5),
        # 2 of 3 reference words in a 6-word answer: P = 1/3, R = 2/3, F = 2 * (2/9) / 1 = 4/9
        ("reset your password", "you can reset the password here", 4 / 9),
        ("Paris", "", 0.0),
        ("", "", 0.0),
    ],
)
def test_rouge_l_hand_computed(reference, candidate, expected):
    assert rouge_l(reference, candidate) == pytest.approx(expected)


def test_lcs_of_the_textbook_example():
    # Cormen et al., Introduction to Algorithms, 15.4: LCS("ABCBDAB", "BDCABA") = "BCBA", length 4
    assert lcs_length(list("ABCBDAB"), list("BDCABA")) == 4


def _lcs_table(a: list[str], b: list[str]) -> int:
    rows = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i, x in enumerate(a, 1):
        for j, y in enumerate(b, 1):
            rows[i][j] = rows[i - 1][j - 1] + 1 if x == y else max(rows[i - 1][j], rows[i][j - 1])
    return rows[-1][-1]


@given(st.lists(st.sampled_from("abcd"), max_size=70), st.lists(st.sampled_from("abcd"), max_size=70))
def test_bit_parallel_lcs_equals_the_dynamic_programme(a, b):
    assert lcs_length(a, b) == _lcs_table(a, b)


def test_percentiles_interpolate_linearly_between_order_statistics():
    values = [40.0, 10.0, 30.0, 20.0]
    assert percentile(values, 0.5) == pytest.approx(25.0)  # halfway between 20 and 30
    assert percentile(values, 0.95) == pytest.approx(38.5)  # position 2.85: 30 + 0.85 * 10
    assert percentile(values, 0.0) == 10.0
    assert percentile(values, 1.0) == 40.0
    assert percentile([7.0], 0.95) == 7.0
    assert math.isnan(percentile([], 0.5))


def test_mean_of_nothing_is_zero():
    assert mean([]) == 0.0
    assert mean([1.0, 2.0, 6.0]) == 3.0


def test_score_answer_gives_every_metric_and_a_failed_call_scores_zero():
    assert score_answer("Paris", "It is Paris.") == {
        "contains_match": 1.0,
        "exact_match": 0.0,
        "token_f1": 0.5,
        "rouge_l": pytest.approx(0.5),  # LCS 1: P = 1/3, R = 1
        "output_words": 3.0,
    }
    assert score_answer("Paris", None) == dict.fromkeys(
        ("contains_match", "exact_match", "token_f1", "rouge_l", "output_words"), 0.0
    )
    assert word_count("  two   words ") == 2


@pytest.mark.parametrize(
    ("completions", "label_like"),
    [
        (["positive", "negative"] * 3, True),  # 2 labels, 3 examples each
        (["Positive.", "positive", "NEGATIVE", "negative!", "positive", "negative"], True),  # normalized
        (["positive", "negative", "neutral"], False),  # no label repeats
        (["yes"] * 2 + ["no"] * 2, False),  # fewer than 3 examples per label on average
        (["reset it on the sign-in page now please"] * 6, False),  # too long for a label
        ([], False),
    ],
)
def test_label_like_test_sets_have_short_repeated_completions(completions, label_like):
    assert is_label_like(completions) is label_like


def test_per_label_accuracy_by_exact_match_most_frequent_first():
    expected = ["positive", "negative", "positive", "positive", "negative"]
    custom = ["Positive.", "negative", "negative", None, "Negative"]
    base = ["neutral", "neutral", "positive", "positive", "neutral"]
    scores = per_label_accuracy(expected, custom, base)
    assert [(s.label, s.support) for s in scores] == [("positive", 3), ("negative", 2)]
    # positive: custom right on 1 of 3 (a wrong label and a failed call), base on 2 of 3
    assert (scores[0].custom, scores[0].base) == pytest.approx((1 / 3, 2 / 3))
    # negative: custom 2 of 2, base 0 of 2
    assert (scores[1].custom, scores[1].base) == (1.0, 0.0)
