"""IAM: each function's role allows exactly the calls its handler makes, on exactly its resources; the
Bedrock service role is only for this account's customization jobs; nothing allows a wildcard action."""

from __future__ import annotations

from typing import Any

import pytest

from customizer.jobs import PIPELINE_TAG_KEY
from stacks.constants import STACK_ID
from tests.infra.template_tools import Synthesized, as_list, resolve

BEDROCK = "arn:${AWS::Partition}:bedrock:${AWS::Region}:${AWS::AccountId}:"
FOUNDATION_MODELS = "arn:${AWS::Partition}:bedrock:${AWS::Region}::foundation-model/*"
FOUNDATION_MODELS_ANY_REGION = "arn:${AWS::Partition}:bedrock:*::foundation-model/*"
# Every function writes its own log group and sends X-Ray traces (X-Ray has no resource-level permissions).
COMMON = {
    ("logs:CreateLogStream", "own log group", ""),
    ("logs:PutLogEvents", "own log group", ""),
    ("xray:PutTraceSegments", "*", ""),
    ("xray:PutTelemetryRecords", "*", ""),
}
IDEMPOTENCY = {
    ("dynamodb:GetItem", "idempotency table", ""),
    ("dynamodb:PutItem", "idempotency table", ""),
    ("dynamodb:UpdateItem", "idempotency table", ""),
    ("dynamodb:DeleteItem", "idempotency table", ""),
    ("kms:Decrypt", "key", "via dynamodb"),
    ("kms:Encrypt", "key", "via dynamodb"),
    ("kms:GenerateDataKey", "key", "via dynamodb"),
    ("kms:DescribeKey", "key", "via dynamodb"),
}
# handler module -> (action, resource, condition) it is allowed, beyond COMMON. The contract of each step.
EXPECTED: dict[str, set[tuple[str, str, str]]] = {
    "validate_run": {
        ("lambda:InvokeFunction", "reward function", ""),
        ("s3:GetObject", "data objects", ""),
        ("s3:ListBucket", "data bucket", ""),  # settings.invocation_logs: the objects under its prefix
        ("s3:PutObject", "artifacts objects", ""),
        ("kms:Decrypt", "key", "via s3"),
        ("kms:GenerateDataKey", "key", "via s3"),
        ("bedrock:GetFoundationModel", "foundation-model/*", ""),
        # The run's lease (customizer/leases.py): read and conditionally put in the idempotency table, and whether
        # its holder still runs (a policy of its own: a statement naming the state machine in the default policy
        # would be a dependency cycle).
        ("dynamodb:GetItem", "idempotency table", ""),
        ("dynamodb:PutItem", "idempotency table", ""),
        ("kms:Decrypt", "key", "via dynamodb"),
        ("kms:Encrypt", "key", "via dynamodb"),
        ("kms:GenerateDataKey", "key", "via dynamodb"),
        ("kms:DescribeKey", "key", "via dynamodb"),
        ("states:DescribeExecution", "executions of the state machine", ""),
    },
    "create_job": {
        ("bedrock:CreateModelCustomizationJob", "custom-model/*", ""),
        ("bedrock:CreateModelCustomizationJob", "foundation-model/*", ""),
        ("bedrock:GetModelCustomizationJob", "model-customization-job/*", ""),
        ("iam:PassRole", "customization role", "PassedToService bedrock.amazonaws.com"),
        ("kms:DescribeKey", "key", "via bedrock"),
        ("kms:CreateGrant", "key", "via bedrock"),
        ("kms:GenerateDataKey", "key", "via bedrock"),
        ("kms:Decrypt", "key", "via bedrock"),
        *IDEMPOTENCY,
    },
    "check_job": {
        ("bedrock:GetModelCustomizationJob", "model-customization-job/*", ""),
        ("s3:GetObject", "artifacts objects", ""),
        ("s3:ListBucket", "artifacts bucket", ""),
        ("bedrock:DeleteCustomModel", "custom-model/*", "tagged by this pipeline"),
        ("kms:Decrypt", "key", "via s3"),
    },
    "create_throughput": {
        ("bedrock:CreateProvisionedModelThroughput", "custom-model/*", ""),
        ("bedrock:CreateProvisionedModelThroughput", "foundation-model/*", ""),
        ("bedrock:GetProvisionedModelThroughput", "provisioned-model/*", ""),
        ("bedrock:CreateCustomModelDeployment", "custom-model/*", ""),
        ("bedrock:GetCustomModelDeployment", "custom-model-deployment/*", ""),
        ("kms:DescribeKey", "key", "via bedrock"),
        ("kms:CreateGrant", "key", "via bedrock"),
        ("kms:Decrypt", "key", "via bedrock"),
        *IDEMPOTENCY,
    },
    "check_throughput": {
        ("bedrock:GetProvisionedModelThroughput", "provisioned-model/*", ""),
        ("bedrock:GetCustomModelDeployment", "custom-model-deployment/*", ""),
    },
    "plan_evaluation": {
        ("s3:GetObject", "data objects", ""),
        ("s3:PutObject", "artifacts objects", ""),
        ("kms:Decrypt", "key", "via s3"),
        ("kms:GenerateDataKey", "key", "via s3"),
    },
    "evaluate": {
        ("bedrock:InvokeModel", "provisioned-model/*", ""),
        ("bedrock:InvokeModel", "custom-model-deployment/*", ""),
        ("bedrock:InvokeModel", "foundation-model/*", ""),
        ("bedrock:InvokeModel", "inference-profile/*", ""),
        ("bedrock:InvokeModel", "application-inference-profile/*", ""),
        (
            "bedrock:InvokeModel",
            "foundation-model/* in any region",
            "through inference-profile/*, application-inference-profile/*",
        ),
        ("s3:GetObject", "data objects", ""),
        ("s3:GetObject", "artifacts objects", ""),
        ("s3:ListBucket", "artifacts bucket", ""),
        ("s3:PutObject", "artifacts objects", ""),
        ("kms:Decrypt", "key", "via s3"),
        ("kms:GenerateDataKey", "key", "via s3"),
        ("kms:Decrypt", "key", "via bedrock"),
        ("kms:GenerateDataKey", "key", "via bedrock"),
    },
    "evaluate_chunk": {
        ("bedrock:InvokeModel", "provisioned-model/*", ""),
        ("bedrock:InvokeModel", "custom-model-deployment/*", ""),
        ("bedrock:InvokeModel", "foundation-model/*", ""),
        ("bedrock:InvokeModel", "inference-profile/*", ""),
        ("bedrock:InvokeModel", "application-inference-profile/*", ""),
        (
            "bedrock:InvokeModel",
            "foundation-model/* in any region",
            "through inference-profile/*, application-inference-profile/*",
        ),
        ("s3:GetObject", "data objects", ""),  # a test example's images (bytes, or read by Converse as the caller)
        ("s3:GetObject", "artifacts objects", ""),
        ("s3:ListBucket", "artifacts bucket", ""),
        ("s3:PutObject", "artifacts objects", ""),
        ("kms:Decrypt", "key", "via s3"),
        ("kms:GenerateDataKey", "key", "via s3"),
        ("kms:Decrypt", "key", "via bedrock"),
        ("kms:GenerateDataKey", "key", "via bedrock"),
    },
    "aggregate_evaluation": {
        ("s3:GetObject", "artifacts objects", ""),
        ("s3:ListBucket", "artifacts bucket", ""),
        ("s3:PutObject", "artifacts objects", ""),
        ("kms:Decrypt", "key", "via s3"),
        ("kms:GenerateDataKey", "key", "via s3"),
    },
    "judge": {
        ("bedrock:CreateEvaluationJob", "foundation-model/*", ""),
        ("bedrock:GetEvaluationJob", "evaluation-job/*", ""),
        ("bedrock:StopEvaluationJob", "evaluation-job/*", "tagged by this pipeline"),
        ("iam:PassRole", "evaluation role", "PassedToService bedrock.amazonaws.com"),
        ("s3:GetObject", "artifacts objects", ""),
        ("s3:ListBucket", "artifacts bucket", ""),
        ("s3:PutObject", "artifacts objects", ""),
        ("kms:Decrypt", "key", "via s3"),
        ("kms:GenerateDataKey", "key", "via s3"),
    },
    "apply_policy": {
        ("bedrock:GetProvisionedModelThroughput", "provisioned-model/*", ""),
        ("bedrock:DeleteProvisionedModelThroughput", "provisioned-model/*", "tagged by this pipeline"),
        ("bedrock:GetCustomModelDeployment", "custom-model-deployment/*", ""),
        ("bedrock:DeleteCustomModelDeployment", "custom-model-deployment/*", "tagged by this pipeline"),
        ("bedrock:TagResource", "custom-model/*", ""),
    },
    "cleanup": {
        ("bedrock:GetModelCustomizationJob", "model-customization-job/*", ""),
        ("bedrock:StopModelCustomizationJob", "model-customization-job/*", "tagged by this pipeline"),
        ("bedrock:GetProvisionedModelThroughput", "provisioned-model/*", ""),
        ("bedrock:DeleteProvisionedModelThroughput", "provisioned-model/*", "tagged by this pipeline"),
        ("bedrock:ListTagsForResource", "model-customization-job/*", ""),
        ("bedrock:ListTagsForResource", "provisioned-model/*", ""),
        ("bedrock:GetCustomModelDeployment", "custom-model-deployment/*", ""),
        ("bedrock:DeleteCustomModelDeployment", "custom-model-deployment/*", "tagged by this pipeline"),
        ("bedrock:ListTagsForResource", "custom-model-deployment/*", ""),
        ("bedrock:ListEvaluationJobs", "*", ""),
        ("bedrock:GetEvaluationJob", "evaluation-job/*", ""),
        ("bedrock:StopEvaluationJob", "evaluation-job/*", "tagged by this pipeline"),
    },
    "notify": {
        ("sns:Publish", "topic", ""),
        ("kms:GenerateDataKey", "key", "via sns"),
        ("kms:Decrypt", "key", "via sns"),
    },
    "after_execution": {
        ("states:DescribeExecution", "executions of the state machine", ""),
        ("bedrock:ListModelCustomizationJobs", "*", ""),
        ("bedrock:ListProvisionedModelThroughputs", "*", ""),
        ("bedrock:ListCustomModelDeployments", "*", ""),
        ("bedrock:ListTagsForResource", "model-customization-job/*", ""),
        ("bedrock:ListTagsForResource", "provisioned-model/*", ""),
        ("bedrock:ListTagsForResource", "custom-model-deployment/*", ""),
        ("bedrock:GetModelCustomizationJob", "model-customization-job/*", ""),
        ("bedrock:StopModelCustomizationJob", "model-customization-job/*", "tagged by this pipeline"),
        ("bedrock:GetProvisionedModelThroughput", "provisioned-model/*", ""),
        ("bedrock:DeleteProvisionedModelThroughput", "provisioned-model/*", "tagged by this pipeline"),
        ("bedrock:GetCustomModelDeployment", "custom-model-deployment/*", ""),
        ("bedrock:DeleteCustomModelDeployment", "custom-model-deployment/*", "tagged by this pipeline"),
        ("bedrock:ListEvaluationJobs", "*", ""),
        ("bedrock:ListTagsForResource", "evaluation-job/*", ""),
        ("bedrock:GetEvaluationJob", "evaluation-job/*", ""),
        ("bedrock:StopEvaluationJob", "evaluation-job/*", "tagged by this pipeline"),
        ("sns:Publish", "topic", ""),
        ("kms:GenerateDataKey", "key", "via sns"),
        ("kms:Decrypt", "key", "via sns"),
    },
    # With cdk.json's pipeline.sweeper (delete_orphan_models false): no model is listed, read or deleted.
    "sweep": {
        ("bedrock:ListProvisionedModelThroughputs", "*", ""),
        ("bedrock:ListCustomModelDeployments", "*", ""),
        ("bedrock:ListTagsForResource", "provisioned-model/*", ""),
        ("bedrock:ListTagsForResource", "custom-model-deployment/*", ""),
        ("bedrock:GetProvisionedModelThroughput", "provisioned-model/*", ""),
        ("bedrock:DeleteProvisionedModelThroughput", "provisioned-model/*", "tagged by this pipeline"),
        ("bedrock:DeleteCustomModelDeployment", "custom-model-deployment/*", "tagged by this pipeline"),
        ("sns:Publish", "topic", ""),
        ("kms:GenerateDataKey", "key", "via sns"),
        ("kms:Decrypt", "key", "via sns"),
    },
    "record_run": {
        ("states:DescribeExecution", "executions of the state machine", ""),
        ("states:GetExecutionHistory", "executions of the state machine", ""),
        ("dynamodb:PutItem", "runs table", ""),
        ("kms:Decrypt", "key", "via dynamodb"),
        ("kms:Encrypt", "key", "via dynamodb"),
        ("kms:GenerateDataKey", "key", "via dynamodb"),
        ("kms:DescribeKey", "key", "via dynamodb"),
        ("s3:PutObject", "artifacts objects", ""),
        ("kms:GenerateDataKey", "key", "via s3"),
    },
    # The reward function makes no AWS call (customizer.grading.reward).
    "reward": set(),
    "start_run": {
        ("s3:GetObject", "data objects", ""),
        ("s3:GetObjectVersion", "data objects under runs/", ""),
        ("states:StartExecution", "state machine", ""),
        ("kms:Decrypt", "key", "via s3"),
        ("sns:Publish", "topic", ""),
        ("kms:GenerateDataKey", "key", "via sns"),
        ("kms:Decrypt", "key", "via sns"),
        *IDEMPOTENCY,
    },
}


class _Names:
    """Readable names for the resources a statement can name."""

    def __init__(self, synth: Synthesized, function_id: str) -> None:
        stack = synth.stack
        data = synth.logical_id(stack.storage.data_bucket)
        artifacts = synth.logical_id(stack.storage.artifacts_bucket)
        log_group = synth.resources[function_id]["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
        self.names = {
            f"${{{data}.Arn}}": "data bucket",
            f"${{{data}.Arn}}/*": "data objects",
            f"${{{data}.Arn}}/runs/*": "data objects under runs/",
            f"${{{artifacts}.Arn}}": "artifacts bucket",
            f"${{{artifacts}.Arn}}/*": "artifacts objects",
            f"${{{synth.logical_id(stack.storage.key)}.Arn}}": "key",
            f"${{{synth.logical_id(stack.functions.idempotency_table)}.Arn}}": "idempotency table",
            f"${{{synth.logical_id(stack.notifications.topic)}}}": "topic",
            f"${{{synth.logical_id(stack.workflow.state_machine)}}}": "state machine",
            "arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:execution:"
            f"${{{synth.logical_id(stack.workflow.state_machine)}.Name}}:*": "executions of the state machine",
            f"${{{synth.logical_id(stack.records.table)}.Arn}}": "runs table",
            f"${{{synth.logical_id(stack.customization_role.role)}.Arn}}": "customization role",
            f"${{{synth.logical_id(stack.functions.evaluation_role)}.Arn}}": "evaluation role",
            f"${{{artifacts}.Arn}}/runs/*/evaluation/judge/*": "judge files",
            f"${{{log_group}.Arn}}": "own log group",
            f"${{{synth.logical_id(stack.grader.function)}.Arn}}": "reward function",
            FOUNDATION_MODELS: "foundation-model/*",
            FOUNDATION_MODELS_ANY_REGION: "foundation-model/* in any region",
            "*": "*",
        }

    def __call__(self, resource: str) -> str:
        if resource.startswith(BEDROCK):
            return resource.removeprefix(BEDROCK)
        return self.names.get(resource, f"UNKNOWN {resource}")


def _condition(statement: dict[str, Any]) -> str:
    condition = statement.get("Condition")
    if not condition:
        return ""
    if "kms:ViaService" in condition.get("StringEquals", {}):
        service = condition["StringEquals"]["kms:ViaService"]
        assert service.endswith(".${AWS::Region}.amazonaws.com"), service
        return "via " + str(service).split(".")[0]
    if "iam:PassedToService" in condition.get("StringEquals", {}):
        return "PassedToService " + str(condition["StringEquals"]["iam:PassedToService"])
    tag = condition.get("StringEquals", {}).get(f"aws:ResourceTag/{PIPELINE_TAG_KEY}")
    if tag is not None:
        assert tag == STACK_ID, tag  # this deployment's pipeline tag
        return "tagged by this pipeline"
    if "bedrock:InferenceProfileArn" in condition.get("StringLike", {}):
        profiles = as_list(condition["StringLike"]["bedrock:InferenceProfileArn"])
        assert all(p.startswith(BEDROCK) for p in profiles), profiles  # this account's and region's profiles only
        return "through " + ", ".join(str(p).removeprefix(BEDROCK) for p in profiles)
    return f"UNKNOWN {condition}"


def _grants(synth: Synthesized, function_id: str, statements: list[dict[str, Any]]) -> set[tuple[str, str, str]]:
    name = _Names(synth, function_id)
    grants = set()
    for statement in statements:
        assert statement["Effect"] == "Allow"
        for action in as_list(statement["Action"]):
            for resource in as_list(statement["Resource"]):
                grants.add((action, name(resource), _condition(statement)))
    return grants


def test_every_handler_has_a_function(functions_by_module: dict[str, str]) -> None:
    assert set(functions_by_module) == set(EXPECTED)


@pytest.mark.parametrize("module", sorted(EXPECTED))
def test_function_role_allows_exactly_what_its_handler_calls(
    synth: Synthesized,
    functions_by_module: dict[str, str],
    function_statements: dict[str, list[dict[str, Any]]],
    module: str,
) -> None:
    grants = _grants(synth, functions_by_module[module], function_statements[module])
    assert grants - COMMON == EXPECTED[module]
    assert grants >= COMMON


def test_every_function_has_its_own_role_trusted_by_lambda_only(
    synth: Synthesized, functions_by_module: dict[str, str]
) -> None:
    roles = [synth.resources[f]["Properties"]["Role"]["Fn::GetAtt"][0] for f in functions_by_module.values()]
    assert len(set(roles)) == len(roles)
    for role_id in roles:
        role = synth.resources[role_id]["Properties"]
        assert role["AssumeRolePolicyDocument"]["Statement"] == [
            {"Action": "sts:AssumeRole", "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}}
        ]
        assert "ManagedPolicyArns" not in role


def _all_statements(synth: Synthesized) -> list[dict[str, Any]]:
    statements = []
    for resource in synth.resources.values():
        if resource["Type"] == "AWS::IAM::Policy":
            statements.extend(resource["Properties"]["PolicyDocument"]["Statement"])
        if resource["Type"] == "AWS::IAM::Role":
            for inline in resource["Properties"].get("Policies", []):
                statements.extend(inline["PolicyDocument"]["Statement"])
    return [resolve(s) for s in statements]


def test_no_policy_in_the_stack_allows_a_wildcard_action(synth: Synthesized) -> None:
    statements = _all_statements(synth)
    assert statements
    for statement in statements:
        for action in as_list(statement["Action"]):
            assert "*" not in action, statement


def test_pass_role_only_hands_the_service_roles_to_bedrock(synth: Synthesized) -> None:
    customization = "${" + synth.logical_id(synth.stack.customization_role.role) + ".Arn}"
    evaluation = "${" + synth.logical_id(synth.stack.functions.evaluation_role) + ".Arn}"
    passes = [s for s in _all_statements(synth) if "iam:PassRole" in as_list(s["Action"])]
    assert sorted(p["Resource"] for p in passes) == sorted([customization, evaluation])
    for statement in passes:
        assert statement["Action"] == "iam:PassRole"
        assert statement["Condition"] == {"StringEquals": {"iam:PassedToService": "bedrock.amazonaws.com"}}


def test_evaluation_role_is_bedrocks_for_this_accounts_evaluation_jobs_and_reads_only_the_judge_files(
    synth: Synthesized, role_statements: Any, functions_by_module: dict[str, str]
) -> None:
    role_id = synth.logical_id(synth.stack.functions.evaluation_role)
    role = synth.resources[role_id]["Properties"]
    (trust,) = resolve(role["AssumeRolePolicyDocument"]["Statement"])
    assert trust["Principal"] == {"Service": "bedrock.amazonaws.com"}
    assert trust["Condition"] == {
        "StringEquals": {"aws:SourceAccount": "${AWS::AccountId}"},
        "ArnLike": {"aws:SourceArn": BEDROCK + "evaluation-job/*"},
    }
    grants = _grants(synth, functions_by_module["validate_run"], role_statements(role_id))
    assert grants == {
        ("s3:GetObject", "judge files", ""),
        ("s3:PutObject", "judge files", ""),
        ("s3:ListBucket", "artifacts bucket", ""),
        ("bedrock:InvokeModel", "foundation-model/*", ""),
        ("bedrock:InvokeModel", "inference-profile/*", ""),
        ("kms:Decrypt", "key", "via s3"),
        ("kms:GenerateDataKey", "key", "via s3"),
        ("kms:DescribeKey", "key", "via s3"),
        ("kms:Decrypt", "key", "via bedrock"),
        ("kms:GenerateDataKey", "key", "via bedrock"),
        ("kms:DescribeKey", "key", "via bedrock"),
    }


def test_every_key_use_by_a_function_is_limited_to_a_service_acting_for_it(
    function_statements: dict[str, list[dict[str, Any]]],
) -> None:
    for module, statements in function_statements.items():
        for statement in statements:
            if any(a.startswith("kms:") for a in as_list(statement["Action"])):
                assert "kms:ViaService" in statement.get("Condition", {}).get("StringEquals", {}), module


def test_customization_role_is_assumed_only_by_bedrock_for_this_accounts_jobs(synth: Synthesized) -> None:
    role = synth.resources[synth.logical_id(synth.stack.customization_role.role)]["Properties"]
    (statement,) = resolve(role["AssumeRolePolicyDocument"]["Statement"])
    assert statement == {
        "Action": "sts:AssumeRole",
        "Effect": "Allow",
        "Principal": {"Service": "bedrock.amazonaws.com"},
        "Condition": {
            "StringEquals": {"aws:SourceAccount": "${AWS::AccountId}"},
            "ArnLike": {"aws:SourceArn": BEDROCK + "model-customization-job/*"},
        },
    }
    assert "ManagedPolicyArns" not in role


def test_customization_role_reads_data_writes_artifacts_and_uses_the_key(
    synth: Synthesized, role_statements: Any, functions_by_module: dict[str, str]
) -> None:
    role_id = synth.logical_id(synth.stack.customization_role.role)
    # _Names needs a function for "own log group"; the service role has none, any function will do.
    grants = _grants(synth, functions_by_module["validate_run"], role_statements(role_id))
    assert grants == {
        ("s3:GetObject", "data objects", ""),
        ("s3:ListBucket", "data bucket", ""),
        ("s3:GetObject", "artifacts objects", ""),
        ("s3:PutObject", "artifacts objects", ""),
        ("s3:ListBucket", "artifacts bucket", ""),
        ("kms:Decrypt", "key", "via s3"),
        ("kms:GenerateDataKey", "key", "via s3"),
        ("kms:Decrypt", "key", "via bedrock"),
        ("kms:GenerateDataKey", "key", "via bedrock"),
        ("kms:DescribeKey", "key", "via bedrock"),
        ("kms:CreateGrant", "key", "via bedrock"),
        # RFT jobs: Bedrock calls the run's grader with this role (user guide, "Lambda permissions for reward
        # functions"); cdk.json names no user's own grader (pipeline.grader_lambda_arns).
        ("lambda:InvokeFunction", "reward function", ""),
    }


def test_state_machine_invokes_only_the_workflow_functions(
    synth: Synthesized, state_machine: dict[str, Any], role_statements: Any, functions_by_module: dict[str, str]
) -> None:
    role_id = state_machine["RoleArn"]["Fn::GetAtt"][0]
    invoked = set()
    for statement in role_statements(role_id):
        if "lambda:InvokeFunction" in as_list(statement["Action"]):
            assert as_list(statement["Action"]) == ["lambda:InvokeFunction"]
            invoked |= {r.removesuffix(":*") for r in as_list(statement["Resource"])}
    # invoked by S3 and EventBridge, not by the state machine
    outside = ("start_run", "after_execution", "record_run", "sweep", "reward")
    workflow = {f"${{{fid}.Arn}}" for module, fid in functions_by_module.items() if module not in outside}
    assert invoked == workflow


def test_the_state_machine_runs_its_distributed_map_on_itself_only(
    synth: Synthesized, state_machine: dict[str, Any], role_statements: Any
) -> None:
    # The evaluation's Distributed Map runs each chunk as a child execution of this same state machine: it may
    # start this state machine, and describe, stop and redrive its own executions and map runs, nothing else.
    role_id = state_machine["RoleArn"]["Fn::GetAtt"][0]
    machine = synth.logical_id(synth.stack.workflow.state_machine)
    executions = "arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:execution:"
    grants = set()
    for statement in role_statements(role_id):
        for action in as_list(statement["Action"]):
            if action.startswith("states:"):
                for resource in as_list(statement["Resource"]):
                    if resource == "${" + machine + "}":
                        grants.add((action, "this state machine"))
                        continue
                    # the state machine's name, as CDK takes it from its ARN (Fn::Select / Fn::Split of the Ref)
                    assert resource.startswith(executions) and "${" + machine + "}" in resource, resource
                    grants.add((action, "its map runs" if resource.endswith("/*:*") else "its executions"))
    assert grants == {
        ("states:StartExecution", "this state machine"),
        ("states:DescribeExecution", "its executions"),
        ("states:StopExecution", "its executions"),
        ("states:RedriveExecution", "its map runs"),
    }
