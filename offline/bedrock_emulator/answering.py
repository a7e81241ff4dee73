"""The emulated models: deterministic and honest, so an offline evaluation shows a real, explainable
difference between a base model and its customization.

- A base model knows nothing of anyone's training data. It answers every prompt with a generic sentence
  built from the prompt's own content words, never with a training completion.
- A custom model answers from what it was trained on: the completion of the training example whose prompt
  is nearest to the question (TF-IDF cosine over content words; ties go to the earliest example). A model
  of continued pre-training answers with the text that follows the prompt in its nearest training document,
  or that document. A question sharing no content word with any training example gets the base answer.

Token counts are an estimate, not a tokenizer: one token per started ``CHARS_PER_TOKEN`` characters. It is
on the pessimistic side of the usual English rule of thumb (4 to 6 characters a token), so records that a
planning estimate puts just under a limit can fail here as they can in the service."""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from customizer.families.formats import Example

CHARS_PER_TOKEN = 4
_WORD = re.compile(r"[a-z0-9]+")
_STOPWORD_TEXT = (
    "a an and are as at be but by can could do does for from had has have how i in is it its me my of on or "
    "our please should so that the their them then there these they this to was we were what when where "
    "which who why will with would you your"
)
_STOPWORDS = frozenset(_STOPWORD_TEXT.split())
_TOPIC_WORDS = 6


def estimate_tokens(text: str) -> int:
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def content_words(text: str) -> list[str]:
    return [w for w in _WORD.findall(text.lower()) if w not in _STOPWORDS]


class Answerer(Protocol):
    def answer(self, prompt: str) -> str: ...


@dataclass(frozen=True)
class BaseAnswerer:
    """A base model: a generic answer derived from the prompt alone."""

    def answer(self, prompt: str) -> str:
        topic = list(dict.fromkeys(content_words(prompt)))[:_TOPIC_WORDS]
        if not topic:
            return "I can only give a general answer; please tell me more about what you need."
        return f"I can only give a general answer about {' '.join(topic)}; I have no specific information on it."


class NearestExample:
    """A custom model: the completion of the nearest training example."""

    def __init__(self, examples: Sequence[Example], fallback: Answerer, *, continuation: bool = False) -> None:
        self.examples = tuple(examples)
        self.fallback = fallback
        self.continuation = continuation
        documents = [Counter(content_words(self._key(e))) for e in self.examples]
        frequency = Counter(term for doc in documents for term in doc)
        count = len(documents)
        self._idf = {term: math.log((1 + count) / (1 + df)) + 1.0 for term, df in frequency.items()}
        self._vectors = [self._vector(doc) for doc in documents]

    def _key(self, example: Example) -> str:
        if self.continuation:
            return example.completion
        return f"{example.system}\n\n{example.prompt}" if example.system else example.prompt

    def _vector(self, terms: Counter[str]) -> dict[str, float]:
        weights = {t: n * self._idf[t] for t, n in terms.items() if t in self._idf}
        norm = math.sqrt(sum(w * w for w in weights.values()))
        return {t: w / norm for t, w in weights.items()} if norm else {}

    def nearest(self, prompt: str) -> tuple[int, float] | None:
        """The index of the nearest example and its similarity; None when nothing is shared."""
        query = self._vector(Counter(content_words(prompt)))
        best: tuple[int, float] | None = None
        for index, vector in enumerate(self._vectors):
            score = sum(w * vector.get(t, 0.0) for t, w in query.items())
            if score > 0 and (best is None or score > best[1]):
                best = (index, score)
        return best

    def answer(self, prompt: str) -> str:
        found = self.nearest(prompt)
        if found is None:
            return self.fallback.answer(prompt)
        example = self.examples[found[0]]
        if not self.continuation:
            return example.completion
        return _continuation(example.completion, prompt)


def _continuation(document: str, prompt: str) -> str:
    """What follows the prompt's last line in the document, or the whole document."""
    lines = [line.strip() for line in prompt.strip().splitlines() if line.strip()]
    tail = lines[-1] if lines else ""
    at = document.lower().find(tail.lower()) if tail else -1
    if at >= 0:
        rest = document[at + len(tail) :].strip()
        if rest:
            return rest
    return document
