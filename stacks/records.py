"""Run records: a table with one item per execution, written by ``record_run`` when an execution ends (a
rule on the state machine's status changes), read by ``make runs`` and ``make run RUN=<id>``."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_kms as kms
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from stacks import constants
from stacks.functions import Functions


class Records(Construct):
    """The runs table and the rule that fills it."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        key: kms.IKey,
        state_machine: sfn.StateMachine,
        functions: Functions,
    ) -> None:
        super().__init__(scope, construct_id)
        self.table = self._build_table(key)
        self.function = functions.build_record_run(state_machine, self.table)
        self.rule = events.Rule(
            self,
            "ExecutionEnded",
            description="Record every ended execution of the pipeline",
            event_pattern=events.EventPattern(
                source=["aws.states"],
                detail_type=["Step Functions Execution Status Change"],
                detail={
                    "status": list(constants.RECORDED_STATUSES),
                    "stateMachineArn": [state_machine.state_machine_arn],
                },
            ),
            targets=[targets.LambdaFunction(self.function, retry_attempts=constants.TRIGGER_RETRY_ATTEMPTS)],
        )

    def _build_table(self, key: kms.IKey) -> dynamodb.Table:
        table = dynamodb.Table(
            self,
            "RunsTable",
            partition_key=dynamodb.Attribute(name=constants.RUNS_TABLE_KEY, type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            encryption=dynamodb.TableEncryption.CUSTOMER_MANAGED,
            encryption_key=key,
            # The runs' history outlives the stack, like the buckets.
            removal_policy=RemovalPolicy.RETAIN,
        )
        table.add_global_secondary_index(
            index_name=constants.RUNS_BY_START_INDEX,
            partition_key=dynamodb.Attribute(name="kind", type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name="started_at", type=dynamodb.AttributeType.STRING),
        )
        return table
