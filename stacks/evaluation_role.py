"""The service role Bedrock assumes to run the judge's evaluation jobs (``settings.evaluation.judge``): it reads
the judge's datasets, writes the judge's output, invokes the judge model, and uses the pipeline key. Kept apart
from the customization role: an evaluation job can read only the judge's files, never the training data.

The permissions follow the user guide's "Required service role permissions for creating a model evaluation job
that uses a judge model" (S3 read of the prompt datasets, S3 write of the output, bedrock:InvokeModel on the
evaluator model)."""

from __future__ import annotations

from aws_cdk import Aws
from aws_cdk import aws_iam as iam
from constructs import Construct

from stacks import arns, constants
from stacks.nag import acknowledge_bedrock_wildcards, acknowledge_object_wildcard
from stacks.storage import Storage

# Where the judge's files are, under each run's report prefix in the artifacts bucket (customizer.evaluation.judge).
JUDGE_FILES = "runs/*/evaluation/judge/*"
JUDGE_FILES_REASON = (
    "The judge's datasets and output are written per run under runs/<run id>/evaluation/judge/, with the run id "
    "made at run time; the role can read and write only that part of each run's prefix."
)


def evaluation_jobs(scope: Construct) -> str:
    return arns.bedrock_resources(scope, "evaluation-job")


class EvaluationRole(Construct):
    """The role passed to CreateEvaluationJob (``roleArn``)."""

    def __init__(self, scope: Construct, construct_id: str, *, storage: Storage) -> None:
        super().__init__(scope, construct_id)
        # Only Bedrock, only for this account's evaluation jobs (confused-deputy protection).
        principal = iam.ServicePrincipal(constants.BEDROCK_SERVICE).with_conditions(
            {
                "StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID},
                "ArnLike": {"aws:SourceArn": evaluation_jobs(self)},
            }
        )
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=principal,
            description="Assumed by Amazon Bedrock to run this pipeline's judge evaluation jobs",
        )
        artifacts, key_arn = storage.artifacts_bucket, storage.key.key_arn
        # Bedrock reads the judge's datasets (both models' saved answers) and writes its scores beside them.
        self.role.add_to_policy(
            iam.PolicyStatement(
                actions=["s3:GetObject", "s3:PutObject"], resources=[artifacts.arn_for_objects(JUDGE_FILES)]
            )
        )
        # Bedrock lists the dataset and output locations (a missing file is a 404, not a 403).
        self.role.add_to_policy(iam.PolicyStatement(actions=["s3:ListBucket"], resources=[artifacts.bucket_arn]))
        # The judge model grades each answer; a run may choose any judge model (settings.evaluation.judge.model_id),
        # called by its id or by a cross-region inference profile.
        self.role.add_to_policy(
            iam.PolicyStatement(
                actions=["bedrock:InvokeModel"],
                resources=[arns.foundation_models(self), arns.inference_profiles(self)],
            )
        )
        # The artifacts bucket is encrypted with the pipeline key, and so is the job's output
        # (customerEncryptionKeyId): both through S3 and Bedrock only.
        for service in ("s3", "bedrock"):
            self.role.add_to_policy(
                iam.PolicyStatement(
                    actions=["kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey"],
                    resources=[key_arn],
                    conditions=arns.via_service(service),
                )
            )
        # The job's data is encrypted with the pipeline key (customerEncryptionKeyId): Bedrock itself, as the service
        # principal, stores a temporary copy of it with that key. The statement is the user guide's ("Required Key
        # policy elements to encrypt your model evaluation job using AWS KMS", model-evaluation-security-kms,
        # read 2026-12-02): GenerateDataKey, Decrypt and DescribeKey, only for this account's evaluation jobs.
        storage.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="BedrockEvaluationJobsOfThisAccount",
                principals=[iam.ServicePrincipal(constants.BEDROCK_SERVICE)],
                actions=["kms:GenerateDataKey", "kms:Decrypt", "kms:DescribeKey"],
                resources=["*"],
                conditions={
                    "StringLike": {
                        "kms:EncryptionContext:evaluationJobArn": evaluation_jobs(self),
                        "aws:SourceArn": evaluation_jobs(self),
                    }
                },
            )
        )
        acknowledge_object_wildcard(self.role, artifacts, JUDGE_FILES, JUDGE_FILES_REASON)
        acknowledge_bedrock_wildcards(self.role, "foundation-model", "inference-profile")
