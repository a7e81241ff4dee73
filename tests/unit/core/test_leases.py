"""The run's lease (customizer/leases.py) against moto's DynamoDB and Step Functions: one execution of a run at a
time, a holder that ended gives way, and two executions claiming at once never both hold it."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from customizer import leases
from customizer.errors import RunAlreadyRunningError
from customizer.leases import HOLDER_ATTRIBUTE, LIFETIME_SECONDS, TTL_ATTRIBUTE, claim_run, lease_key

TABLE = "unit-idempotency"
RUN = "run-a-0123456789ab"


@pytest.fixture
def table(moto_aws: None) -> str:
    boto3.client("dynamodb").create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return TABLE


@pytest.fixture
def start(moto_aws: None) -> Any:
    sfn = boto3.client("stepfunctions")
    machine = sfn.create_state_machine(
        name="unit-pipeline",
        definition='{"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 3600, "End": true}}}',
        roleArn="arn:aws:iam::123456789012:role/unit-sfn",
    )["stateMachineArn"]

    def started(name: str) -> str:
        arn: str = sfn.start_execution(stateMachineArn=machine, name=name)["executionArn"]
        return arn

    return started


def _holder(run_id: str = RUN) -> dict[str, Any]:
    item: dict[str, Any] = boto3.client("dynamodb").get_item(TableName=TABLE, Key={"id": {"S": lease_key(run_id)}})[
        "Item"
    ]
    return item


def test_the_first_execution_claims_the_run_and_a_retried_validation_still_holds_it(table: str, start: Any) -> None:
    first = start("console-1")
    assert claim_run(RUN, first, table=table, now=1_000.0) == "claimed"
    assert claim_run(RUN, first, table=table) == "claimed"  # the same holder's put passes its condition
    item = _holder()
    assert item[HOLDER_ATTRIBUTE]["S"] == first
    assert int(item[TTL_ATTRIBUTE]["N"]) >= 1_000 + LIFETIME_SECONDS - 1


def test_a_second_execution_of_a_running_run_is_refused_naming_the_holder(table: str, start: Any) -> None:
    first, second = start("console-1"), start("console-2")
    claim_run(RUN, first, table=table)
    with pytest.raises(RunAlreadyRunningError, match=r"already running in execution console-1 \(arn:aws:states:"):
        claim_run(RUN, second, table=table)
    assert _holder()[HOLDER_ATTRIBUTE]["S"] == first
    assert claim_run("another-run-0123", second, table=table) == "claimed"  # other runs are not held


def test_a_holder_that_ended_gives_the_run_to_the_next_start(table: str, start: Any) -> None:
    first, second = start("console-1"), start("console-2")
    claim_run(RUN, first, table=table)
    boto3.client("stepfunctions").stop_execution(executionArn=first)
    assert claim_run(RUN, second, table=table) == f"taken over from {first}"
    assert _holder()[HOLDER_ATTRIBUTE]["S"] == second
    with pytest.raises(RunAlreadyRunningError, match="console-2"):
        claim_run(RUN, first, table=table)  # the old holder, retried after it ended, does not take it back


def test_a_holder_step_functions_no_longer_knows_has_ended(table: str, start: Any) -> None:
    gone = "arn:aws:states:us-east-1:123456789012:execution:unit-pipeline:long-gone"
    claim_run(RUN, gone, table=table)
    second = start("console-2")
    assert claim_run(RUN, second, table=table) == f"taken over from {gone}"


def test_two_starts_taking_over_from_an_ended_holder_at_once_do_not_both_hold_the_run(
    table: str, start: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The interleaving forced (DynamoDB makes each conditional put atomic; the race is between our calls): both
    see the ended holder, the other takes the run over first, and this start's takeover then fails its condition,
    reads the new holder, and is refused."""
    first, second, third = start("console-1"), start("console-2"), start("console-3")
    claim_run(RUN, first, table=table)
    boto3.client("stepfunctions").stop_execution(executionArn=first)
    real_running = leases._running
    raced: list[str] = []

    def running(arn: str) -> bool:
        answer = real_running(arn)
        if arn == first and not raced:
            raced.append("racing")
            raced[0] = claim_run(RUN, second, table=table)  # the other start, between our read and our put
        return answer

    monkeypatch.setattr(leases, "_running", running)
    with pytest.raises(RunAlreadyRunningError, match="console-2"):
        claim_run(RUN, third, table=table)
    assert raced == [f"taken over from {first}"]
    assert _holder()[HOLDER_ATTRIBUTE]["S"] == second
