"""One execution at a time per run: the first execution of a run whose data is checked holds the run's lease, and
another execution of the same run (a second console start, a retry started by hand) ends at validation while the
holder still runs, naming it, before it writes or creates anything. Once the holder has ended, however it ended,
the next start takes the lease over.

Why: every step is idempotent by the run's names, so two executions of one run shared one job and one
throughput, but each then evaluated and applied the throughput policy on its own: with ``throughput_policy:
delete`` the first to finish deleted the throughput the other was still evaluating on (the chaos suite found it,
seed 1, schedules 55, 69 and 152), and both paid for their own evaluation (base model calls, judge jobs). Step
Functions keeps the same rule for an execution's name: a second StartExecution with the name of an open
execution starts nothing (it returns that execution for the same input, ExecutionAlreadyExists for another;
StartExecution, API reference); this is that rule for a run.

The lease is an item of the stack's idempotency table (DynamoDB), ``run#<run id>`` -> the holder's execution ARN,
written with a conditional put, so two executions validating at once cannot both hold it. It is never released:
whether the holder still runs is asked of Step Functions (DescribeExecution) when another execution meets it, so a
holder that ended without a word (stopped, timed out, its last step crashed) never blocks its run. The item
expires after a year and a day, longer than a Standard workflow execution may last (one year, Step Functions
quotas), so a running holder's lease never expires under it."""

from __future__ import annotations

import time
from typing import Any

from botocore.exceptions import ClientError

from customizer import aws
from customizer.errors import RunAlreadyRunningError

# The stack's idempotency table keeps Powertools' DynamoDBPersistenceLayer defaults: partition key "id", TTL
# attribute "expiration" (epoch seconds). Powertools' own keys are "<function>.<module>.<function>#<hash>".
KEY_ATTRIBUTE = "id"
TTL_ATTRIBUTE = "expiration"
HOLDER_ATTRIBUTE = "execution_arn"
PREFIX = "run#"
LIFETIME_SECONDS = 366 * 24 * 3600
# Each round either takes the lease or meets a holder that still runs; another round is needed only when a third
# execution took the lease over between our two writes, so a few rounds are plenty.
ROUNDS = 5


def lease_key(run_id: str) -> str:
    return f"{PREFIX}{run_id}"


def claim_run(run_id: str, execution_arn: str, *, table: str, now: float | None = None) -> str:
    """Take the run's lease for ``execution_arn``: "claimed", "held" (this execution already holds it: a retried
    validation) or "taken over from <arn>" (its holder has ended). Raises RunAlreadyRunningError naming the holder
    while the holder runs."""
    ddb = aws.client("dynamodb")
    key = {KEY_ATTRIBUTE: {"S": lease_key(run_id)}}
    expires = int((time.time() if now is None else now) + LIFETIME_SECONDS)
    item = {**key, HOLDER_ATTRIBUTE: {"S": execution_arn}, TTL_ATTRIBUTE: {"N": str(expires)}}
    for _ in range(ROUNDS):
        if _put(table, item, "attribute_not_exists(#k) OR #h = :me", {":me": {"S": execution_arn}}):
            return "claimed"
        with aws.translate_errors("reading the run's lease"):
            found = ddb.get_item(TableName=table, Key=key, ConsistentRead=True).get("Item")
        if found is None:
            continue  # expired and removed between the two calls: claim again
        holder = found[HOLDER_ATTRIBUTE]["S"]
        if holder == execution_arn:
            return "held"
        if _running(holder):
            raise RunAlreadyRunningError(
                f"run {run_id} is already running in execution {holder.rsplit(':', 1)[-1]} ({holder}); this start "
                "did nothing: follow that execution, or stop it before starting the run again"
            )
        if _put(table, item, "#h = :holder", {":holder": {"S": holder}}):
            return f"taken over from {holder}"
    raise RunAlreadyRunningError(
        f"run {run_id}: other executions kept taking its lease ({ROUNDS} tries); this start did nothing"
    )


def _put(table: str, item: dict[str, Any], condition: str, values: dict[str, Any]) -> bool:
    """The conditional put; False when its condition did not hold."""
    names = {"#h": HOLDER_ATTRIBUTE, **({"#k": KEY_ATTRIBUTE} if "#k" in condition else {})}
    with aws.translate_errors("writing the run's lease"):
        try:
            aws.client("dynamodb").put_item(
                TableName=table,
                Item=item,
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        except ClientError as exc:
            if aws.error_code(exc) == "ConditionalCheckFailedException":
                return False
            raise
    return True


def _running(execution_arn: str) -> bool:
    """Whether the holder still runs; an execution Step Functions no longer knows (its history is kept 90 days
    after it ends) has ended."""
    with aws.translate_errors("DescribeExecution of the run's holder"):
        try:
            described = aws.client("stepfunctions").describe_execution(executionArn=execution_arn)
        except ClientError as exc:
            if aws.error_code(exc) == "ExecutionDoesNotExist":
                return False
            raise
    return str(described.get("status")) == "RUNNING"
