"""cdk-nag v3 acknowledgments: each one names one finding and says why it is acceptable here.

cdk-nag v3 acknowledges findings one by one (``RuleId[FindingId]``, no prefix matching), on the construct
that has them. ``tests/infra`` reads every acknowledgment back from the construct tree and checks that
its reason says something."""

from __future__ import annotations

from collections.abc import Iterable

from aws_cdk import Acknowledgment, Stack, Validations
from aws_cdk import aws_s3 as s3
from constructs import IConstruct

# Why a Bedrock resource type can only be named with a wildcard: its resources are made at run time.
_BEDROCK_WILDCARD_REASONS = {
    "model-customization-job": "Customization jobs are created by the workflow at run time, with a name made per "
    "run; no job ARN exists at deploy time, so the policy names the job type in this account and region only.",
    "custom-model": "Custom models are created by the run's customization job, with a name made per run; the "
    "policy can only name the custom-model type in this account and region.",
    "provisioned-model": "Provisioned throughputs are created per run by the workflow; the policy can only name "
    "the provisioned-model type in this account and region.",
    "custom-model-deployment": "On-demand deployments of custom models are made at run time (by a user or a run), "
    "with names chosen then; the policy can only name the custom-model-deployment type in this account and region.",
    "inference-profile": "Bases such as Llama 3.2 and 3.3 are called on demand only through a cross-region "
    "inference profile named after the per-run base model (or settings.evaluation.base_invoke_id), so the policy "
    "names the profile type in this account and region only.",
    "application-inference-profile": "settings.evaluation.base_invoke_id may name an application inference profile "
    "the user made (its name is chosen then), so the policy names the profile type in this account and region only.",
    "evaluation-job": "The judge's evaluation jobs are created per run and model at run time, with names made "
    "then; the policy can only name the evaluation-job type in this account and region.",
    "foundation-model": "The base model is a per-run setting (settings.base_model_id, overridable by the run "
    "config and the execution input), so no single foundation model can be named; foundation models are "
    "AWS-owned and read-only.",
}


# CDK files a validation plugin's findings under "<plugin name>::<rule>"; cdk-nag's pack is "AwsSolutions".
PLUGIN_PREFIX = "AwsSolutions::"


def acknowledge(scope: IConstruct, finding: str, reason: str) -> None:
    """Acknowledge one finding (``RuleId`` or ``RuleId[FindingId]``) on ``scope`` and its children."""
    Validations.of(scope).acknowledge(Acknowledgment(id=PLUGIN_PREFIX + finding, reason=reason))


def acknowledge_each(scope: IConstruct, findings: Iterable[str], reason: str) -> None:
    """Acknowledge several findings that share one reason."""
    for finding in findings:
        acknowledge(scope, finding, reason)


def acknowledge_bedrock_wildcards(scope: IConstruct, *resource_types: str) -> None:
    """IAM5 for ``arn:...:bedrock:<region>:<account>:<type>/*`` (foundation models have no account)."""
    for resource_type in resource_types:
        account = "" if resource_type == "foundation-model" else "<AWS::AccountId>"
        acknowledge(
            scope,
            f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:bedrock:<AWS::Region>:{account}:{resource_type}/*]",
            _BEDROCK_WILDCARD_REASONS[resource_type],
        )


CROSS_REGION_FOUNDATION_MODELS_REASON = (
    "A cross-region inference profile routes a call to the base model in any region of its geography, chosen by "
    "Bedrock at call time; the statement allows it only through this account's inference profiles "
    "(bedrock:InferenceProfileArn), never a direct call in another region."
)


def acknowledge_cross_region_foundation_models(scope: IConstruct) -> None:
    """IAM5 for ``arn:...:bedrock:*::foundation-model/*``, which a condition limits to calls through profiles."""
    acknowledge(
        scope,
        "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:bedrock:*::foundation-model/*]",
        CROSS_REGION_FOUNDATION_MODELS_REASON,
    )


def acknowledge_object_wildcard(scope: IConstruct, bucket: s3.IBucket, key_pattern: str, reason: str) -> None:
    """IAM5 for ``<bucket ARN>/<key_pattern>`` on a bucket of this stack."""
    logical_id = Stack.of(bucket).get_logical_id(bucket.node.default_child)  # type: ignore[arg-type]
    acknowledge(scope, f"AwsSolutions-IAM5[Resource::<{logical_id}.Arn>/{key_pattern}]", reason)


DATA_OBJECTS_REASON = (
    "A run names its data files by key anywhere in the pipeline's own data bucket (a console start may use any "
    "key), so access covers this one bucket's objects rather than one fixed key."
)
ARTIFACTS_OBJECTS_REASON = (
    "Job output, metrics and reports go under per-run prefixes made at run time, inside the pipeline's own "
    "artifacts bucket; no fixed key exists at deploy time."
)
RUN_PREFIX_REASON = (
    "Manifests arrive under <run prefix><run name>/ with run names chosen at upload time; access is limited to "
    "the run prefix of the pipeline's own data bucket."
)
