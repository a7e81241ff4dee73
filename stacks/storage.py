"""Storage: the KMS key, the data bucket users upload to, the artifacts bucket the pipeline writes to,
and the access-logs bucket both log into.

Job output, metrics and reports go to the artifacts bucket, never to the data bucket: an object written
under the run prefix of the data bucket would start another run."""

from __future__ import annotations

from aws_cdk import Aws
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from stacks import constants


class Storage(Construct):
    """The encryption key and the three buckets."""

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.key = self._build_key()
        self.access_logs_bucket = self._build_access_logs_bucket()
        self.data_bucket = self._build_kms_bucket("DataBucket", constants.DATA_ACCESS_LOGS_PREFIX)
        self.artifacts_bucket = self._build_kms_bucket("ArtifactsBucket", constants.ARTIFACTS_ACCESS_LOGS_PREFIX)

    def _build_key(self) -> kms.Key:
        key = kms.Key(
            self,
            "Key",
            description="Bedrock customization pipeline: data, artifacts, custom models, topic, tables, log groups",
            enable_key_rotation=True,
        )
        # The log groups are encrypted with this key: CloudWatch Logs uses it for the log groups of this account
        # and region only (the statement of the CloudWatch Logs user guide, "Encrypt log data in CloudWatch Logs
        # using AWS Key Management Service", step 2, with its kms:EncryptionContext:aws:logs:arn condition).
        key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudWatchLogsOfThisAccountAndRegion",
                principals=[iam.ServicePrincipal(f"logs.{Aws.REGION}.amazonaws.com")],
                actions=["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
                resources=["*"],
                conditions={
                    "ArnLike": {
                        "kms:EncryptionContext:aws:logs:arn": (
                            f"arn:{Aws.PARTITION}:logs:{Aws.REGION}:{Aws.ACCOUNT_ID}:log-group:*"
                        )
                    }
                },
            )
        )
        return key

    def _build_access_logs_bucket(self) -> s3.Bucket:
        # It keeps no access log of its own (it would log its own deliveries); cdk-nag's S1 accepts that for a
        # bucket that receives other buckets' server access logs.
        return s3.Bucket(
            self,
            "AccessLogsBucket",
            # S3 server access logging can only deliver to a bucket with S3-managed keys (SSE-S3).
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            versioned=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            lifecycle_rules=[
                s3.LifecycleRule(
                    expiration=constants.ACCESS_LOGS_EXPIRATION,
                    noncurrent_version_expiration=constants.ACCESS_LOGS_NONCURRENT_EXPIRATION,
                )
            ],
        )

    def _build_kms_bucket(self, construct_id: str, log_prefix: str) -> s3.Bucket:
        return s3.Bucket(
            self,
            construct_id,
            encryption=s3.BucketEncryption.KMS,
            encryption_key=self.key,
            bucket_key_enabled=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            versioned=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            server_access_logs_bucket=self.access_logs_bucket,
            server_access_logs_prefix=log_prefix,
        )
