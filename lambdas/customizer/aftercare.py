"""Cleanup when the workflow cannot clean up itself: an execution stopped by hand, one that hit the state
machine's own timeout, or one that failed outside a Catch. None of these runs the "Clean up" state, so
a rule on the execution's status change runs this instead.

It finds what the execution created by the ``execution`` tag every job and throughput carries (see
``jobs.pipeline_tags``), not by names in the execution's state, which an aborted execution may never have
recorded: running jobs (customization and the judge's evaluation jobs) are stopped, throughput without a
commitment is deleted."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from customizer import aws
from customizer.cleanup import creator_of
from customizer.errors import RUN_FAILED_ERROR
from customizer.evaluation.judge import stop_job as stop_evaluation_job
from customizer.jobs import find_job, stop_job
from customizer.throughput import delete_throughput


def _pages(operation: str, key: str, **params: Any) -> Iterator[dict[str, Any]]:
    bedrock = aws.client("bedrock")
    token: str | None = None
    while True:
        with aws.translate_errors(operation):
            page = getattr(bedrock, operation)(**params, **({"nextToken": token} if token else {}))
        yield from page.get(key, [])
        token = page.get("nextToken")
        if not token:
            return


def clean_up_execution(execution_name: str) -> dict[str, list[str]]:
    """Stop the execution's running jobs and delete its throughput and deployments; say what was done."""
    outcome: dict[str, list[str]] = {"jobs": [], "throughputs": [], "evaluation_jobs": []}
    for summary in _pages("list_model_customization_jobs", "modelCustomizationJobSummaries", statusEquals="InProgress"):
        if creator_of(summary["jobArn"]) != execution_name:
            continue
        job = find_job(summary["jobArn"])
        if job is not None:
            outcome["jobs"].append(stop_job(job))
    for summary in _pages("list_provisioned_model_throughputs", "provisionedModelSummaries"):
        arn = summary["provisionedModelArn"]
        if creator_of(arn) != execution_name:
            continue
        if summary.get("commitmentDuration"):
            outcome["throughputs"].append(
                f"throughput {summary['provisionedModelName']} has a {summary['commitmentDuration']} commitment "
                "and cannot be deleted before its term ends: it keeps billing"
            )
        else:
            outcome["throughputs"].append(delete_throughput(arn))
    for summary in _pages("list_custom_model_deployments", "modelDeploymentSummaries"):
        arn = summary["customModelDeploymentArn"]
        if creator_of(arn) == execution_name:
            outcome["throughputs"].append(delete_throughput(arn))
    # The judge's evaluation jobs (settings.evaluation.judge) bill the judge model while they run.
    for summary in _pages("list_evaluation_jobs", "jobSummaries", statusEquals="InProgress"):
        if creator_of(summary["jobArn"]) == execution_name:
            outcome["evaluation_jobs"].append(stop_evaluation_job(summary["jobArn"]))
    return outcome


def unreported_failure(execution_arn: str) -> str | None:
    """Why a FAILED execution failed, when it did not end in its own "Run failed" state (which only follows a
    "Notify failure" that worked): its notify step failed, or an error escaped every Catch, so nobody was told.
    None when it ended as designed (already reported)."""
    with aws.translate_errors("DescribeExecution"):
        described = aws.client("stepfunctions").describe_execution(executionArn=execution_arn)
    error = described.get("error")
    if error == RUN_FAILED_ERROR:
        return None
    cause = str(described.get("cause") or "")[:300]
    return f"{error or 'no error given'}: {cause}" if cause else str(error or "no error given")
