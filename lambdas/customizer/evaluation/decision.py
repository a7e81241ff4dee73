"""The promotion rule: is the custom model good enough to keep (``keep_if_better``) and to recommend?

Three conditions on the chosen metric (``settings.evaluation``), all required:
- custom beats base by more than ``min_improvement`` (the observed difference of means);
- custom reaches ``floor`` (an absolute level, whatever the base does);
- with ``require_confidence``, the paired bootstrap 95% confidence interval of the difference lies above
  zero: a win that could be noise does not count.
The reason names every condition and how it went, so the notification says why."""

from __future__ import annotations

from customizer.evaluation.metrics import METRIC_TITLES
from customizer.models import Decision, MetricComparison
from customizer.settings import EvaluationSettings


def _signed(value: float) -> str:
    return f"{value:+.3f}"


def decide(comparison: MetricComparison, rule: EvaluationSettings) -> Decision:
    title = METRIC_TITLES.get(comparison.metric, comparison.metric)
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
        if comparison.ci_low > 0:
            passed.append("the confidence interval lies above zero")
        else:
            failed.append("the confidence interval does not lie above zero (the win could be noise)")
    promote = not failed
    verdict = "promote" if promote else "do not promote"
    reasons = "; ".join(passed if promote else failed)
    return Decision(promote=promote, metric=comparison.metric, reason=f"{verdict}: {summary}; {reasons}")
