"""The promotion rule: every condition must hold, and the reason says which did not."""

from __future__ import annotations

import pytest

from customizer.evaluation.decision import MIN_CONFIDENT_EXAMPLES, decide
from customizer.models import MetricComparison, TeacherComparison
from customizer.settings import EvaluationSettings


def comparison(custom: float, base: float, low: float, high: float, metric: str = "token_f1") -> MetricComparison:
    return MetricComparison(metric=metric, custom=custom, base=base, difference=custom - base, ci_low=low, ci_high=high)


def rule(**knobs: object) -> EvaluationSettings:
    return EvaluationSettings.model_validate({"metric": "token_f1", **knobs})


def test_a_confident_win_above_the_margin_and_the_floor_promotes():
    decision = decide(comparison(0.62, 0.31, 0.25, 0.37), rule(min_improvement=0.1, floor=0.5), 200)
    assert decision.promote is True
    assert decision.metric == "token_f1"
    assert decision.reason == (
        "promote: token F1: custom 0.620 vs base 0.310, difference +0.310 (95% CI +0.250 to +0.370); "
        "custom beats base by more than 0.1; custom reaches the floor 0.5; the confidence interval lies above zero"
    )


@pytest.mark.parametrize(
    ("numbers", "knobs", "why"),
    [
        ((0.62, 0.31, 0.25, 0.37), {"min_improvement": 0.4}, "custom does not beat base by more than 0.4"),
        ((0.62, 0.31, 0.25, 0.37), {"floor": 0.7}, "custom is below the floor 0.7"),
        (
            (0.40, 0.35, -0.02, 0.12),
            {},
            "the confidence interval does not lie above zero (the win could be noise)",
        ),
        ((0.30, 0.35, -0.10, 0.01), {}, "custom does not beat base by more than 0"),
    ],
)
def test_each_condition_can_refuse(numbers, knobs, why):
    decision = decide(comparison(*numbers), rule(**knobs), 200)
    assert decision.promote is False
    assert decision.reason.startswith("do not promote: token F1: ")
    assert why in decision.reason


def test_without_require_confidence_a_noisy_win_promotes():
    assert decide(comparison(0.40, 0.35, -0.02, 0.12), rule(require_confidence=False), 200).promote is True


def test_a_tie_never_promotes():
    assert decide(comparison(0.5, 0.5, 0.0, 0.0), rule(require_confidence=False), 200).promote is False


@pytest.mark.parametrize("examples", [1, 2, MIN_CONFIDENT_EXAMPLES - 1])
def test_too_few_examples_never_claim_confidence(examples):
    # a single example gives a zero-width interval above zero: the rule must not take it for confidence
    decision = decide(comparison(1.0, 0.0, 1.0, 1.0), rule(), examples)
    assert decision.promote is False
    assert f"the interval rests on {examples} test example" in decision.reason
    assert f"fewer than the {MIN_CONFIDENT_EXAMPLES} it is trusted on" in decision.reason


def test_the_minimum_itself_is_enough_and_without_require_confidence_it_does_not_apply():
    assert decide(comparison(1.0, 0.0, 1.0, 1.0), rule(), MIN_CONFIDENT_EXAMPLES).promote is True
    assert decide(comparison(1.0, 0.0, 1.0, 1.0), rule(require_confidence=False), 1).promote is True


# ---- a distillation's teacher (min_fraction_of_teacher, this project's rule) ----


def teacher(custom: float, score: float) -> TeacherComparison:
    return TeacherComparison(
        metric="token_f1", custom=custom, teacher=score, difference=custom - score, ci_low=-0.1, ci_high=0.1
    )


def test_a_student_reaching_the_fraction_of_its_teacher_promotes():
    decision = decide(
        comparison(0.72, 0.4, 0.2, 0.4), rule(min_fraction_of_teacher=0.9), 100, teacher=teacher(0.72, 0.8)
    )
    assert decision.promote, decision.reason
    assert "custom reaches 0.9 of the teacher's 0.800 (custom - teacher -0.080" in decision.reason


def test_a_student_below_the_fraction_of_its_teacher_does_not_promote_however_it_beats_its_base():
    decision = decide(
        comparison(0.70, 0.4, 0.2, 0.4), rule(min_fraction_of_teacher=0.9), 100, teacher=teacher(0.70, 0.8)
    )
    assert not decision.promote
    assert decision.reason.endswith("custom is below 0.9 of the teacher's 0.800 (needs at least 0.720)"), (
        decision.reason
    )


def test_a_teacher_that_answered_nothing_cannot_be_reached_and_no_fraction_no_condition():
    refused = decide(
        comparison(0.7, 0.4, 0.2, 0.4),
        rule(min_fraction_of_teacher=0.5),
        100,
        teacher=teacher(0.7, 0.0),
        teacher_answered=False,
    )
    assert not refused.promote and "the teacher gave no score to compare with" in refused.reason
    assert not decide(comparison(0.7, 0.4, 0.2, 0.4), rule(min_fraction_of_teacher=0.5), 100).promote
    assert decide(comparison(0.7, 0.4, 0.2, 0.4), rule(), 100, teacher=teacher(0.7, 1.0)).promote


@pytest.mark.parametrize("fraction", [-0.1, 1.5])
def test_the_fraction_is_checked_at_parse_time(fraction):
    with pytest.raises(ValueError, match="min_fraction_of_teacher"):
        rule(min_fraction_of_teacher=fraction)
