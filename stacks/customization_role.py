"""The service role Bedrock assumes to run a customization job: it reads the run's data, writes the job
output, and encrypts the custom model with the pipeline key."""

from __future__ import annotations

from aws_cdk import Aws
from aws_cdk import aws_iam as iam
from constructs import Construct

from stacks import arns, constants
from stacks.nag import ARTIFACTS_OBJECTS_REASON, DATA_OBJECTS_REASON, acknowledge_object_wildcard
from stacks.storage import Storage

# What Bedrock needs of the key to encrypt the custom model it trains (customModelKmsKeyId).
MODEL_KEY_ACTIONS = ["kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey", "kms:CreateGrant"]
# The encryption-context key of the data Bedrock encrypts for a custom Nova model's provisioned throughput: the Nova
# user guide's PermissionsNovaProvisionedThroughput statement ("Encryption of Amazon Nova model customization jobs
# and artifacts") gives "kms:EncryptionContextKeys": "aws:bedrock:custom-model" (checked 2026-12-02; the earlier
# "aws-crypto-ec:aws:bedrock:arn" here was written from memory and matched nothing Bedrock sends).
NOVA_THROUGHPUT_CONTEXT_KEY = "aws:bedrock:custom-model"


class CustomizationRole(Construct):
    """The role passed to CreateModelCustomizationJob (``roleArn``)."""

    def __init__(self, scope: Construct, construct_id: str, *, storage: Storage) -> None:
        super().__init__(scope, construct_id)
        self._storage = storage
        self.role = self._build_role()
        self._build_data_access()
        self._build_key_access()
        self._build_key_policy()

    def _build_role(self) -> iam.Role:
        # Only Bedrock, only for this account's customization jobs (confused-deputy protection).
        principal = iam.ServicePrincipal(constants.BEDROCK_SERVICE).with_conditions(
            {
                "StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID},
                "ArnLike": {"aws:SourceArn": arns.customization_jobs(self)},
            }
        )
        return iam.Role(
            self,
            "Role",
            assumed_by=principal,
            description="Assumed by Amazon Bedrock to run this pipeline's model customization jobs",
        )

    def _build_data_access(self) -> None:
        data, artifacts = self._storage.data_bucket, self._storage.artifacts_bucket
        # Bedrock reads the training and validation files the run names in the data bucket.
        self.role.add_to_policy(iam.PolicyStatement(actions=["s3:GetObject"], resources=[data.arn_for_objects("*")]))
        # Listing lets Bedrock tell a missing file (404) from a forbidden one (403).
        self.role.add_to_policy(iam.PolicyStatement(actions=["s3:ListBucket"], resources=[data.bucket_arn]))
        # Bedrock writes the job output (metrics, manifests) under the run's output prefix and reads it back.
        self.role.add_to_policy(
            iam.PolicyStatement(actions=["s3:GetObject", "s3:PutObject"], resources=[artifacts.arn_for_objects("*")])
        )
        # Bedrock lists the output location before writing to it.
        self.role.add_to_policy(iam.PolicyStatement(actions=["s3:ListBucket"], resources=[artifacts.bucket_arn]))
        acknowledge_object_wildcard(self.role, data, "*", DATA_OBJECTS_REASON)
        acknowledge_object_wildcard(self.role, artifacts, "*", ARTIFACTS_OBJECTS_REASON)

    def _build_key_access(self) -> None:
        key_arn = self._storage.key.key_arn
        # Both buckets are encrypted with the pipeline key: reading the data and writing the output go through S3.
        self.role.add_to_policy(
            iam.PolicyStatement(
                actions=["kms:Decrypt", "kms:GenerateDataKey"],
                resources=[key_arn],
                conditions=arns.via_service("s3"),
            )
        )
        # Bedrock encrypts the custom model with the pipeline key (the job's customModelKmsKeyId).
        self.role.add_to_policy(
            iam.PolicyStatement(actions=MODEL_KEY_ACTIONS, resources=[key_arn], conditions=arns.via_service("bedrock"))
        )

    def _build_key_policy(self) -> None:
        # The key policy names the role too, so Bedrock can use the key for the custom model through it.
        self._storage.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="BedrockCustomModelThroughCustomizationRole",
                principals=[iam.ArnPrincipal(self.role.role_arn)],
                actions=MODEL_KEY_ACTIONS,
                resources=["*"],
                conditions=arns.via_service("bedrock"),
            )
        )
        # Provisioned throughput for a custom Nova model: Bedrock itself optimizes the model for serving and uses
        # the key the model is encrypted with, as the bedrock.amazonaws.com service principal. The statement is
        # the Nova user guide's "PermissionsNovaProvisionedThroughput" ("Encryption of Amazon Nova model
        # customization jobs and artifacts"): Decrypt and GenerateDataKey, only for data whose encryption context
        # has the custom-model key.
        self._storage.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="PermissionsNovaProvisionedThroughput",
                principals=[iam.ServicePrincipal(constants.BEDROCK_SERVICE)],
                actions=["kms:Decrypt", "kms:GenerateDataKey"],
                resources=["*"],
                conditions={"ForAnyValue:StringEquals": {"kms:EncryptionContextKeys": NOVA_THROUGHPUT_CONTEXT_KEY}},
            )
        )
