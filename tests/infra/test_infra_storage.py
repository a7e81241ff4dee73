"""Storage: the key, the three buckets, their encryption, versioning, public access, TLS and logging."""

from __future__ import annotations

from typing import Any

import pytest
from aws_cdk.assertions import Match

from tests.infra.template_tools import Synthesized, as_list, resolve


def _buckets(synth: Synthesized) -> dict[str, dict[str, Any]]:
    stack = synth.stack
    return {
        "data": synth.resources[synth.logical_id(stack.storage.data_bucket)],
        "artifacts": synth.resources[synth.logical_id(stack.storage.artifacts_bucket)],
        "access_logs": synth.resources[synth.logical_id(stack.storage.access_logs_bucket)],
    }


def test_one_key_with_rotation(synth: Synthesized) -> None:
    synth.template.resource_count_is("AWS::KMS::Key", 1)
    synth.template.has_resource_properties("AWS::KMS::Key", {"EnableKeyRotation": True})


def test_three_buckets(synth: Synthesized) -> None:
    synth.template.resource_count_is("AWS::S3::Bucket", 3)


@pytest.mark.parametrize("name", ["data", "artifacts", "access_logs"])
def test_every_bucket_is_versioned_private_and_owner_enforced(synth: Synthesized, name: str) -> None:
    properties = _buckets(synth)[name]["Properties"]
    assert properties["VersioningConfiguration"] == {"Status": "Enabled"}
    assert properties["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert properties["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}


@pytest.mark.parametrize("name", ["data", "artifacts"])
def test_data_and_artifacts_use_the_pipeline_key(synth: Synthesized, name: str) -> None:
    encryption = _buckets(synth)[name]["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    key_id = synth.logical_id(synth.stack.storage.key)
    assert encryption == [
        {
            "BucketKeyEnabled": True,
            "ServerSideEncryptionByDefault": {
                "KMSMasterKeyID": {"Fn::GetAtt": [key_id, "Arn"]},
                "SSEAlgorithm": "aws:kms",
            },
        }
    ]


def test_access_logs_bucket_uses_s3_managed_keys_as_server_access_logging_requires(synth: Synthesized) -> None:
    encryption = _buckets(synth)["access_logs"]["Properties"]["BucketEncryption"]
    assert encryption == {
        "ServerSideEncryptionConfiguration": [{"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
    }


@pytest.mark.parametrize(("name", "prefix"), [("data", "data-bucket/"), ("artifacts", "artifacts-bucket/")])
def test_data_and_artifacts_log_to_the_access_logs_bucket(synth: Synthesized, name: str, prefix: str) -> None:
    logs_id = synth.logical_id(synth.stack.storage.access_logs_bucket)
    assert _buckets(synth)[name]["Properties"]["LoggingConfiguration"] == {
        "DestinationBucketName": {"Ref": logs_id},
        "LogFilePrefix": prefix,
    }


def test_access_logs_bucket_does_not_log_into_itself(synth: Synthesized) -> None:
    assert "LoggingConfiguration" not in _buckets(synth)["access_logs"]["Properties"]


def test_access_logs_bucket_accepts_deliveries_from_s3_logging_for_both_buckets(synth: Synthesized) -> None:
    logs_id = synth.logical_id(synth.stack.storage.access_logs_bucket)
    policy = _bucket_policy(synth, logs_id)
    sources = {
        resolve(s["Condition"]["ArnLike"]["aws:SourceArn"])
        for s in policy
        if s.get("Principal") == {"Service": "logging.s3.amazonaws.com"} and s["Action"] == "s3:PutObject"
    }
    assert sources == {
        "${" + synth.logical_id(synth.stack.storage.data_bucket) + ".Arn}",
        "${" + synth.logical_id(synth.stack.storage.artifacts_bucket) + ".Arn}",
    }


def _bucket_policy(synth: Synthesized, bucket_id: str) -> list[dict[str, Any]]:
    for resource in synth.of_type("AWS::S3::BucketPolicy").values():
        if resource["Properties"]["Bucket"] == {"Ref": bucket_id}:
            statements: list[dict[str, Any]] = resource["Properties"]["PolicyDocument"]["Statement"]
            return statements
    raise AssertionError(f"no bucket policy for {bucket_id}")


@pytest.mark.parametrize("name", ["data", "artifacts", "access_logs"])
def test_every_bucket_denies_requests_without_tls(synth: Synthesized, name: str) -> None:
    bucket_id = {
        "data": synth.stack.storage.data_bucket,
        "artifacts": synth.stack.storage.artifacts_bucket,
        "access_logs": synth.stack.storage.access_logs_bucket,
    }[name]
    logical_id = synth.logical_id(bucket_id)
    denies = [
        s
        for s in _bucket_policy(synth, logical_id)
        if s["Effect"] == "Deny" and s.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}
    ]
    assert len(denies) == 1
    assert denies[0]["Action"] == "s3:*"
    assert denies[0]["Principal"] == {"AWS": "*"}
    assert {resolve(r) for r in as_list(denies[0]["Resource"])} == {
        "${" + logical_id + ".Arn}",
        "${" + logical_id + ".Arn}/*",
    }


def test_key_policy_lets_bedrock_use_the_key_through_the_customization_role(synth: Synthesized) -> None:
    role_id = synth.logical_id(synth.stack.customization_role.role)
    synth.template.has_resource_properties(
        "AWS::KMS::Key",
        {
            "KeyPolicy": {
                "Statement": Match.array_with(
                    [
                        {
                            "Sid": "BedrockCustomModelThroughCustomizationRole",
                            "Effect": "Allow",
                            "Principal": {"AWS": {"Fn::GetAtt": [role_id, "Arn"]}},
                            "Action": ["kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey", "kms:CreateGrant"],
                            "Resource": "*",
                            "Condition": {
                                "StringEquals": {
                                    "kms:ViaService": {
                                        "Fn::Join": ["", ["bedrock.", {"Ref": "AWS::Region"}, ".amazonaws.com"]]
                                    }
                                }
                            },
                        }
                    ]
                )
            }
        },
    )


def test_data_holding_resources_are_retained_when_the_stack_is_deleted(synth: Synthesized) -> None:
    for construct in (synth.stack.storage.key, synth.stack.storage.data_bucket, synth.stack.storage.artifacts_bucket):
        resource = synth.resources[synth.logical_id(construct)]
        assert resource["DeletionPolicy"] == "Retain"


def test_key_policy_lets_bedrock_serve_a_custom_nova_model_on_provisioned_throughput(synth: Synthesized) -> None:
    # Issue 15, finding 1: the Nova user guide's PermissionsNovaProvisionedThroughput statement, for the service.
    synth.template.has_resource_properties(
        "AWS::KMS::Key",
        {
            "KeyPolicy": {
                "Statement": Match.array_with(
                    [
                        {
                            "Sid": "PermissionsNovaProvisionedThroughput",
                            "Effect": "Allow",
                            "Principal": {"Service": "bedrock.amazonaws.com"},
                            "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
                            "Resource": "*",
                            "Condition": {
                                "ForAnyValue:StringEquals": {"kms:EncryptionContextKeys": "aws:bedrock:custom-model"}
                            },
                        }
                    ]
                )
            }
        },
    )


def test_every_log_group_is_encrypted_with_the_stacks_key_and_logs_may_use_it(synth: Synthesized) -> None:
    # Issue 15, item 5: the functions' and the state machine's log groups, with the key policy CloudWatch Logs needs.
    key_id = synth.logical_id(synth.stack.storage.key)
    groups = synth.of_type("AWS::Logs::LogGroup")
    assert len(groups) >= len(synth.of_type("AWS::Lambda::Function")) - 1  # CDK's notifications handler has none
    for group in groups.values():
        assert group["Properties"]["KmsKeyId"] == {"Fn::GetAtt": [key_id, "Arn"]}
    statements = resolve(synth.resources[key_id]["Properties"]["KeyPolicy"]["Statement"])
    (for_logs,) = [s for s in statements if s.get("Sid") == "CloudWatchLogsOfThisAccountAndRegion"]
    assert for_logs["Principal"] == {"Service": "logs.${AWS::Region}.amazonaws.com"}
    assert for_logs["Condition"] == {
        "ArnLike": {
            "kms:EncryptionContext:aws:logs:arn": "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:*"
        }
    }


def test_key_policy_lets_bedrock_keep_an_evaluation_jobs_copy_of_its_data(synth: Synthesized) -> None:
    # Issue 15: the judge's evaluation jobs are encrypted with the key (customerEncryptionKeyId); the user guide's
    # "Required Key policy elements to encrypt your model evaluation job using AWS KMS" statement, for the service.
    statements = resolve(
        synth.resources[synth.logical_id(synth.stack.storage.key)]["Properties"]["KeyPolicy"]["Statement"]
    )
    (for_jobs,) = [s for s in statements if s.get("Sid") == "BedrockEvaluationJobsOfThisAccount"]
    assert for_jobs["Principal"] == {"Service": "bedrock.amazonaws.com"}
    assert sorted(for_jobs["Action"]) == ["kms:Decrypt", "kms:DescribeKey", "kms:GenerateDataKey"]
    jobs = "arn:${AWS::Partition}:bedrock:${AWS::Region}:${AWS::AccountId}:evaluation-job/*"
    assert for_jobs["Condition"] == {
        "StringLike": {"kms:EncryptionContext:evaluationJobArn": jobs, "aws:SourceArn": jobs}
    }
