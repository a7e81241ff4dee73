"""Per-example answer metrics and their aggregates, in the standard library only.

The Lambda asset bundles no dependencies (boto3 comes with the runtime, Powertools and pydantic with its
layer), and the usual packages (``rouge-score`` pulls nltk, numpy and absl; Hugging Face ``evaluate`` far
more) do not fit that. Each metric here is a few lines of a published reference implementation and computes
exactly what that implementation computes, on every input (``tests/unit/evaluation/test_metrics.py`` runs the
reference code, copied there verbatim, against these on ASCII, non-ASCII, empty and punctuation-only text):

- contains match: the first version's metric, kept as it was: the expected text, trimmed, occurs in the answer,
  case-insensitively (``str.lower``, no other normalization);
- exact match and token F1: the SQuAD v1.1 evaluation script's ``normalize_answer``, ``exact_match_score`` and
  ``f1_score`` (Rajpurkar et al. 2016), as it runs under Python 3: lower case (``str.lower``), every character
  of ``string.punctuation`` removed (ASCII punctuation only: ``¿`` or ``。`` stay), the articles a/an/the
  removed as whole words (``\b`` is Unicode-aware in Python 3), whitespace collapsed. No Unicode normalization:
  ``x²`` is not ``x2`` and a full-width P (U+FF30) is not ``p``. Token F1 is v1.1's: 0 whenever no token is
  shared, so two answers that both normalize to nothing score 0 (SQuAD v2.0's script scores them 1; exact
  match scores them 1 in both);
- ROUGE-L: ``rouge-score``'s ``rougeL`` F-measure with its default tokenizer and no stemmer (Lin 2004; beta
  = 1): the text lower-cased (``str.lower``), every run of characters other than ``a-z`` and ``0-9`` replaced by
  a space, split on whitespace. So only ASCII letters and digits count: ``café`` is the token ``caf``,
  ``snake_case`` is two tokens, and text in another script (Chinese, Cyrillic, Greek...) has no tokens at all
  and scores 0 against anything. That is the reference's behaviour, kept so that our ROUGE-L is comparable with
  published figures; for such text, token F1 or a judge metric (``settings.evaluation.judge``) says more.
  Two texts without tokens score 0, as in ``rouge-score``. The LCS length is computed bit-parallel (Hyyro
  2004), O(n * m / word size) instead of ``rouge-score``'s O(n * m) table, with the same result;
- output length in words (``str.split``), and latency; percentiles interpolate linearly between order
  statistics (numpy's default, ``statistics.quantiles(method="inclusive")``).

A label-like test set (short completions that repeat: classification, routing, yes/no) also gets per-label
accuracy, by normalized exact match."""

from __future__ import annotations

import math
import re
import string
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

# The metrics each example gets, in the order reports show them. All are in [0, 1], higher is better.
QUALITY_METRICS = ("contains_match", "exact_match", "token_f1", "rouge_l")
LENGTH_METRIC = "output_words"
# What the paired comparison covers: quality, and how long the answers are.
COMPARED_METRICS = (*QUALITY_METRICS, LENGTH_METRIC)
METRIC_TITLES = {
    "contains_match": "contains match",
    "exact_match": "exact match",
    "token_f1": "token F1",
    "rouge_l": "ROUGE-L",
    "output_words": "output length (words)",
}

# SQuAD v1.1's evaluate-v1.1.py: ``exclude = set(string.punctuation)``, ``re.sub(r'\b(a|an|the)\b', ' ', text)``.


def metric_title(metric: str) -> str:
    """How reports name a metric: the string metrics' titles; ``judge.correctness`` as ``judge: correctness``."""
    if metric in METRIC_TITLES:
        return METRIC_TITLES[metric]
    return "judge: " + metric.removeprefix("judge.").replace("_", " ") if metric.startswith("judge.") else metric


_PUNCTUATION = frozenset(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b")
# rouge-score's rouge_score/tokenize.py: NON_ALPHANUM_RE, SPACES_RE and VALID_TOKEN_RE.
_ROUGE_NON_ALPHANUMERIC = re.compile(r"[^a-z0-9]+")
_ROUGE_SPACES = re.compile(r"\s+")
_ROUGE_VALID_TOKEN = re.compile(r"^[a-z0-9]+$")

# A test set is label-like when its completions are short and repeat: at most this many words each...
LABEL_MAX_WORDS = 4
# ...at most this many distinct labels, and on average at least this many examples per label.
LABEL_MAX_DISTINCT = 50
LABEL_MIN_PER_LABEL = 3


def normalize(text: str) -> str:
    """SQuAD v1.1's ``normalize_answer``: lower case, no ASCII punctuation, no articles, single spaces; no
    Unicode normalization (see the module's docstring)."""
    no_punctuation = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", no_punctuation).split())


def contains_match(expected: str, predicted: str) -> bool:
    """The first version's metric: the trimmed expected text occurs in the answer, ignoring case."""
    return expected.strip().lower() in predicted.lower()


def exact_match(expected: str, predicted: str) -> bool:
    """SQuAD v1.1's ``exact_match_score``: the normalized texts are equal (two empty ones too)."""
    return normalize(expected) == normalize(predicted)


def token_f1(expected: str, predicted: str) -> float:
    """SQuAD v1.1's ``f1_score``: precision and recall of the normalized answer's tokens against the expected
    ones (as multisets); 0 when no token is shared, including when both normalize to nothing (v1.1's rule;
    v2.0's script would say 1.0 there)."""
    truth, answer = normalize(expected).split(), normalize(predicted).split()
    same = sum((Counter(truth) & Counter(answer)).values())
    if same == 0:
        return 0.0
    precision, recall = same / len(answer), same / len(truth)
    return 2 * precision * recall / (precision + recall)


def rouge_tokens(text: str) -> list[str]:
    """``rouge-score``'s default tokenizer without stemming (``tokenize.tokenize(text, None)``): lower case,
    runs of anything but ``a-z0-9`` become spaces, split on whitespace, empty tokens dropped. Only ASCII letters
    and digits survive (after ``str.lower``, which maps a few non-ASCII letters to ASCII ones: the Kelvin sign
    to ``k``, ``İ`` to ``i`` and a combining dot)."""
    spaced = _ROUGE_NON_ALPHANUMERIC.sub(" ", text.lower())
    return [token for token in _ROUGE_SPACES.split(spaced) if _ROUGE_VALID_TOKEN.match(token)]


def lcs_length(first: Sequence[str], second: Sequence[str]) -> int:
    """Length of the longest common subsequence, bit-parallel: bit i of ``rows`` is 0 where the LCS of
    ``first[: i + 1]`` and the tokens read so far grew; the zeros left at the end count the LCS."""
    if not first or not second:
        return 0
    positions: dict[str, int] = {}
    for index, token in enumerate(first):
        positions[token] = positions.get(token, 0) | (1 << index)
    full = (1 << len(first)) - 1
    rows = full
    for token in second:
        matches = rows & positions.get(token, 0)
        rows = ((rows + matches) | (rows - matches)) & full
    return len(first) - rows.bit_count()


def rouge_l(expected: str, predicted: str) -> float:
    """``rouge-score``'s ``rougeL`` F-measure (beta = 1): LCS-based precision against the answer, recall
    against the expected text; 0 when either has no token."""
    reference, candidate = rouge_tokens(expected), rouge_tokens(predicted)
    common = lcs_length(reference, candidate)
    if common == 0:
        return 0.0
    precision, recall = common / len(candidate), common / len(reference)
    return 2 * precision * recall / (precision + recall)


def word_count(text: str) -> int:
    return len(text.split())


def score_answer(expected: str, predicted: str | None) -> dict[str, float]:
    """Every metric of one answer. A call that failed (``None``) scores 0 on quality and length, as the first
    version counted it: a model that did not answer did not answer right. Errors are reported beside the scores."""
    if predicted is None:
        return dict.fromkeys(COMPARED_METRICS, 0.0)
    return {
        "contains_match": float(contains_match(expected, predicted)),
        "exact_match": float(exact_match(expected, predicted)),
        "token_f1": token_f1(expected, predicted),
        "rouge_l": rouge_l(expected, predicted),
        "output_words": float(word_count(predicted)),
    }


def percentile(values: Sequence[float], fraction: float) -> float:
    """The ``fraction`` quantile (0 to 1), linear between order statistics; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    position = fraction * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def mean(values: Iterable[float]) -> float:
    total, count = 0.0, 0
    for value in values:
        total += value
        count += 1
    return total / count if count else 0.0


@dataclass(frozen=True)
class LabelScore:
    label: str
    support: int
    custom: float
    base: float


def is_label_like(expected: Sequence[str]) -> bool:
    """Short completions that repeat: few distinct normalized values, each used several times on average."""
    labels = [normalize(text) for text in expected]
    if not labels or any(not label or len(label.split()) > LABEL_MAX_WORDS for label in labels):
        return False
    distinct = len(set(labels))
    return distinct <= LABEL_MAX_DISTINCT and len(labels) >= LABEL_MIN_PER_LABEL * distinct


def per_label_accuracy(
    expected: Sequence[str], custom: Sequence[str | None], base: Sequence[str | None]
) -> list[LabelScore]:
    """Exact-match accuracy of each model on the examples of each label, most frequent label first."""
    groups: dict[str, list[int]] = {}
    for index, text in enumerate(expected):
        groups.setdefault(normalize(text), []).append(index)

    def accuracy(answers: Sequence[str | None], indexes: list[int]) -> float:
        return mean(float(answers[i] is not None and exact_match(expected[i], answers[i] or "")) for i in indexes)

    scores = [LabelScore(label, len(ix), accuracy(custom, ix), accuracy(base, ix)) for label, ix in groups.items()]
    return sorted(scores, key=lambda s: (-s.support, s.label))
