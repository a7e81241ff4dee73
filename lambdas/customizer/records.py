"""Run records: one per execution, in DynamoDB with a JSON copy beside the run's reports.

A record is built when the execution ends, from Step Functions' own account of it (DescribeExecution and
the execution history): the data objects' versions and hashes, the settings, the job, model and
throughput, the training metrics, the evaluation and its decision, the throughput hours, the cleanup,
and when every step was entered. Building it from the history, rather than having each step write a
piece, keeps the steps unaware of it and records executions that were stopped half-way too."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from customizer import aws

RECORD_KIND = "run"  # the partition of the by-start index: every record, newest first
BY_START_INDEX = "by-start"


def _iso(value: Any) -> str | None:
    return value.isoformat() if isinstance(value, datetime) else (str(value) if value else None)


def final_state(history: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The state as the last state that exited left it (a failed execution has no output of its own)."""
    state: dict[str, Any] = {}
    for event in history:
        output = event.get("stateExitedEventDetails", {}).get("output")
        if output:
            try:
                parsed = json.loads(output)
            except ValueError:
                continue
            if isinstance(parsed, dict):
                state = parsed
    return state


def _hours_between(start: str | None, end: str | None) -> float | None:
    if not start or not end:
        return None
    return round((datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds() / 3600, 4)


def _estimated_hours(estimate: Mapping[str, Any], *, kept: bool) -> float | None:
    """The estimate that compares with the incurred hours: the whole life if kept, else until the decision."""
    if not estimate:
        return None
    return estimate.get("hours_if_kept") if kept else estimate.get("hours_until_decision")


def build_record(description: Mapping[str, Any], history: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The record of one ended execution."""
    steps = [
        {"state": e["stateEnteredEventDetails"]["name"], "entered": _iso(e.get("timestamp"))}
        for e in history
        if "stateEnteredEventDetails" in e
    ]
    state = final_state(history)
    try:
        request = json.loads(description.get("input") or "{}")
    except ValueError:
        request = {}
    run, job, throughput = state.get("run") or {}, state.get("job") or {}, state.get("throughput") or {}
    evaluation, policy = state.get("evaluation") or {}, state.get("policy") or {}
    estimate = run.get("throughput_estimate") or {}
    entered = {s["state"]: s["entered"] for s in steps}
    throughput_end = None
    if policy.get("action") == "deleted":
        throughput_end = entered.get("Notify success")
    elif "Clean up" in entered and throughput:
        throughput_end = entered.get("Notify failure")
    stopped = _iso(description.get("stopDate"))
    return {
        "execution": description["name"],
        "execution_arn": description["executionArn"],
        "kind": RECORD_KIND,
        "run_id": run.get("run_id") or request.get("run_name"),
        "run_name": run.get("run_name") or request.get("run_name"),
        "status": description["status"],
        "started_at": _iso(description.get("startDate")),
        "stopped_at": stopped,
        "data": run.get("data"),
        "settings": run.get("settings") or request.get("settings"),
        "hyperparameters": run.get("hyperparameters"),
        "job_arn": job.get("job_arn"),
        "job_status": job.get("status"),
        "custom_model_arn": job.get("model_arn"),
        "training_metrics": job.get("metrics"),
        "throughput_arn": throughput.get("arn"),
        "throughput_status": throughput.get("status"),
        "deployment_arn": state.get("deployment", {}).get("arn") if isinstance(state.get("deployment"), dict) else None,
        "evaluation": evaluation or None,
        "decision": evaluation.get("custom_beats_base") if evaluation else None,
        "throughput_policy": policy.get("action"),
        # Estimated before any money was spent (the whole life if the policy kept it), then incurred: until the
        # policy or the cleanup deleted it; a kept throughput is still billing (None: still open).
        "throughput_estimate": estimate or None,
        "throughput_hours_estimated": _estimated_hours(estimate, kept=policy.get("action") == "kept")
        if throughput
        else None,
        "throughput_hours_incurred": _hours_between(entered.get("Create the throughput"), throughput_end),
        "cleanup": state.get("cleanup"),
        "error": state.get("error")
        or (
            {"Error": description.get("error"), "Cause": description.get("cause")} if description.get("error") else None
        ),
        "report_uri": evaluation.get("report_markdown_uri") if evaluation else None,
        "notification": state.get("notification"),  # what "Notify success" / "Notify failure" published
        "steps": steps,
    }


def _to_dynamodb(value: Any) -> Any:
    """DynamoDB takes Decimal, not float; empty values are dropped."""
    return json.loads(json.dumps(value, default=str), parse_float=Decimal)


def save_record(record: Mapping[str, Any], *, table: str, artifacts_bucket: str) -> str:
    """Store the record; return the URI of its JSON copy."""
    item = {k: v for k, v in _to_dynamodb(record).items() if v not in (None, "", [], {})}
    prefix = f"runs/{record['run_id']}/" if record.get("run_id") else "runs/unvalidated/"
    key = f"{prefix}records/{record['execution']}.json"
    with aws.translate_errors("saving the run record"):
        aws.client("dynamodb").put_item(TableName=table, Item=_marshal(item))
        aws.client("s3").put_object(
            Bucket=artifacts_bucket,
            Key=key,
            Body=json.dumps(record, indent=2, default=str).encode(),
            ContentType="application/json",
        )
    return f"s3://{artifacts_bucket}/{key}"


def _marshal(item: Mapping[str, Any]) -> dict[str, Any]:
    from boto3.dynamodb.types import TypeSerializer

    serializer = TypeSerializer()
    return {k: serializer.serialize(v) for k, v in item.items()}


def _unmarshal(item: Mapping[str, Any]) -> dict[str, Any]:
    from boto3.dynamodb.types import TypeDeserializer

    deserializer = TypeDeserializer()
    plain = {k: deserializer.deserialize(v) for k, v in item.items()}
    return dict(json.loads(json.dumps(plain, default=_plain_number)))


def _plain_number(value: Any) -> Any:
    """DynamoDB's numbers come back as Decimal: a whole number (a count, a size) as an int, others as float."""
    if isinstance(value, Decimal):
        whole = value.is_finite() and value == value.to_integral_value() and int(value.as_tuple().exponent) >= 0
        return int(value) if whole else float(value)
    return str(value)


def recent_records(table: str, limit: int = 20, *, client: Any = None) -> list[dict[str, Any]]:
    """The newest records first (``limit`` at most, over as many pages as that takes)."""
    dynamodb = client or aws.client("dynamodb")
    query: dict[str, Any] = {
        "TableName": table,
        "IndexName": BY_START_INDEX,
        "KeyConditionExpression": "kind = :kind",
        "ExpressionAttributeValues": {":kind": {"S": RECORD_KIND}},
        "ScanIndexForward": False,
    }
    records: list[dict[str, Any]] = []
    while len(records) < limit:
        response = dynamodb.query(**query, Limit=limit - len(records))
        records.extend(_unmarshal(i) for i in response.get("Items", []))
        if not response.get("LastEvaluatedKey"):
            break
        query["ExclusiveStartKey"] = response["LastEvaluatedKey"]
    return records


def find_record(table: str, identifier: str, *, client: Any = None) -> dict[str, Any] | None:
    """A record by execution name, or the newest record of a run id or run name."""
    dynamodb = client or aws.client("dynamodb")
    item = dynamodb.get_item(TableName=table, Key={"execution": {"S": identifier}}).get("Item")
    if item:
        return _unmarshal(item)
    for record in recent_records(table, limit=200, client=dynamodb):
        if identifier in (record.get("run_id"), record.get("run_name")):
            return record
    return None
