"""IAM enforcement in the offline runtime (issue 15, item 1): every routed Lambda invocation signs its calls
with credentials of its own role, assumed through moto's STS, and moto's IAM access control allows or denies
them by the role's policies from the synthesized template.

How the credentials reach the handlers without the deployed code knowing: every botocore session made while
enforcement is on (boto3's default session, the ones Powertools makes) resolves credentials to one
``RoutedCredentials`` object, which signs each request with the identity of the invocation running on the
calling thread (the router sets it for the handler's duration; threads the handler starts inherit it), and with
the operator's (an IAM user with ``*``) elsewhere: the tests, the deployer, moto's own Step Functions interpreter.

moto authorizes S3 by bucket and object ARN; for the services it authorizes on ``"*"`` only (DynamoDB, SNS,
Step Functions, KMS, Lambda: the pre-flight check invokes the grader), ``_determine_resource`` is patched in here to give the resource the request names, so
resource-scoped statements decide. moto evaluates Action, Resource and Condition (a statement whose condition
keys the request does not carry counts as a deny), and no resource policies (the KMS key policy is checked by
the Bedrock emulator for the calls it serves, not by moto)."""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlparse

import boto3
import botocore.credentials
from botocore.credentials import CredentialProvider, Credentials, ReadOnlyCredentials

OPERATOR_USER = "offline-operator"


@dataclass(frozen=True)
class Identity:
    """Credentials, and whose they are (a role name, or the operator)."""

    name: str
    access_key: str
    secret_key: str
    token: str | None = None


_ATTRIBUTE = "_offline_iam_identity"
_state: dict[str, Identity | None] = {"operator": None}


def current_identity() -> Identity | None:
    return getattr(threading.current_thread(), _ATTRIBUTE, None) or _state["operator"]


@contextmanager
def acting_as(identity: Identity | None) -> Iterator[None]:
    """Sign this thread's requests (and those of the threads it starts) as ``identity`` for the block."""
    thread = threading.current_thread()
    saved = getattr(thread, _ATTRIBUTE, None)
    setattr(thread, _ATTRIBUTE, identity)
    try:
        yield
    finally:
        setattr(thread, _ATTRIBUTE, saved)


class RoutedCredentials(Credentials):  # type: ignore[misc]
    """Credentials that are, at each signing, those of the identity the calling thread acts as."""

    def __init__(self) -> None:  # no fixed keys: see the properties
        self.method = "offline-routed"

    def _identity(self) -> Identity:
        identity = current_identity()
        if identity is None:
            raise RuntimeError("IAM enforcement is on but no identity is set (the runtime is not started)")
        return identity

    @property
    def access_key(self) -> str:
        return self._identity().access_key

    @access_key.setter
    def access_key(self, value: str) -> None:
        pass

    @property
    def secret_key(self) -> str:
        return self._identity().secret_key

    @secret_key.setter
    def secret_key(self, value: str) -> None:
        pass

    @property
    def token(self) -> str | None:
        return self._identity().token

    @token.setter
    def token(self, value: str | None) -> None:
        pass

    def get_frozen_credentials(self) -> ReadOnlyCredentials:
        identity = self._identity()
        return ReadOnlyCredentials(identity.access_key, identity.secret_key, identity.token)


class _RoutedProvider(CredentialProvider):  # type: ignore[misc]
    METHOD = "offline-routed"

    def load(self) -> Credentials | None:
        # Outside an invocation, only where the environment gives credentials (the runtime sets the operator's):
        # a caller that removed them (a test of "no credentials") finds none, as it would without this provider.
        if getattr(threading.current_thread(), _ATTRIBUTE, None) is None and "AWS_ACCESS_KEY_ID" not in os.environ:
            return None
        return RoutedCredentials()


# ---- moto: the resource each request names ----


def _json_body(response: Any) -> dict[str, Any]:
    body = getattr(response, "body", None)
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    if isinstance(body, str) and body.startswith("{"):
        parsed: dict[str, Any] = json.loads(body)
        return parsed
    return body if isinstance(body, dict) else {}


def _query(response: Any, name: str) -> str | None:
    values = (getattr(response, "querystring", None) or {}).get(name)
    return str(values[0]) if values else None


def _dynamodb_resource(response: Any) -> str:
    body = _json_body(response)
    table = body.get("TableName")
    if not table:
        return "*"
    arn = f"arn:aws:dynamodb:{response.region}:{response.current_account}:table/{table}"
    return f"{arn}/index/{body['IndexName']}" if body.get("IndexName") else arn


def _sns_resource(response: Any) -> str:
    return _query(response, "TopicArn") or _query(response, "TargetArn") or "*"


def _stepfunctions_resource(response: Any) -> str:
    body = _json_body(response)
    return str(body.get("executionArn") or body.get("stateMachineArn") or "*")


def _kms_resource(response: Any) -> str:
    key = str(_json_body(response).get("KeyId") or "")
    if key.startswith("arn:"):
        return key
    return f"arn:aws:kms:{response.region}:{response.current_account}:key/{key}" if key else "*"


def _lambda_resource(response: Any) -> str:
    """The function a Lambda request names (``/2015-03-31/functions/<name or ARN>/...``), as its ARN."""
    found = re.search(r"/functions/([^/?]+)", unquote(str(getattr(response, "raw_path", "") or response.path)))
    if not found:
        return "*"
    name = found.group(1)
    if name.startswith("arn:"):
        return name
    return f"arn:aws:lambda:{response.region}:{response.current_account}:function:{name}"


# Where an operation's IAM action is not its API name (moto authorizes by the API name): Lambda's Invoke is
# lambda:InvokeFunction (the Service Authorization Reference, AWS Lambda).
_IAM_ACTIONS = {("awslambda", "Invoke"): "InvokeFunction"}


def _resource_patches() -> list[tuple[type, Callable[[Any], str]]]:
    from moto.awslambda.responses import LambdaResponse
    from moto.dynamodb.responses import DynamoHandler
    from moto.kms.responses import KmsResponse
    from moto.sns.responses import SNSResponse
    from moto.stepfunctions.responses import StepFunctionResponse

    return [
        (LambdaResponse, _lambda_resource),
        (DynamoHandler, _dynamodb_resource),
        (SNSResponse, _sns_resource),
        (StepFunctionResponse, _stepfunctions_resource),
        (KmsResponse, _kms_resource),
    ]


@contextmanager
def enforcing(operator: Identity, port: int, role_keys: frozenset[str] = frozenset()) -> Iterator[None]:
    """moto's access control on for requests to the moto server on ``port``; every botocore client signs as the
    thread's identity (else with its own credentials; new sessions resolve to ``operator``)."""
    from botocore.signers import RequestSigner
    from moto.core.authorization import ActionAuthenticatorMixin
    from moto.stepfunctions.parser.asl.utils import boto_client as interpreter_clients

    original_authorize = ActionAuthenticatorMixin._authenticate_and_authorize_action
    original_interpreter_boto3 = getattr(interpreter_clients, "boto3")  # noqa: B009 - not re-exported

    original_get_auth = RequestSigner.get_auth_instance
    original_resolver = botocore.credentials.create_credential_resolver
    original_start = threading.Thread.start
    original_default_session = boto3.DEFAULT_SESSION
    patched = _resource_patches()

    def resolver(session: Any, cache: Any = None, region_name: Any = None) -> Any:
        chain = original_resolver(session, cache=cache, region_name=region_name)
        chain.providers.insert(0, _RoutedProvider())
        return chain

    def start(thread: threading.Thread) -> None:
        # A thread started while acting as an identity (the evaluator's pool) acts as it too.
        setattr(thread, _ATTRIBUTE, getattr(threading.current_thread(), _ATTRIBUTE, None))
        original_start(thread)

    def get_auth_instance(signer: Any, *args: Any, request_credentials: Any = None, **kwargs: Any) -> Any:
        # Inside an invocation every client signs as the function's role, also one made before enforcement (the
        # Powertools persistence layer's, made at import).
        if request_credentials is None and getattr(threading.current_thread(), _ATTRIBUTE, None) is not None:
            request_credentials = RoutedCredentials()
        return original_get_auth(signer, *args, request_credentials=request_credentials, **kwargs)

    _state["operator"] = operator
    setattr(RequestSigner, "get_auth_instance", get_auth_instance)  # noqa: B010
    botocore.credentials.create_credential_resolver = resolver
    setattr(threading.Thread, "start", start)  # noqa: B010
    boto3.DEFAULT_SESSION = None  # made again, with the routed resolver, on the next boto3.client()
    for cls, determine in patched:
        cls._determine_resource = determine  # type: ignore[attr-defined]
    # moto's Step Functions interpreter signs with the fixed keys "ak"/"sk": it acts as the operator instead (the
    # state machine's own role is not enforced offline).
    setattr(interpreter_clients, "boto3", _InterpreterBoto3())  # noqa: B010

    def authorize(response: Any, iam_request_cls: type, resource: str = "*") -> None:
        """The enforcing branch of moto's ActionAuthenticatorMixin._authenticate_and_authorize_action, for requests
        to the runtime's moto server only (a WSGI request to its port): a unit test's mock_aws (moto's in-process
        stubber) or moto server of its own in the same process is not enforced. Without moto's SigV4 check, which in server mode gets some
        signatures wrong (Lambda's REST paths): the access key (whose identity it is) and its policies are what
        is tested here, not the signature."""
        host = str(response.headers.get("Host") or "")
        to_runtime = getattr(response, "is_werkzeug_request", False) and host.endswith(f":{port}")
        # A client made before the runtime (at a handler module's import, by a unit test in the same process) may
        # reach moto's backends through its in-process stubber: a call signed with a role's key is enforced too.
        key = re.search(r"Credential=([^/]+)/", str(response.headers.get("Authorization") or ""))
        if not to_runtime and not (key and key.group(1) in role_keys):
            return
        path = response.raw_path
        query = urlparse(response.uri).query
        request = iam_request_cls(
            account_id=response.current_account,
            method=response.method,
            path=path + ("?" + query if query else ""),
            data=response.data,
            body=response.raw_body,
            headers=response.headers,
            action=_IAM_ACTIONS.get((response.service_name, response._get_action()), response._get_action()),
        )
        request.check_action_permitted(resource)

    setattr(ActionAuthenticatorMixin, "_authenticate_and_authorize_action", authorize)  # noqa: B010
    try:
        yield
    finally:
        setattr(ActionAuthenticatorMixin, "_authenticate_and_authorize_action", original_authorize)  # noqa: B010
        setattr(RequestSigner, "get_auth_instance", original_get_auth)  # noqa: B010
        setattr(interpreter_clients, "boto3", original_interpreter_boto3)  # noqa: B010
        for cls, _ in patched:
            del cls._determine_resource  # type: ignore[attr-defined]
        botocore.credentials.create_credential_resolver = original_resolver
        setattr(threading.Thread, "start", original_start)  # noqa: B010
        boto3.DEFAULT_SESSION = original_default_session
        _state["operator"] = None


class _InterpreterBoto3:
    """What moto's interpreter sees as ``boto3``: its clients resolve credentials like everyone's."""

    @staticmethod
    def client(**kwargs: Any) -> Any:
        kwargs.pop("aws_access_key_id", None)
        kwargs.pop("aws_secret_access_key", None)
        return boto3.client(**kwargs)


def create_operator(iam: Any) -> Identity:
    """An IAM user allowed everything, for the deployer, the tests and moto's interpreter (auth still off)."""
    iam.create_user(UserName=OPERATOR_USER)
    iam.put_user_policy(
        UserName=OPERATOR_USER,
        PolicyName="everything",
        PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
        ),
    )
    key = iam.create_access_key(UserName=OPERATOR_USER)["AccessKey"]
    return Identity(OPERATOR_USER, key["AccessKeyId"], key["SecretAccessKey"])


def assume(sts: Any, role_arn: str, session_name: str) -> Identity:
    """The role's credentials from moto's STS (12 hours: longer than any offline run)."""
    found = sts.assume_role(RoleArn=role_arn, RoleSessionName=session_name[:64], DurationSeconds=43200)
    credentials = found["Credentials"]
    return Identity(
        role_arn.rsplit("/", 1)[-1],
        credentials["AccessKeyId"],
        credentials["SecretAccessKey"],
        credentials["SessionToken"],
    )
