"""Issue 15, items 1 and 2: the offline runtime enforces IAM (offline/iam_enforcement.py). Each routed Lambda
invocation signs with its own role's credentials (moto's STS), and moto's access control allows or denies its
S3, DynamoDB, SNS and Step Functions calls by that role's policies from the synthesized template.

The mutation tests remove one statement at a time from a function's role and run the pipeline: the run must go
red (the function fails, or the run does not succeed). ``make test`` runs a focused subset; ``make
test-iam-mutations`` (IAM_MUTATIONS=all) sweeps every statement moto enforces (README, Development)."""

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
from tests.e2e.harness import E2E, RUN_TIMEOUT

# make test runs this file in a process of its own with OFFLINE_ENFORCE_IAM=1 (Makefile): in the shared e2e
# workers, enforcement is off (see offline/runtime.py).
pytestmark = pytest.mark.skipif(
    os.environ.get("OFFLINE_ENFORCE_IAM") != "1", reason="run by make test with OFFLINE_ENFORCE_IAM=1, on its own"
)

# The services whose calls moto authorizes here. Bedrock (the emulator) and KMS (no service calls it offline
# on the functions' behalf) are not enforced yet: their statements are not mutated.
ENFORCED_SERVICES = ("s3", "dynamodb", "sns", "states")
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
# make test: one statement of each enforced service, each on a different step.
FOCUSED = (
    ("start_run", "states:StartExecution"),
    ("validate_run", "s3:GetObject"),
    ("record_run", "dynamodb:PutItem"),
    ("notify", "sns:Publish"),
)


# Statements without which this run stays green, each with why (the full sweep checks this list is exact).
STAYS_GREEN = {
    ("start_run", "s3:GetObjectVersion"): "moto authorizes a GetObject with a versionId as s3:GetObject (AWS does "
    "not: S3 API reference, GetObject); offline, this statement cannot matter",
    ("start_run", "sns:Publish"): "Lambda's on-failure destination publishes only a rejected upload; this run's "
    "upload is accepted",
    ("check_job", "s3:ListBucket"): "when listing is refused the code reads the metrics at the path of AWS's "
    "sample code (customizer.jobs.validation_metrics_path), where the emulator writes them",
    ("evaluate", "s3:ListBucket"): "as for check_job: the training metrics are read at the sample code's path",
    ("plan_evaluation", "s3:PutObject"): "chunks are written only when the test set is fanned out (above "
    "evaluation.fan_out_above); this run evaluates in one step",
}


@dataclass(frozen=True)
class Statement:
    module: str
    role: str
    policy: str
    index: int
    statement: dict[str, Any]

    @property
    def actions(self) -> list[str]:
        action = self.statement["Action"]
        return action if isinstance(action, list) else [action]

    def __str__(self) -> str:
        return f"{self.module}: {self.actions} on {self.statement['Resource']}"


def _role_of(e2e: E2E, module: str) -> str:
    arn = e2e.lam.get_function_configuration(FunctionName=e2e.function_name(module))["Role"]
    return str(arn.rsplit("/", 1)[-1])


def statements_of(e2e: E2E, module: str) -> list[Statement]:
    iam = boto3.client("iam")
    role = _role_of(e2e, module)
    found = []
    for policy in iam.list_role_policies(RoleName=role)["PolicyNames"]:
        document = iam.get_role_policy(RoleName=role, PolicyName=policy)["PolicyDocument"]
        document = json.loads(document) if isinstance(document, str) else document
        for index, statement in enumerate(document["Statement"]):
            found.append(Statement(module, role, policy, index, statement))
    return found


@contextmanager
def without(statement: Statement) -> Iterator[None]:
    """The role without this one statement for the block, then as it was."""
    iam = boto3.client("iam")
    raw = iam.get_role_policy(RoleName=statement.role, PolicyName=statement.policy)["PolicyDocument"]
    document = json.loads(raw) if isinstance(raw, str) else raw
    mutated = dict(document, Statement=[s for i, s in enumerate(document["Statement"]) if i != statement.index])
    iam.put_role_policy(RoleName=statement.role, PolicyName=statement.policy, PolicyDocument=json.dumps(mutated))
    try:
        yield
    finally:
        iam.put_role_policy(RoleName=statement.role, PolicyName=statement.policy, PolicyDocument=json.dumps(document))


def _happy_run(e2e: E2E, slug: str) -> tuple[str, str, str]:
    """An uploaded run that keeps nothing; (run name, final status, errors of its invocations by module)."""
    run_name = e2e.run_name(slug)
    before = len(e2e.router.invocations)
    try:
        arn = e2e.start_upload(run_name, e2e.settings({"throughput_policy": "delete"}))
        status = e2e.wait(arn).status
        _wait_recorded(e2e, arn, before)
    except AssertionError as exc:  # the upload started no execution
        status = f"not started ({exc})"
    errors = [
        f"{c.function_name}: {c.error_type}: {(c.error_message or '')[:200]}"
        for c in e2e.router.invocations[before:]
        if c.error_type
    ]
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
    return chosen


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
def test_a_run_succeeds_with_every_function_held_to_its_role(e2e: E2E) -> None:
    _, status, errors = _happy_run(e2e, "iam-ok")
    assert status == "SUCCEEDED", (status, errors)
    assert errors == ""


def _red(e2e: E2E, statement: Statement) -> str | None:
    """Why the run went red without the statement (None: it did not)."""
    with without(statement):
        _, status, errors = _happy_run(e2e, "iam-mut")
    if status != "SUCCEEDED" or errors:
        return f"{status}; {errors}"
    return None


@pytest.mark.e2e
def test_removing_a_statement_that_matters_turns_the_run_red(e2e: E2E) -> None:
    everything = os.environ.get("IAM_MUTATIONS") == "all"
    mutations = _mutations(e2e)
    if not everything:
        mutations = [s for s in mutations if any((s.module, a) in FOCUSED for a in s.actions)]
        assert len(mutations) == len(FOCUSED), [str(m) for m in mutations]
    print(f"{len(mutations)} statements removed one at a time")
    green = {(m.module, a): str(m) for m in mutations if _red(e2e, m) is None for a in m.actions}
    unexplained = sorted(text for key, text in green.items() if key not in STAYS_GREEN)
    assert unexplained == [], "the run stayed green without:\n" + "\n".join(unexplained)
    if everything:
        assert set(green) == set(STAYS_GREEN), sorted(set(STAYS_GREEN) - set(green))
    # And with every statement back, it is green again.
    _, status, errors = _happy_run(e2e, "iam-back")
    assert (status, errors) == ("SUCCEEDED", "")
