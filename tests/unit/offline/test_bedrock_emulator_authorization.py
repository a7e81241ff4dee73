"""The emulator's IAM authorization (offline.bedrock_emulator.authorization) with an authority made of policies
written here: each question is evaluated by iam-simulate (offline.iam_simulator), as in the offline runtime."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from offline.bedrock_emulator import BedrockEmulator
from offline.bedrock_emulator.authorization import Principal, RoleCredentials
from offline.iam_simulator import Decision, Request, shared
from tests.unit.offline.conftest import ACCOUNT, BUCKET, NO_RETRIES, REGION, ROLE_ARN, conversation_records

KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/0b1c2d3e-1111-2222-3333-444455556666"
CALLER_KEY = "ASIACALLER0000000001"
CALLER = f"arn:aws:sts::{ACCOUNT}:assumed-role/caller/session"
NOVA = "amazon.nova-micro-v1:0"
ROOT = {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "kms:*", "Resource": "*"}
NOVA_THROUGHPUT = {
    "Sid": "PermissionsNovaProvisionedThroughput",
    "Effect": "Allow",
    "Principal": {"Service": "bedrock.amazonaws.com"},
    "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
    "Resource": "*",
    "Condition": {"ForAnyValue:StringEquals": {"kms:EncryptionContextKeys": "aws:bedrock:custom-model"}},
}
TRUST: dict[str, Any] = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "bedrock.amazonaws.com"},
            "Action": "sts:AssumeRole",
            "Condition": {
                "StringEquals": {"aws:SourceAccount": ACCOUNT},
                "ArnLike": {"aws:SourceArn": f"arn:aws:bedrock:{REGION}:{ACCOUNT}:model-customization-job/*"},
            },
        }
    ],
}
VIA_BEDROCK = {"StringEquals": {"kms:ViaService": f"bedrock.{REGION}.amazonaws.com"}}
VIA_S3 = {"StringEquals": {"kms:ViaService": f"s3.{REGION}.amazonaws.com"}}


def policy(*statements: Mapping[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": [dict(s) for s in statements]}


def allow(actions: list[str], resources: list[str], condition: Mapping[str, Any] | None = None) -> dict[str, Any]:
    statement: dict[str, Any] = {"Effect": "Allow", "Action": actions, "Resource": resources}
    if condition:
        statement["Condition"] = dict(condition)
    return statement


# What the customization role needs in these tests: read the data, write the output, the key through S3 and Bedrock.
ROLE_STATEMENTS = [
    allow(["s3:GetObject", "s3:PutObject"], [f"arn:aws:s3:::{BUCKET}/*"]),
    allow(["kms:Decrypt", "kms:GenerateDataKey"], [KEY], VIA_S3),
    allow(["kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey", "kms:CreateGrant"], [KEY], VIA_BEDROCK),
]
CALLER_STATEMENTS = [
    allow(
        ["bedrock:CreateModelCustomizationJob"],
        ["arn:aws:bedrock:*:*:custom-model/*", "arn:aws:bedrock:*::foundation-model/*"],
    ),
    allow(["bedrock:GetModelCustomizationJob", "bedrock:GetCustomModel"], ["*"]),
    allow(["bedrock:CreateProvisionedModelThroughput"], ["*"]),
    allow(["iam:PassRole"], [ROLE_ARN], {"StringEquals": {"iam:PassedToService": "bedrock.amazonaws.com"}}),
    allow(["kms:DescribeKey", "kms:CreateGrant", "kms:GenerateDataKey", "kms:Decrypt"], [KEY], VIA_BEDROCK),
    allow(
        ["bedrock:StopModelCustomizationJob"],
        ["arn:aws:bedrock:*:*:model-customization-job/*"],
        {"StringEquals": {"aws:ResourceTag/pipeline": "unit"}},
    ),
]


@dataclass
class FakeAuthority:
    account: str = ACCOUNT
    region: str = REGION
    caller_policies: list[dict[str, Any]] = field(default_factory=lambda: [policy(*CALLER_STATEMENTS)])
    role_policies: list[dict[str, Any]] = field(default_factory=lambda: [policy(*ROLE_STATEMENTS)])
    trust: dict[str, Any] = field(default_factory=lambda: TRUST)
    key: dict[str, Any] = field(default_factory=lambda: policy(ROOT, NOVA_THROUGHPUT))
    encrypted_bucket: bool = True

    def caller(self, headers: Mapping[str, str]) -> Principal | None:
        found = re.search(r"Credential=([^/]+)/", headers.get("Authorization", ""))
        if found is None or found.group(1) != CALLER_KEY:
            return None
        return Principal(CALLER, tuple(self.caller_policies))

    def role(self, role_arn: str) -> tuple[Principal, Mapping[str, Any]] | None:
        return (Principal(role_arn, tuple(self.role_policies)), self.trust) if role_arn == ROLE_ARN else None

    def assume(self, role_arn: str, session_name: str) -> tuple[str, RoleCredentials]:
        name = role_arn.rsplit("/", 1)[-1]
        return f"arn:aws:sts::{ACCOUNT}:assumed-role/{name}/{session_name}", RoleCredentials("testing", "testing", "t")

    def key_policy(self, key_arn: str) -> Mapping[str, Any] | None:
        return self.key if key_arn == KEY else None

    def bucket_key(self, bucket: str) -> str | None:
        return KEY if self.encrypted_bucket and bucket == BUCKET else None

    def evaluate(self, request: Request) -> Decision:
        return shared().evaluate(request)


@pytest.fixture
def authority(emulator: BedrockEmulator) -> Iterator[FakeAuthority]:
    found = FakeAuthority()
    emulator.authorize_with(found)
    yield found
    emulator.authorize_with(None)


@pytest.fixture
def signed(server: Any) -> Any:
    return boto3.client(
        "bedrock",
        region_name=REGION,
        config=NO_RETRIES,
        aws_access_key_id=CALLER_KEY,
        aws_secret_access_key="secret",
        aws_session_token="token",
    )


def _nova_job(put_data: Callable[..., str], name: str = "job-1", **overrides: Any) -> dict[str, Any]:
    request: dict[str, Any] = {
        "jobName": name,
        "customModelName": f"{name}-model",
        "roleArn": ROLE_ARN,
        "baseModelIdentifier": NOVA,
        "trainingDataConfig": {"s3Uri": put_data(f"{name}/train.jsonl", conversation_records(20))},
        "outputDataConfig": {"s3Uri": f"s3://{BUCKET}/{name}/output/"},
        "customModelKmsKeyId": KEY,
        "jobTags": [{"key": "pipeline", "value": "unit"}],
        "hyperParameters": {"epochCount": "1"},
    }
    request.update(overrides)
    return request


def _denied(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, int, str]:
    response = exc.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Message"]


def test_a_call_no_identity_policy_allows_is_access_denied_in_the_services_words(
    signed: Any, authority: FakeAuthority
) -> None:
    with pytest.raises(ClientError) as denied:
        signed.list_custom_models()
    assert _denied(denied) == (
        "AccessDeniedException",
        403,
        f"User: {CALLER} is not authorized to perform: bedrock:ListCustomModels on resource: * because no "
        "identity-based policy allows the bedrock:ListCustomModels action",
    )
    # An explicit deny says so.
    authority.caller_policies.append(
        policy({"Effect": "Deny", "Action": "bedrock:GetModelCustomizationJob", "Resource": "*"})
    )
    with pytest.raises(ClientError) as denied:
        signed.get_model_customization_job(
            jobIdentifier=f"arn:aws:bedrock:{REGION}:{ACCOUNT}:model-customization-job/amazon.nova-micro-v1:0/abcdefghijkl"
        )
    assert _denied(denied)[2].endswith("with an explicit deny in an identity-based policy")


def test_an_unknown_access_key_is_refused(server: Any, authority: FakeAuthority) -> None:
    stranger = boto3.client("bedrock", region_name=REGION, config=NO_RETRIES)  # the environment's "testing" key
    with pytest.raises(ClientError) as refused:
        stranger.list_foundation_models()
    assert _denied(refused)[0] == "UnrecognizedClientException"


def test_create_job_is_authorized_on_the_model_to_be_the_base_the_passed_role_and_the_key(
    signed: Any, authority: FakeAuthority, put_data: Callable[..., str], emulator: BedrockEmulator
) -> None:
    arn = signed.create_model_customization_job(**_nova_job(put_data))["jobArn"]
    emulator.advance(emulator.store.durations.job_seconds)
    job = signed.get_model_customization_job(jobIdentifier=arn)
    assert job["status"] == "Completed", job.get("failureMessage")
    # Another role than the one the caller may pass: iam:PassRole refused.
    with pytest.raises(ClientError) as denied:
        signed.create_model_customization_job(
            **_nova_job(put_data, "job-2", roleArn=f"arn:aws:iam::{ACCOUNT}:role/other")
        )
    assert f"iam:PassRole on resource: arn:aws:iam::{ACCOUNT}:role/other" in _denied(denied)[2]
    # Without the caller's key rights through Bedrock: kms:DescribeKey refused on the key.
    authority.caller_policies = [policy(*CALLER_STATEMENTS[:4])]
    with pytest.raises(ClientError) as denied:
        signed.create_model_customization_job(**_nova_job(put_data, "job-3"))
    assert _denied(denied)[2] == (
        f"User: {CALLER} is not authorized to perform: kms:DescribeKey on resource: {KEY} because no "
        "identity-based policy allows the kms:DescribeKey action"
    )


def test_stopping_a_job_needs_the_tag_the_policy_names(
    signed: Any, authority: FakeAuthority, put_data: Callable[..., str]
) -> None:
    tagged = signed.create_model_customization_job(**_nova_job(put_data))["jobArn"]
    other = signed.create_model_customization_job(
        **_nova_job(put_data, "job-2", jobTags=[{"key": "pipeline", "value": "someone-else"}])
    )["jobArn"]
    signed.stop_model_customization_job(jobIdentifier=tagged)
    with pytest.raises(ClientError) as denied:
        signed.stop_model_customization_job(jobIdentifier=other)
    assert f"bedrock:StopModelCustomizationJob on resource: {other}" in _denied(denied)[2]


def test_a_nova_models_throughput_needs_the_key_policy_statement_for_bedrock_itself(
    signed: Any, authority: FakeAuthority, put_data: Callable[..., str], emulator: BedrockEmulator
) -> None:
    arn = signed.create_model_customization_job(**_nova_job(put_data))["jobArn"]
    emulator.advance(emulator.store.durations.job_seconds)
    model = signed.get_model_customization_job(jobIdentifier=arn)["outputModelArn"]
    authority.key = policy(ROOT)  # without PermissionsNovaProvisionedThroughput
    with pytest.raises(ClientError) as denied:
        signed.create_provisioned_model_throughput(modelUnits=1, provisionedModelName="pt", modelId=model)
    assert _denied(denied)[2] == (
        f"Service: bedrock.amazonaws.com is not authorized to perform: kms:Decrypt on resource: {KEY} because no "
        "resource-based policy allows the kms:Decrypt action"
    )
    authority.key = policy(ROOT, NOVA_THROUGHPUT)
    signed.create_provisioned_model_throughput(modelUnits=1, provisionedModelName="pt", modelId=model)


@pytest.mark.parametrize(
    ("change", "failure"),
    [
        (
            "no_data_key",
            "Unable to read s3://emulator-data/job-1/train.jsonl: User: arn:aws:sts::123456789012:"
            "assumed-role/bedrock-customization/",
        ),
        ("no_model_key", "kms:CreateGrant on resource: " + KEY),
        ("no_trust", "Amazon Bedrock could not assume the role " + ROLE_ARN),
    ],
)
def test_the_job_runs_as_its_role_and_fails_without_a_grant_the_role_needs(
    signed: Any,
    authority: FakeAuthority,
    put_data: Callable[..., str],
    emulator: BedrockEmulator,
    change: str,
    failure: str,
) -> None:
    if change == "no_data_key":
        authority.role_policies = [policy(ROLE_STATEMENTS[0], ROLE_STATEMENTS[2])]
    elif change == "no_model_key":
        authority.role_policies = [
            policy(
                ROLE_STATEMENTS[0], ROLE_STATEMENTS[1], allow(["kms:Decrypt", "kms:DescribeKey"], [KEY], VIA_BEDROCK)
            )
        ]
    else:
        authority.trust = policy(dict(TRUST["Statement"][0], Condition={"StringEquals": {"aws:SourceAccount": "999"}}))
    arn = signed.create_model_customization_job(**_nova_job(put_data))["jobArn"]
    emulator.advance(emulator.store.durations.job_seconds)
    job = signed.get_model_customization_job(jobIdentifier=arn)
    assert job["status"] == "Failed"
    assert failure in job["failureMessage"], job["failureMessage"]
