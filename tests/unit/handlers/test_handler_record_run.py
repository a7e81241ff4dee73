"""The run-record handler: the record it stores, and the hours it reports beside the estimate made before
the run (the dashboard's "Throughput hours per run: incurred and estimated")."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.stub import Stubber

from customizer import aws
from customizer.records import find_record
from tests.unit.handlers.test_handler_sweep import metrics_emitted

ARN = "arn:aws:states:us-east-1:123456789012:execution:pipeline:exec-9"
T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
ESTIMATE = {"hours_until_decision": 0.55, "hours_if_kept": 25.0}


@pytest.fixture
def runs_table(handler_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> str:
    aws.client("dynamodb").create_table(
        TableName="runs",
        KeySchema=[{"AttributeName": "execution", "KeyType": "HASH"}],
        AttributeDefinitions=[
            {"AttributeName": "execution", "AttributeType": "S"},
            {"AttributeName": "kind", "AttributeType": "S"},
            {"AttributeName": "started_at", "AttributeType": "S"},
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "by-start",
                "KeySchema": [
                    {"AttributeName": "kind", "KeyType": "HASH"},
                    {"AttributeName": "started_at", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    monkeypatch.setenv("RUNS_TABLE", "runs")
    return "runs"


def _event() -> dict[str, Any]:
    return {
        "version": "0",
        "id": "4d3c1a6e-0000-4000-8000-000000000001",
        "detail-type": "Step Functions Execution Status Change",
        "source": "aws.states",
        "account": "123456789012",
        "time": "2026-01-01T14:00:00Z",
        "region": "us-east-1",
        "resources": [ARN],
        "detail": {
            "executionArn": ARN,
            "stateMachineArn": ARN.rsplit(":", 1)[0],
            "name": "exec-9",
            "status": "SUCCEEDED",
        },
    }


def _history(policy: str) -> list[dict[str, Any]]:
    state = {
        "run": {"run_id": "bot-1", "run_name": "bot", "throughput_estimate": ESTIMATE},
        "throughput": {"arn": "pt", "status": "InService"},
        "policy": {"action": policy},
    }
    return [
        {
            "id": 1,
            "type": "TaskStateEntered",
            "timestamp": T0,
            "stateEnteredEventDetails": {"name": "Create the throughput"},
        },
        {
            "id": 2,
            "type": "TaskStateExited",
            "timestamp": T0 + timedelta(minutes=40),
            "stateExitedEventDetails": {"name": "Apply the throughput policy", "output": json.dumps(state)},
        },
        {
            "id": 3,
            "type": "TaskStateEntered",
            "timestamp": T0 + timedelta(minutes=45),
            "stateEnteredEventDetails": {"name": "Notify success"},
        },
    ]


def _run(load_handler, lambda_context, policy: str) -> dict[str, Any]:
    module = load_handler("record_run")
    sfn = aws.client("stepfunctions")
    with Stubber(sfn) as stub:
        description = {
            "executionArn": ARN,
            "stateMachineArn": ARN,
            "name": "exec-9",
            "status": "SUCCEEDED",
            "startDate": T0,
            "stopDate": T0 + timedelta(minutes=46),
            "input": "{}",
        }
        stub.add_response("describe_execution", description, {"executionArn": ARN})
        stub.add_response("get_execution_history", {"events": _history(policy)}, {"executionArn": ARN})
        result: dict[str, Any] = module.handler(_event(), lambda_context)
    return result


def test_a_deleted_throughput_reports_incurred_and_estimated_hours(
    load_handler, lambda_context, runs_table, capsys
) -> None:
    result = _run(load_handler, lambda_context, "deleted")
    record = find_record(runs_table, "exec-9")
    assert record is not None and result["status"] == "SUCCEEDED"
    # Created at 0 min, deleted by the time "Notify success" was entered at 45 min
    assert (record["throughput_hours_incurred"], record["throughput_hours_estimated"]) == (0.75, 0.55)
    emitted = metrics_emitted(capsys.readouterr().out)
    assert emitted["ThroughputHours"] == [0.75]
    assert emitted["EstimatedThroughputHours"] == [0.55]


def test_a_kept_throughput_reports_neither_yet(load_handler, lambda_context, runs_table, capsys) -> None:
    _run(load_handler, lambda_context, "kept")
    record = find_record(runs_table, "exec-9")
    assert record is not None
    assert record["throughput_hours_estimated"] == 25.0  # its whole life, if kept
    assert "throughput_hours_incurred" not in record  # still billing: stored without it
    emitted = metrics_emitted(capsys.readouterr().out)
    assert "ThroughputHours" not in emitted and "EstimatedThroughputHours" not in emitted
