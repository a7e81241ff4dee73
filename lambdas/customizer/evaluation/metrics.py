"""Per-example answer metrics and their aggregates, in the standard library only.

The Lambda asset bundles no dependencies (boto3 comes with the runtime, Powertools and pydantic with its
layer), and the usual packages (``rouge-score`` pulls nltk, numpy and absl; Hugging Face ``evaluate`` far
more) do not fit that. Each metric here is a few lines with a published definition, tested against values
computed by hand (``tests/unit/evaluation``):

- contains match: the first version's metric, kept as it was: the expected text, trimmed, occurs in the answer,
  case-insensitively;
- exact match and token F1: SQuAD's definitions (Rajpurkar et al. 2016, the official evaluation script): both
  texts normalized (lower case, punctuation and the English articles a/an/the removed, whitespace collapsed),
  then equality, and the F1 of the bag-of-tokens overlap;
- ROUGE-L: the F1 of the longest common subsequence of tokens (Lin 2004; beta = 1, no stemming, as
  ``rouge-score``'s default), over lower-cased word tokens; the LCS length is computed bit-parallel
  (Hyyro 2004), O(n * m / word size) instead of the O(n * m) table;
- output length in words, and latency; percentiles interpolate linearly between order statistics (numpy's
  default, ``statistics.quantiles(method="inclusive")``).

A label-like test set (short completions that repeat: classification, routing, yes/no) also gets per-label
accuracy, by normalized exact match."""

from __future__ import annotations

import math
import re
import string
import unicodedata
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

_PUNCTUATION = frozenset(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b")
_WORD = re.compile(r"\w+")

# A test set is label-like when its completions are short and repeat: at most this many words each...
LABEL_MAX_WORDS = 4
# ...at most this many distinct labels, and on average at least this many examples per label.
LABEL_MAX_DISTINCT = 50
LABEL_MIN_PER_LABEL = 3


def normalize(text: str) -> str:
    """SQuAD's answer normalization: lower case, no punctuation, no articles, single spaces."""
    lowered = unicodedata.normalize("NFKC", text).lower()
    no_punctuation = "".join(ch for ch in lowered if ch not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", no_punctuation).split())


def contains_match(expected: str, predicted: str) -> bool:
    """The first version's metric: the trimmed expected text occurs in the answer, ignoring case."""
    return expected.strip().lower() in predicted.lower()


def exact_match(expected: str, predicted: str) -> bool:
    return normalize(expected) == normalize(predicted)


def token_f1(expected: str, predicted: str) -> float:
    """SQuAD's token F1: precision and recall of the normalized answer's tokens against the expected ones
    (as multisets). Two empty texts agree (1.0); one empty text scores 0."""
    truth, answer = normalize(expected).split(), normalize(predicted).split()
    if not truth or not answer:
        return float(truth == answer)
    same = sum((Counter(truth) & Counter(answer)).values())
    if same == 0:
        return 0.0
    precision, recall = same / len(answer), same / len(truth)
    return 2 * precision * recall / (precision + recall)


def rouge_tokens(text: str) -> list[str]:
    """Lower-cased word tokens (letters, digits, underscore; any script)."""
    return _WORD.findall(text.lower())


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
    """ROUGE-L F1 (beta = 1): LCS-based precision against the answer, recall against the expected text."""
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
