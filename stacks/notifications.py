"""Where a run's outcome goes: an SNS topic encrypted with the pipeline key, and an optional e-mail
subscription (``pipeline.notification_email`` in cdk.json)."""

from __future__ import annotations

from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct


class Notifications(Construct):
    """The outcome topic."""

    def __init__(self, scope: Construct, construct_id: str, *, key: kms.IKey, email: str | None) -> None:
        super().__init__(scope, construct_id)
        self.topic = self._build_topic(key)
        if email:
            self._build_email_subscription(email)

    def _build_topic(self, key: kms.IKey) -> sns.Topic:
        return sns.Topic(
            self,
            "Topic",
            display_name="Bedrock customization runs",
            master_key=key,
            enforce_ssl=True,
        )

    def _build_email_subscription(self, email: str) -> None:
        self.topic.add_subscription(subscriptions.EmailSubscription(email))
