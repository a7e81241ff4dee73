"""Cleanup after an execution that ended without its own cleanup: found by the execution tag (stubbed Bedrock)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from botocore.stub import Stubber

from customizer.aftercare import clean_up_execution
from tests.unit.core.stubs import (
    DEPLOYMENT_ARN,
    JOB_ARN,
    THROUGHPUT_ARN,
    deployment_response,
    deployment_summary,
    job_response,
)

OTHER_JOB = JOB_ARN.replace("a1b2c3d4e5f6", "ffffffffffff")
COMMITTED = THROUGHPUT_ARN.replace("pt0123456789", "ptcommitted0")
FOREIGN = THROUGHPUT_ARN.replace("pt0123456789", "ptforeign000")
NOW = datetime(2026, 1, 1, tzinfo=UTC)
FOREIGN_DEPLOYMENT = DEPLOYMENT_ARN.replace("od0123456789", "odforeign000")
JUDGE_ARN = "arn:aws:bedrock:us-east-1:123456789012:evaluation-job/judge0000001"
FOREIGN_JUDGE = "arn:aws:bedrock:us-east-1:123456789012:evaluation-job/judge0000002"


def tags(bedrock: Stubber, arn: str, execution: str) -> None:
    bedrock.add_response(
        "list_tags_for_resource", {"tags": [{"key": "execution", "value": execution}]}, {"resourceARN": arn}
    )


def job_summary(arn: str, name: str) -> dict[str, Any]:
    return {
        "jobArn": arn,
        "baseModelArn": "arn:aws:bedrock:us-east-1::foundation-model/amazon.titan-text-express-v1",
        "jobName": name,
        "status": "InProgress",
        "creationTime": NOW,
    }


def throughput_summary(arn: str, name: str, commitment: str | None = None) -> dict[str, Any]:
    summary: dict[str, Any] = {
        "provisionedModelName": name,
        "provisionedModelArn": arn,
        "modelArn": "arn:aws:bedrock:us-east-1:123456789012:custom-model/x/y",
        "desiredModelArn": "arn:aws:bedrock:us-east-1:123456789012:custom-model/x/y",
        "foundationModelArn": "arn:aws:bedrock:us-east-1::foundation-model/amazon.titan-text-express-v1",
        "modelUnits": 1,
        "desiredModelUnits": 1,
        "status": "InService",
        "creationTime": NOW,
        "lastModifiedTime": NOW,
    }
    if commitment:
        summary["commitmentDuration"] = commitment
    return summary


def evaluation_summary(arn: str, name: str) -> dict[str, Any]:
    return {
        "jobArn": arn,
        "jobName": name,
        "status": "InProgress",
        "creationTime": NOW,
        "jobType": "Automated",
        "evaluationTaskTypes": ["General"],
    }


def evaluation_job(arn: str, name: str) -> dict[str, Any]:
    return {
        "jobName": name,
        "status": "InProgress",
        "jobArn": arn,
        "roleArn": "arn:aws:iam::123456789012:role/judge",
        "jobType": "Automated",
        "evaluationConfig": {
            "automated": {
                "datasetMetricConfigs": [
                    {
                        "taskType": "General",
                        "dataset": {"name": "answers", "datasetLocation": {"s3Uri": "s3://bucket/judge.jsonl"}},
                        "metricNames": ["Builtin.Correctness"],
                    }
                ]
            }
        },
        "inferenceConfig": {"models": [{"precomputedInferenceSource": {"inferenceSourceIdentifier": "custom"}}]},
        "outputDataConfig": {"s3Uri": "s3://bucket/out/"},
        "creationTime": NOW,
    }


def test_stops_and_deletes_only_what_the_ended_execution_created(bedrock, make_run):
    run = make_run()
    # Given two running jobs, one of them the ended execution's (over two pages)
    bedrock.add_response(
        "list_model_customization_jobs",
        {"modelCustomizationJobSummaries": [job_summary(JOB_ARN, run.names.job_name)], "nextToken": "page2"},
        {"statusEquals": "InProgress"},
    )
    tags(bedrock, JOB_ARN, "ended")
    bedrock.add_response("get_model_customization_job", job_response(run, "InProgress"), {"jobIdentifier": JOB_ARN})
    bedrock.add_response("stop_model_customization_job", {}, {"jobIdentifier": JOB_ARN})
    bedrock.add_response(
        "list_model_customization_jobs",
        {"modelCustomizationJobSummaries": [job_summary(OTHER_JOB, "other")]},
        {"statusEquals": "InProgress", "nextToken": "page2"},
    )
    tags(bedrock, OTHER_JOB, "someone-else")
    # And three throughputs: the execution's, the execution's with a commitment, and another's
    bedrock.add_response(
        "list_provisioned_model_throughputs",
        {
            "provisionedModelSummaries": [
                throughput_summary(THROUGHPUT_ARN, "mine"),
                throughput_summary(COMMITTED, "committed", "OneMonth"),
                throughput_summary(FOREIGN, "foreign"),
            ]
        },
        {},
    )
    tags(bedrock, THROUGHPUT_ARN, "ended")
    bedrock.add_response(
        "get_provisioned_model_throughput",
        {**throughput_summary(THROUGHPUT_ARN, "mine")},
        {"provisionedModelId": THROUGHPUT_ARN},
    )
    bedrock.add_response("delete_provisioned_model_throughput", {}, {"provisionedModelId": THROUGHPUT_ARN})
    tags(bedrock, COMMITTED, "ended")
    tags(bedrock, FOREIGN, "someone-else")
    # And two on-demand deployments: the execution's and another's
    bedrock.add_response(
        "list_custom_model_deployments",
        {
            "modelDeploymentSummaries": [
                deployment_summary(DEPLOYMENT_ARN, "mine-od"),
                deployment_summary(FOREIGN_DEPLOYMENT, "foreign-od"),
            ]
        },
        {},
    )
    tags(bedrock, DEPLOYMENT_ARN, "ended")
    bedrock.add_response(
        "get_custom_model_deployment",
        deployment_response(DEPLOYMENT_ARN, "mine-od"),
        {"customModelDeploymentIdentifier": DEPLOYMENT_ARN},
    )
    bedrock.add_response("delete_custom_model_deployment", {}, {"customModelDeploymentIdentifier": DEPLOYMENT_ARN})
    tags(bedrock, FOREIGN_DEPLOYMENT, "someone-else")
    # And two running judge evaluation jobs: the execution's and another's
    bedrock.add_response(
        "list_evaluation_jobs",
        {"jobSummaries": [evaluation_summary(JUDGE_ARN, "judge-mine"), evaluation_summary(FOREIGN_JUDGE, "judge-x")]},
        {"statusEquals": "InProgress"},
    )
    tags(bedrock, JUDGE_ARN, "ended")
    bedrock.add_response("get_evaluation_job", evaluation_job(JUDGE_ARN, "judge-mine"), {"jobIdentifier": JUDGE_ARN})
    bedrock.add_response("stop_evaluation_job", {}, {"jobIdentifier": JUDGE_ARN})
    tags(bedrock, FOREIGN_JUDGE, "someone-else")

    # When the ended execution is cleaned up after
    outcome = clean_up_execution("ended")

    # Then only its job is stopped and only its deletable throughput deleted; the committed one is reported
    assert outcome == {
        "jobs": [f"stopped job {run.names.job_name}"],
        "throughputs": [
            "deleted throughput mine",
            "throughput committed has a OneMonth commitment and cannot be deleted before its term ends: it keeps billing",
            "deleted deployment mine-od",
        ],
        "evaluation_jobs": ["stopped evaluation job judge0000001"],
    }


def test_nothing_left_means_nothing_done(bedrock):
    bedrock.add_response("list_model_customization_jobs", {"modelCustomizationJobSummaries": []})
    bedrock.add_response("list_provisioned_model_throughputs", {"provisionedModelSummaries": []})
    bedrock.add_response("list_custom_model_deployments", {"modelDeploymentSummaries": []})
    bedrock.add_response("list_evaluation_jobs", {})  # botocore: jobSummaries has at least one item when present
    assert clean_up_execution("ended") == {"jobs": [], "throughputs": [], "evaluation_jobs": []}
