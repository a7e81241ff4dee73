"""Cleanup when the workflow cannot clean up itself: a rule on the state machine's execution status
changes (ABORTED, TIMED_OUT, FAILED) runs the ``after_execution`` function, which stops the ended
execution's job and deletes its throughput, found by their ``execution`` tag."""

from __future__ import annotations

from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from stacks import constants


class Aftercare(Construct):
    """Step Functions status change -> after_execution."""

    def __init__(
        self, scope: Construct, construct_id: str, *, state_machine: sfn.IStateMachine, function: lambda_.IFunction
    ) -> None:
        super().__init__(scope, construct_id)
        self.rule = events.Rule(
            self,
            "ExecutionEnded",
            description="An execution of the pipeline ended without running its own cleanup (or failed)",
            event_pattern=events.EventPattern(
                source=["aws.states"],
                detail_type=["Step Functions Execution Status Change"],
                detail={
                    "status": list(constants.AFTERCARE_STATUSES),
                    "stateMachineArn": [state_machine.state_machine_arn],
                },
            ),
            targets=[targets.LambdaFunction(function, retry_attempts=constants.TRIGGER_RETRY_ATTEMPTS)],
        )
