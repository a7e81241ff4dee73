"""The sweeper's schedule: a rule that runs the ``sweep`` function every ``pipeline.sweeper.schedule_minutes``,
a safety net for throughput that a run kept on purpose, or that no cleanup deleted."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from constructs import Construct

from customizer.settings import SweeperSettings
from stacks import constants
from stacks.functions import Functions


class Sweeper(Construct):
    """Schedule -> sweep."""

    def __init__(self, scope: Construct, construct_id: str, *, settings: SweeperSettings, functions: Functions) -> None:
        super().__init__(scope, construct_id)
        self.function = functions.build_sweeper()
        self.rule = events.Rule(
            self,
            "Schedule",
            description="Delete the pipeline's throughput past its lifetime unless tagged keep=true",
            schedule=events.Schedule.rate(Duration.minutes(settings.schedule_minutes)),
            # A failed sweep is retried; the next scheduled one starts afresh anyway.
            targets=[targets.LambdaFunction(self.function, retry_attempts=constants.TRIGGER_RETRY_ATTEMPTS)],
        )
