"""Cleanup on every failure path: stop the run's job (and its smoke job) if it still runs, delete its
throughput (or its on-demand deployment, settings.serving on_demand), and stop the judge's evaluation jobs
that still run (settings.evaluation.judge; found by their names, made from the run and the execution).

It finds both by the run's deterministic names, so it works even when the step that created them failed
before recording their ARNs in the state. It touches only what this execution created (the ``execution``
tag set at creation): a duplicated start of the same run shares those names, and its failure must not
stop or delete the other execution's job or throughput."""

from __future__ import annotations

from typing import Any

from customizer import aws
from customizer.evaluation.judge import stop_running_jobs
from customizer.jobs import EXECUTION_TAG, find_job, stop_job
from customizer.models import AnyState
from customizer.throughput import delete_throughput, find_served


def creator_of(arn: str) -> str | None:
    """The execution that created a Bedrock resource, from its tags (None when untagged)."""
    with aws.translate_errors("ListTagsForResource"):
        tags = aws.client("bedrock").list_tags_for_resource(resourceARN=arn).get("tags", [])
    return next((t["value"] for t in tags if t.get("key") == EXECUTION_TAG), None)


def _foreign(arn: str, execution: str) -> str | None:
    creator = creator_of(arn)
    return creator if creator is not None and creator != execution else None


def clean_up(state: AnyState) -> dict[str, Any]:
    if state.run is None:
        return {"job": "no job", "throughput": "no throughput"}
    names, execution = state.run.names, state.run.execution_name
    job = find_job(state.job.job_arn if state.job else names.job_name)
    if job is None:
        job_outcome = "no job"
    elif other := _foreign(job.job_arn, execution):
        job_outcome = f"left job {job.job_name} alone: execution {other} created it"
    else:
        job_outcome = stop_job(job)
    smoke_outcome: dict[str, str] = {}
    if state.run.smoke:
        smoke = find_job(state.smoke_job.job_arn if state.smoke_job else state.run.smoke.job_name)
        if smoke is None:
            smoke_outcome["smoke_job"] = "no smoke job"
        elif other := _foreign(smoke.job_arn, execution):
            smoke_outcome["smoke_job"] = f"left job {smoke.job_name} alone: execution {other} created it"
        else:
            smoke_outcome["smoke_job"] = stop_job(smoke)
    throughput = find_served(state.run, state.throughput)
    if throughput is None:
        outcome = "no deployment" if state.run.settings.serving == "on_demand" else "no throughput"
    elif other := _foreign(throughput.arn, execution):
        outcome = f"left {throughput.kind} {throughput.name} alone: execution {other} created it"
    elif throughput.commitment:
        outcome = (
            f"throughput {throughput.name} has a {throughput.commitment} commitment and cannot be deleted "
            "before its term ends: it keeps billing"
        )
    else:
        outcome = delete_throughput(throughput.arn)
    judged = {"evaluation_jobs": stop_running_jobs(state.run)} if state.run.settings.evaluation.judge.enabled else {}
    return {"job": job_outcome, **smoke_outcome, "throughput": outcome, **judged}
