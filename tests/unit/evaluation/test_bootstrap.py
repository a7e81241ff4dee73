"""Paired bootstrap intervals: exact cases, agreement with the normal approximation, determinism."""

from __future__ import annotations

import math

import pytest

from customizer.evaluation.bootstrap import MIN_RESAMPLES, paired_bootstrap, resample_count


def one(custom: list[float], base: list[float], **options: int) -> tuple[float, float, float]:
    found = paired_bootstrap({"m": custom}, {"m": base}, **options)["m"]
    return found.difference, found.low, found.high


def test_a_constant_difference_has_no_uncertainty():
    assert one([0.9] * 10, [0.4] * 10) == pytest.approx((0.5, 0.5, 0.5))


def test_two_examples_differing_by_zero_and_one():
    # Resample means are 0, 1/2, 1 with probabilities 1/4, 1/2, 1/4: the 2.5% and 97.5% points are 0 and 1.
    assert one([0.0, 1.0], [0.0, 0.0]) == (0.5, 0.0, 1.0)


def test_the_interval_agrees_with_the_normal_approximation_on_a_large_sample():
    # 400 examples: custom wins 100, loses 60, ties 240. Mean difference 0.1, standard deviation of the
    # differences sqrt(160/400 - 0.1^2) = sqrt(0.39), standard error sqrt(0.39)/20 = 0.0312: 95% is 0.1 +- 0.0612.
    custom = [1.0] * 100 + [0.0] * 60 + [1.0] * 240
    base = [0.0] * 100 + [1.0] * 60 + [1.0] * 240
    difference, low, high = one(custom, base, resamples=4000)
    half_width = 1.96 * math.sqrt(0.39) / 20
    assert difference == pytest.approx(0.1)
    assert low == pytest.approx(0.1 - half_width, abs=0.01)
    assert high == pytest.approx(0.1 + half_width, abs=0.01)


def test_it_is_deterministic_for_a_seed_and_pairs_every_metric_on_the_same_draws():
    custom = {"a": [1.0, 0.0, 1.0, 1.0, 0.0, 1.0], "b": [1.0, 0.0, 1.0, 1.0, 0.0, 1.0]}
    base = {"a": [0.0, 0.0, 1.0, 0.0, 1.0, 0.0], "b": [0.0, 0.0, 1.0, 0.0, 1.0, 0.0]}
    first = paired_bootstrap(custom, base, seed=7)
    assert paired_bootstrap(custom, base, seed=7) == first
    assert first["a"] == first["b"]  # same values, same draws: same interval
    assert paired_bootstrap(custom, base, seed=8)["a"] != first["a"]


def test_pairing_removes_the_examples_difficulty_from_the_noise():
    # The custom model is better by exactly 0.1 on each example, whose difficulty varies widely.
    base = [i / 100 for i in range(0, 90, 3)]
    custom = [b + 0.1 for b in base]
    _, low, high = one(custom, base)
    assert (low, high) == pytest.approx((0.1, 0.1))


def test_no_examples_no_interval():
    assert one([], []) == (0.0, 0.0, 0.0)


def test_large_test_sets_use_fewer_resamples_to_stay_fast():
    assert resample_count(200, 1000) == 1000
    assert resample_count(100_000, 1000) == MIN_RESAMPLES
    assert resample_count(40_000, 1000) == 500
    assert resample_count(0, 1000) == 0
