"""What an operator watches: one CloudWatch dashboard (executions, the pipeline's own metrics, Lambda errors)
and the alarms that publish to the outcome topic.

Alarms:
- executions that failed, or that hit the state machine's own timeout (the run's timeouts should come first);
  executions stopped by hand are on the dashboard only: an operator did that, and aftercare reports it;
- throughput alive longer than ``pipeline.sweeper.max_throughput_hours`` (``ThroughputsOverLifetime``, emitted
  by every sweep, kept or not): it stays in ALARM while such a throughput exists;
- the functions that clean up when nothing else will (``after_execution``, ``sweep``) failing.

The topic is encrypted with the pipeline key: CloudWatch needs the key policy's permission to publish to it."""

from __future__ import annotations

from aws_cdk import Aws, Duration, Fn
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from customizer.settings import DeploymentSettings
from stacks import constants
from stacks.functions import Functions

CLOUDWATCH = iam.ServicePrincipal("cloudwatch.amazonaws.com")
_THIS_ACCOUNTS_ALARMS = {
    "StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID},
    "ArnLike": {"aws:SourceArn": f"arn:{Aws.PARTITION}:cloudwatch:{Aws.REGION}:{Aws.ACCOUNT_ID}:alarm:*"},
}


class Observability(Construct):
    """The dashboard and the alarms."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: DeploymentSettings,
        state_machine: sfn.StateMachine,
        functions: Functions,
        topic: sns.ITopic,
        key: kms.IKey,
    ) -> None:
        super().__init__(scope, construct_id)
        self._settings = settings
        self._state_machine = state_machine
        self._functions = functions
        self._allow_alarms_to_publish(topic, key)
        self.alarms = self._build_alarms()
        for alarm in self.alarms.values():
            alarm.add_alarm_action(actions.SnsAction(topic))
        self.dashboard = self._build_dashboard()

    # --- permissions --------------------------------------------------------------------------------

    def _allow_alarms_to_publish(self, topic: sns.ITopic, key: kms.IKey) -> None:
        # CloudWatch publishes the alarms of this account and region to the topic, and no one else's alarms.
        topic.add_to_resource_policy(
            iam.PolicyStatement(
                principals=[CLOUDWATCH],
                actions=["sns:Publish"],
                resources=[topic.topic_arn],
                conditions=_THIS_ACCOUNTS_ALARMS,
            )
        )
        # The topic is SSE-KMS with the pipeline key: publishing needs a data key from it. This is the statement
        # AWS documents for CloudWatch alarms on an encrypted topic (SNS developer guide, "Enable compatibility
        # between event sources from AWS services and encrypted topics"), limited like the topic policy to this
        # account's alarms (aws:SourceAccount, aws:SourceArn: the page's confused-deputy conditions).
        key.add_to_resource_policy(
            iam.PolicyStatement(
                principals=[CLOUDWATCH],
                actions=["kms:Decrypt", "kms:GenerateDataKey"],
                resources=["*"],
                conditions=_THIS_ACCOUNTS_ALARMS,
            )
        )

    # --- metrics ------------------------------------------------------------------------------------

    @staticmethod
    def pipeline_metric(
        name: str, statistic: str = "Sum", period: Duration = constants.DASHBOARD_PERIOD, *, labelled: bool = True
    ) -> cloudwatch.Metric:
        """One of the handlers' Powertools metrics (namespace and ``service`` dimension of every function)."""
        return cloudwatch.Metric(
            namespace=constants.METRICS_NAMESPACE,
            metric_name=name,
            dimensions_map={"service": constants.SERVICE_NAME},
            statistic=statistic,
            period=period,
            label=name if labelled else None,
        )

    def _executions(self, period: Duration, *, labelled: bool = True) -> dict[str, cloudwatch.Metric]:
        """AWS/States metrics of the state machine (an alarm's metric is unlabelled: a plain metric alarm)."""
        machine = self._state_machine
        metrics = {
            "started": machine.metric_started,
            "succeeded": machine.metric_succeeded,
            "failed": machine.metric_failed,
            "stopped by hand": machine.metric_aborted,
            "timed out": machine.metric_timed_out,
        }
        return {
            label: metric(period=period, statistic="Sum", label=label if labelled else None)
            for label, metric in metrics.items()
        }

    def functions(self) -> list[lambda_.Function]:
        """Every function of the pipeline (the step functions and those built later)."""
        return [child for child in self._functions.node.children if isinstance(child, lambda_.Function)]

    # --- alarms -------------------------------------------------------------------------------------

    def _build_alarms(self) -> dict[str, cloudwatch.Alarm]:
        executions = self._executions(constants.EXECUTION_ALARM_PERIOD, labelled=False)
        sweeper = self._settings.sweeper
        alarms = {
            "ExecutionsFailed": self._alarm(
                "ExecutionsFailed",
                executions["failed"],
                "An execution of the pipeline failed (its failure notice on this topic says why)",
            ),
            "ExecutionsTimedOut": self._alarm(
                "ExecutionsTimedOut",
                executions["timed out"],
                "An execution hit the state machine's execution_timeout_hours: its own timeouts did not end it",
            ),
            "ThroughputOverLifetime": self._alarm(
                "ThroughputOverLifetime",
                self.pipeline_metric(
                    "ThroughputsOverLifetime", "Maximum", Duration.minutes(sweeper.schedule_minutes), labelled=False
                ),
                f"The sweeper found pipeline throughput older than max_throughput_hours "
                f"({sweeper.max_throughput_hours:g} h); it deletes it unless tagged keep=true or committed",
                # Between sweeps there is no data: the alarm keeps the state the last sweep left it in.
                missing=cloudwatch.TreatMissingData.IGNORE,
            ),
        }
        cleaners = [f for f in (self._functions.after_execution, self._functions.sweeper) if f is not None]
        if cleaners:
            alarms["CleanupFunctionsFailed"] = self._alarm(
                "CleanupFunctionsFailed",
                cloudwatch.MathExpression(
                    expression=" + ".join(f"e{i}" for i in range(len(cleaners))),
                    using_metrics={
                        f"e{i}": f.metric_errors(period=constants.EXECUTION_ALARM_PERIOD, statistic="Sum")
                        for i, f in enumerate(cleaners)
                    },
                    label="errors of after_execution and sweep",
                    period=constants.EXECUTION_ALARM_PERIOD,
                ),
                "A function that cleans up when nothing else will (after_execution, sweep) failed: "
                "a job or throughput may still be billing",
            )
        return alarms

    def _alarm(
        self,
        construct_id: str,
        metric: cloudwatch.IMetric,
        description: str,
        missing: cloudwatch.TreatMissingData = cloudwatch.TreatMissingData.NOT_BREACHING,
    ) -> cloudwatch.Alarm:
        return cloudwatch.Alarm(
            self,
            construct_id,
            metric=metric,
            alarm_description=description,
            threshold=0,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=1,
            treat_missing_data=missing,
        )

    # --- dashboard ----------------------------------------------------------------------------------

    def _graph(self, title: str, *names: str, statistic: str = "Sum", unit: str = "count") -> cloudwatch.GraphWidget:
        return cloudwatch.GraphWidget(
            title=title,
            left=[self.pipeline_metric(n, statistic) for n in names],
            left_y_axis=cloudwatch.YAxisProps(label=unit, show_units=False, min=0),
            width=8,
        )

    def _build_dashboard(self) -> cloudwatch.Dashboard:
        executions = self._executions(constants.DASHBOARD_PERIOD)
        errors = [
            f.metric_errors(period=constants.DASHBOARD_PERIOD, statistic="Sum", label=f.node.id)
            for f in self.functions()
        ]
        return cloudwatch.Dashboard(
            self,
            "Dashboard",
            dashboard_name=Fn.join("-", [Aws.STACK_NAME, Aws.REGION]),
            default_interval=Duration.days(7),
            widgets=[
                [
                    cloudwatch.GraphWidget(title="Executions", left=list(executions.values()), width=8),
                    self._graph(
                        "Runs", "RunsStarted", "RunsValidated", "ValidationErrors", "RunsSucceeded", "RunsFailed"
                    ),
                    cloudwatch.AlarmStatusWidget(title="Alarms", alarms=list(self.alarms.values()), width=8),
                ],
                [
                    self._graph("Customization jobs", "JobsCreated", "JobsCompleted", "JobsFailed", "JobsStopped"),
                    self._graph("Job duration", "JobDuration", statistic="Average", unit="seconds"),
                    self._graph("Evaluation accuracy", "CustomAccuracy", "BaseAccuracy", statistic="Average", unit="%"),
                ],
                [
                    self._graph("Throughput", "ThroughputsCreated", "ThroughputsSwept"),
                    self._graph("Throughput hours billed, at deletion", "DeletedThroughputHours", unit="hours"),
                    self._graph(
                        "Throughput hours per run: incurred and estimated",
                        "ThroughputHours",
                        "EstimatedThroughputHours",
                        unit="hours",
                    ),
                ],
                [
                    self._graph(
                        "Throughput past its lifetime (each sweep)", "ThroughputsOverLifetime", statistic="Maximum"
                    ),
                    self._graph("Cleanup", "Cleanups", "ResourcesCleanedAfterExecution", "CustomModelsSwept"),
                ],
                [cloudwatch.GraphWidget(title="Lambda errors", left=errors, width=24)],
            ],
        )
