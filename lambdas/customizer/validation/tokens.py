"""A conservative token estimate, and bounded token statistics.

The models' own tokenizers are not available offline, and a record estimated under the limit that is over
it in fact fails the job hours in. So the estimate leans high on purpose:

- ASCII text: one token per 3 characters. English prose runs at about 4 characters a token in the BPE
  tokenizers of these families (the Bedrock guide suggests 6); code, numbers and short words run closer to 3.
- Other text: one more token per 2 bytes its characters take beyond the first in UTF-8. An accented Latin,
  Greek or Cyrillic letter (2 bytes) counts about 0.83 tokens, a CJK character (3 bytes) 1.33, an emoji
  (4 bytes) 1.83: at or above what byte-level tokenizers produce for such text.
- Each record adds ``RECORD_OVERHEAD`` tokens for the markers a model puts around turns.

It costs O(1) for ASCII text (``str.isascii`` and ``len`` read what CPython already knows) and one UTF-8
encoding otherwise. A record is reported as too long when its estimate is over the model's limit, and as
near the limit (a warning) when it is over ``NEAR_LIMIT`` of it."""

from __future__ import annotations

from dataclasses import dataclass, field

CHARS_PER_TOKEN = 3
EXTRA_BYTES_PER_TOKEN = 2
RECORD_OVERHEAD = 8
NEAR_LIMIT = 0.9
_BUCKETS = 100  # the histogram has one bucket per 1% of the limit, and one for "over"


def estimate_tokens(text: str) -> int:
    """Tokens ``text`` may take, erring high (see the module's docstring)."""
    n = len(text)
    if text.isascii():
        return (n + CHARS_PER_TOKEN - 1) // CHARS_PER_TOKEN
    extra = len(text.encode("utf-8", "surrogatepass")) - n
    return (n + CHARS_PER_TOKEN - 1) // CHARS_PER_TOKEN + (extra + EXTRA_BYTES_PER_TOKEN - 1) // EXTRA_BYTES_PER_TOKEN


@dataclass
class TokenStats:
    """Statistics of the records' estimates in constant memory: exact count, sum, minimum and maximum;
    percentiles read from a histogram of 1%-of-the-limit buckets (so they are upper bounds, within 1% of
    the limit)."""

    limit: int
    records: int = 0
    total: int = 0
    minimum: int = 0
    maximum: int = 0
    maximum_line: int = 0
    near_limit: int = 0
    over_limit: int = 0
    histogram: list[int] = field(default_factory=lambda: [0] * (_BUCKETS + 1))

    def add(self, tokens: int, line: int) -> None:
        if tokens > self.maximum:
            self.maximum = tokens
            self.maximum_line = line
        if tokens < self.minimum or not self.records:
            self.minimum = tokens
        self.records += 1
        self.total += tokens
        bucket = tokens * _BUCKETS // self.limit
        self.histogram[bucket if bucket < _BUCKETS else _BUCKETS] += 1

    def percentile(self, fraction: float) -> int:
        """An upper bound of the ``fraction`` percentile (0 when there are no records)."""
        if not self.records:
            return 0
        wanted = fraction * self.records
        seen = 0
        for bucket, count in enumerate(self.histogram):
            seen += count
            if seen >= wanted:
                return self.maximum if bucket == _BUCKETS else min((bucket + 1) * self.limit // _BUCKETS, self.maximum)
        return self.maximum  # pragma: no cover - the loop always reaches the last bucket

    def as_dict(self) -> dict[str, int | float]:
        return {
            "records": self.records,
            "total": self.total,
            "mean": round(self.total / self.records, 1) if self.records else 0.0,
            "min": self.minimum,
            "p50": self.percentile(0.5),
            "p95": self.percentile(0.95),
            "max": self.maximum,
            "max_line": self.maximum_line,
            "limit": self.limit,
            "near_limit": self.near_limit,
            "over_limit": self.over_limit,
        }
