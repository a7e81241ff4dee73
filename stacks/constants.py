"""Names, sizes and timeouts of the stack, in one place. Settings a deployer may change live in
``cdk.json`` (context key ``pipeline``, checked by ``customizer.settings.DeploymentSettings``); these
are the fixed ones."""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Duration

STACK_ID = "BedrockCustomization"
SERVICE_NAME = "bedrock-customization"
METRICS_NAMESPACE = "BedrockCustomization"

# --- Lambda -----------------------------------------------------------------------------------------
LAMBDA_ASSET_DIR = "lambdas"
# Everything in lambdas/ that the functions do not import: tests, caches, the local pin file
# (Powertools comes from its layer, boto3 from the SDK layer: stacks/sdk_layer.py).
LAMBDA_ASSET_EXCLUDE = (
    "**/tests",
    "**/__pycache__",
    "**/*.pyc",
    "**/.*",
    "requirements.txt",
    "**/*.md",
)
# The AWS-published Powertools for AWS Lambda (Python) V3 layer, python3.12 / x86_64 build, of the same
# version as the pinned library (lambdas/requirements.txt). AWS publishes each release's layer ARN as a
# public SSM parameter; the stack reads it at deploy time.
POWERTOOLS_VERSION = "3.37.0"
# The upload trigger's asynchronous invocation: retries of a rejected manifest, and how long S3's event
# may wait before it is reported as failed.
TRIGGER_RETRY_ATTEMPTS = 2
TRIGGER_MAX_EVENT_AGE = Duration.hours(1)
POWERTOOLS_LAYER_PARAMETER = f"/aws/service/powertools/python/x86_64/python3.12/{POWERTOOLS_VERSION}"
# The services whose botocore models the SDK layer carries (stacks/sdk_layer.py): every client the code makes
# (aws.client("...") in lambdas/; tests/infra/test_infra_sdk_layer.py checks the list covers them) and Powertools'
# idempotency table (dynamodb). A client of any other service fails in Lambda with UnknownServiceError.
SDK_LAYER_SERVICES = ("bedrock", "bedrock-runtime", "dynamodb", "lambda", "s3", "sns", "stepfunctions")


@dataclass(frozen=True)
class FunctionSpec:
    """One Lambda function: its construct id, handler module and size."""

    construct_id: str
    module: str
    timeout: Duration
    memory_mb: int
    description: str

    @property
    def handler(self) -> str:
        return f"handlers.{self.module}.handler"


VALIDATE_RUN = FunctionSpec(
    "ValidateRun", "validate_run", Duration.minutes(5), 1024, "Validate the run: settings, data, limits"
)
CREATE_JOB = FunctionSpec(
    "CreateJob", "create_job", Duration.minutes(1), 256, "Create the Bedrock model customization job"
)
CHECK_JOB = FunctionSpec("CheckJob", "check_job", Duration.minutes(1), 256, "Check the customization job")
CREATE_THROUGHPUT = FunctionSpec(
    "CreateThroughput", "create_throughput", Duration.minutes(1), 256, "Create the provisioned throughput"
)
CHECK_THROUGHPUT = FunctionSpec(
    "CheckThroughput", "check_throughput", Duration.seconds(30), 256, "Check the provisioned throughput"
)
PLAN_EVALUATION = FunctionSpec(
    "PlanEvaluation", "plan_evaluation", Duration.minutes(5), 1024, "Plan the evaluation: one step or test-set chunks"
)
EVALUATE = FunctionSpec("Evaluate", "evaluate", Duration.minutes(15), 1024, "Evaluate custom against base model")
EVALUATE_CHUNK = FunctionSpec(
    "EvaluateChunk", "evaluate_chunk", Duration.minutes(15), 1024, "Evaluate one chunk of the test set (fanned out)"
)
# Scoring, bootstrap intervals and reports of up to 100,000 examples: Lambda's CPU grows with its memory.
AGGREGATE_EVALUATION = FunctionSpec(
    "AggregateEvaluation", "aggregate_evaluation", Duration.minutes(15), 2048, "Aggregate the chunks' evaluation"
)
# The judge's three steps (start, check, conclude: settings.evaluation.judge); concluding reads every example back.
JUDGE = FunctionSpec("Judge", "judge", Duration.minutes(15), 1024, "Grade both models' answers with a Bedrock judge")
APPLY_POLICY = FunctionSpec(
    "ApplyPolicy", "apply_policy", Duration.minutes(1), 256, "Apply the throughput policy after evaluation"
)
CLEANUP = FunctionSpec("Cleanup", "cleanup", Duration.minutes(2), 256, "Stop the job and delete the throughput")
NOTIFY = FunctionSpec("Notify", "notify", Duration.seconds(30), 256, "Publish the run's outcome")
START_RUN = FunctionSpec("StartRun", "start_run", Duration.minutes(1), 256, "Start a run from an uploaded manifest")
AFTER_EXECUTION = FunctionSpec(
    "AfterExecution",
    "after_execution",
    Duration.minutes(5),
    256,
    "Clean up after an execution stopped by hand, timed out or failed outside a Catch",
)
RECORD_RUN = FunctionSpec(
    "RecordRun", "record_run", Duration.minutes(2), 256, "Write the run record of an ended execution"
)
# Every end of an execution is recorded.
RECORDED_STATUSES = ("SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED")
RUNS_TABLE_KEY = "execution"
RUNS_BY_START_INDEX = "by-start"  # partition "kind" (always "run"), sort "started_at": newest runs first
SWEEP = FunctionSpec(
    "Sweep",
    "sweep",
    Duration.minutes(5),
    256,
    "Delete the pipeline's throughput past its lifetime unless tagged keep=true (the sweeper)",
)
# The reward function Bedrock calls during an RFT job graded by the project's scorers (stacks/grader.py). Its
# timeout is Lambda's largest, as the Bedrock user guide advises for reward functions ("Setting up reward
# functions for Amazon Nova models": "Increase the Lambda timeout from default 3 seconds to maximum 15 minutes").
REWARD = FunctionSpec(
    "Reward", "reward", Duration.minutes(15), 512, "The reward function of RFT jobs graded by the pipeline's scorers"
)
# The environment variable that gives a function the deployed reward function's ARN.
REWARD_FUNCTION_ARN_ENV = "REWARD_FUNCTION_ARN"
# ...and the users' own graders this deployment may call (pipeline.grader_lambda_arns, a JSON list).
GRADER_LAMBDA_ARNS_ENV = "GRADER_LAMBDA_ARNS"
# The execution statuses that may leave a job or throughput behind: the workflow's own "Clean up" state does
# not run when an execution is stopped or times out, nor when it fails outside a Catch.
AFTERCARE_STATUSES = ("ABORTED", "TIMED_OUT", "FAILED")

WORKFLOW_FUNCTIONS = (
    VALIDATE_RUN,
    CREATE_JOB,
    CHECK_JOB,
    CREATE_THROUGHPUT,
    CHECK_THROUGHPUT,
    PLAN_EVALUATION,
    EVALUATE,
    EVALUATE_CHUNK,
    AGGREGATE_EVALUATION,
    JUDGE,
    APPLY_POLICY,
    CLEANUP,
    NOTIFY,
)
ALL_FUNCTIONS = (*WORKFLOW_FUNCTIONS, START_RUN, REWARD)

# --- Idempotency table (Powertools' DynamoDBPersistenceLayer defaults) ----------------------------
IDEMPOTENCY_PARTITION_KEY = "id"
IDEMPOTENCY_TTL_ATTRIBUTE = "expiration"

# --- Storage ------------------------------------------------------------------------------------------
ACCESS_LOGS_EXPIRATION = Duration.days(365)
ACCESS_LOGS_NONCURRENT_EXPIRATION = Duration.days(30)
DATA_ACCESS_LOGS_PREFIX = "data-bucket/"
ARTIFACTS_ACCESS_LOGS_PREFIX = "artifacts-bucket/"

# --- Trigger ------------------------------------------------------------------------------------------
MANIFEST_SUFFIX = "manifest.json"

# --- Workflow -----------------------------------------------------------------------------------------
RETRY_INTERVAL = Duration.seconds(2)
RETRY_BACKOFF_RATE = 2.0
RETRY_MAX_ATTEMPTS = 5
# Lambda's own transient failures (the invoke itself, not the handler): the list the Step Functions developer
# guide recommends retrying ("Handle Lambda service exceptions"), plus the function being throttled.
LAMBDA_SERVICE_ERRORS = (
    "Lambda.ClientExecutionTimeoutException",
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
)
# A function that timed out (or ran out of memory): "Sandbox.Timedout" is the error Step Functions reports for
# a function timeout on current runtimes; "Lambda.Unknown" is what it reports for an unhandled error without
# an errorType (the same guide page: "These include out-of-memory errors and function timeouts"). The function
# may have acted before its reply was lost; every step is idempotent (create steps by their idempotency record
# and create-or-find, the evaluation by its checkpoints, reads by nature), so a run again is safe. Fewer
# attempts than for the service errors: a step that times out twice in a row likely always will (the
# evaluation's 15 minutes, three times, is the longest this can add).
LAMBDA_TIMEOUT_ERRORS = ("Sandbox.Timedout", "Lambda.Unknown")
TIMEOUT_RETRY_MAX_ATTEMPTS = 2
JOB_POLL_SECONDS_PATH = "$.run.settings.poll.job_seconds"
THROUGHPUT_POLL_SECONDS_PATH = "$.run.settings.poll.throughput_seconds"
JUDGE_POLL_SECONDS_PATH = "$.run.settings.evaluation.judge.poll_seconds"

# --- Observability -----------------------------------------------------------------------------------
# The dashboard's graphs sum by the hour (runs take hours); the execution alarms look at five minutes.
DASHBOARD_PERIOD = Duration.hours(1)
EXECUTION_ALARM_PERIOD = Duration.minutes(5)

# --- Bedrock ------------------------------------------------------------------------------------------
BEDROCK_SERVICE = "bedrock.amazonaws.com"
