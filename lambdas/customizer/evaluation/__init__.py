"""Evaluation of the custom model against its base model on the held-out test set: real metrics for both,
the difference with confidence, a promotion decision, the training run's health, and a report; fast at any
size (concurrent, adaptive, resumable, fanned out over a Distributed Map above a configurable size).

- ``metrics``: per-example metrics and aggregates (stdlib; tested against hand-computed values)
- ``bootstrap``: paired bootstrap confidence intervals, seeded
- ``decision``: the promotion rule (``settings.evaluation``)
- ``training_health``: losses, perplexity, overfitting and too-short warnings
- ``runner``: concurrency, adaptive backoff, exactly-once answers, checkpoints
- ``report``: JSON, Markdown and HTML with inline SVG charts
- ``steps``: what the state machine's evaluation steps call

Nothing here knows about Lambda: the handlers pass the state in and, for the time budget, a function."""

from customizer.evaluation.metrics import contains_match
from customizer.evaluation.steps import aggregate, evaluate, evaluate_chunk, load_examples, plan

__all__ = ["aggregate", "contains_match", "evaluate", "evaluate_chunk", "load_examples", "plan"]
