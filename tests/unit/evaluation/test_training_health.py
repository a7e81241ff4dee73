"""Training health from the job's metric rows: losses, perplexity, and the warnings."""

from __future__ import annotations

import math

import pytest

from customizer.evaluation.training_health import assess, curves


def training(losses: list[float], perplexity: bool = True) -> list[dict[str, float]]:
    rows = []
    for step, loss in enumerate(losses, 1):
        row = {"step_number": float(step), "epoch_number": 0.0, "training_loss": loss}
        if perplexity:
            row["perplexity"] = math.exp(loss)
        rows.append(row)
    return rows


def validation(points: list[tuple[int, float]]) -> list[dict[str, float]]:
    return [{"step_number": float(s), "epoch_number": 0.0, "validation_loss": v} for s, v in points]


FALLING = [2.0 - i * 0.05 for i in range(20)]  # 2.0 down to 1.05


def test_a_healthy_run_reports_final_and_best_losses_and_no_warning():
    health = assess(training(FALLING), validation([(10, 1.6), (20, 1.4)]), has_validation_data=True)
    assert health.warnings == []
    assert (health.training_steps, health.validation_points) == (20, 2)
    assert health.final_training_loss == pytest.approx(1.05)
    assert health.best_training_loss == pytest.approx(1.05)
    assert (health.final_validation_loss, health.best_validation_loss) == (1.4, 1.4)
    assert health.final_training_perplexity == pytest.approx(math.exp(1.05))  # the file's column
    assert health.final_validation_perplexity == pytest.approx(math.exp(1.4))  # exp(loss): no column


def test_validation_loss_rising_while_training_loss_falls_is_overfitting():
    rows = validation([(5, 1.5), (10, 1.2), (15, 1.3), (20, 1.4)])
    health = assess(training(FALLING), rows, has_validation_data=True)
    # best validation 1.2 at step 10 (training 1.55 there), final 1.4 at step 20 (training 1.05)
    assert health.warnings == [
        "overfitting: validation loss rose from 1.2 (step 10) to 1.4 (step 20) while training loss fell from "
        "1.55 to 1.05; fewer epochs, more data or a lower learning rate may help"
    ]
    assert (health.best_validation_loss, health.final_validation_loss) == (1.2, 1.4)


def test_a_rise_within_the_tolerance_is_noise():
    health = assess(training(FALLING), validation([(10, 1.2), (20, 1.21)]), has_validation_data=True)
    assert health.warnings == []


def test_validation_rising_with_training_rising_too_is_not_called_overfitting():
    rising = list(reversed(FALLING))
    health = assess(training(rising), validation([(10, 1.2), (20, 1.5)]), has_validation_data=True)
    assert [w for w in health.warnings if w.startswith("overfitting")] == []
    assert health.warnings == ["training loss did not fall: 1.05 at the start, 2 at the end"]


def test_a_run_too_short_to_judge():
    health = assess(training([2.0, 1.8, 1.7]), validation([(3, 1.9)]), has_validation_data=True)
    assert health.warnings == [
        "too short to judge: 3 training steps (at least 10 show a trend)",
        "too short to judge overfitting: one validation point shows no trend (train more epochs)",
    ]


def test_missing_metrics_and_missing_validation_data_are_said():
    assert assess([], [], has_validation_data=False).warnings == [
        "no training metrics were found: training cannot be judged",
        "no validation data: overfitting cannot be detected (give the run a validation set)",
    ]
    assert assess(training(FALLING), [], has_validation_data=True).warnings == [
        "no validation metrics were found: overfitting cannot be judged"
    ]


def test_curves_are_step_and_loss_points():
    found = curves(training([2.0, 1.5]), validation([(2, 1.7)]))
    assert found.training == [(1.0, 2.0), (2.0, 1.5)]
    assert found.validation == [(2.0, 1.7)]


def rft_rows(rewards: list[float]) -> list[dict[str, float]]:
    """Rows of a reinforcement fine-tuning job's metric file (the emulator's layout)."""
    return [
        {
            "step_number": float(s),
            "epoch_number": 0.0,
            "training_reward": r,
            "episode_length": 12.0,
            "training_loss": 1 - r,
        }
        for s, r in enumerate(rewards, 1)
    ]


def test_a_reinforcement_fine_tuning_run_reports_its_reward_curve():
    rising = [0.1 + i * 0.045 for i in range(20)]
    health = assess(rft_rows(rising), [], has_validation_data=False)
    assert health.reward_points == 20
    assert health.first_training_reward == pytest.approx(0.1)
    assert health.final_training_reward == health.best_training_reward == pytest.approx(rising[-1])
    assert not [w for w in health.warnings if "reward" in w]
    points = curves(rft_rows(rising), []).rewards
    assert [step for step, _ in points[:2]] == [1.0, 2.0]
    assert [reward for _, reward in points[:2]] == pytest.approx([0.1, 0.145])


def test_a_reward_that_did_not_rise_is_a_warning():
    health = assess(rft_rows([0.5] * 12), [], has_validation_data=False)
    assert "training reward did not rise: 0.5 at the start, 0.5 at the end" in " ".join(health.warnings)
    assert assess(training(FALLING), [], has_validation_data=False).reward_points == 0
