"""Runs as the command and the run browser show them: the ended ones from the runs table (their records), the
running ones from Step Functions (no record until they end)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from cli.stack import CliError, Stack, describe_error
from customizer.evaluation.metrics import METRIC_TITLES
from customizer.records import final_state, find_record, recent_records

METHODS = {
    "FINE_TUNING": "fine-tuning",
    "CONTINUED_PRE_TRAINING": "continued pre-training",
    "DISTILLATION": "distillation",
    "REINFORCEMENT_FINE_TUNING": "reinforcement fine-tuning",
}


def _iso(value: Any) -> str | None:
    return value.isoformat() if isinstance(value, datetime) else (str(value) if value else None)


def running_runs(stack: Stack) -> list[dict[str, Any]]:
    """Executions still running, in the records' shape (what is known before the record is written)."""
    sfn = stack.client("stepfunctions")
    found: list[dict[str, Any]] = []
    try:
        for page in sfn.get_paginator("list_executions").paginate(
            stateMachineArn=stack.state_machine_arn, statusFilter="RUNNING"
        ):
            for e in page.get("executions", []):
                found.append(live_record(stack, e["executionArn"], summary=e))
    except (ClientError, BotoCoreError) as exc:
        raise CliError(describe_error(exc, f"listing the running executions of {stack.where}")) from None
    return found


def live_record(stack: Stack, execution_arn: str, summary: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A running execution as a partial record: its request's settings, and the states entered so far."""
    sfn = stack.client("stepfunctions")
    description = sfn.describe_execution(executionArn=execution_arn)
    try:
        request = json.loads(description.get("input") or "{}")
    except ValueError:
        request = {}
    history = execution_history(stack, execution_arn)
    state = final_state(history)
    run = state.get("run") or {}
    return {
        "execution": description["name"],
        "execution_arn": execution_arn,
        "run_id": run.get("run_id") or request.get("run_name"),
        "run_name": run.get("run_name") or request.get("run_name"),
        "status": description["status"],
        "started_at": _iso(description.get("startDate")),
        "stopped_at": _iso(description.get("stopDate")),
        "settings": run.get("settings") or request.get("settings") or {},
        "data": run.get("data"),
        "job_arn": (state.get("job") or {}).get("job_arn"),
        "throughput_arn": (state.get("throughput") or {}).get("arn"),
        "throughput_status": (state.get("throughput") or {}).get("status"),
        "throughput_estimate": run.get("throughput_estimate"),
        "steps": [
            {"state": e["stateEnteredEventDetails"]["name"], "entered": _iso(e.get("timestamp"))}
            for e in history
            if "stateEnteredEventDetails" in e
        ],
        "live": True,
    }


def execution_history(stack: Stack, execution_arn: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    for page in (
        stack.client("stepfunctions").get_paginator("get_execution_history").paginate(executionArn=execution_arn)
    ):
        events.extend(page.get("events", []))
    return events


def list_runs(
    stack: Stack,
    *,
    limit: int = 20,
    status: str | None = None,
    base_model: str | None = None,
    since: datetime | None = None,
) -> list[dict[str, Any]]:
    """Running executions first, then the newest records; filtered by status, base model and start."""
    try:
        ended = recent_records(stack.runs_table, limit, client=stack.client("dynamodb"))
    except (ClientError, BotoCoreError) as exc:
        raise CliError(describe_error(exc, f"reading the runs table {stack.runs_table}")) from None
    runs = [*running_runs(stack), *ended] if status in (None, "RUNNING") else ended
    return [r for r in runs if _matches(r, status, base_model, since)][:limit]


def _matches(record: Mapping[str, Any], status: str | None, base_model: str | None, since: datetime | None) -> bool:
    if status and record.get("status") != status:
        return False
    if base_model and base_model not in str(base_model_of(record)):
        return False
    if since:
        started = record.get("started_at")
        if not started or datetime.fromisoformat(started) < since:
            return False
    return True


def find_run(stack: Stack, identifier: str) -> dict[str, Any]:
    """A run by execution name, run id or run name: its record, or a running execution's partial one."""
    try:
        record = find_record(stack.runs_table, identifier, client=stack.client("dynamodb"))
        if record is not None:
            return record
        for live in running_runs(stack):
            if identifier in (live["execution"], live.get("run_id"), live.get("run_name")):
                return live
        try:
            return live_record(stack, stack.execution_arn(identifier))  # an execution that has no record yet
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in ("ExecutionDoesNotExist", "InvalidArn"):
                raise
    except (ClientError, BotoCoreError) as exc:
        raise CliError(describe_error(exc, f"looking for run {identifier!r}")) from None
    raise CliError(f"no run {identifier!r} in {stack.where}: `bedrock-customize runs` lists them")


# ---- what a row shows ----


def base_model_of(record: Mapping[str, Any]) -> str:
    return str((record.get("settings") or {}).get("base_model_id") or "-")


def method_of(record: Mapping[str, Any]) -> str:
    kind = (record.get("settings") or {}).get("customization_type")
    return METHODS.get(str(kind), str(kind or "-"))


def decision_of(record: Mapping[str, Any]) -> str:
    evaluation = record.get("evaluation") or {}
    decision = evaluation.get("decision") or {}
    if "promote" in decision:
        return "promote" if decision["promote"] else "keep base"
    if evaluation:
        return "custom better" if evaluation.get("custom_beats_base") else "base better"
    return "-"


def decision_metric(record: Mapping[str, Any]) -> dict[str, Any] | None:
    """The comparison row of the metric the decision was made on (custom, base, difference, interval)."""
    evaluation = record.get("evaluation") or {}
    metric = (evaluation.get("decision") or {}).get("metric") or (record.get("settings") or {}).get(
        "evaluation", {}
    ).get("metric")
    rows = evaluation.get("comparison") or []
    row = next((r for r in rows if r.get("metric") == metric), rows[0] if rows else None)
    if row is None:
        return None
    return {**row, "title": METRIC_TITLES.get(row["metric"], row["metric"])}


def metric_text(record: Mapping[str, Any]) -> str:
    row = decision_metric(record)
    if row is None:
        return "-"
    return f"{row['title']} {row['custom']:.3f} vs {row['base']:.3f}"


def hours_text(record: Mapping[str, Any]) -> str:
    estimated, incurred = record.get("throughput_hours_estimated"), record.get("throughput_hours_incurred")
    if estimated is None and incurred is None:
        return "-"
    shown = "?" if estimated is None else f"{estimated:.2f}"
    billing = record.get("throughput_policy") == "kept" or record.get("live")
    return f"{shown} est / " + (("open" if billing else "-") if incurred is None else f"{incurred:.2f}")


def cost_usd(record: Mapping[str, Any]) -> float | None:
    """The throughput's estimated dollars (whole life if kept, else until the decision)."""
    estimate = record.get("throughput_estimate") or {}
    if not estimate:
        return None
    kept = record.get("throughput_policy") == "kept"
    value = estimate.get("usd_if_kept") if kept else estimate.get("usd_until_decision")
    return None if value is None else float(value)


def cost_text(record: Mapping[str, Any]) -> str:
    value = cost_usd(record)
    return "-" if value is None else f"${value:,.2f}"


def started_text(record: Mapping[str, Any]) -> str:
    return str(record.get("started_at") or "")[:19].replace("T", " ")


def row(record: Mapping[str, Any]) -> dict[str, str]:
    """A run as one line of the runs table (the command's and the browser's)."""
    return {
        "started": started_text(record),
        "status": str(record.get("status") or "-"),
        "run": str(record.get("run_id") or record.get("run_name") or "-"),
        "execution": str(record.get("execution") or "-"),
        "base_model": base_model_of(record),
        "method": method_of(record),
        "decision": decision_of(record),
        "metric": metric_text(record),
        "throughput_hours": hours_text(record),
        "cost": cost_text(record),
    }


def parse_since(text: str) -> datetime:
    """An ISO date or time (UTC if no zone), or a duration back from now: 30m, 12h, 7d."""
    units = {"m": 60, "h": 3600, "d": 86400}
    if text and text[-1] in units and text[:-1].isdigit():
        return datetime.fromtimestamp(datetime.now(UTC).timestamp() - int(text[:-1]) * units[text[-1]], UTC)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise CliError(f"--since {text!r}: give a date (2026-12-01), a time, or a duration (30m, 12h, 7d)", 2) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def comparison(first: Mapping[str, Any], second: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every metric both evaluations have: custom and base of each run, and the custom models' difference."""
    rows: list[dict[str, Any]] = []
    theirs = {r["metric"]: r for r in (second.get("evaluation") or {}).get("comparison") or []}
    for mine in (first.get("evaluation") or {}).get("comparison") or []:
        other = theirs.get(mine["metric"])
        if other is None:
            continue
        rows.append(
            {
                "metric": mine["metric"],
                "title": METRIC_TITLES.get(mine["metric"], mine["metric"]),
                "first_custom": mine["custom"],
                "first_base": mine["base"],
                "second_custom": other["custom"],
                "second_base": other["base"],
                "difference": other["custom"] - mine["custom"],
            }
        )
    return rows


def require_evaluation(record: Mapping[str, Any]) -> None:
    if not record.get("evaluation"):
        name = record.get("run_id") or record.get("execution")
        raise CliError(f"run {name} ({record.get('status')}) has no evaluation to compare")


def names(records: Iterable[Mapping[str, Any]]) -> list[str]:
    return [str(r.get("run_id") or r.get("execution")) for r in records]
