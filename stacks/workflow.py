"""The Step Functions state machine: the whole run, as in the README's diagram.

Validate the run -> Smoke test first?
  yes -> Create the smoke job -> [Wait for the smoke job -> Check the smoke job -> Smoke job finished?]
     Completed -> Create the customization job
     Failed / Stopped -> Clean up -> Notify failure -> Run failed
  no  -> Create the customization job
Create the customization job -> [Wait for the job -> Check the job -> Job finished?]
  Completed -> Serve on demand?
    no  -> Create the throughput -> [Wait for the throughput -> Check the throughput -> Throughput ready?]
    yes -> Create the deployment -> [Wait for the deployment -> Check the deployment -> Deployment ready?]
           (Active is InService, as below)
     InService -> Plan the evaluation -> Fan the evaluation out?
        no  -> Evaluate custom against base                                    -> Apply the throughput policy
        yes -> Evaluate the test set in chunks (Distributed Map: Evaluate one chunk) -> Aggregate the evaluation
               -> Apply the throughput policy
        either way, with settings.evaluation.judge.enabled: Start the judge -> [Wait for the judge -> Check the
               judge -> Judge finished?] -> Conclude with the judge -> Apply the throughput policy
        Apply the throughput policy -> Notify success -> Run succeeded
     Failed -> Clean up -> Notify failure -> Run failed
  Failed / Stopped -> Clean up -> Notify failure -> Run failed

An error in "Validate the run" goes straight to "Notify failure" (nothing exists yet to clean up); an error
in any later step goes to "Clean up" first. Retry and Catch name the handlers' error classes
(``customizer.errors``). Waiting is a Wait state whose length comes from the run's settings: no fixed
long waits and no sleeping Lambda."""

from __future__ import annotations

import json
from typing import Any

from aws_cdk import Duration, Stack
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from customizer.errors import RETRYABLE_ERRORS, RUN_FAILED_ERROR
from customizer.evaluation.steps import CHUNKS_AT_ONCE
from customizer.settings import DeploymentSettings
from stacks import constants
from stacks.functions import Functions
from stacks.log_groups import log_group
from stacks.nag import acknowledge

ALL_ERRORS = [sfn.Errors.ALL]


class Workflow(Construct):
    """The Standard state machine that runs one customization end to end."""

    def __init__(
        self, scope: Construct, construct_id: str, *, settings: DeploymentSettings, functions: Functions
    ) -> None:
        super().__init__(scope, construct_id)
        self._settings = settings
        self._functions = functions
        self.state_machine = self._build_state_machine(self._build_definition())
        self._build_acknowledgments()

    def _task(
        self,
        name: str,
        function: lambda_.IFunction,
        result_path: str,
        payload: dict[str, Any] | None = None,
    ) -> tasks.LambdaInvoke:
        """A Lambda step: the handler's return value (no Lambda envelope) lands at ``result_path``."""
        task = tasks.LambdaInvoke(
            self,
            name,
            lambda_function=function,
            payload_response_only=True,
            # Replaced by the explicit Lambda retry below, which also covers TooManyRequestsException.
            retry_on_service_exceptions=False,
            payload=sfn.TaskInput.from_object(payload) if payload is not None else None,
            result_path=result_path,
        )
        retries = (
            (RETRYABLE_ERRORS, constants.RETRY_MAX_ATTEMPTS),
            (constants.LAMBDA_SERVICE_ERRORS, constants.RETRY_MAX_ATTEMPTS),
            (constants.LAMBDA_TIMEOUT_ERRORS, constants.TIMEOUT_RETRY_MAX_ATTEMPTS),
        )
        for errors, attempts in retries:
            task.add_retry(
                errors=list(errors),
                interval=constants.RETRY_INTERVAL,
                backoff_rate=constants.RETRY_BACKOFF_RATE,
                max_attempts=attempts,
                jitter_strategy=sfn.JitterType.FULL,
            )
        return task

    def _notify(self, name: str, outcome: str) -> tasks.LambdaInvoke:
        return self._task(
            name,
            self._functions.notify,
            "$.notification",
            {"outcome": outcome, "state": sfn.JsonPath.entire_payload},
        )

    def _build_definition(self) -> sfn.IChainable:
        f = self._functions
        validate = self._task(
            "Validate the run",
            f.validate_run,
            "$.run",
            {
                "request": sfn.JsonPath.entire_payload,
                "execution_name": sfn.JsonPath.execution_name,
                "execution_arn": sfn.JsonPath.execution_id,
            },
        )
        create_job = self._task("Create the customization job", f.create_job, "$.job")
        wait_for_job = sfn.Wait(
            self, "Wait for the job", time=sfn.WaitTime.seconds_path(constants.JOB_POLL_SECONDS_PATH)
        )
        check_job = self._task("Check the job", f.check_job, "$.job")
        job_finished = sfn.Choice(self, "Job finished?")
        create_throughput = self._task("Create the throughput", f.create_throughput, "$.throughput")
        wait_for_throughput = sfn.Wait(
            self,
            "Wait for the throughput",
            time=sfn.WaitTime.seconds_path(constants.THROUGHPUT_POLL_SECONDS_PATH),
        )
        check_throughput = self._task("Check the throughput", f.check_throughput, "$.throughput")
        throughput_ready = sfn.Choice(self, "Throughput ready?")
        plan_evaluation = self._task("Plan the evaluation", f.plan_evaluation, "$.evaluation_plan")
        fan_out = sfn.Choice(self, "Fan the evaluation out?")
        evaluate = self._task("Evaluate custom against base", f.evaluate, "$.evaluation")
        evaluate_chunks = self._evaluate_chunks()
        aggregate = self._task("Aggregate the evaluation", f.aggregate_evaluation, "$.evaluation")
        apply_policy = self._task("Apply the throughput policy", f.apply_policy, "$.policy")
        cleanup = self._task("Clean up", f.cleanup, "$.cleanup")
        notify_success = self._notify("Notify success", "SUCCEEDED")
        notify_failure = self._notify("Notify failure", "FAILED")
        succeeded = sfn.Succeed(self, "Run succeeded")
        failed = sfn.Fail(
            self, "Run failed", error=RUN_FAILED_ERROR, cause="The run failed; the failure notification says why"
        )

        # Nothing exists before the job is created: a failed validation only needs to be reported.
        validate.add_catch(notify_failure, errors=ALL_ERRORS, result_path="$.error")
        after_job: tuple[sfn.TaskStateBase | sfn.DistributedMap, ...] = (
            create_job,
            check_job,
            create_throughput,
            check_throughput,
            plan_evaluation,
            evaluate,
            evaluate_chunks,
            aggregate,
            apply_policy,
        )
        for step in after_job:
            step.add_catch(cleanup, errors=ALL_ERRORS, result_path="$.error")
        # A failed cleanup must still be reported; its error is kept apart from the one that caused it.
        cleanup.add_catch(notify_failure, errors=ALL_ERRORS, result_path="$.cleanup_error")
        cleanup.next(notify_failure)
        notify_failure.next(failed)

        validate.next(self._smoke_test(create_job, cleanup))
        create_job.next(wait_for_job).next(check_job).next(job_finished)
        serve_on_demand = self._serve_on_demand(create_throughput, plan_evaluation, cleanup)
        job_finished.when(sfn.Condition.string_equals("$.job.status", "Completed"), serve_on_demand)
        job_finished.when(
            sfn.Condition.or_(
                sfn.Condition.string_equals("$.job.status", "Failed"),
                sfn.Condition.string_equals("$.job.status", "Stopped"),
            ),
            cleanup,
        )
        job_finished.otherwise(wait_for_job)

        create_throughput.next(wait_for_throughput).next(check_throughput).next(throughput_ready)
        throughput_ready.when(sfn.Condition.string_equals("$.throughput.status", "InService"), plan_evaluation)
        throughput_ready.when(sfn.Condition.string_equals("$.throughput.status", "Failed"), cleanup)
        throughput_ready.otherwise(wait_for_throughput)

        # Up to settings.evaluation.fan_out_above examples, one step evaluates them; above, a Distributed Map
        # evaluates chunks of the test set in parallel and one step aggregates their answers.
        plan_evaluation.next(fan_out)
        fan_out.when(sfn.Condition.boolean_equals("$.evaluation_plan.fan_out", True), evaluate_chunks)
        fan_out.otherwise(evaluate)
        evaluate_chunks.next(aggregate)
        judged = self._judge(apply_policy, cleanup)
        aggregate.next(judged)
        evaluate.next(judged)
        apply_policy.next(notify_success).next(succeeded)
        return validate

    def _judge(self, apply_policy: sfn.IChainable, cleanup: sfn.TaskStateBase) -> sfn.Choice:
        """settings.evaluation.judge: Bedrock evaluation jobs grade both models' saved answers, polled with a
        Wait / Check / Choice loop; "Conclude with the judge" adds the judge metrics and decides again. A failed
        judge job ends the loop too: the conclusion fails the run only if the promotion rule names a judge metric."""
        f = self._functions
        judge_on = sfn.Choice(self, "Judge the answers?")

        def step(name: str, which: str, result_path: str) -> tasks.LambdaInvoke:
            task = self._task(name, f.judge, result_path, {"step": which, "state": sfn.JsonPath.entire_payload})
            task.add_catch(cleanup, errors=ALL_ERRORS, result_path="$.error")
            return task

        start = step("Start the judge", "start", "$.judge")
        wait = sfn.Wait(self, "Wait for the judge", time=sfn.WaitTime.seconds_path(constants.JUDGE_POLL_SECONDS_PATH))
        check = step("Check the judge", "check", "$.judge")
        finished = sfn.Choice(self, "Judge finished?")
        conclude = step("Conclude with the judge", "conclude", "$.evaluation")
        judge_on.when(sfn.Condition.boolean_equals("$.run.settings.evaluation.judge.enabled", True), start)
        judge_on.otherwise(apply_policy)
        start.next(wait).next(check).next(finished)
        finished.when(sfn.Condition.string_equals("$.judge.status", "InProgress"), wait)
        finished.otherwise(conclude)
        conclude.next(apply_policy)
        return judge_on

    def _smoke_test(self, create_job: sfn.IChainable, cleanup: sfn.TaskStateBase) -> sfn.Choice:
        """Start small (settings.smoke_test): when "Validate the run" planned one ($.run.smoke), a short job
        on a sample of the training data, one epoch, first; the full job only if it completes. Its steps
        reuse the job functions with ``smoke: true``; their errors are cleaned up like the full job's."""
        f = self._functions
        smoke_first = sfn.Choice(self, "Smoke test first?")
        create_smoke_job = self._task(
            "Create the smoke job",
            f.create_job,
            "$.smoke_job",
            {"run": sfn.JsonPath.object_at("$.run"), "smoke": True},
        )
        wait_for_smoke_job = sfn.Wait(
            self, "Wait for the smoke job", time=sfn.WaitTime.seconds_path(constants.JOB_POLL_SECONDS_PATH)
        )
        check_smoke_job = self._task(
            "Check the smoke job",
            f.check_job,
            "$.smoke_job",
            {"run": sfn.JsonPath.object_at("$.run"), "job": sfn.JsonPath.object_at("$.smoke_job"), "smoke": True},
        )
        smoke_finished = sfn.Choice(self, "Smoke job finished?")
        for step in (create_smoke_job, check_smoke_job):
            step.add_catch(cleanup, errors=ALL_ERRORS, result_path="$.error")

        smoke_first.when(sfn.Condition.is_present("$.run.smoke"), create_smoke_job)
        smoke_first.otherwise(create_job)
        create_smoke_job.next(wait_for_smoke_job).next(check_smoke_job).next(smoke_finished)
        smoke_finished.when(sfn.Condition.string_equals("$.smoke_job.status", "Completed"), create_job)
        smoke_finished.when(
            sfn.Condition.or_(
                sfn.Condition.string_equals("$.smoke_job.status", "Failed"),
                sfn.Condition.string_equals("$.smoke_job.status", "Stopped"),
            ),
            cleanup,
        )
        smoke_finished.otherwise(wait_for_smoke_job)
        return smoke_first

    def _serve_on_demand(
        self, create_throughput: sfn.IChainable, plan_evaluation: sfn.IChainable, cleanup: sfn.IChainable
    ) -> sfn.Choice:
        """settings.serving on_demand: an on-demand custom model deployment instead of throughput. The same
        functions create and check it (their core branches on the setting) and keep it at $.throughput in the
        same shape (kind "deployment", Active shown as InService), so evaluation, policy, cleanup and records
        serve both."""
        f = self._functions
        serve_on_demand = sfn.Choice(self, "Serve on demand?")
        create_deployment = self._task("Create the deployment", f.create_throughput, "$.throughput")
        wait_for_deployment = sfn.Wait(
            self,
            "Wait for the deployment",
            time=sfn.WaitTime.seconds_path(constants.THROUGHPUT_POLL_SECONDS_PATH),
        )
        check_deployment = self._task("Check the deployment", f.check_throughput, "$.throughput")
        deployment_ready = sfn.Choice(self, "Deployment ready?")
        for step in (create_deployment, check_deployment):
            step.add_catch(cleanup, errors=ALL_ERRORS, result_path="$.error")
        serve_on_demand.when(sfn.Condition.string_equals("$.run.settings.serving", "on_demand"), create_deployment)
        serve_on_demand.otherwise(create_throughput)
        create_deployment.next(wait_for_deployment).next(check_deployment).next(deployment_ready)
        deployment_ready.when(sfn.Condition.string_equals("$.throughput.status", "InService"), plan_evaluation)
        deployment_ready.when(sfn.Condition.string_equals("$.throughput.status", "Failed"), cleanup)
        deployment_ready.otherwise(wait_for_deployment)
        return serve_on_demand

    def _evaluate_chunks(self) -> sfn.DistributedMap:
        """A Distributed Map over the chunk objects "Plan the evaluation" wrote (their list, not a JSONL
        reader: the same in AWS and offline). Each child gets the run, the throughput and one chunk; answers go
        to S3 beside the chunk, so the map keeps nothing in the state. A failed chunk fails the map (its Catch
        cleans up); a chunk short of time pauses and its task's Retry resumes it."""
        chunks = sfn.DistributedMap(
            self,
            "Evaluate the test set in chunks",
            items_path="$.evaluation_plan.chunks",
            item_selector={
                "run": sfn.JsonPath.object_at("$.run"),
                "throughput": sfn.JsonPath.object_at("$.throughput"),
                "chunk": sfn.JsonPath.object_at("$$.Map.Item.Value"),
            },
            max_concurrency=CHUNKS_AT_ONCE,
            map_execution_type=sfn.StateMachineType.STANDARD,
            result_path=sfn.JsonPath.DISCARD,
        )
        chunks.item_processor(self._task("Evaluate one chunk", self._functions.evaluate_chunk, "$"))
        return chunks

    def _build_state_machine(self, definition: sfn.IChainable) -> sfn.StateMachine:
        logs = log_group(
            self, "StateMachineLogs", retention_days=self._settings.log_retention_days, key=self._functions.key
        )
        return sfn.StateMachine(
            self,
            "StateMachine",
            comment="Bedrock model customization: validate, customize, provision, evaluate, keep or delete",
            definition_body=sfn.DefinitionBody.from_chainable(definition),
            state_machine_type=sfn.StateMachineType.STANDARD,
            timeout=Duration.hours(self._settings.execution_timeout_hours),
            tracing_enabled=True,
            logs=sfn.LogOptions(destination=logs, level=sfn.LogLevel.ALL, include_execution_data=True),
        )

    def _build_acknowledgments(self) -> None:
        role = self.state_machine.role
        # CDK's grants for the Distributed Map: its chunks run as child executions of this state machine.
        map_policy = self.state_machine.node.find_child("DistributedMapPolicy")
        machine = Stack.of(self).get_logical_id(self.state_machine.node.default_child)  # type: ignore[arg-type]
        # cdk-nag names the resource by its intrinsic: the state machine's name, taken from its ARN.
        name = json.dumps({"Fn::Select": [6, {"Fn::Split": [":", {"Ref": machine}]}]}, separators=(",", ":"))
        executions = f"arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:{name}"
        for pattern in (":*", "/*:*"):
            acknowledge(
                map_policy,
                f"AwsSolutions-IAM5[Resource::{executions}{pattern}]",
                "The Distributed Map runs each test-set chunk as a child execution of this same state machine, named "
                "at run time; CDK lets the state machine describe and stop only its own executions and map runs.",
            )
        acknowledge(
            role,
            "AwsSolutions-IAM5[Resource::*]",
            "CDK adds these for tracing and logging: X-Ray PutTraceSegments/PutTelemetryRecords and the "
            "CloudWatch Logs log-delivery actions, none of which support resource-level permissions.",
        )
        stack = Stack.of(self)
        for function in self._functions.workflow_functions.values():
            cfn = function.node.default_child
            assert isinstance(cfn, lambda_.CfnFunction)
            acknowledge(
                role,
                f"AwsSolutions-IAM5[Resource::<{stack.get_logical_id(cfn)}.Arn>:*]",
                "CDK grants lambda:InvokeFunction on the function and its qualified ARNs (versions and aliases); "
                "the wildcard covers only qualifiers of this one function.",
            )
