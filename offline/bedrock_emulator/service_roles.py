"""Bedrock acting as a job's service role (issue 15, item 1: "the customization job itself runs as the
customization role"). With an ``Authorizer``, a customization or evaluation job reads its data, writes its
output and uses the KMS key with credentials of the ``roleArn`` it was given, assumed through STS as Bedrock
assumes it: the role's trust policy must let bedrock.amazonaws.com assume it for this job (``aws:SourceAccount``,
``aws:SourceArn``: the user guide's "Create a service role for model customization"); S3 then allows or denies
each read and write by the role's policies (moto's access control, offline), and what S3 and Bedrock ask of
the key for it is evaluated with the role's policies and the key policy together.

Every refusal is an ``ObjectStoreError`` whose message is the job's failure: a job whose role lacks a grant
fails as a job (status Failed, ``failureMessage``), or, where the emulator reads at create time (an evaluation
job's datasets), is refused with a ValidationException. Which of the two the service does, and its wording, are
guesses (README)."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from offline.bedrock_emulator.authorization import (
    BEDROCK_SERVICE,
    Authorizer,
    Check,
    Principal,
    access_denied,
    checks_for_objects,
)
from offline.bedrock_emulator.errors import ServiceError
from offline.bedrock_emulator.training import ObjectStore, ObjectStoreError, S3Objects


class RoleObjects:
    """An ``ObjectStore`` that reads and writes as a service role, and answers for the role's other acts."""

    def __init__(self, authorizer: Authorizer, role_arn: str, source_arn: str, s3_endpoint_url: str | None) -> None:
        self.authorizer = authorizer
        self.role_arn = role_arn
        self.source_arn = source_arn
        self._endpoint = s3_endpoint_url
        self._lock = threading.Lock()
        self._principal: Principal | None = None
        self._objects: S3Objects | None = None

    def _session(self) -> tuple[Principal, S3Objects]:
        with self._lock:
            if self._principal is None or self._objects is None:
                authority = self.authorizer.authority
                found = authority.role(self.role_arn)
                if found is None:
                    raise ObjectStoreError(f"The role {self.role_arn} does not exist.")
                role, trust = found
                self._check_trust(trust)
                session_arn, credentials = authority.assume(self.role_arn, self.source_arn.rsplit("/", 1)[-1])
                self._principal = Principal(session_arn, role.policies)
                self._objects = S3Objects(authority.region, self._endpoint, credentials=credentials)
            return self._principal, self._objects

    def _check_trust(self, trust: object) -> None:
        """Bedrock assumes the role for this job: the trust policy decides (the role has no identity policy here)."""
        authority = self.authorizer.authority
        check = Check(
            "sts:AssumeRole",
            self.role_arn,
            {"aws:SourceAccount": authority.account, "aws:SourceArn": self.source_arn},
            service_principal=True,
        )
        from offline.iam_simulator import Request

        decision = authority.evaluate(
            Request(
                principal=BEDROCK_SERVICE,
                action=check.action,
                resource=check.resource,
                account=authority.account,
                resource_policy=trust,  # type: ignore[arg-type]
                context=check.context,
            )
        )
        if not decision.allowed:
            raise ObjectStoreError(
                f"Amazon Bedrock could not assume the role {self.role_arn}: its trust policy does not let "
                f"{BEDROCK_SERVICE} assume it for {self.source_arn}."
            )

    def require(self, checks: Sequence[Check]) -> None:
        """The role's acts that are not object reads and writes (the model key, the judge model)."""
        principal, _ = self._session()
        try:
            self.authorizer.require(principal, checks)
        except ServiceError as exc:
            raise ObjectStoreError(exc.message) from exc

    def read(self, uri: str, max_bytes: int) -> bytes:
        _, objects = self._session()
        data = objects.read(uri, max_bytes)  # S3 authorizes s3:GetObject first (moto, by the role's policies)
        self._require_key(list(checks_for_objects(self.authorizer, uri, write=False)), f"Unable to read {uri}")
        return data

    def list_objects(self, prefix_uri: str) -> list[str]:
        """The objects under a prefix (invocation logs): S3 authorizes s3:ListBucket by the role's policies."""
        _, objects = self._session()
        return objects.list_objects(prefix_uri)

    def write(self, uri: str, data: bytes, *, kms_key_id: str | None = None) -> None:
        self._require_key(
            list(checks_for_objects(self.authorizer, uri, write=True)), f"Unable to write the job output to {uri}"
        )
        _, objects = self._session()
        objects.write(uri, data, kms_key_id=kms_key_id)

    def _require_key(self, checks: list[Check], what: str) -> None:
        principal, _ = self._session()
        for check in checks:
            decision = self.authorizer.decide(principal, check)
            if not decision.allowed:
                raise ObjectStoreError(f"{what}: {access_denied(principal.arn, check, decision).message}")


def objects_as(
    authorizer: Authorizer | None, fallback: ObjectStore, role_arn: str, source_arn: str, s3_endpoint_url: str | None
) -> ObjectStore:
    """What a job reads and writes through: as its role when authorizing, else the emulator's own store."""
    if authorizer is None:
        return fallback
    return RoleObjects(authorizer, role_arn, source_arn, s3_endpoint_url)
