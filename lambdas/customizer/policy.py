"""What happens to the throughput after evaluation: keep it, delete it, or keep it only if the custom
model beats its base (``settings.throughput_policy``)."""

from __future__ import annotations

from customizer.models import Evaluation, Policy, Run, Throughput
from customizer.settings import ThroughputPolicy
from customizer.sweeper import mark_lost_evaluation
from customizer.throughput import delete_throughput


def decide(run: Run, evaluation: Evaluation | None) -> tuple[bool, str]:
    """(keep?, why)."""
    policy = run.settings.throughput_policy
    if policy is ThroughputPolicy.KEEP:
        return True, "throughput_policy is keep"
    if policy is ThroughputPolicy.DELETE:
        return False, "throughput_policy is delete"
    if evaluation is None:
        return False, "keep_if_better, but there is no evaluation"
    if evaluation.decision:
        return evaluation.decision.promote, f"keep_if_better: {evaluation.decision.reason}"
    c, b = evaluation.custom.accuracy, evaluation.base.accuracy
    if evaluation.custom_beats_base:
        return True, f"keep_if_better: custom {c:.1%} beats base {b:.1%} by more than {evaluation.margin:.1%}"
    return False, f"keep_if_better: custom {c:.1%} does not beat base {b:.1%} by more than {evaluation.margin:.1%}"


def apply_policy(
    run: Run, throughput: Throughput, evaluation: Evaluation | None, *, model_arn: str | None = None
) -> Policy:
    keep, reason = decide(run, evaluation)
    if keep:
        return Policy(action="kept", reason=reason)
    if model_arn and evaluation is not None and run.settings.throughput_policy is ThroughputPolicy.KEEP_IF_BETTER:
        # Marked before the delete, so a retried step marks it again: the sweeper may delete models that lost.
        mark_lost_evaluation(model_arn)
    outcome = delete_throughput(throughput.arn)
    if outcome.startswith("deleted"):
        return Policy(action="deleted", reason=f"{reason}; {outcome}", deleted_now=True)
    if outcome.startswith("no "):
        # Already gone: this step's first call deleted it and its reply was lost (the step is retried on a
        # function timeout), or something else did. Either way nothing bills, as the policy wants.
        return Policy(action="deleted", reason=f"{reason}; {outcome} (already deleted)")
    return Policy(action="none", reason=f"{reason}; {outcome}")
