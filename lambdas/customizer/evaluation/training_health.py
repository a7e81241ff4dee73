"""Did training go well? Final and best losses and perplexity from the job's metric files
(``step_wise_training_metrics.csv``, ``validation_metrics.csv``: step_number, epoch_number, training_loss or
validation_loss, perplexity), and warnings a person should read before trusting the model:

- overfitting: the validation loss rose from its best point to the end (by more than ``RISE_TOLERANCE``) while
  the training loss kept falling over the same steps;
- too short to judge: fewer than ``MIN_TRAINING_STEPS`` training steps, or fewer than two validation points
  (one point shows no trend);
- no metrics at all, or no validation data (nothing to detect overfitting with);
- reinforcement fine-tuning (a ``training_reward`` column, the grader's mean score per step): the reward did
  not rise from the first step to the last."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from customizer.models import TrainingHealth

MIN_TRAINING_STEPS = 10
# A validation loss this much (relative) above its best counts as rising, not as noise.
RISE_TOLERANCE = 0.02

Row = Mapping[str, float]
REWARD = "training_reward"


@dataclass(frozen=True)
class Curves:
    """The loss curves, for the report's chart: (step, loss) points."""

    training: list[tuple[float, float]]
    validation: list[tuple[float, float]]
    # Reinforcement fine-tuning's reward curve: (step, mean reward).
    rewards: list[tuple[float, float]] = field(default_factory=list)


def _points(rows: Sequence[Row], loss: str) -> list[tuple[float, float]]:
    points = []
    for position, row in enumerate(rows):
        if loss in row and math.isfinite(row[loss]):
            points.append((row.get("step_number", float(position)), row[loss]))
    return points


def _perplexity(rows: Sequence[Row], loss: str) -> float | None:
    """The last row's perplexity column, or exp(loss) when the file has none."""
    for row in reversed(rows):
        if "perplexity" in row and math.isfinite(row["perplexity"]):
            return row["perplexity"]
        if loss in row and math.isfinite(row[loss]):
            return math.exp(min(row[loss], 700.0))
    return None


def curves(training: Sequence[Row], validation: Sequence[Row]) -> Curves:
    return Curves(_points(training, "training_loss"), _points(validation, "validation_loss"), _points(training, REWARD))


def _training_loss_at(points: list[tuple[float, float]], step: float) -> float | None:
    """The training loss at the last step at or before ``step``."""
    before = [loss for at, loss in points if at <= step]
    return before[-1] if before else None


def _overfitting(train: list[tuple[float, float]], valid: list[tuple[float, float]]) -> str | None:
    best_step, best = min(valid, key=lambda point: point[1])
    final_step, final = valid[-1]
    if final_step == best_step or final <= best * (1 + RISE_TOLERANCE):
        return None
    then, now = _training_loss_at(train, best_step), _training_loss_at(train, final_step)
    if then is None or now is None or now >= then:
        return None
    return (
        f"overfitting: validation loss rose from {best:.4g} (step {best_step:g}) to {final:.4g} (step "
        f"{final_step:g}) while training loss fell from {then:.4g} to {now:.4g}; fewer epochs, more data or a "
        "lower learning rate may help"
    )


def assess(training: Sequence[Row], validation: Sequence[Row], *, has_validation_data: bool) -> TrainingHealth:
    """The health of a training run from its metric rows (as ``customizer.jobs`` reads them)."""
    train, valid = _points(training, "training_loss"), _points(validation, "validation_loss")
    warnings: list[str] = []
    if not train:
        warnings.append("no training metrics were found: training cannot be judged")
    elif len(train) < MIN_TRAINING_STEPS:
        warnings.append(f"too short to judge: {len(train)} training steps (at least {MIN_TRAINING_STEPS} show a trend)")
    elif len(train) >= 2 and train[-1][1] >= train[0][1]:
        warnings.append(f"training loss did not fall: {train[0][1]:.4g} at the start, {train[-1][1]:.4g} at the end")
    rewards = _points(training, REWARD)
    if len(rewards) >= 2 and rewards[-1][1] <= rewards[0][1]:
        warnings.append(
            f"training reward did not rise: {rewards[0][1]:.4g} at the start, {rewards[-1][1]:.4g} at the end (the "
            "grader may score every answer alike, or the task is out of the model's reach)"
        )
    if not has_validation_data:
        warnings.append("no validation data: overfitting cannot be detected (give the run a validation set)")
    elif not valid:
        warnings.append("no validation metrics were found: overfitting cannot be judged")
    elif len(valid) < 2:
        warnings.append("too short to judge overfitting: one validation point shows no trend (train more epochs)")
    else:
        overfitting = _overfitting(train, valid)
        if overfitting:
            warnings.append(overfitting)
    return TrainingHealth(
        training_steps=len(train),
        validation_points=len(valid),
        final_training_loss=train[-1][1] if train else None,
        best_training_loss=min(loss for _, loss in train) if train else None,
        final_validation_loss=valid[-1][1] if valid else None,
        best_validation_loss=min(loss for _, loss in valid) if valid else None,
        final_training_perplexity=_perplexity(training, "training_loss") if train else None,
        final_validation_perplexity=_perplexity(validation, "validation_loss") if valid else None,
        reward_points=len(rewards),
        first_training_reward=rewards[0][1] if rewards else None,
        final_training_reward=rewards[-1][1] if rewards else None,
        best_training_reward=max(reward for _, reward in rewards) if rewards else None,
        warnings=warnings,
    )
