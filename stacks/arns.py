"""ARN patterns of the Bedrock resources the pipeline creates at run time, built from the stack's
pseudo parameters (the stack stays environment-agnostic).

Jobs, custom models and throughputs are created by the workflow, with names made per run, so policies
can only name them by type (``<type>/*``). The base model cannot be narrowed to the configured default
either: a run may override ``settings.base_model_id``."""

from __future__ import annotations

from aws_cdk import ArnFormat, Aws, Stack
from constructs import Construct


def _bedrock_arn(scope: Construct, resource: str, *, account: str | None = None, region: str | None = None) -> str:
    return Stack.of(scope).format_arn(
        service="bedrock",
        resource=resource,
        resource_name="*",
        account=account,
        region=region,
        arn_format=ArnFormat.SLASH_RESOURCE_NAME,
    )


def bedrock_resources(scope: Construct, resource_type: str) -> str:
    """Every resource of one Bedrock type in this account and region."""
    return _bedrock_arn(scope, resource_type)


def customization_jobs(scope: Construct) -> str:
    return _bedrock_arn(scope, "model-customization-job")


def custom_models(scope: Construct) -> str:
    return _bedrock_arn(scope, "custom-model")


def provisioned_models(scope: Construct) -> str:
    return _bedrock_arn(scope, "provisioned-model")


def custom_model_deployments(scope: Construct) -> str:
    return _bedrock_arn(scope, "custom-model-deployment")


def foundation_models(scope: Construct) -> str:
    # Foundation models belong to no account: arn:aws:bedrock:<region>::foundation-model/<id>.
    return _bedrock_arn(scope, "foundation-model", account="")


def inference_profiles(scope: Construct) -> str:
    # System-defined cross-region profiles (us.meta.llama3-2-...) are addressed in the caller's account and region.
    return _bedrock_arn(scope, "inference-profile")


def application_inference_profiles(scope: Construct) -> str:
    # Inference profiles a user makes (settings.evaluation.base_invoke_id may name one), in this account and region.
    return _bedrock_arn(scope, "application-inference-profile")


def foundation_models_in_any_region(scope: Construct) -> str:
    # Where a cross-region profile routes a call: the base model in any region of the profile's geography.
    return _bedrock_arn(scope, "foundation-model", account="", region="*")


def via_service(service: str) -> dict[str, dict[str, str]]:
    """A condition that limits key use to requests a service makes on the caller's behalf."""
    return {"StringEquals": {"kms:ViaService": f"{service}.{Aws.REGION}.amazonaws.com"}}
