"""The grader (settings.grader, customizer.grading): the reward function Bedrock calls during a reinforcement
fine-tuning job graded by the project's scorers, and who may call which grader.

Bedrock calls a reward function with the job's service role: the Bedrock user guide ("Reinforcement fine-tuning
access and security", "Lambda permissions for reward functions") has the customization role hold
lambda:InvokeFunction on the function, and documents no resource-based permission for a Bedrock service
principal, so none is added. The customization role can be assumed only by bedrock.amazonaws.com for this
account's customization jobs (aws:SourceAccount, aws:SourceArn: stacks/customization_role.py). The function's
resource-based policy denies every other caller, whatever its own IAM policies allow, except "Validate the run",
whose pre-flight check calls the grader before any job (customizer.grading.preflight)."""

from __future__ import annotations

import json

from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from customizer.settings import DeploymentSettings
from stacks import constants
from stacks.functions import Functions


class Grader(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: DeploymentSettings,
        functions: Functions,
        customization_role: iam.IRole,
    ) -> None:
        super().__init__(scope, construct_id)
        # Its handler makes no AWS call: the role has only what every function has (its log group, tracing).
        self.function = functions.build_function(constants.REWARD, {})
        self._users_graders = list(settings.grader_lambda_arns)
        graders = [self.function.function_arn, *self._users_graders]
        # Bedrock calls the grader of the run's job with the job's role (user guide, "Reinforcement fine-tuning
        # access and security", "Lambda permissions for reward functions").
        customization_role.add_to_principal_policy(
            iam.PolicyStatement(actions=["lambda:InvokeFunction"], resources=graders)
        )
        # The pre-flight check calls the run's grader on sample records before any job (README, Grader).
        validate = functions.validate_run
        self._role_of(validate).add_to_principal_policy(
            iam.PolicyStatement(actions=["lambda:InvokeFunction"], resources=graders)
        )
        validate.add_environment(constants.REWARD_FUNCTION_ARN_ENV, self.function.function_arn)
        validate.add_environment(constants.GRADER_LAMBDA_ARNS_ENV, json.dumps(self._users_graders))
        # Creating an RFT job names the grader in customizationConfig.rftConfig.graderConfig.lambdaGrader.
        functions.create_job.add_environment(constants.REWARD_FUNCTION_ARN_ENV, self.function.function_arn)
        if self._users_graders:
            # The evaluation's grader metric calls a user's own grader on the models' answers; the project's
            # scorers it computes in-process, so the reward function is not granted to it.
            for step in (functions.evaluate, functions.aggregate_evaluation):
                self._role_of(step).add_to_principal_policy(
                    iam.PolicyStatement(actions=["lambda:InvokeFunction"], resources=self._users_graders)
                )
        self._deny_other_callers(customization_role, validate)

    @staticmethod
    def _role_of(function: lambda_.Function) -> iam.IRole:
        role = function.role
        assert role is not None  # every function is built with its own role
        return role

    def _deny_other_callers(self, customization_role: iam.IRole, validate: lambda_.Function) -> None:
        # AWS::Lambda::ResourcePolicy takes Deny statements (AddPermission only allows): callable only by the
        # role Bedrock runs the jobs with and by the pre-flight check, even for principals of this account whose
        # own policies allow lambda:InvokeFunction on "*".
        lambda_.CfnResourcePolicy(
            self,
            "OnlyBedrockAndThePreflightCheck",
            resource_arn=self.function.function_arn,
            policy_document={
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Sid": "OnlyTheCustomizationRoleAndThePreflightCheck",
                        "Effect": "Deny",
                        "Principal": "*",
                        "Action": "lambda:InvokeFunction",
                        "Resource": self.function.function_arn,
                        "Condition": {
                            "ArnNotEquals": {
                                "aws:PrincipalArn": [customization_role.role_arn, self._role_of(validate).role_arn]
                            }
                        },
                    }
                ],
            },
        )
