"""The Bedrock emulator's ``Authority`` in the offline runtime (``offline.bedrock_emulator.authorization``): who
signed a request and what the policies say, read from moto's IAM, STS, KMS and S3 backends in this process
(the emulator and moto's server share it), and each question evaluated by iam-simulate (``offline.iam_simulator``).

A request's signer is found as moto's own access control finds it (``moto.iam.access_control.create_access_key``:
the SigV4 ``Credential`` access key -> an IAM user's key, or an assumed-role session with its security token), so
a Lambda invocation's calls, signed with its role's session (``offline.iam_enforcement``), are its role's."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from offline.bedrock_emulator.authorization import Principal, RoleCredentials
from offline.iam_simulator import Decision, Request, Simulator, shared

_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/")


def _document(policy: Any) -> dict[str, Any]:
    """A policy as moto keeps it (a JSON string, a URL-encoded one, or a managed Policy object) as a dict."""
    if isinstance(policy, dict):
        # An IAM user's inline policy comes as {"policy_name", "policy_document", "user_name"}.
        return _document(policy["policy_document"]) if "policy_document" in policy else policy
    if isinstance(policy, str):
        from urllib.parse import unquote

        text = policy if policy.lstrip().startswith("{") else unquote(policy)
        loaded: dict[str, Any] = json.loads(text)
        return loaded
    version = getattr(policy, "default_version", None) or policy
    return _document(getattr(version, "document", None) or policy.document)


class MotoAuthority:
    def __init__(self, account: str, region: str, simulator: Simulator | None = None) -> None:
        self.account = account
        self.region = region
        self.partition = "aws"
        self.simulator = simulator or shared()

    def _iam(self) -> Any:
        from moto.iam.models import iam_backends

        return iam_backends[self.account][self.partition]

    def caller(self, headers: Mapping[str, str]) -> Principal | None:
        from moto.iam.access_control import CreateAccessKeyFailure, create_access_key

        found = _CREDENTIAL.search(str(headers.get("Authorization") or ""))
        if found is None:
            return None
        signed = {k: v for k, v in headers.items()}
        try:
            key = create_access_key(self.account, self.partition, found.group(1), signed)
        except CreateAccessKeyFailure:
            return None
        return Principal(str(key.arn), tuple(_document(p) for p in key.collect_policies()))

    def role(self, role_arn: str) -> tuple[Principal, Mapping[str, Any]] | None:
        iam = self._iam()
        name = role_arn.rsplit("/", 1)[-1]
        try:
            role = iam.get_role(name)
        except Exception:  # moto's NoSuchEntity: the caller says the role does not exist
            return None
        policies = [_document(iam.get_role_policy(name, p)[1]) for p in iam.list_role_policies(name)]
        policies += [_document(p) for p in iam.list_attached_role_policies(name)[0]]
        return Principal(role_arn, tuple(policies)), _document(role.assume_role_policy_document)

    def assume(self, role_arn: str, session_name: str) -> tuple[str, RoleCredentials]:
        from moto.sts.models import sts_backends

        session = sts_backends[self.account][self.partition].assume_role(
            region_name=self.region,
            role_session_name=session_name[:64],
            role_arn=role_arn,
            policy="",
            duration=43200,
            external_id="",
        )
        arn = f"arn:aws:sts::{self.account}:assumed-role/{role_arn.rsplit('/', 1)[-1]}/{session.session_name}"
        return arn, RoleCredentials(session.access_key_id, session.secret_access_key, session.session_token)

    def key_policy(self, key_arn: str) -> Mapping[str, Any] | None:
        from moto.kms.models import kms_backends

        backend = kms_backends[self.account][self.region]
        try:
            return _document(backend.get_key_policy(key_arn))
        except KeyError:
            return None

    def bucket_key(self, bucket: str) -> str | None:
        from moto.s3.models import s3_backends

        try:
            found = s3_backends[self.account][self.partition].get_bucket(bucket)
        except Exception:  # moto's NoSuchBucket: S3 itself answers the read or write
            return None
        rules = (found.encryption or {}).get("Rule") or {}
        rules = rules if isinstance(rules, list) else [rules]
        for rule in rules:
            default = rule.get("ApplyServerSideEncryptionByDefault") or {}
            if default.get("SSEAlgorithm") == "aws:kms" and default.get("KMSMasterKeyID"):
                key = str(default["KMSMasterKeyID"])
                return key if key.startswith("arn:") else f"arn:aws:kms:{self.region}:{self.account}:key/{key}"
        return None

    def evaluate(self, request: Request) -> Decision:
        return self.simulator.evaluate(request)
