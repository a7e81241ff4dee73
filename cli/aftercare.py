"""``stop``: StopExecution, then wait until the aftercare (the rule on the execution's end, which runs
``after_execution``) has stopped the run's jobs and deleted its throughput, and say what it did.

What the execution created is found as the aftercare finds it: by the ``execution`` tag on every job,
throughput and deployment (``customizer.jobs.pipeline_tags``). Read-only apart from StopExecution."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from cli.stack import CliError, Stack, describe_error
from customizer.jobs import EXECUTION_TAG

STOP_CAUSE = "stopped with bedrock-customize stop"


def _pages(stack: Stack, operation: str, key: str, **params: Any) -> Iterator[dict[str, Any]]:
    bedrock = stack.client("bedrock")
    token: str | None = None
    while True:
        page = getattr(bedrock, operation)(**params, **({"nextToken": token} if token else {}))
        yield from page.get(key, [])
        token = page.get("nextToken")
        if not token:
            return


def _created_by(stack: Stack, arn: str, execution: str) -> bool:
    tags = stack.client("bedrock").list_tags_for_resource(resourceARN=arn).get("tags", [])
    return any(t.get("key") == EXECUTION_TAG and t.get("value") == execution for t in tags)


def resources_of(stack: Stack, execution: str, started: Any = None) -> dict[str, list[dict[str, Any]]]:
    """The execution's jobs, throughputs and deployments, by their ``execution`` tag."""
    since = {"creationTimeAfter": started} if started else {}
    jobs = [
        {"arn": j["jobArn"], "name": j["jobName"], "status": j["status"]}
        for j in _pages(stack, "list_model_customization_jobs", "modelCustomizationJobSummaries", **since)
        if _created_by(stack, j["jobArn"], execution)
    ]
    throughputs = [
        {
            "arn": t["provisionedModelArn"],
            "name": t["provisionedModelName"],
            "status": t["status"],
            "commitment": t.get("commitmentDuration"),
        }
        for t in _pages(stack, "list_provisioned_model_throughputs", "provisionedModelSummaries", **since)
        if _created_by(stack, t["provisionedModelArn"], execution)
    ]
    deployments = [
        {"arn": d["customModelDeploymentArn"], "name": d.get("customModelDeploymentName", ""), "status": d["status"]}
        for d in _pages(stack, "list_custom_model_deployments", "modelDeploymentSummaries")
        if _created_by(stack, d["customModelDeploymentArn"], execution)
    ]
    return {"jobs": jobs, "throughputs": throughputs, "deployments": deployments}


def _pending(found: dict[str, list[dict[str, Any]]]) -> list[str]:
    """What the aftercare has still to do."""
    waiting = [f"job {j['name']} ({j['status']})" for j in found["jobs"] if j["status"] == "InProgress"]
    waiting += [f"throughput {t['name']}" for t in found["throughputs"] if not t["commitment"]]
    waiting += [f"deployment {d['name']}" for d in found["deployments"]]
    return waiting


def stop_run(stack: Stack, record: dict[str, Any], wait: float) -> list[str]:
    """Stop the execution; once the aftercare is done, the lines saying what was stopped and deleted."""
    sfn = stack.client("stepfunctions")
    arn, execution = record["execution_arn"], record["execution"]
    try:
        started = sfn.describe_execution(executionArn=arn).get("startDate")
        before = resources_of(stack, execution, started)
        sfn.stop_execution(executionArn=arn, error="Stopped", cause=STOP_CAUSE)
    except (ClientError, BotoCoreError) as exc:
        raise CliError(describe_error(exc, f"stopping {execution}")) from None
    lines = [f"Stopped {execution}."]
    deadline = time.monotonic() + wait
    while True:
        try:
            status = sfn.describe_execution(executionArn=arn)["status"]
            now = resources_of(stack, execution, started)
        except (ClientError, BotoCoreError) as exc:
            raise CliError(describe_error(exc, f"waiting for the aftercare of {execution}")) from None
        pending = _pending(now)
        if status != "RUNNING" and not pending:
            break
        if time.monotonic() > deadline:
            raise CliError(
                f"{execution} was stopped, but after {wait:.0f} s the aftercare has not finished: still "
                f"{', '.join(pending) or 'running'}; check again with `bedrock-customize show {execution}`"
            )
        time.sleep(1.0)
    running = {j["arn"] for j in before["jobs"] if j["status"] == "InProgress"}
    for job in now["jobs"]:
        if job["arn"] in running:
            lines.append(f"Stopped job {job['name']} (now {job['status']}).")
    left = {t["arn"] for t in now["throughputs"]}
    for throughput in before["throughputs"]:
        if throughput["arn"] not in left:
            lines.append(f"Deleted throughput {throughput['name']}.")
        elif throughput["commitment"]:
            lines.append(
                f"Kept throughput {throughput['name']}: its {throughput['commitment']} commitment cannot be "
                "deleted before its term ends, and it keeps billing."
            )
    gone = {d["arn"] for d in now["deployments"]}
    lines += [f"Deleted deployment {d['name']}." for d in before["deployments"] if d["arn"] not in gone]
    if len(lines) == 1:
        lines.append("Nothing of it was running or billing: nothing to stop or delete.")
    return lines
