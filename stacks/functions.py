"""One Lambda function per step (see docs/design.md), each with its own role that allows only the calls
its handler makes, its own log group, the AWS-published Powertools layer and the stack's SDK layer.

Every function runs ``lambdas/`` as its code; nothing else is packaged: the pinned boto3 comes with the SDK
layer (``stacks/sdk_layer.py``) and Powertools (with pydantic and the X-Ray SDK) with the Powertools layer."""

from __future__ import annotations

from pathlib import Path

import jsii
from aws_cdk import ArnFormat, RemovalPolicy, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_ssm as ssm
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct, IConstruct

from customizer.jobs import PIPELINE_TAG_KEY
from customizer.settings import DeploymentSettings
from stacks import arns, constants
from stacks.constants import FunctionSpec
from stacks.evaluation_role import EvaluationRole, evaluation_jobs
from stacks.log_groups import log_group
from stacks.nag import (
    ARTIFACTS_OBJECTS_REASON,
    DATA_OBJECTS_REASON,
    RUN_PREFIX_REASON,
    acknowledge,
    acknowledge_bedrock_wildcards,
    acknowledge_cross_region_foundation_models,
    acknowledge_object_wildcard,
)
from stacks.sdk_layer import SdkLayer
from stacks.storage import Storage

LAMBDA_ASSET_PATH = Path(__file__).resolve().parent.parent / constants.LAMBDA_ASSET_DIR
RUNTIME = lambda_.Runtime.PYTHON_3_12
ARCHITECTURE = lambda_.Architecture.X86_64
# What Powertools' DynamoDBPersistenceLayer calls on the idempotency table.
IDEMPOTENCY_TABLE_ACTIONS = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"]
# What a caller needs of a customer managed key to read and write a DynamoDB table encrypted with it.
TABLE_KEY_ACTIONS = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey"]


@jsii.implements(lambda_.IDestination)
class _TopicDestination:
    """An SNS on-failure destination without CDK's own grant (which uses a ``kms:GenerateDataKey*``
    wildcard): the function's role gets commented, exact statements instead."""

    def __init__(self, topic: sns.ITopic) -> None:
        self._topic = topic

    def bind(
        self, scope: Construct, fn: lambda_.IFunction, *, type: lambda_.DestinationType | None = None
    ) -> lambda_.DestinationConfig:
        return lambda_.DestinationConfig(destination=self._topic.topic_arn)


class Functions(Construct):
    """The step functions of the workflow, and ``start_run`` (built once the state machine exists)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: DeploymentSettings,
        storage: Storage,
        customization_role: iam.IRole,
        topic: sns.ITopic,
    ) -> None:
        super().__init__(scope, construct_id)
        self._settings = settings
        self._storage = storage
        self._customization_role = customization_role
        self._topic = topic
        self.key = storage.key
        self._code = lambda_.Code.from_asset(str(LAMBDA_ASSET_PATH), exclude=list(constants.LAMBDA_ASSET_EXCLUDE))
        self._layer = self._build_powertools_layer()
        self.sdk_layer = SdkLayer(self, "SdkLayer", runtime=RUNTIME, architecture=ARCHITECTURE)
        self.idempotency_table = self._build_idempotency_table()

        self.validate_run = self._build_validate_run()
        self.create_job = self._build_create_job()
        self.check_job = self._build_check_job()
        self.create_throughput = self._build_create_throughput()
        self.check_throughput = self._build_check_throughput()
        self.plan_evaluation = self._build_plan_evaluation()
        self.evaluate = self._build_evaluate()
        self.evaluate_chunk = self._build_evaluate_chunk()
        self.aggregate_evaluation = self._build_aggregate_evaluation()
        self.evaluation_role = EvaluationRole(self, "EvaluationRole", storage=storage).role
        self.judge = self._build_judge()
        self.apply_policy = self._build_apply_policy()
        self.cleanup = self._build_cleanup()
        self.notify = self._build_notify()
        self.start_run: lambda_.Function | None = None
        self.after_execution: lambda_.Function | None = None
        self.record_run: lambda_.Function | None = None
        self.sweeper: lambda_.Function | None = None

    # --- shared pieces -----------------------------------------------------------------------------

    def _build_powertools_layer(self) -> lambda_.ILayerVersion:
        # The layer ARN of exactly the pinned Powertools version, from the public SSM parameter AWS publishes
        # for each release, resolved by CloudFormation at deploy time: no lookup (and no credentials) at synth.
        arn = ssm.StringParameter.value_for_string_parameter(self, constants.POWERTOOLS_LAYER_PARAMETER)
        return lambda_.LayerVersion.from_layer_version_arn(self, "PowertoolsLayer", arn)

    def _build_idempotency_table(self) -> dynamodb.Table:
        return dynamodb.Table(
            self,
            "IdempotencyTable",
            partition_key=dynamodb.Attribute(
                name=constants.IDEMPOTENCY_PARTITION_KEY, type=dynamodb.AttributeType.STRING
            ),
            time_to_live_attribute=constants.IDEMPOTENCY_TTL_ATTRIBUTE,
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            encryption=dynamodb.TableEncryption.CUSTOMER_MANAGED,
            encryption_key=self._storage.key,
            # Records only guard against duplicate steps and expire on their own: nothing to keep.
            removal_policy=RemovalPolicy.DESTROY,
        )

    def _build_function(self, spec: FunctionSpec, environment: dict[str, str]) -> lambda_.Function:
        logs = log_group(
            self, f"{spec.construct_id}Logs", retention_days=self._settings.log_retention_days, key=self._storage.key
        )
        role = iam.Role(
            self,
            f"{spec.construct_id}Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"Runs the {spec.module} step of the Bedrock customization pipeline",
        )
        # The function writes its own log group and no other (no CreateLogGroup: the group is in the stack).
        role.add_to_policy(
            iam.PolicyStatement(actions=["logs:CreateLogStream", "logs:PutLogEvents"], resources=[logs.log_group_arn])
        )
        function = lambda_.Function(
            self,
            spec.construct_id,
            description=spec.description,
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            handler=spec.handler,
            code=self._code,
            # Any order of layers works: every layer's python/ is extracted into /opt/python, which comes before
            # the runtime's own boto3 (/var/runtime, /var/lang/lib/python3.12/site-packages) on sys.path
            # (https://docs.aws.amazon.com/lambda/latest/dg/python-package.html, "Dependency search path and
            # runtime-included libraries"). The order is only the order in which layers are merged into /opt
            # (https://docs.aws.amazon.com/lambda/latest/dg/adding-layers.html), which matters where two layers
            # hold the same file; the Powertools layer holds no boto3, botocore or s3transfer (its build deletes
            # them: layer_v3/docker/Dockerfile of aws-powertools/powertools-lambda-python). The SDK layer is
            # merged last all the same.
            layers=[self._layer, self.sdk_layer],
            role=role,
            timeout=spec.timeout,
            memory_size=spec.memory_mb,
            # Active tracing makes CDK add xray:PutTraceSegments / PutTelemetryRecords to the role.
            tracing=lambda_.Tracing.ACTIVE,
            log_group=logs,
            environment={
                "POWERTOOLS_SERVICE_NAME": constants.SERVICE_NAME,
                "POWERTOOLS_METRICS_NAMESPACE": constants.METRICS_NAMESPACE,
                **environment,
            },
        )
        acknowledge(
            role,
            "AwsSolutions-IAM5[Resource::*]",
            "X-Ray's PutTraceSegments and PutTelemetryRecords do not support resource-level permissions; "
            "CDK adds exactly these two actions on '*' for active tracing.",
        )
        acknowledge(
            function,
            "AwsSolutions-L1",
            "Python 3.12 is deliberate: it must match the Powertools layer build pinned in stacks/constants.py "
            "(AWSLambdaPowertoolsPythonV3-python312-x86_64); runtime and layer are upgraded together.",
        )
        return function

    def build_function(self, spec: FunctionSpec, environment: dict[str, str]) -> lambda_.Function:
        """A function of the pipeline's kind (its own role, log group, layers) for a construct outside this one."""
        return self._build_function(spec, environment)

    def _role(self, function: lambda_.Function) -> iam.IRole:
        role = function.role
        assert role is not None  # every function is built with its own role
        return role

    def _allow_key_via(self, function: lambda_.Function, service: str, actions: list[str]) -> None:
        # Use of the pipeline key, only through the named service acting for this function.
        self._role(function).add_to_principal_policy(
            iam.PolicyStatement(
                actions=actions, resources=[self._storage.key.key_arn], conditions=arns.via_service(service)
            )
        )

    def _tagged_by_this_pipeline(self) -> dict[str, dict[str, str]]:
        """Only resources carrying this deployment's pipeline tag (set on everything a run creates:
        customizer.jobs.pipeline_tags). aws:ResourceTag/${TagKey} is a condition key of the model-customization-job,
        custom-model, provisioned-model and custom-model-deployment resource types (Service Authorization
        Reference, Amazon Bedrock, resource types table)."""
        return {"StringEquals": {f"aws:ResourceTag/{PIPELINE_TAG_KEY}": Stack.of(self).stack_name}}

    def _allow_deleting_served_models(self, role: iam.IRole) -> None:
        """Read and delete the throughput or on-demand deployment that serves a custom model (both bill)."""
        # Provisioned throughput, and on-demand deployments (settings.serving on_demand): read them, then delete
        # them if this pipeline created them.
        for kind, resource in (
            ("ProvisionedModelThroughput", arns.provisioned_models(self)),
            ("CustomModelDeployment", arns.custom_model_deployments(self)),
        ):
            role.add_to_principal_policy(iam.PolicyStatement(actions=[f"bedrock:Get{kind}"], resources=[resource]))
            role.add_to_principal_policy(
                iam.PolicyStatement(
                    actions=[f"bedrock:Delete{kind}"], resources=[resource], conditions=self._tagged_by_this_pipeline()
                )
            )

    def _allow_stopping_jobs(self, role: iam.IRole) -> None:
        role.add_to_principal_policy(
            iam.PolicyStatement(actions=["bedrock:GetModelCustomizationJob"], resources=[arns.customization_jobs(self)])
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["bedrock:StopModelCustomizationJob"],
                resources=[arns.customization_jobs(self)],
                conditions=self._tagged_by_this_pipeline(),
            )
        )

    def _allow_idempotency_table(self, function: lambda_.Function) -> None:
        # Powertools idempotency records: get, put, update and delete items of this one table.
        self._role(function).add_to_principal_policy(
            iam.PolicyStatement(actions=IDEMPOTENCY_TABLE_ACTIONS, resources=[self.idempotency_table.table_arn])
        )
        # The table is encrypted with the pipeline key; DynamoDB uses it on the caller's behalf.
        self._allow_key_via(function, "dynamodb", TABLE_KEY_ACTIONS)

    # --- the steps ---------------------------------------------------------------------------------

    def _build_validate_run(self) -> lambda_.Function:
        data, artifacts = self._storage.data_bucket, self._storage.artifacts_bucket
        function = self._build_function(
            constants.VALIDATE_RUN,
            {
                "DATA_BUCKET": data.bucket_name,
                "ARTIFACTS_BUCKET": artifacts.bucket_name,
                "RUN_DEFAULTS": self._settings.defaults.model_dump_json(),
                "SWEEPER": self._settings.sweeper.model_dump_json(),
                "RUN_LEASES_TABLE": self.idempotency_table.table_name,
            },
        )
        role = self._role(function)
        # Holds the run's lease, one execution per run (customizer/leases.py): reads and conditionally writes the
        # lease item in the idempotency table. (dynamodb:LeadingKeys "run#*" would narrow it to lease items; the
        # offline enforcement cannot evaluate that key, so it is not used unproven.)
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["dynamodb:GetItem", "dynamodb:PutItem"], resources=[self.idempotency_table.table_arn]
            )
        )
        self._allow_key_via(function, "dynamodb", TABLE_KEY_ACTIONS)
        # Reads the run's data files and run config to check them before any job is created.
        role.add_to_principal_policy(
            iam.PolicyStatement(actions=["s3:GetObject"], resources=[data.arn_for_objects("*")])
        )
        # Lists the objects under settings.invocation_logs.s3_uri (the training data from Bedrock's invocation logs,
        # which lie in the data bucket); a data file is still only read by its key.
        role.add_to_principal_policy(iam.PolicyStatement(actions=["s3:ListBucket"], resources=[data.bucket_arn]))
        # Writes the validation report under the run's report prefix in the artifacts bucket.
        role.add_to_principal_policy(
            iam.PolicyStatement(actions=["s3:PutObject"], resources=[artifacts.arn_for_objects("*")])
        )
        # Asks Bedrock whether the base model is offered for the run's customization in this region, and its
        # lifecycle (GetFoundationModel), before any job; it reads foundation models of this region only.
        role.add_to_principal_policy(
            iam.PolicyStatement(actions=["bedrock:GetFoundationModel"], resources=[arns.foundation_models(self)])
        )
        self._allow_key_via(function, "s3", ["kms:Decrypt", "kms:GenerateDataKey"])
        acknowledge_object_wildcard(role, data, "*", DATA_OBJECTS_REASON)
        acknowledge_object_wildcard(role, artifacts, "*", ARTIFACTS_OBJECTS_REASON)
        acknowledge_bedrock_wildcards(role, "foundation-model")
        return function

    def _build_create_job(self) -> lambda_.Function:
        function = self._build_function(
            constants.CREATE_JOB,
            {
                "CUSTOMIZATION_ROLE_ARN": self._customization_role.role_arn,
                "KMS_KEY_ARN": self._storage.key.key_arn,
                "ARTIFACTS_BUCKET": self._storage.artifacts_bucket.bucket_name,
                "IDEMPOTENCY_TABLE": self.idempotency_table.table_name,
                "PIPELINE_TAG": Stack.of(self).stack_name,
            },
        )
        role = self._role(function)
        # Creates the job (and its custom model) from a base model; names are made per run. Its resource types are
        # custom-model and foundation-model (Service Authorization Reference, Amazon Bedrock, action table: no
        # model-customization-job). The jobTags and customModelTags are part of this request: the reference lists
        # aws:RequestTag and aws:TagKeys as its condition keys and no dependent action (no bedrock:TagResource).
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["bedrock:CreateModelCustomizationJob"],
                resources=[arns.custom_models(self), arns.foundation_models(self)],
            )
        )
        # Finds the job the run already created (idempotent retry) and reads it back after creating it.
        role.add_to_principal_policy(
            iam.PolicyStatement(actions=["bedrock:GetModelCustomizationJob"], resources=[arns.customization_jobs(self)])
        )
        # Hands the customization role to Bedrock, and to nothing else.
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["iam:PassRole"],
                resources=[self._customization_role.role_arn],
                conditions={"StringEquals": {"iam:PassedToService": constants.BEDROCK_SERVICE}},
            )
        )
        self._allow_key_via(
            function, "bedrock", ["kms:DescribeKey", "kms:CreateGrant", "kms:GenerateDataKey", "kms:Decrypt"]
        )
        self._allow_idempotency_table(function)
        acknowledge_bedrock_wildcards(role, "model-customization-job", "custom-model", "foundation-model")
        return function

    def _build_check_job(self) -> lambda_.Function:
        artifacts = self._storage.artifacts_bucket
        function = self._build_function(constants.CHECK_JOB, {"ARTIFACTS_BUCKET": artifacts.bucket_name})
        role = self._role(function)
        # Reads the job's status.
        role.add_to_principal_policy(
            iam.PolicyStatement(actions=["bedrock:GetModelCustomizationJob"], resources=[arns.customization_jobs(self)])
        )
        # Reads the training and validation metric CSVs the job wrote.
        role.add_to_principal_policy(
            iam.PolicyStatement(actions=["s3:GetObject"], resources=[artifacts.arn_for_objects("*")])
        )
        # Listing makes a metrics file the job did not write a 404 (no metrics), not a 403.
        role.add_to_principal_policy(iam.PolicyStatement(actions=["s3:ListBucket"], resources=[artifacts.bucket_arn]))
        # Deletes the smoke job's custom model once that job has completed (it would bill storage, unused), if this
        # pipeline created it.
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["bedrock:DeleteCustomModel"],
                resources=[arns.custom_models(self)],
                conditions=self._tagged_by_this_pipeline(),
            )
        )
        self._allow_key_via(function, "s3", ["kms:Decrypt"])
        acknowledge_bedrock_wildcards(role, "model-customization-job", "custom-model")
        acknowledge_object_wildcard(role, artifacts, "*", ARTIFACTS_OBJECTS_REASON)
        return function

    def _build_create_throughput(self) -> lambda_.Function:
        function = self._build_function(
            constants.CREATE_THROUGHPUT,
            {"IDEMPOTENCY_TABLE": self.idempotency_table.table_name, "PIPELINE_TAG": Stack.of(self).stack_name},
        )
        role = self._role(function)
        # Provisions throughput for the run's custom model. The Service Authorization Reference (Amazon Bedrock)
        # lists custom-model and foundation-model as its required resource types (the custom model's base model
        # is authorized too), and no provisioned-model; the tags are part of the request (aws:RequestTag).
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["bedrock:CreateProvisionedModelThroughput"],
                resources=[arns.custom_models(self), arns.foundation_models(self)],
            )
        )
        # Finds the throughput the run already created (idempotent retry) and reads it back.
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["bedrock:GetProvisionedModelThroughput"], resources=[arns.provisioned_models(self)]
            )
        )
        # settings.serving on_demand: deploys the run's custom model on demand instead. Its one resource type is
        # custom-model (Service Authorization Reference, Amazon Bedrock); the tags are part of the request.
        role.add_to_principal_policy(
            iam.PolicyStatement(actions=["bedrock:CreateCustomModelDeployment"], resources=[arns.custom_models(self)])
        )
        # Finds the deployment the run already created (idempotent retry) and reads it back.
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["bedrock:GetCustomModelDeployment"], resources=[arns.custom_model_deployments(self)]
            )
        )
        self._allow_key_via(function, "bedrock", ["kms:DescribeKey", "kms:CreateGrant", "kms:Decrypt"])
        self._allow_idempotency_table(function)
        acknowledge_bedrock_wildcards(
            role, "provisioned-model", "custom-model", "custom-model-deployment", "foundation-model"
        )
        return function

    def _build_check_throughput(self) -> lambda_.Function:
        function = self._build_function(constants.CHECK_THROUGHPUT, {})
        role = self._role(function)
        # Reads the throughput's status.
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["bedrock:GetProvisionedModelThroughput"], resources=[arns.provisioned_models(self)]
            )
        )
        # Reads the on-demand deployment's status (settings.serving on_demand).
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["bedrock:GetCustomModelDeployment"], resources=[arns.custom_model_deployments(self)]
            )
        )
        acknowledge_bedrock_wildcards(role, "provisioned-model", "custom-model-deployment")
        return function

    def _allow_model_calls(self, role: iam.IRole) -> None:
        # Asks the custom model (through its throughput or on-demand deployment) and the base model (on demand)
        # the test questions, and a distillation's teacher (the third arm: a foundation model of this region, or
        # its cross-region profile, covered by the statements below); Converse is authorized as
        # bedrock:InvokeModel. Only the evaluation functions call models.
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["bedrock:InvokeModel"],
                resources=[
                    arns.provisioned_models(self),
                    arns.custom_model_deployments(self),
                    arns.foundation_models(self),
                ],
            )
        )
        # Bases served on demand only through a cross-region inference profile (Llama 3.2, 3.3) are called by it;
        # settings.evaluation.base_invoke_id may name an application inference profile (README): both are
        # resource types of bedrock:InvokeModel (Service Authorization Reference, Amazon Bedrock).
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["bedrock:InvokeModel"],
                resources=[arns.inference_profiles(self), arns.application_inference_profiles(self)],
            )
        )
        # A profile routes the call to the base model in a region of its geography: only through a profile
        # (bedrock:InferenceProfileArn, a condition key of InvokeModel in the same reference).
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["bedrock:InvokeModel"],
                resources=[arns.foundation_models_in_any_region(self)],
                conditions={
                    "StringLike": {
                        "bedrock:InferenceProfileArn": [
                            arns.inference_profiles(self),
                            arns.application_inference_profiles(self),
                        ]
                    }
                },
            )
        )
        acknowledge_bedrock_wildcards(
            role,
            "provisioned-model",
            "custom-model-deployment",
            "foundation-model",
            "inference-profile",
            "application-inference-profile",
        )
        acknowledge_cross_region_foundation_models(role)

    def _allow_evaluation_files(self, function: lambda_.Function, *, read: bool, write: bool) -> None:
        """The evaluation's files under the run's report prefix in the artifacts bucket: test-set chunks, saved
        answers, reports, and the job's metric files."""
        artifacts, role = self._storage.artifacts_bucket, self._role(function)
        if read:
            # Reads saved answers (to resume), test-set chunks and the job's metric files.
            role.add_to_principal_policy(
                iam.PolicyStatement(actions=["s3:GetObject"], resources=[artifacts.arn_for_objects("*")])
            )
            # Listing makes a file not written yet (no saved answers, no metrics) a 404, not a 403.
            role.add_to_principal_policy(
                iam.PolicyStatement(actions=["s3:ListBucket"], resources=[artifacts.bucket_arn])
            )
        if write:
            # Writes saved answers, test-set chunks and the reports.
            role.add_to_principal_policy(
                iam.PolicyStatement(actions=["s3:PutObject"], resources=[artifacts.arn_for_objects("*")])
            )
        acknowledge_object_wildcard(role, artifacts, "*", ARTIFACTS_OBJECTS_REASON)

    def _allow_test_media(self, function: lambda_.Function) -> None:
        data = self._storage.data_bucket
        # Reads the images a test example names, to send their bytes to Converse, and lets Converse read them by
        # S3 location as the caller (Nova); they may lie anywhere in the data bucket, as the training data's do.
        self._role(function).add_to_principal_policy(
            iam.PolicyStatement(actions=["s3:GetObject"], resources=[data.arn_for_objects("*")])
        )
        acknowledge_object_wildcard(self._role(function), data, "*", DATA_OBJECTS_REASON)

    def _allow_test_set(self, function: lambda_.Function) -> None:
        data = self._storage.data_bucket
        # Reads the run's test set.
        self._role(function).add_to_principal_policy(
            iam.PolicyStatement(actions=["s3:GetObject"], resources=[data.arn_for_objects("*")])
        )
        acknowledge_object_wildcard(self._role(function), data, "*", DATA_OBJECTS_REASON)

    def _build_plan_evaluation(self) -> lambda_.Function:
        function = self._build_function(constants.PLAN_EVALUATION, {})
        self._allow_test_set(function)
        self._allow_evaluation_files(function, read=False, write=True)
        self._allow_key_via(function, "s3", ["kms:Decrypt", "kms:GenerateDataKey"])
        return function

    def _build_evaluate(self) -> lambda_.Function:
        data, artifacts = self._storage.data_bucket, self._storage.artifacts_bucket
        function = self._build_function(
            constants.EVALUATE, {"DATA_BUCKET": data.bucket_name, "ARTIFACTS_BUCKET": artifacts.bucket_name}
        )
        self._allow_model_calls(self._role(function))
        # Reads the run's test set, and the images its examples name (see _allow_test_media).
        self._allow_test_set(function)
        self._allow_evaluation_files(function, read=True, write=True)
        self._allow_key_via(function, "s3", ["kms:Decrypt", "kms:GenerateDataKey"])
        # The custom model is encrypted with the pipeline key: calling it needs kms:Decrypt and kms:GenerateDataKey
        # through Bedrock (Nova user guide, "Encryption of Amazon Nova model customization jobs and artifacts",
        # the PermissionsModelInvocation statement).
        self._allow_key_via(function, "bedrock", ["kms:Decrypt", "kms:GenerateDataKey"])
        return function

    def _build_evaluate_chunk(self) -> lambda_.Function:
        function = self._build_function(constants.EVALUATE_CHUNK, {})
        self._allow_model_calls(self._role(function))
        self._allow_evaluation_files(function, read=True, write=True)
        self._allow_test_media(function)
        self._allow_key_via(function, "s3", ["kms:Decrypt", "kms:GenerateDataKey"])
        # The custom model is encrypted with the pipeline key: calling it needs kms:Decrypt and kms:GenerateDataKey
        # through Bedrock (Nova user guide, "Encryption of Amazon Nova model customization jobs and artifacts",
        # the PermissionsModelInvocation statement).
        self._allow_key_via(function, "bedrock", ["kms:Decrypt", "kms:GenerateDataKey"])
        return function

    def _build_aggregate_evaluation(self) -> lambda_.Function:
        function = self._build_function(constants.AGGREGATE_EVALUATION, {})
        self._allow_evaluation_files(function, read=True, write=True)
        self._allow_key_via(function, "s3", ["kms:Decrypt", "kms:GenerateDataKey"])
        return function

    def _build_judge(self) -> lambda_.Function:
        function = self._build_function(
            constants.JUDGE,
            {
                "EVALUATION_ROLE_ARN": self.evaluation_role.role_arn,
                "KMS_KEY_ARN": self._storage.key.key_arn,
                "PIPELINE_TAG": Stack.of(self).stack_name,
            },
        )
        role = self._role(function)
        # Creates the judge's evaluation jobs. Its resource types are the models the job uses (Service Authorization
        # Reference, Amazon Bedrock, action table: custom-model, foundation-model, prompt routers; no evaluation-job):
        # over precomputed responses that is the judge model alone, a foundation model chosen per run. The jobTags
        # are part of the request (aws:RequestTag, aws:TagKeys; no bedrock:TagResource).
        role.add_to_principal_policy(
            iam.PolicyStatement(actions=["bedrock:CreateEvaluationJob"], resources=[arns.foundation_models(self)])
        )
        # Reads them while they run, and stops them when one fails or time runs out.
        self._allow_stopping_evaluation_jobs(role)
        # Hands the evaluation role to Bedrock, and to nothing else.
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["iam:PassRole"],
                resources=[self.evaluation_role.role_arn],
                conditions={"StringEquals": {"iam:PassedToService": constants.BEDROCK_SERVICE}},
            )
        )
        # Reads the examples back, writes the judge's datasets and the reports, reads the judge's output.
        self._allow_evaluation_files(function, read=True, write=True)
        self._allow_key_via(function, "s3", ["kms:Decrypt", "kms:GenerateDataKey"])
        # The jobs' output is encrypted with the pipeline key (customerEncryptionKeyId) by Bedrock acting as the
        # evaluation role, which holds the key rights (stacks/evaluation_role.py); the caller needs none.
        acknowledge_bedrock_wildcards(role, "foundation-model")
        return function

    def _allow_stopping_evaluation_jobs(self, role: iam.IRole) -> None:
        # Stops the run's judge evaluation jobs if they still run (they bill the judge model's tokens): only the
        # jobs this pipeline created (its jobTags; the evaluation-job resource type has the
        # aws:ResourceTag/${TagKey} condition key too).
        role.add_to_principal_policy(
            iam.PolicyStatement(actions=["bedrock:GetEvaluationJob"], resources=[evaluation_jobs(self)])
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["bedrock:StopEvaluationJob"],
                resources=[evaluation_jobs(self)],
                conditions=self._tagged_by_this_pipeline(),
            )
        )
        acknowledge_bedrock_wildcards(role, "evaluation-job")

    def _build_apply_policy(self) -> lambda_.Function:
        function = self._build_function(constants.APPLY_POLICY, {})
        role = self._role(function)
        # Reads the run's throughput or deployment and deletes it when the policy says so.
        self._allow_deleting_served_models(role)
        # Tags a custom model that lost its evaluation (evaluation=lost), for the sweeper's delete_orphan_models.
        role.add_to_principal_policy(
            iam.PolicyStatement(actions=["bedrock:TagResource"], resources=[arns.custom_models(self)])
        )
        acknowledge_bedrock_wildcards(role, "provisioned-model", "custom-model", "custom-model-deployment")
        return function

    def _build_cleanup(self) -> lambda_.Function:
        function = self._build_function(constants.CLEANUP, {})
        role = self._role(function)
        # Stops the run's job if it still runs (and this pipeline created it).
        self._allow_stopping_jobs(role)
        # Deletes the run's throughput or deployment if it exists, so it stops billing.
        self._allow_deleting_served_models(role)
        # Reads the job's, throughput's and deployment's tags: cleanup touches only what this execution created.
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["bedrock:ListTagsForResource"],
                resources=[
                    arns.customization_jobs(self),
                    arns.provisioned_models(self),
                    arns.custom_model_deployments(self),
                ],
            )
        )
        acknowledge_bedrock_wildcards(role, "model-customization-job", "provisioned-model", "custom-model-deployment")
        # Finds the judge's evaluation jobs by the run's name prefix (also those a failed "Start the judge" created
        # before it could record them); ListEvaluationJobs has no resource type, so it is granted on "*".
        role.add_to_principal_policy(iam.PolicyStatement(actions=["bedrock:ListEvaluationJobs"], resources=["*"]))
        self._allow_stopping_evaluation_jobs(role)
        return function

    def _build_notify(self) -> lambda_.Function:
        function = self._build_function(constants.NOTIFY, {"TOPIC_ARN": self._topic.topic_arn})
        # Publishes the run's outcome to the pipeline's topic only.
        self._role(function).add_to_principal_policy(
            iam.PolicyStatement(actions=["sns:Publish"], resources=[self._topic.topic_arn])
        )
        self._allow_key_via(function, "sns", ["kms:GenerateDataKey", "kms:Decrypt"])
        return function

    def build_start_run(self, state_machine: sfn.IStateMachine) -> lambda_.Function:
        """The S3 trigger's function; it needs the state machine, which needs the step functions."""
        data = self._storage.data_bucket
        prefix = self._settings.run_prefix
        function = self._build_function(
            constants.START_RUN,
            {
                "STATE_MACHINE_ARN": state_machine.state_machine_arn,
                "DATA_BUCKET": data.bucket_name,
                "RUN_PREFIX": prefix,
                "IDEMPOTENCY_TABLE": self.idempotency_table.table_name,
            },
        )
        role = self._role(function)
        # Reads the uploaded manifest by the version the event names (GetObject with a versionId is authorized as
        # s3:GetObjectVersion: S3 API reference, GetObject), under the run prefix.
        role.add_to_principal_policy(
            iam.PolicyStatement(actions=["s3:GetObjectVersion"], resources=[data.arn_for_objects(f"{prefix}*")])
        )
        # HEADs the files the manifest names (HeadObject is authorized as s3:GetObject): by name beside it or by
        # s3:// URI anywhere in the data bucket (README), so any object of this one bucket. No s3:ListBucket: the
        # code treats a missing and a forbidden file alike (issue 15: a grant no call used).
        role.add_to_principal_policy(
            iam.PolicyStatement(actions=["s3:GetObject"], resources=[data.arn_for_objects("*")])
        )
        # Starts executions of this pipeline's state machine, and of no other.
        role.add_to_principal_policy(
            iam.PolicyStatement(actions=["states:StartExecution"], resources=[state_machine.state_machine_arn])
        )
        self._allow_key_via(function, "s3", ["kms:Decrypt"])
        self._allow_idempotency_table(function)
        # S3 invokes the trigger asynchronously. A manifest it rejects (a named file not uploaded yet, bad JSON)
        # is retried twice (files still arriving get a second chance), then reported on the outcome topic.
        function.configure_async_invoke(
            on_failure=_TopicDestination(self._topic),
            retry_attempts=constants.TRIGGER_RETRY_ATTEMPTS,
            max_event_age=constants.TRIGGER_MAX_EVENT_AGE,
        )
        # Lambda's on-failure destination publishes a rejected upload to the topic with the function's role.
        role.add_to_principal_policy(iam.PolicyStatement(actions=["sns:Publish"], resources=[self._topic.topic_arn]))
        self._allow_key_via(function, "sns", ["kms:GenerateDataKey", "kms:Decrypt"])
        acknowledge_object_wildcard(role, data, f"{prefix}*", RUN_PREFIX_REASON)
        acknowledge_object_wildcard(role, data, "*", DATA_OBJECTS_REASON)
        self.start_run = function
        return function

    def build_record_run(self, state_machine: sfn.StateMachine, table: dynamodb.Table) -> lambda_.Function:
        """The function that writes the run record of every ended execution."""
        artifacts = self._storage.artifacts_bucket
        function = self._build_function(
            constants.RECORD_RUN, {"RUNS_TABLE": table.table_name, "ARTIFACTS_BUCKET": artifacts.bucket_name}
        )
        role = self._role(function)
        executions = self._executions_of(state_machine)
        # Reads the ended execution's description and history, of this state machine's executions only.
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["states:DescribeExecution", "states:GetExecutionHistory"], resources=[executions]
            )
        )
        # Writes the record to the runs table.
        role.add_to_principal_policy(iam.PolicyStatement(actions=["dynamodb:PutItem"], resources=[table.table_arn]))
        self._allow_key_via(function, "dynamodb", TABLE_KEY_ACTIONS)
        # Writes the record's JSON copy under the run's prefix in the artifacts bucket.
        role.add_to_principal_policy(
            iam.PolicyStatement(actions=["s3:PutObject"], resources=[artifacts.arn_for_objects("*")])
        )
        self._allow_key_via(function, "s3", ["kms:GenerateDataKey"])
        acknowledge_object_wildcard(role, artifacts, "*", ARTIFACTS_OBJECTS_REASON)
        self._acknowledge_executions(role, state_machine)
        self.record_run = function
        return function

    def allow_lease_checks(self, state_machine: sfn.StateMachine) -> None:
        """The validation step asks whether the execution holding its run's lease still runs (customizer/leases.py),
        of this state machine's executions only. A policy of its own, not the role's default policy: the function
        depends on its default policy and the state machine on the function, so a statement naming the state
        machine there would be a dependency cycle."""
        role = self._role(self.validate_run)
        policy = iam.Policy(
            self,
            "ValidateRunLeasePolicy",
            statements=[
                iam.PolicyStatement(
                    actions=["states:DescribeExecution"], resources=[self._executions_of(state_machine)]
                )
            ],
        )
        role.attach_inline_policy(policy)
        self._acknowledge_executions(policy, state_machine)

    def _executions_of(self, state_machine: sfn.StateMachine) -> str:
        return Stack.of(self).format_arn(
            service="states",
            resource="execution",
            resource_name=f"{state_machine.state_machine_name}:*",
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )

    def _acknowledge_executions(self, role: IConstruct, state_machine: sfn.StateMachine) -> None:
        acknowledge(
            role,
            f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:<{Stack.of(self).get_logical_id(state_machine.node.default_child)}.Name>:*]",  # type: ignore[arg-type]
            "Execution names are chosen per run (by the upload trigger or the console user); the wildcard covers "
            "the executions of this one state machine only.",
        )

    def build_after_execution(self, state_machine: sfn.StateMachine) -> lambda_.Function:
        """The function that cleans up after an execution that could not clean up itself."""
        function = self._build_function(constants.AFTER_EXECUTION, {"TOPIC_ARN": self._topic.topic_arn})
        role = self._role(function)
        # Reads a FAILED execution's error: one that did not end in "Run failed" was never reported (its notify
        # step failed), so aftercare reports it. This state machine's executions only.
        role.add_to_principal_policy(
            iam.PolicyStatement(actions=["states:DescribeExecution"], resources=[self._executions_of(state_machine)])
        )
        self._acknowledge_executions(role, state_machine)
        # Lists running jobs and all throughput, to find the ones the ended execution created (by its tag).
        # List actions name no resource type: they can only be granted on "*".
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=[
                    "bedrock:ListModelCustomizationJobs",
                    "bedrock:ListProvisionedModelThroughputs",
                    "bedrock:ListCustomModelDeployments",
                    "bedrock:ListEvaluationJobs",
                ],
                resources=["*"],
            )
        )
        # Reads each candidate's tags: it touches only what the ended execution created.
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["bedrock:ListTagsForResource"],
                resources=[
                    arns.customization_jobs(self),
                    arns.provisioned_models(self),
                    arns.custom_model_deployments(self),
                    evaluation_jobs(self),
                ],
            )
        )
        # Stops the execution's job if it still runs (and this pipeline created it).
        self._allow_stopping_jobs(role)
        self._allow_stopping_evaluation_jobs(role)
        # Deletes the execution's throughput and deployments, so they stop billing.
        self._allow_deleting_served_models(role)
        # Reports what it did on the outcome topic.
        role.add_to_principal_policy(iam.PolicyStatement(actions=["sns:Publish"], resources=[self._topic.topic_arn]))
        self._allow_key_via(function, "sns", ["kms:GenerateDataKey", "kms:Decrypt"])
        acknowledge_bedrock_wildcards(role, "model-customization-job", "provisioned-model", "custom-model-deployment")
        acknowledge(
            role,
            "AwsSolutions-IAM5[Resource::*]",
            "ListModelCustomizationJobs, ListProvisionedModelThroughputs, ListCustomModelDeployments and "
            "ListEvaluationJobs have no resource types and can only be granted on '*'; X-Ray's two tracing actions likewise. Every write is "
            "scoped to job, throughput or deployment ARNs.",
        )
        self.after_execution = function
        return function

    def build_sweeper(self) -> lambda_.Function:
        """The scheduled sweeper: deletes the pipeline's throughput past its lifetime (``customizer.sweeper``)."""
        sweeper = self._settings.sweeper
        function = self._build_function(
            constants.SWEEP,
            {
                "TOPIC_ARN": self._topic.topic_arn,
                "PIPELINE_TAG": Stack.of(self).stack_name,
                "SWEEP_OPTIONS": sweeper.options.model_dump_json(),
            },
        )
        role = self._role(function)
        tagged = [arns.provisioned_models(self), arns.custom_model_deployments(self)]
        listed = ["bedrock:ListProvisionedModelThroughputs", "bedrock:ListCustomModelDeployments"]
        if sweeper.delete_orphan_models:
            tagged.append(arns.custom_models(self))
            listed.append("bedrock:ListCustomModels")
        # Lists all throughput and deployments (and models, if it may delete them) to find the pipeline's by tag.
        # List actions name no resource type: they can only be granted on "*".
        role.add_to_principal_policy(iam.PolicyStatement(actions=listed, resources=["*"]))
        # Reads each old candidate's tags: it touches only what carries this deployment's pipeline tag.
        role.add_to_principal_policy(iam.PolicyStatement(actions=["bedrock:ListTagsForResource"], resources=tagged))
        # Deletes the pipeline's throughput past its lifetime, so it stops billing (it reads it first).
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["bedrock:GetProvisionedModelThroughput"], resources=[arns.provisioned_models(self)]
            )
        )
        # Deletes the pipeline's throughput and on-demand deployments past their lifetime, and (with
        # pipeline.sweeper.delete_orphan_models) its custom models that lost their evaluation: only what carries
        # this pipeline's tag, whatever the code decides.
        deletes = [
            ("bedrock:DeleteProvisionedModelThroughput", arns.provisioned_models(self)),
            ("bedrock:DeleteCustomModelDeployment", arns.custom_model_deployments(self)),
        ]
        if sweeper.delete_orphan_models:
            deletes.append(("bedrock:DeleteCustomModel", arns.custom_models(self)))
        for action, resource in deletes:
            role.add_to_principal_policy(
                iam.PolicyStatement(actions=[action], resources=[resource], conditions=self._tagged_by_this_pipeline())
            )
        # Reports what it deleted (or in a dry run would delete) on the outcome topic.
        role.add_to_principal_policy(iam.PolicyStatement(actions=["sns:Publish"], resources=[self._topic.topic_arn]))
        self._allow_key_via(function, "sns", ["kms:GenerateDataKey", "kms:Decrypt"])
        acknowledge_bedrock_wildcards(
            role,
            "provisioned-model",
            "custom-model-deployment",
            *(["custom-model"] if sweeper.delete_orphan_models else []),
        )
        acknowledge(
            role,
            "AwsSolutions-IAM5[Resource::*]",
            "ListProvisionedModelThroughputs, ListCustomModelDeployments and ListCustomModels have no resource types "
            "and can only be granted on '*'; X-Ray's two tracing actions likewise. Every delete is scoped to "
            "throughput, deployment or custom-model ARNs, and the code deletes only what carries the pipeline tag.",
        )
        self.sweeper = function
        return function

    @property
    def workflow_functions(self) -> dict[str, lambda_.Function]:
        """Every function the state machine invokes, by handler module."""
        return {
            constants.VALIDATE_RUN.module: self.validate_run,
            constants.CREATE_JOB.module: self.create_job,
            constants.CHECK_JOB.module: self.check_job,
            constants.CREATE_THROUGHPUT.module: self.create_throughput,
            constants.CHECK_THROUGHPUT.module: self.check_throughput,
            constants.PLAN_EVALUATION.module: self.plan_evaluation,
            constants.EVALUATE.module: self.evaluate,
            constants.EVALUATE_CHUNK.module: self.evaluate_chunk,
            constants.AGGREGATE_EVALUATION.module: self.aggregate_evaluation,
            constants.JUDGE.module: self.judge,
            constants.APPLY_POLICY.module: self.apply_policy,
            constants.CLEANUP.module: self.cleanup,
            constants.NOTIFY.module: self.notify,
        }
