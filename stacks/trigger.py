"""The upload trigger: a ``manifest.json`` created under the run prefix of the data bucket starts a run
(through the ``start_run`` function, which checks the upload and starts the state machine once)."""

from __future__ import annotations

from aws_cdk import Stack
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_notifications as s3n
from constructs import Construct

from stacks import constants
from stacks.nag import acknowledge

# CDK's singleton handler that writes the bucket's notification configuration (a custom resource,
# which breaks the bucket -> function -> bucket dependency cycle of a plain NotificationConfiguration).
NOTIFICATIONS_HANDLER_ID = "BucketNotificationsHandler050a0587b7544547bf325f094a3db834"


class Trigger(Construct):
    """S3 ObjectCreated on ``<run prefix>...manifest.json`` -> start_run."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        bucket: s3.Bucket,
        function: lambda_.IFunction,
        run_prefix: str,
    ) -> None:
        super().__init__(scope, construct_id)
        self._build_notification(bucket, function, run_prefix)
        self._build_acknowledgments()

    def _build_notification(self, bucket: s3.Bucket, function: lambda_.IFunction, run_prefix: str) -> None:
        # Only the manifest starts a run: users upload it last, after the data files it names.
        bucket.add_event_notification(
            s3.EventType.OBJECT_CREATED,
            s3n.LambdaDestination(function),
            s3.NotificationKeyFilter(prefix=run_prefix, suffix=constants.MANIFEST_SUFFIX),
        )

    def _build_acknowledgments(self) -> None:
        handler = Stack.of(self).node.find_child(NOTIFICATIONS_HANDLER_ID)
        acknowledge(
            handler,
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]",
            "CDK's own bucket-notifications custom resource handler: aws-cdk-lib gives its role the managed "
            "logging policy and no way to replace it; it runs only during deployments, to configure the data bucket.",
        )
