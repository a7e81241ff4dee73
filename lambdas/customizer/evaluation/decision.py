"""The promotion rule: is the custom model good enough to keep (``keep_if_better``) and to recommend?

Three conditions on the chosen metric (``settings.evaluation``), all required:
- custom beats base by more than ``min_improvement`` (the observed difference of means);
- custom reaches ``floor`` (an absolute level, whatever the base does);
- with ``require_confidence``, the paired bootstrap 95% confidence interval of the difference lies above
  zero, on at least ``MIN_CONFIDENT_EXAMPLES`` test examples: a win that could be noise does not count.
The reason names every condition and how it went, so the notification says why.

Why a minimum: the percentile bootstrap interval is too narrow on few examples. With one example it has zero
width (every resample is that example), so any win would look certain. ``python -m tools.bootstrap_coverage``
measures how often the interval lies above zero when the two models are in truth equal (per example: a tie
half of the time, a win or a loss a quarter each; 1,000 trials each, 500 resamples; the nominal rate is
2.5%): 25.3% with 1 example, 6.9% with 2, 4.9% with 5, 4.5% with 10, 2.7% with 20, 2.0% with 30, 2.1% with 50.
From 30 on the rate is at or below the nominal one; below it the rule does not claim confidence.

A distillation (the teacher answered the test set as a third arm) may add a fourth condition, this project's
rule: with ``min_fraction_of_teacher``, custom reaches at least that fraction of the teacher's score on the
metric (custom >= fraction x teacher, on the observed means; the report gives custom - teacher with its
interval). A teacher that answered no example cannot be reached: the condition fails and says so."""

from __future__ import annotations

from customizer.evaluation.metrics import metric_title
from customizer.models import Decision, MetricComparison, TeacherComparison
from customizer.settings import EvaluationSettings


def _signed(value: float) -> str:
    return f"{value:+.3f}"


# The fewest test examples the confidence condition trusts the interval on (see the module's docstring).
MIN_CONFIDENT_EXAMPLES = 30


def decide(
    comparison: MetricComparison,
    rule: EvaluationSettings,
    examples: int,
    *,
    teacher: TeacherComparison | None = None,
    teacher_answered: bool = True,
) -> Decision:
    """The rule on ``comparison``, the chosen metric over ``examples`` test examples; ``teacher``: custom vs a
    distillation's teacher on the same metric (None: no teacher arm), ``teacher_answered``: it answered any."""
    title = metric_title(comparison.metric)
    summary = (
        f"{title}: custom {comparison.custom:.3f} vs base {comparison.base:.3f}, difference "
        f"{_signed(comparison.difference)} (95% CI {_signed(comparison.ci_low)} to {_signed(comparison.ci_high)})"
    )
    passed, failed = [], []
    if comparison.difference > rule.min_improvement:
        passed.append(f"custom beats base by more than {rule.min_improvement:g}")
    else:
        failed.append(f"custom does not beat base by more than {rule.min_improvement:g}")
    if comparison.custom >= rule.floor:
        if rule.floor > 0:
            passed.append(f"custom reaches the floor {rule.floor:g}")
    else:
        failed.append(f"custom is below the floor {rule.floor:g}")
    if rule.require_confidence:
        if examples < MIN_CONFIDENT_EXAMPLES:
            failed.append(
                f"the interval rests on {examples} test example{'s' if examples != 1 else ''}, fewer than the "
                f"{MIN_CONFIDENT_EXAMPLES} it is trusted on (below that the bootstrap interval is too narrow)"
            )
        elif comparison.ci_low > 0:
            passed.append("the confidence interval lies above zero")
        else:
            failed.append("the confidence interval does not lie above zero (the win could be noise)")
    if rule.min_fraction_of_teacher is not None:
        ok, why = _reaches_teacher(comparison.custom, rule.min_fraction_of_teacher, teacher, teacher_answered)
        (passed if ok else failed).append(why)
    promote = not failed
    verdict = "promote" if promote else "do not promote"
    reasons = "; ".join(passed if promote else failed)
    return Decision(promote=promote, metric=comparison.metric, reason=f"{verdict}: {summary}; {reasons}")


def _reaches_teacher(
    custom: float, fraction: float, teacher: TeacherComparison | None, answered: bool
) -> tuple[bool, str]:
    """custom >= fraction x teacher on the metric, and why (this project's rule; see the module)."""
    if teacher is None or not answered:
        return False, f"the teacher gave no score to compare with (min_fraction_of_teacher {fraction:g})"
    if custom >= fraction * teacher.teacher - 1e-12:  # 0.9 x 0.8 is 0.7200000000000001 in floating point
        return True, (
            f"custom reaches {fraction:g} of the teacher's {teacher.teacher:.3f} (custom - teacher "
            f"{_signed(teacher.difference)}, 95% CI {_signed(teacher.ci_low)} to {_signed(teacher.ci_high)})"
        )
    return False, (
        f"custom is below {fraction:g} of the teacher's {teacher.teacher:.3f} (needs at least "
        f"{fraction * teacher.teacher:.3f})"
    )
