"""What IAM permission a boto3 call needs, by the Service Authorization Reference (``offline.iam_reference``)
and the pages that add to it, each rule with its source; and what a granted statement allows, as
(action, resource type, kms:ViaService service).

A need or a grant is ``(action, resource type, via)``: ``("s3:GetObject", "object", "")``,
``("kms:Decrypt", "key", "s3")``. Resource types are the reference's names (``object``, ``bucket``,
``custom-model``...), found by matching the ARN against the reference's ARN patterns."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from offline import iam_reference
from tests.infra.boto3_calls import Call
from tests.infra.template_tools import as_list

Need = tuple[str, str, str]

# The IAM service prefix of a boto3 service (the reference's "service prefix").
PREFIX = {"stepfunctions": "states", "bedrock-runtime": "bedrock"}
# API operations authorized by an action of another name (the reference's action table says so for each).
ACTION_OF = {
    ("s3", "HeadObject"): "s3:GetObject",  # HeadObject: "you must have READ access to the object" (s3:GetObject)
    ("s3", "ListObjectsV2"): "s3:ListBucket",
    ("bedrock-runtime", "Converse"): "bedrock:InvokeModel",
    ("bedrock-runtime", "ConverseStream"): "bedrock:InvokeModelWithResponseStream",
    ("lambda", "Invoke"): "lambda:InvokeFunction",  # the Lambda API reference's Invoke: "lambda:InvokeFunction"
}
# Actions whose resource types are alternatives (one per call, by the identifier passed) rather than all
# required: which of them a function's calls name, by function (the identifier comes from the run's state).
ALTERNATIVES = frozenset(
    {"bedrock:InvokeModel", "bedrock:TagResource", "bedrock:ListTagsForResource", "bedrock:CreateEvaluationJob"}
)
# The customer managed key each service uses on the caller's behalf, and what the caller needs of it.
_KEY_USE: dict[tuple[str, str], tuple[str, ...]] = {
    # S3 SSE-KMS (with a bucket key): reading decrypts the data key, writing asks for one (S3 user guide,
    # "Permissions to use an AWS KMS key for SSE-KMS").
    ("s3", "GetObject"): ("kms:Decrypt",),
    ("s3", "PutObject"): ("kms:GenerateDataKey",),
    # SNS SSE: a publisher needs kms:GenerateDataKey and kms:Decrypt (SNS developer guide, "Enable
    # compatibility between event sources and encrypted topics").
    ("sns", "Publish"): ("kms:GenerateDataKey", "kms:Decrypt"),
    # Calling a custom model encrypted with the key: the Nova user guide's "PermissionsModelInvocation".
    ("bedrock-runtime", "InvokeModel"): ("kms:Decrypt", "kms:GenerateDataKey"),
    ("bedrock-runtime", "Converse"): ("kms:Decrypt", "kms:GenerateDataKey"),
}
# DynamoDB with a customer managed key: the DynamoDB developer guide's key policy for "principals authorized
# to use DynamoDB" (Encrypt, Decrypt, GenerateDataKey, DescribeKey through dynamodb).
TABLE_KEY_ACTIONS = ("kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey")
# CreateModelCustomizationJob with customModelKmsKeyId: the Bedrock user guide's "Encryption of custom
# models" (DescribeKey, CreateGrant, GenerateDataKey, Decrypt through bedrock).
MODEL_KEY_ACTIONS = ("kms:DescribeKey", "kms:CreateGrant", "kms:GenerateDataKey", "kms:Decrypt")
# Powertools' DynamoDBPersistenceLayer: get, put, update, delete of its records.
IDEMPOTENCY_ACTIONS = ("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem")


@dataclass(frozen=True)
class Needed:
    need: Need
    why: str


# Actions the reference lists with more than one required resource type where a call names one of them: the
# one the pipeline's calls name. (For CreateModelCustomizationJob and CreateProvisionedModelThroughput the
# reference's two required types, custom-model and foundation-model, are both taken: issue 15, finding 3.)
# S3's object and bucket actions list access points as the other (optional) type: the pipeline names buckets.
ONE_OF = {
    "states:DescribeExecution": ["execution"],
    "states:GetExecutionHistory": ["execution"],
    "s3:GetObject": ["object"],
    "s3:GetObjectVersion": ["object"],
    "s3:PutObject": ["object"],
    "s3:ListBucket": ["bucket"],
}


def _types(action: str) -> list[str]:
    if action in ONE_OF:
        assert set(ONE_OF[action]) <= iam_reference.action(action).resource_type_names, action
        return ONE_OF[action]
    found = iam_reference.action(action)
    required = [r.name for r in found.resource_types if r.required]
    return required or ["*"]


def needs_of(call: Call, alternatives: dict[str, set[str]]) -> list[Needed]:
    """What one call needs. ``alternatives``: for ALTERNATIVES actions, the types this function names."""
    action = ACTION_OF.get((call.service, call.operation), f"{PREFIX.get(call.service, call.service)}:{call.operation}")
    why = f"{call.service}.{call.operation} at {call.where}"
    types = sorted(alternatives.get(action, set())) if action in ALTERNATIVES else _types(action)
    found = [Needed((action, t, ""), why) for t in types]
    if call.service == "s3" and call.operation == "GetObject" and ("VersionId" in call.keywords or call.star_kwargs):
        # GetObject with a versionId is authorized as s3:GetObjectVersion (S3 API reference, GetObject).
        found.append(Needed(("s3:GetObjectVersion", "object", ""), why + " (VersionId)"))
    if call.service == "s3" and call.tells_missing:
        # "If you have the s3:ListBucket permission on the bucket, Amazon S3 returns 404 Not Found; if you
        # don't, 403 Access Denied" (S3 API reference, GetObject and HeadObject): the code tells them apart.
        found.append(Needed(("s3:ListBucket", "bucket", ""), why + " (tells a missing object from a forbidden one)"))
    for key_action in _KEY_USE.get((call.service, call.operation), ()):
        via = "bedrock" if call.service == "bedrock-runtime" else call.service
        found.append(Needed((key_action, "key", via), why + " (the key the data is encrypted with)"))
    if call.service == "dynamodb":
        found.extend(Needed((a, "key", "dynamodb"), why + " (the table's key)") for a in TABLE_KEY_ACTIONS)
    # Tags passed on a create request (jobTags, customModelTags, tags) need no bedrock:TagResource: the reference
    # gives the create actions the aws:RequestTag and aws:TagKeys condition keys and no dependent action.
    if "roleArn" in call.keywords:
        found.append(Needed(("iam:PassRole", "role", ""), why + " (roleArn)"))
    if "customModelKmsKeyId" in call.keywords:
        found.extend(Needed((a, "key", "bedrock"), why + " (customModelKmsKeyId)") for a in MODEL_KEY_ACTIONS)
    return found


def idempotency_needs() -> list[Needed]:
    why = "Powertools DynamoDBPersistenceLayer (idempotency records)"
    found = [Needed((a, "table", ""), why) for a in IDEMPOTENCY_ACTIONS]
    found.extend(Needed((a, "key", "dynamodb"), why + " (the table's key)") for a in TABLE_KEY_ACTIONS)
    return found


# ---- grants ----

_PSEUDO = {"AWS::Partition": "aws", "AWS::Region": "us-east-1", "AWS::AccountId": "123456789012", "AWS::URLSuffix": ""}
_ARN_OF_TYPE = {
    "AWS::S3::Bucket": "arn:aws:s3:::{name}",
    "AWS::KMS::Key": "arn:aws:kms:us-east-1:123456789012:key/{name}",
    "AWS::DynamoDB::Table": "arn:aws:dynamodb:us-east-1:123456789012:table/{name}",
    "AWS::IAM::Role": "arn:aws:iam::123456789012:role/{name}",
    "AWS::Logs::LogGroup": "arn:aws:logs:us-east-1:123456789012:log-group:{name}:*",
    "AWS::SNS::Topic": "arn:aws:sns:us-east-1:123456789012:{name}",
    "AWS::StepFunctions::StateMachine": "arn:aws:states:us-east-1:123456789012:stateMachine:{name}",
    "AWS::Lambda::Function": "arn:aws:lambda:us-east-1:123456789012:function:{name}",
}
# Which attribute or Ref is an ARN (else a name) for each type.
_REF_IS_ARN = {"AWS::SNS::Topic", "AWS::StepFunctions::StateMachine"}


def concrete_arn(resource: str, resources: dict[str, Any]) -> str:
    """A resolved statement resource (``${DataBucket.Arn}/*``) as an ARN the reference's patterns match."""

    def substitute(match: re.Match[str]) -> str:
        text = match.group(1)
        if text in _PSEUDO:
            return _PSEUDO[text]
        logical, _, attribute = text.partition(".")
        kind = resources[logical]["Type"]
        name = logical.lower()
        if attribute in ("Arn", "TopicArn") or (not attribute and kind in _REF_IS_ARN):
            return _ARN_OF_TYPE[kind].format(name=name)
        return name

    return re.sub(r"\$\{([^}]+)\}", substitute, resource)


def _via(statement: dict[str, Any]) -> str:
    via = statement.get("Condition", {}).get("StringEquals", {}).get("kms:ViaService")
    return str(via).split(".")[0] if via else ""


def grants_of(statements: Iterable[dict[str, Any]], resources: dict[str, Any]) -> set[Need]:
    grants: set[Need] = set()
    for statement in statements:
        assert statement["Effect"] == "Allow"
        for action in as_list(statement["Action"]):
            service = action.split(":")[0]
            candidates = iam_reference.action(action).resource_type_names
            for resource in as_list(statement["Resource"]):
                if resource == "*":
                    grants.add((action, "*", _via(statement)))
                    continue
                arn = concrete_arn(resource, resources)
                kind = iam_reference.resource_type_of(service, arn, candidates)
                if kind is None and service == "logs" and arn.endswith(":*"):
                    # "log-group:<name>:*" covers the group's streams.
                    kind = iam_reference.resource_type_of(service, arn[:-1] + "log-stream:s", candidates)
                grants.add((action, kind or f"NOT A RESOURCE TYPE OF {action}: {resource}", _via(statement)))
    return grants
