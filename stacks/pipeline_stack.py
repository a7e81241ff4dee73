"""The pipeline's stack. It only composes the constructs, one per capability."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack
from constructs import Construct

from customizer.settings import DeploymentSettings
from stacks.aftercare import Aftercare
from stacks.customization_role import CustomizationRole
from stacks.functions import Functions
from stacks.grader import Grader
from stacks.notifications import Notifications
from stacks.observability import Observability
from stacks.records import Records
from stacks.storage import Storage
from stacks.sweeper import Sweeper
from stacks.trigger import Trigger
from stacks.workflow import Workflow


class PipelineStack(Stack):
    """Bedrock model customization, end to end: upload -> validate -> customize -> provision -> evaluate."""

    def __init__(self, scope: Construct, construct_id: str, *, settings: DeploymentSettings, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.settings = settings
        self.storage = Storage(self, "Storage")
        self.customization_role = CustomizationRole(self, "CustomizationRole", storage=self.storage)
        self.notifications = Notifications(
            self, "Notifications", key=self.storage.key, email=settings.notification_email
        )
        self.functions = Functions(
            self,
            "Functions",
            settings=settings,
            storage=self.storage,
            customization_role=self.customization_role.role,
            topic=self.notifications.topic,
        )
        self.grader = Grader(
            self,
            "Grader",
            settings=settings,
            functions=self.functions,
            customization_role=self.customization_role.role,
        )
        self.workflow = Workflow(self, "Workflow", settings=settings, functions=self.functions)
        self.functions.allow_lease_checks(self.workflow.state_machine)
        start_run = self.functions.build_start_run(self.workflow.state_machine)
        self.trigger = Trigger(
            self, "Trigger", bucket=self.storage.data_bucket, function=start_run, run_prefix=settings.run_prefix
        )
        self.aftercare = Aftercare(
            self,
            "Aftercare",
            state_machine=self.workflow.state_machine,
            function=self.functions.build_after_execution(self.workflow.state_machine),
        )
        self.records = Records(
            self, "Records", key=self.storage.key, state_machine=self.workflow.state_machine, functions=self.functions
        )
        self.sweeper = Sweeper(self, "Sweeper", settings=settings.sweeper, functions=self.functions)
        self.observability = Observability(
            self,
            "Observability",
            settings=settings,
            state_machine=self.workflow.state_machine,
            functions=self.functions,
            topic=self.notifications.topic,
            key=self.storage.key,
        )
        self._build_outputs()

    def _build_outputs(self) -> None:
        CfnOutput(
            self,
            "DataBucketName",
            value=self.storage.data_bucket.bucket_name,
            description="Upload runs here: <run prefix><run name>/ data files, then manifest.json last",
        )
        CfnOutput(
            self,
            "ArtifactsBucketName",
            value=self.storage.artifacts_bucket.bucket_name,
            description="Job output, metrics and evaluation reports",
        )
        CfnOutput(
            self,
            "StateMachineArn",
            value=self.workflow.state_machine.state_machine_arn,
            description="Start a run from the console or CLI with this state machine",
        )
        CfnOutput(
            self,
            "TopicArn",
            value=self.notifications.topic.topic_arn,
            description="Every run's outcome is published here",
        )
        CfnOutput(
            self,
            "RunPrefix",
            value=self.settings.run_prefix,
            description="Key prefix in the data bucket under which a manifest.json starts a run",
        )
        CfnOutput(
            self,
            "RunsTableName",
            value=self.records.table.table_name,
            description="One record per execution: make runs / make run RUN=<id>",
        )
