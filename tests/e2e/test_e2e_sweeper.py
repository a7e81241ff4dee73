"""The sweeper on the offline runtime: a throughput a run kept is deleted once past its lifetime, unless tagged
keep=true; a committed one is only reported; a dry run changes nothing. The sweeper is invoked as EventBridge's
schedule would (the scheduled event) and as an operator would (a manual run's options), through moto's Lambda
API: the router runs the real handler."""

from __future__ import annotations

import json
import os
from typing import Any

import boto3
import pytest

from tests.e2e.harness import E2E

SCHEDULED = {
    "version": "0",
    "id": "0b7c1c5e-2f0a-4c1e-9a55-0d3b0f1f2a3b",
    "detail-type": "Scheduled Event",
    "source": "aws.events",
    "account": "123456789012",
    "time": "2026-01-01T00:00:00Z",
    "region": "us-east-1",
    "resources": ["arn:aws:events:us-east-1:123456789012:rule/sweeper-schedule"],
    "detail": {},
}


def sweep(e2e: E2E, event: dict[str, Any]) -> dict[str, Any]:
    response = e2e.lam.invoke(FunctionName=e2e.function_name("sweep"), Payload=json.dumps(event))
    payload = response["Payload"].read()
    assert "FunctionError" not in response, payload
    body: dict[str, Any] = json.loads(payload)
    return body


def arns(findings: list[dict[str, Any]]) -> set[str]:
    return {f["arn"] for f in findings}


def notices_naming(e2e: E2E, arn: str) -> list[dict[str, Any]]:
    return [
        n for n in e2e.runtime.notifications() if str(n.get("status", "")).startswith("SWEEP") and arn in json.dumps(n)
    ]


@pytest.mark.e2e
def test_a_kept_throughput_is_swept_past_its_lifetime_and_a_losing_model_is_marked(e2e: E2E) -> None:
    # Given a run that keeps its throughput, and one whose custom model cannot win (keep_if_better deletes)
    kept, losing = e2e.run_name("sweep-kept"), e2e.run_name("sweep-losing")
    started = [
        e2e.start_upload(kept, e2e.settings({"throughput_policy": "keep"})),
        e2e.start_upload(
            losing, e2e.settings({"throughput_policy": "keep_if_better", "evaluation": {"min_improvement": 1.0}})
        ),
    ]
    assert [r.status for r in e2e.wait_all(started)] == ["SUCCEEDED", "SUCCEEDED"]
    (throughput,) = e2e.throughputs_for(kept)
    arn = throughput["provisionedModelArn"]
    # The losing run's model is marked for the sweeper's delete_orphan_models; the kept run's is not
    assert e2e.throughputs_for(losing) == []
    assert [m["tags"].get("evaluation") for m in e2e.models_for(losing)] == ["lost"]
    assert [m["tags"].get("evaluation") for m in e2e.models_for(kept)] == [None]

    # When the schedule fires (24-hour lifetime): the throughput is seconds old
    scheduled = sweep(e2e, SCHEDULED)
    # Then nothing happens to it
    assert arn not in arns(scheduled["deleted"])
    assert [t["status"] for t in e2e.throughputs_for(kept)] == ["InService"]

    # When an operator dry-runs a sweep with a lifetime of zero hours
    everything = {t["provisionedModelArn"] for t in e2e.state()["throughputs"]}
    dry = sweep(e2e, {"max_throughput_hours": 0, "dry_run": True})
    # Then it says it would delete the throughput, on the topic too, and deletes nothing
    assert dry["status"] == "SWEEP_DRY_RUN"
    assert arn in arns(dry["would_delete"])
    assert {t["provisionedModelArn"] for t in e2e.state()["throughputs"]} == everything
    assert [n["status"] for n in notices_naming(e2e, arn)] == ["SWEEP_DRY_RUN"]

    # When the operator sweeps for real
    swept = sweep(e2e, {"max_throughput_hours": 0, "dry_run": False})
    # Then the throughput is gone, and the notice names it and its run
    assert e2e.throughputs_for(kept) == []
    (finding,) = [f for f in swept["deleted"] if f["arn"] == arn]
    assert finding["run_id"] == throughput["tags"]["run-id"]
    assert finding["detail"] == f"deleted throughput {throughput['provisionedModelName']}"
    assert [n["status"] for n in notices_naming(e2e, arn)] == ["SWEEP_DRY_RUN", "SWEEP"]
    # The custom models stay: deleting models is off in this deployment
    assert len(e2e.models_for(kept)) == len(e2e.models_for(losing)) == 1


@pytest.mark.e2e
def test_a_throughput_tagged_keep_and_a_committed_one_stay(e2e: E2E) -> None:
    # Given two of the pipeline's throughputs no run is using: one an operator tagged keep=true (as the README
    # says: aws bedrock tag-resource), one with a commitment; and someone else's
    bedrock = boto3.client("bedrock")
    pipeline = [{"key": "pipeline", "value": os.environ["PIPELINE_TAG"]}]

    def provision(name: str, tags: list[dict[str, str]], **extra: Any) -> str:
        arn: str = bedrock.create_provisioned_model_throughput(
            modelUnits=1,
            provisionedModelName=e2e.run_name(name),
            modelId="amazon.titan-text-express-v1",
            tags=tags,
            **extra,
        )["provisionedModelArn"]
        return arn

    kept = provision("tagged-keep", pipeline)
    bedrock.tag_resource(resourceARN=kept, tags=[{"key": "keep", "value": "true"}])
    committed = provision("committed", pipeline, commitmentDuration="OneMonth")
    foreign = provision("foreign", [{"key": "pipeline", "value": "SomeoneElse"}])

    # When an operator sweeps with a lifetime of zero hours
    swept = sweep(e2e, {"max_throughput_hours": 0})

    # Then all three are still there; the kept and the committed ones are reported, someone else's is not
    remaining = {t["provisionedModelArn"] for t in e2e.state()["throughputs"]}
    assert {kept, committed, foreign} <= remaining
    assert kept in arns(swept["kept"])
    (held,) = [f for f in swept["committed"] if f["arn"] == committed]
    assert "OneMonth commitment" in held["detail"]
    assert foreign not in json.dumps(swept)

    bedrock.delete_provisioned_model_throughput(provisionedModelId=kept)
    bedrock.delete_provisioned_model_throughput(provisionedModelId=foreign)


@pytest.mark.e2e
def test_a_misspelt_manual_input_sweeps_nothing(e2e: E2E) -> None:
    response = e2e.lam.invoke(FunctionName=e2e.function_name("sweep"), Payload=json.dumps({"dry-run": True}))
    assert response.get("FunctionError") == "Unhandled"
    assert json.loads(response["Payload"].read())["errorType"] == "ValidationError"
