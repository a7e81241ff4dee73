"""The metrics against the reference definitions the README names, on the inputs where implementations
usually part ways: non-ASCII letters, other scripts, combining accents, ``snake_case``, empty and
punctuation-only text.

The references are written out here from their published definitions, step by step as the reference code
does them and deliberately naive (no shared helpers with ``customizer.evaluation.metrics``):

- SQuAD v1.1 (``evaluate-v1.1.py``, Rajpurkar et al. 2016): ``normalize_answer`` = lower, remove every
  character of ``string.punctuation``, replace ``\\b(a|an|the)\\b`` by a space, ``" ".join(text.split())``;
  ``exact_match_score`` = equality of the normalized texts; ``f1_score`` = 0 if no token is shared, else the
  harmonic mean of precision and recall of the multiset overlap;
- ``rouge-score`` (google-research, ``rouge_score/tokenize.py`` and ``rouge_scorer._score_lcs``): lower,
  ``[^a-z0-9]+`` to a space, split on ``\\s+``, keep tokens matching ``^[a-z0-9]+$``; F-measure of the LCS
  (the O(n * m) table) against both lengths, 0 when either side has no token."""

from __future__ import annotations

import re
import string
from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from customizer.evaluation.metrics import exact_match, normalize, rouge_l, rouge_tokens, token_f1


def squad_normalize(text: str) -> str:
    text = text.lower()
    text = "".join(ch for ch in text if ch not in set(string.punctuation))
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def squad_f1(ground_truth: str, prediction: str) -> float:
    prediction_tokens = squad_normalize(prediction).split()
    truth_tokens = squad_normalize(ground_truth).split()
    same = sum((Counter(prediction_tokens) & Counter(truth_tokens)).values())
    if same == 0:
        return 0.0
    precision, recall = same / len(prediction_tokens), same / len(truth_tokens)
    return 2 * precision * recall / (precision + recall)


def rouge_score_tokens(text: str) -> list[str]:
    text = re.sub(r"[^a-z0-9]+", " ", text.lower())
    return [token for token in re.split(r"\s+", text) if re.match(r"^[a-z0-9]+$", token)]


def rouge_score_l(target: str, prediction: str) -> float:
    a, b = rouge_score_tokens(target), rouge_score_tokens(prediction)
    if not a or not b:
        return 0.0
    table = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            table[i][j] = table[i - 1][j - 1] + 1 if a[i - 1] == b[j - 1] else max(table[i - 1][j], table[i][j - 1])
    precision, recall = table[-1][-1] / len(b), table[-1][-1] / len(a)
    return 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0


# Inputs where a tokenizer or a normalization shows what it does.
HARD_CASES = [
    ("", ""),
    ("", "Paris"),
    ("...", "?!"),  # punctuation only: normalizes to nothing
    ("¿Qué?", "qué"),  # Spanish: ¿ is not ASCII punctuation, so SQuAD keeps it
    ("café crème", "cafe creme"),  # precomposed accents: rouge-score keeps caf and cr me
    ("cafe\u0301", "café"),  # combining acute vs precomposed: neither reference folds them
    ("x\u00b2 + y\u00b2", "x2 + y2"),  # superscripts: no NFKC in either reference
    ("\uff30\uff41\uff52\uff49\uff53", "Paris"),  # full-width letters
    ("北京是中国的首都。", "北京是首都"),  # CJK: one whitespace token for SQuAD, none for rouge-score
    ("Москва — столица России", "москва столица"),  # Cyrillic
    ("snake_case_name", "snake case name"),  # _ is punctuation for SQuAD and a separator for rouge-score
    ("The \u212aelvin scale", "the kelvin scale"),  # the Kelvin sign lower-cases to ASCII k
    ("\u0130stanbul", "istanbul"),  # İ lower-cases to i + a combining dot
    ("an apple, the end", "apple end"),
    ("théâtre the", "théâtre"),  # the accented word is one word: \b finds no article inside it
    ("tab\tand\u00a0nbsp", "tab and nbsp"),  # Unicode whitespace splits in both
]


@pytest.mark.parametrize(("expected", "answer"), HARD_CASES)
def test_exact_match_and_token_f1_are_squad_v1_1s(expected, answer):
    assert normalize(expected) == squad_normalize(expected)
    assert normalize(answer) == squad_normalize(answer)
    assert exact_match(expected, answer) == (squad_normalize(expected) == squad_normalize(answer))
    assert token_f1(expected, answer) == pytest.approx(squad_f1(expected, answer))


@pytest.mark.parametrize(("expected", "answer"), HARD_CASES)
def test_rouge_l_is_rouge_scores_with_its_default_tokenizer(expected, answer):
    assert rouge_tokens(expected) == rouge_score_tokens(expected)
    assert rouge_tokens(answer) == rouge_score_tokens(answer)
    assert rouge_l(expected, answer) == pytest.approx(rouge_score_l(expected, answer))


def test_what_the_references_do_on_non_ascii_text_written_out():
    # rouge-score keeps ASCII letters and digits only
    assert rouge_tokens("café crème") == ["caf", "cr", "me"]
    assert rouge_tokens("snake_case") == ["snake", "case"]
    assert rouge_tokens("北京是中国的首都。") == []
    assert rouge_l("北京是中国的首都。", "北京是中国的首都。") == 0.0  # identical, yet no tokens: 0
    assert rouge_tokens("\u212a") == ["k"]
    # SQuAD v1.1 removes ASCII punctuation only and folds nothing
    assert normalize("¿Qué?") == "¿qué"
    assert normalize("snake_case") == "snakecase"
    assert not exact_match("x²", "x2")
    assert not exact_match("cafe\u0301", "café")
    assert exact_match("北京是中国的首都。", "北京是中国的首都。")
    assert token_f1("...", "?!") == 0.0
    assert exact_match("...", "?!")  # both normalize to "": equal


_PIECES = [*"abc xyzAB_-.,!?'\t", "é", "e\u0301", "²", "北", "京", "\u0430", "\u212a", "\u0130", " the ", " an "]
_TEXT = st.lists(st.sampled_from(_PIECES), max_size=30).map("".join)


@given(_TEXT, _TEXT)
def test_every_metric_equals_its_reference_on_random_mixed_script_text(expected, answer):
    assert normalize(answer) == squad_normalize(answer)
    assert token_f1(expected, answer) == pytest.approx(squad_f1(expected, answer))
    assert rouge_tokens(answer) == rouge_score_tokens(answer)
    assert rouge_l(expected, answer) == pytest.approx(rouge_score_l(expected, answer))
