"""Issue 15, items 1 and 2: the offline runtime enforces IAM (offline/iam_enforcement.py, and the Bedrock emulator's
authorization). Each routed Lambda invocation signs with its own role's credentials (moto's STS): moto's access
control allows or denies its S3, DynamoDB, SNS and Step Functions calls by that role's policies from the
synthesized template, and the Bedrock emulator its Bedrock calls, the roles it passes and the key uses they need
(with the key policy); the customization job runs as the customization role.

The mutation tests remove one statement at a time from a function's role, the customization role or the key
policy and run the pipeline: the run must go red (a function fails, the job fails, or the run does not
succeed), or the statement is in STAYS_GREEN with the reason. ``make test`` runs a focused subset; ``make
test-iam-mutations`` (IAM_MUTATIONS=all) sweeps every enforced statement (README, Development)."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from offline.iam_enforcement import acting_as
from offline.sample_data import as_format
from tests.e2e.harness import E2E, RUN_TIMEOUT, sample_files

# Enforcement is the offline runtime's default (offline/runtime.py); these tests mean nothing with it turned off.
pytestmark = pytest.mark.skipif(
    os.environ.get("OFFLINE_ENFORCE_IAM") == "0", reason="IAM enforcement turned off (OFFLINE_ENFORCE_IAM=0)"
)

# The services whose calls are authorized offline: by moto (S3, DynamoDB, SNS, Step Functions) and by the Bedrock
# emulator (bedrock, and the kms and iam:PassRole questions its calls and its service roles' acts raise). Logs and
# X-Ray are not: their statements are not mutated.
ENFORCED_SERVICES = ("s3", "dynamodb", "sns", "states", "bedrock", "kms", "iam")
# The functions a successful run from an upload invokes.
HAPPY_PATH = (
    "start_run",
    "validate_run",
    "create_job",
    "check_job",
    "create_throughput",
    "check_throughput",
    "plan_evaluation",
    "evaluate",
    "apply_policy",
    "notify",
    "record_run",
)
CUSTOMIZATION_ROLE = "customization role"
KEY_POLICY = "key policy"
# make test: one statement of each enforced service, each on a different step, and one of the customization role
# and of the key policy.
FOCUSED = (
    ("start_run", "states:StartExecution"),
    ("validate_run", "s3:GetObject"),
    ("record_run", "dynamodb:PutItem"),
    ("notify", "sns:Publish"),
    ("create_job", "iam:PassRole"),
    ("create_throughput", "bedrock:CreateProvisionedModelThroughput"),
    (CUSTOMIZATION_ROLE, "s3:PutObject"),
    (KEY_POLICY, "PermissionsNovaProvisionedThroughput"),
)
# The run the mutations break: Nova Micro (its provisioned throughput needs the key policy's statement for
# Bedrock itself), its custom model encrypted with the stack key, served by throughput that is then deleted.
NOVA = "amazon.nova-micro-v1:0"


# Why a statement stays green (the full sweep checks STAYS_GREEN is exact).
_KMS_OF_MOTO = (
    "not enforced offline: moto's S3, DynamoDB and SNS do not ask KMS for the caller (the emulator checks the key "
    "only for the Bedrock calls and for the service roles' S3 reads and writes)"
)
_ON_DEMAND = "on-demand deployments only (settings.serving on_demand); this run is served by provisioned throughput"
_PROFILES = (
    "bases served through a cross-region inference profile only (Llama 3.2, 3.3); Nova Micro is called by its id"
)
_BOTH_KEY_GRANTS = (
    "the customization role's key use through Bedrock is granted twice, by its identity policy (with the key policy's "
    "account-root statement) and by the key policy's statement naming the role; either alone allows it (KMS developer "
    "guide, 'Key policies'): the Nova user guide's PermissionsModelCustomization is the key-policy one"
)
_DUPLICATE_START = (
    "the run's lease holder is described only when another execution of the run holds it (a duplicate start; "
    "customizer/leases.py); this run is started once. test_e2e_resilience.py's duplicate starts go red without it"
)
STAYS_GREEN = {
    ("start_run", "s3:GetObjectVersion"): "moto authorizes a GetObject with a versionId as s3:GetObject (AWS does "
    "not: S3 API reference, GetObject); offline, this statement cannot matter",
    ("start_run", "sns:Publish"): "Lambda's on-failure destination publishes only a rejected upload; this run's "
    "upload is accepted",
    ("check_job", "s3:ListBucket"): "when listing is refused the code reads the metrics at the path of AWS's "
    "sample code (customizer.jobs.validation_metrics_path), where the emulator writes them",
    ("check_job", "bedrock:DeleteCustomModel"): "only the smoke job's model is deleted here; this run has no smoke job",
    ("evaluate", "s3:ListBucket"): "as for check_job: the training metrics are read at the sample code's path",
    ("plan_evaluation", "s3:PutObject"): "chunks are written only when the test set is fanned out (above "
    "evaluation.fan_out_above); this run evaluates in one step",
    ("validate_run", "s3:ListBucket"): "lists only the prefix of settings.invocation_logs (a distillation's training "
    "data from invocation logs); this run trains from a file",
    ("validate_run", "states:DescribeExecution"): _DUPLICATE_START,
    ("create_throughput", "bedrock:CreateCustomModelDeployment"): _ON_DEMAND,
    ("create_throughput", "bedrock:GetCustomModelDeployment"): _ON_DEMAND,
    ("check_throughput", "bedrock:GetCustomModelDeployment"): _ON_DEMAND,
    ("apply_policy", "bedrock:GetCustomModelDeployment"): _ON_DEMAND,
    ("apply_policy", "bedrock:DeleteCustomModelDeployment"): _ON_DEMAND,
    ("apply_policy", "bedrock:TagResource"): "only a custom model that lost its evaluation is tagged; this one wins",
    ("evaluate", "bedrock:InvokeModel"): _PROFILES,  # the profile statements (the other InvokeModel one goes red)
    **{
        (owner, f"{action} via {service}"): _KMS_OF_MOTO
        for owner, service, actions in (
            ("start_run", "s3", ("kms:Decrypt",)),
            ("start_run", "dynamodb", ("kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey")),
            ("start_run", "sns", ("kms:GenerateDataKey", "kms:Decrypt")),
            ("validate_run", "s3", ("kms:Decrypt", "kms:GenerateDataKey")),
            ("validate_run", "dynamodb", ("kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey")),
            ("create_job", "dynamodb", ("kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey")),
            ("check_job", "s3", ("kms:Decrypt",)),
            ("create_throughput", "dynamodb", ("kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey")),
            ("plan_evaluation", "s3", ("kms:Decrypt", "kms:GenerateDataKey")),
            ("evaluate", "s3", ("kms:Decrypt", "kms:GenerateDataKey")),
            ("notify", "sns", ("kms:GenerateDataKey", "kms:Decrypt")),
            ("record_run", "dynamodb", ("kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey")),
            ("record_run", "s3", ("kms:GenerateDataKey",)),
        )
        for action in actions
    },
    (CUSTOMIZATION_ROLE, "lambda:InvokeFunction"): "Bedrock calls the grader as the customization role only in an RFT "
    "job (the emulator checks it at the job's start: offline/bedrock_emulator/store.py); this run fine-tunes Nova Micro",
    (CUSTOMIZATION_ROLE, "s3:ListBucket"): "the emulated job reads and writes the objects it is given and never lists "
    "(whether Bedrock lists the data and output locations is not documented; the grant tells a missing file from a "
    "forbidden one)",
    **{
        (CUSTOMIZATION_ROLE, f"{a} via bedrock"): _BOTH_KEY_GRANTS
        for a in ("kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey", "kms:CreateGrant")
    },
    (KEY_POLICY, "BedrockCustomModelThroughCustomizationRole"): _BOTH_KEY_GRANTS,
    (KEY_POLICY, "CloudWatchLogsOfThisAccountAndRegion"): "CloudWatch Logs is not emulated (log groups are created, "
    "nothing encrypts log data offline)",
    (KEY_POLICY, "cloudwatch.amazonaws.com"): "CloudWatch alarms' SNS actions are not emulated",
    (KEY_POLICY, "BedrockEvaluationJobsOfThisAccount"): "the evaluation job's own temporary copy with the key (Bedrock "
    "as its service principal) is not emulated: iam-simulate 0.1.173 does not evaluate kms:EncryptionContext:<key> "
    "conditions, and this suite's judge runs are on the judge e2e file, not the sweep's happy path",
}
# The statements the focused run (make test) removes, by the same names.
assert all(k not in STAYS_GREEN for k in FOCUSED)


@dataclass(frozen=True)
class Statement:
    """One statement of a role's inline policy (``policy``), or of the key policy (``policy`` is None)."""

    owner: str  # a function's module, CUSTOMIZATION_ROLE or KEY_POLICY
    role: str
    policy: str | None
    index: int
    statement: dict[str, Any]

    @property
    def actions(self) -> list[str]:
        action = self.statement["Action"]
        return action if isinstance(action, list) else [action]

    @property
    def keys(self) -> list[tuple[str, str]]:
        """How STAYS_GREEN and FOCUSED name it: (owner, action) per action, "kms:Decrypt via s3" for key use through
        a service; a key-policy statement by its Sid, else its principal."""
        if self.owner == KEY_POLICY:
            principal = self.statement["Principal"]
            name = self.statement.get("Sid") or principal.get("Service") or str(principal.get("AWS")).rsplit(":", 1)[-1]
            return [(KEY_POLICY, str(name))]
        via = str(self.statement.get("Condition", {}).get("StringEquals", {}).get("kms:ViaService", ""))
        suffix = f" via {via.split('.', maxsplit=1)[0]}" if via else ""
        return [(self.owner, a + suffix) for a in self.actions]

    def __str__(self) -> str:
        where = self.statement.get("Sid") if self.owner == KEY_POLICY else self.statement["Resource"]
        return f"{self.owner}: {self.actions} on {where}"


def _role_of(e2e: E2E, module: str) -> str:
    arn = e2e.lam.get_function_configuration(FunctionName=e2e.function_name(module))["Role"]
    return str(arn.rsplit("/", 1)[-1])


def _document(raw: Any) -> dict[str, Any]:
    return json.loads(raw) if isinstance(raw, str) else dict(raw)


def role_statements(owner: str, role: str) -> list[Statement]:
    iam = boto3.client("iam")
    found = []
    for policy in iam.list_role_policies(RoleName=role)["PolicyNames"]:
        document = _document(iam.get_role_policy(RoleName=role, PolicyName=policy)["PolicyDocument"])
        for index, statement in enumerate(document["Statement"]):
            found.append(Statement(owner, role, policy, index, statement))
    return found


def statements_of(e2e: E2E, module: str) -> list[Statement]:
    return role_statements(module, _role_of(e2e, module))


def _key_id() -> str:
    return os.environ["KMS_KEY_ARN"]


def key_statements() -> list[Statement]:
    policy = _document(boto3.client("kms").get_key_policy(KeyId=_key_id(), PolicyName="default")["Policy"])
    return [Statement(KEY_POLICY, "", None, i, s) for i, s in enumerate(policy["Statement"])]


@contextmanager
def without(statement: Statement) -> Iterator[None]:
    """The role (or the key policy) without this one statement for the block, then as it was."""
    if statement.policy is None:
        kms = boto3.client("kms")
        document = _document(kms.get_key_policy(KeyId=_key_id(), PolicyName="default")["Policy"])
        mutated = dict(document, Statement=[s for i, s in enumerate(document["Statement"]) if i != statement.index])
        kms.put_key_policy(KeyId=_key_id(), PolicyName="default", Policy=json.dumps(mutated))
        try:
            yield
        finally:
            kms.put_key_policy(KeyId=_key_id(), PolicyName="default", Policy=json.dumps(document))
        return
    iam = boto3.client("iam")
    document = _document(iam.get_role_policy(RoleName=statement.role, PolicyName=statement.policy)["PolicyDocument"])
    mutated = dict(document, Statement=[s for i, s in enumerate(document["Statement"]) if i != statement.index])
    if mutated["Statement"]:
        iam.put_role_policy(RoleName=statement.role, PolicyName=statement.policy, PolicyDocument=json.dumps(mutated))
    else:  # a policy of one statement (IAM refuses a policy with none): the policy goes for the block
        iam.delete_role_policy(RoleName=statement.role, PolicyName=statement.policy)
    try:
        yield
    finally:
        iam.put_role_policy(RoleName=statement.role, PolicyName=statement.policy, PolicyDocument=json.dumps(document))


def nova_files() -> dict[str, bytes]:
    return {name: as_format(body, "bedrock-conversation-2024") for name, body in sample_files().items()}


def _happy_run(e2e: E2E, slug: str, *, nova: bool = False) -> tuple[str, str, str]:
    """An uploaded run that keeps nothing; (run name, final status, errors of its invocations by module, and the
    failure of its customization job if it failed)."""
    run_name = e2e.run_name(slug)
    before = len(e2e.router.invocations)
    settings = e2e.settings({"throughput_policy": "delete"}, {"base_model_id": NOVA} if nova else {})
    try:
        arn = e2e.start_upload(run_name, settings, nova_files() if nova else None)
        status = e2e.wait(arn).status
        _wait_recorded(e2e, arn, before)
    except AssertionError as exc:  # the upload started no execution
        status = f"not started ({exc})"
    errors = [
        f"{c.function_name}: {c.error_type}: {(c.error_message or '')[:300]}"
        for c in e2e.router.invocations[before:]
        if c.error_type
    ]
    errors += [f"job: {j['failureMessage']}" for j in e2e.jobs_for(run_name) if j.get("failureMessage")]
    return run_name, status, "\n".join(errors)


def _wait_recorded(e2e: E2E, execution_arn: str, before: int) -> None:
    """Until record_run has run for the ended execution (the status-change event reaches it after the end)."""
    record_run = e2e.function_name("record_run")
    deadline = time.monotonic() + RUN_TIMEOUT
    while time.monotonic() < deadline:
        if any(
            c.function_name == record_run and execution_arn in json.dumps(c.event)
            for c in e2e.router.invocations[before:]
        ):
            return
        time.sleep(0.05)
    raise AssertionError(f"record_run never ran for {execution_arn}")


def _mutations(e2e: E2E) -> list[Statement]:
    chosen = []
    for module in HAPPY_PATH:
        for statement in statements_of(e2e, module):
            if all(a.split(":")[0] in ENFORCED_SERVICES for a in statement.actions):
                chosen.append(statement)
    chosen += role_statements(CUSTOMIZATION_ROLE, os.environ["CUSTOMIZATION_ROLE_ARN"].rsplit("/", 1)[-1])
    chosen += key_statements()
    return chosen


def _bedrock() -> Any:
    return boto3.client("bedrock")


@pytest.mark.e2e
def test_each_function_acts_with_its_own_roles_permissions(e2e: E2E) -> None:
    validate = e2e.router.identities[e2e.function_name("validate_run")]
    notify = e2e.router.identities[e2e.function_name("notify")]
    key = f"{e2e.runtime.run_prefix}iam-{os.getpid()}/probe.txt"
    e2e.runtime.upload(key, "probe")  # as the operator
    s3, sns = boto3.client("s3"), boto3.client("sns")
    with acting_as(validate):
        assert s3.get_object(Bucket=e2e.runtime.data_bucket, Key=key)["Body"].read() == b"probe"
        with pytest.raises(ClientError) as denied:
            s3.put_object(Bucket=e2e.runtime.data_bucket, Key=key, Body=b"overwritten")
        assert denied.value.response["Error"]["Code"] == "AccessDenied"
        with pytest.raises(ClientError) as denied:
            sns.publish(TopicArn=e2e.runtime.topic_arn, Message="{}")
        assert "AccessDenied" in denied.value.response["Error"]["Code"]
    with acting_as(notify):
        sns.publish(TopicArn=e2e.runtime.topic_arn, Message=json.dumps({"probe": True}))
        with pytest.raises(ClientError):
            s3.get_object(Bucket=e2e.runtime.data_bucket, Key=key)
    assert s3.get_object(Bucket=e2e.runtime.data_bucket, Key=key)["Body"].read() == b"probe"


@pytest.mark.e2e
def test_bedrock_answers_each_caller_by_its_own_roles_policies(e2e: E2E) -> None:
    validate_name = e2e.function_name("validate_run")
    validate = e2e.router.identities[validate_name]
    session = f"arn:aws:sts::123456789012:assumed-role/{_role_of(e2e, 'validate_run')}/{validate_name}"
    with acting_as(validate):
        # Granted: GetFoundationModel on foundation models of this region.
        assert _bedrock().get_foundation_model(modelIdentifier=NOVA)["modelDetails"]["modelId"] == NOVA
        # Not granted: the service's AccessDeniedException (403), naming the caller, the action and the resource.
        with pytest.raises(ClientError) as denied:
            _bedrock().list_custom_models()
    error = denied.value.response
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert error["Error"]["Code"] == "AccessDeniedException"
    assert error["Error"]["Message"] == (
        f"User: {session} is not authorized to perform: bedrock:ListCustomModels on resource: * because no "
        "identity-based policy allows the bedrock:ListCustomModels action"
    )
    create_job = e2e.router.identities[e2e.function_name("create_job")]
    with acting_as(create_job), pytest.raises(ClientError) as denied:
        _bedrock().create_model_customization_job(
            jobName="iam-probe",
            customModelName="iam-probe",
            roleArn="arn:aws:iam::123456789012:role/not-the-customization-role",
            baseModelIdentifier=NOVA,
            trainingDataConfig={"s3Uri": f"s3://{e2e.runtime.data_bucket}/x.jsonl"},
            outputDataConfig={"s3Uri": f"s3://{e2e.runtime.artifacts_bucket}/out/"},
        )
    # The job's own action is granted; handing Bedrock another role is not (iam:PassRole).
    message = denied.value.response["Error"]["Message"]
    assert "is not authorized to perform: iam:PassRole on resource: arn:aws:iam::123456789012:role/not-the" in message
    # An access key nobody was given.
    stranger = boto3.client("bedrock", aws_access_key_id="AKIAUNKNOWN000000000", aws_secret_access_key="x")
    with pytest.raises(ClientError) as refused:
        stranger.list_foundation_models()
    assert refused.value.response["Error"]["Code"] == "UnrecognizedClientException"


@pytest.mark.e2e
def test_a_run_succeeds_with_every_function_held_to_its_role(e2e: E2E) -> None:
    before = e2e.state()["authorization"]
    _, status, errors = _happy_run(e2e, "iam-ok")
    assert status == "SUCCEEDED", (status, errors)
    assert errors == ""
    after = e2e.state()["authorization"]
    # Every Bedrock call of the run, and what its customization role did, was authorized.
    assert after["allowed"] > before["allowed"]
    assert after["denied"] == before["denied"]


@pytest.mark.e2e
def test_a_nova_run_needs_the_key_policys_statement_for_bedrock_itself(e2e: E2E) -> None:
    _, status, errors = _happy_run(e2e, "iam-nova", nova=True)
    assert (status, errors) == ("SUCCEEDED", "")
    (nova_statement,) = [
        s for s in key_statements() if s.statement.get("Sid") == "PermissionsNovaProvisionedThroughput"
    ]
    with without(nova_statement):
        _, status, errors = _happy_run(e2e, "iam-nova-nokey", nova=True)
    assert status != "SUCCEEDED"
    assert (
        "Service: bedrock.amazonaws.com is not authorized to perform: kms:Decrypt on resource: "
        f"{_key_id()} because no resource-based policy allows the kms:Decrypt action"
    ) in errors, errors


@pytest.mark.e2e
def test_the_customization_job_runs_as_its_role(e2e: E2E) -> None:
    role = os.environ["CUSTOMIZATION_ROLE_ARN"].rsplit("/", 1)[-1]
    (reads,) = [
        s
        for s in role_statements(CUSTOMIZATION_ROLE, role)
        if s.actions == ["s3:GetObject"] and s.statement["Resource"] == f"arn:aws:s3:::{e2e.runtime.data_bucket}/*"
    ]
    with without(reads):
        run_name, status, _ = _happy_run(e2e, "iam-role")
    assert status != "SUCCEEDED"
    (job,) = e2e.jobs_for(run_name)
    assert job["status"] == "Failed"
    assert job["failureMessage"].startswith(f"Unable to read s3://{e2e.runtime.data_bucket}/"), job["failureMessage"]
    assert "AccessDenied" in job["failureMessage"]


def _red(e2e: E2E, statement: Statement) -> str | None:
    """Why the run went red without the statement (None: it did not)."""
    with without(statement):
        _, status, errors = _happy_run(e2e, "iam-mut", nova=True)
    if status != "SUCCEEDED" or errors:
        return f"{status}; {errors}"
    return None


@pytest.mark.e2e
def test_removing_a_statement_that_matters_turns_the_run_red(e2e: E2E) -> None:
    everything = os.environ.get("IAM_MUTATIONS") == "all"
    mutations = _mutations(e2e)
    if not everything:
        mutations = [s for s in mutations if any(k in FOCUSED for k in s.keys)]
        assert len(mutations) == len(FOCUSED), [str(m) for m in mutations]
    print(f"{len(mutations)} statements removed one at a time")
    green: dict[tuple[str, str], str] = {}
    for mutation in mutations:
        why = _red(e2e, mutation)
        print(f"{'RED  ' if why else 'GREEN'} {mutation}" + (f"\n      {why[:400]}" if why else ""))
        if why is None:
            green.update({k: str(mutation) for k in mutation.keys})
    unexplained = sorted(text for key, text in green.items() if key not in STAYS_GREEN)
    assert unexplained == [], "the run stayed green without:\n" + "\n".join(unexplained)
    if everything:
        assert set(green) == set(STAYS_GREEN), sorted(set(STAYS_GREEN) - set(green))
    # And with every statement back, it is green again.
    _, status, errors = _happy_run(e2e, "iam-back", nova=True)
    assert (status, errors) == ("SUCCEEDED", "")
