"""Cleanup on every failure path: stop the run's job if it still runs, delete its throughput.

It finds both by the run's deterministic names, so it works even when the step that created them failed
before recording their ARNs in the state."""

from __future__ import annotations

from typing import Any

from customizer.jobs import stop_job_if_running
from customizer.models import AnyState
from customizer.throughput import delete_throughput, find_throughput


def clean_up(state: AnyState) -> dict[str, Any]:
    if state.run is None:
        return {"job": "no job", "throughput": "no throughput"}
    names = state.run.names
    job = stop_job_if_running(state.job.job_arn if state.job else names.job_name)
    throughput = find_throughput(state.throughput.arn if state.throughput else names.throughput_name)
    if throughput is not None and throughput.commitment:
        outcome = (
            f"throughput {throughput.name} has a {throughput.commitment} commitment and cannot be deleted "
            "before its term ends: it keeps billing"
        )
    else:
        outcome = delete_throughput(throughput.arn) if throughput else "no throughput"
    return {"job": job, "throughput": outcome}
