"""Each workflow handler called as Lambda calls it: the whole state in, its own part out, typed errors out."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyAlreadyInProgressError
from boto3.dynamodb.types import TypeDeserializer
from botocore.stub import ANY, Stubber
from pydantic import ValidationError

from customizer import aws
from customizer.errors import (
    DataNotFoundError,
    JudgeFailedError,
    RunAlreadyRunningError,
    RunInputError,
    SettingsError,
    StepInProgressError,
)
from customizer.models import Evaluation, Job, Run, Throughput
from tests.unit.core.stubs import JOB_ARN, MODEL_ARN, THROUGHPUT_ARN, job_response, throughput_response
from tests.unit.evaluation.fakes import FakeModels, by_table
from tests.unit.handlers.conftest import EVALUATION_ROLE_ARN, IDEMPOTENCY_TABLE, KMS_KEY_ARN, ROLE_ARN

# Steps that add no metric of their own make Powertools say so; that is expected here.
pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning")


def jsonl(records: list[Any]) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in records).encode()


def idempotency_records() -> list[dict[str, Any]]:
    items = aws.client("dynamodb").scan(TableName=IDEMPOTENCY_TABLE)["Items"]
    deserialize = TypeDeserializer().deserialize
    return [{k: deserialize(v) for k, v in item.items()} for item in items]


def execution_arn(name: str) -> str:
    return f"arn:aws:states:us-east-1:123456789012:execution:customization:{name}"


def state_of(run: Run, **parts: Any) -> dict[str, Any]:
    """The state as the state machine passes it: JSON, with what earlier steps stored."""
    state: dict[str, Any] = {"run_name": run.run_name, "run": run.model_dump(mode="json")}
    for name, part in parts.items():
        state[name] = part.model_dump(mode="json")
    return state


# ---- validate_run ----


def test_validate_run_returns_the_run(load_handler, lambda_context, s3, data_bucket, artifacts_bucket):
    # Given data in the data bucket and the deployment's defaults in RUN_DEFAULTS
    s3.put_object(Bucket=data_bucket, Key="runs/bot/train.jsonl", Body=jsonl([{"prompt": "q", "completion": "a"}] * 3))
    handler = load_handler("validate_run").handler
    event = {
        "request": {"run_name": "bot", "training_data": f"s3://{data_bucket}/runs/bot/train.jsonl"},
        "execution_name": "exec-123",
        "execution_arn": execution_arn("exec-123"),
    }

    # When the step runs
    result = handler(event, lambda_context)

    # Then it returns $.run as JSON, with every path the state machine reads
    run = Run.model_validate(result)
    assert json.loads(json.dumps(result)) == result
    assert result["run_id"] == result["names"]["job_name"]
    assert result["execution_name"] == "exec-123"
    assert result["settings"]["poll"] == {"job_seconds": 300, "throughput_seconds": 60}
    assert result["settings"]["throughput_policy"] == "keep"  # from RUN_DEFAULTS
    assert result["hyperparameters"]["epochCount"] == "2"  # from RUN_DEFAULTS
    assert set(result["names"]) == {"job_name", "model_name", "throughput_name", "client_token"}
    assert result["data"]["training"]["records"] == 3
    assert result["output_uri"] == f"s3://{artifacts_bucket}/runs/{run.run_id}/job-output/"
    assert result["report_prefix"] == f"s3://{artifacts_bucket}/runs/{run.run_id}/"
    # and the throughput hours estimated from the settings and the stack's sweeper (SWEEPER)
    estimate = result["throughput_estimate"]
    assert estimate["policy"] == "keep"
    assert estimate["hours_if_kept"] == 12.5  # the sweeper's 12 h lifetime, then up to one 30-minute sweep


def test_a_second_start_of_a_running_run_ends_at_validation_naming_the_first(
    load_handler, lambda_context, s3, data_bucket, handler_env
):
    s3.put_object(Bucket=data_bucket, Key="runs/bot/train.jsonl", Body=jsonl([{"prompt": "q", "completion": "a"}] * 3))
    handler = load_handler("validate_run").handler
    sfn = aws.client("stepfunctions")
    first, second = (
        sfn.start_execution(stateMachineArn=handler_env["STATE_MACHINE_ARN"], name=name)["executionArn"]
        for name in ("console-1", "console-2")
    )
    request = {"run_name": "bot", "training_data": f"s3://{data_bucket}/runs/bot/train.jsonl"}
    run = handler({"request": request, "execution_name": "console-1", "execution_arn": first}, lambda_context)
    with pytest.raises(RunAlreadyRunningError, match=f"run {run['run_id']} is already running in execution console-1"):
        handler({"request": request, "execution_name": "console-2", "execution_arn": second}, lambda_context)
    # Once the first has ended, the run may be started again.
    sfn.stop_execution(executionArn=first)
    again = handler({"request": request, "execution_name": "console-2", "execution_arn": second}, lambda_context)
    assert again["run_id"] == run["run_id"] and again["execution_name"] == "console-2"


@pytest.mark.parametrize(
    ("request_", "error"),
    [
        ({"run_name": "bot", "training_data": "s3://{bucket}/runs/bot/missing.jsonl"}, DataNotFoundError),
        ({"run_name": "bot"}, RunInputError),
        ({"run_name": "bot", "training_data": "s3://{bucket}/x", "settings": {"model_units": 0}}, SettingsError),
    ],
)
def test_validate_run_raises_typed_input_errors(load_handler, lambda_context, data_bucket, request_, error):
    handler = load_handler("validate_run").handler
    request = {k: v.format(bucket=data_bucket) if isinstance(v, str) else v for k, v in request_.items()}
    with pytest.raises(RunInputError) as caught:
        handler({"request": request, "execution_name": "e", "execution_arn": execution_arn("e")}, lambda_context)
    # Lambda reports the class name as errorType, which the state machine's Catch names
    assert type(caught.value) is error


def test_a_handler_with_an_incomplete_environment_fails_at_cold_start(load_handler, monkeypatch):
    monkeypatch.delenv("DATA_BUCKET")
    monkeypatch.delenv("RUN_DEFAULTS")
    with pytest.raises(
        RuntimeError, match=r"^the function's environment is incomplete or wrong: DATA_BUCKET, RUN_DEFAULTS$"
    ):
        load_handler("validate_run")


# ---- create_job (idempotent) ----


def test_create_job_twice_with_the_same_event_creates_one_job(load_handler, lambda_context, bedrock, make_run):
    # Given a validated run and a handler whose Bedrock answers exactly one creation
    handler = load_handler("create_job").handler
    run = make_run()
    bedrock.add_client_error("get_model_customization_job", "ResourceNotFoundException", "no", 404)
    bedrock.add_response(
        "create_model_customization_job",
        {"jobArn": JOB_ARN},
        {
            "jobName": run.names.job_name,
            "customModelName": run.names.model_name,
            "roleArn": ROLE_ARN,
            "clientRequestToken": run.names.client_token,
            "baseModelIdentifier": run.settings.base_model_id,
            "customizationType": "FINE_TUNING",
            "customModelKmsKeyId": KMS_KEY_ARN,
            "trainingDataConfig": {"s3Uri": run.data.training.uri},
            "outputDataConfig": {"s3Uri": run.output_uri},
            "hyperParameters": run.hyperparameters,
            "jobTags": ANY,
            "customModelTags": ANY,
        },
    )
    bedrock.add_response("get_model_customization_job", job_response(run, "InProgress"))
    event = state_of(run)

    # When the step runs twice with the same event (a Lambda retry, a redriven execution)
    first = handler(event, lambda_context)
    second = handler(event, lambda_context)

    # Then the second answer comes from the idempotency record: no Bedrock call at all
    assert first == second
    assert Job.model_validate(first).job_arn == JOB_ARN
    assert first["status"] == "InProgress"
    (record,) = idempotency_records()
    assert record["status"] == "COMPLETED"
    assert json.loads(record["data"]) == first


# ---- check_job, create/check throughput, evaluate, policy, cleanup ----


def test_check_job_returns_the_job_with_metrics(load_handler, lambda_context, bedrock, make_run):
    handler = load_handler("check_job").handler
    run = make_run()
    bedrock.add_response("get_model_customization_job", job_response(run, "Completed"), {"jobIdentifier": JOB_ARN})
    job = Job(job_arn=JOB_ARN, job_name=run.names.job_name, status="InProgress")
    result = handler(state_of(run, job=job), lambda_context)
    assert result["status"] == "Completed"
    assert result["model_arn"] == MODEL_ARN
    assert result["metrics"]["training_steps"] == 0


def test_create_throughput_twice_creates_one(load_handler, lambda_context, bedrock, make_run):
    handler = load_handler("create_throughput").handler
    run = make_run()
    job = Job(job_arn=JOB_ARN, job_name=run.names.job_name, status="Completed", model_arn=MODEL_ARN)
    bedrock.add_client_error("get_provisioned_model_throughput", "ResourceNotFoundException", "no", 404)
    bedrock.add_response("create_provisioned_model_throughput", {"provisionedModelArn": THROUGHPUT_ARN})
    bedrock.add_response("get_provisioned_model_throughput", throughput_response(run, "Creating"))
    event = state_of(run, job=job)
    first = handler(event, lambda_context)
    assert handler(event, lambda_context) == first
    assert Throughput.model_validate(first).arn == THROUGHPUT_ARN
    assert len(idempotency_records()) == 1


def test_check_throughput_returns_the_throughput(load_handler, lambda_context, bedrock, make_run):
    handler = load_handler("check_throughput").handler
    run = make_run()
    job = Job(job_arn=JOB_ARN, job_name=run.names.job_name, status="Completed", model_arn=MODEL_ARN)
    pt = Throughput(arn=THROUGHPUT_ARN, name=run.names.throughput_name, status="Creating", model_units=1)
    bedrock.add_response("get_provisioned_model_throughput", throughput_response(run, "InService"))
    result = handler(state_of(run, job=job, throughput=pt), lambda_context)
    assert result["status"] == "InService"
    assert result["arn"] == THROUGHPUT_ARN


def _evaluation_state(run: Run, s3: Any, count: int) -> dict[str, Any]:
    """A run at the evaluation, with ``count`` test examples the custom model knows and the base does not."""
    assert run.data.test is not None
    bucket, key = aws.split_s3_uri(run.data.test.uri)
    examples = [{"prompt": f"Capital of country {i}?", "completion": f"City{i}"} for i in range(count)]
    s3.put_object(Bucket=bucket, Key=key, Body=jsonl(examples))
    FakeModels(by_table({(THROUGHPUT_ARN, e["prompt"]): e["completion"] for e in examples}, "Lyon"))
    job = Job(job_arn=JOB_ARN, job_name=run.names.job_name, status="Completed", model_arn=MODEL_ARN)
    pt = Throughput(arn=THROUGHPUT_ARN, name=run.names.throughput_name, status="InService", model_units=1)
    return state_of(run, job=job, throughput=pt)


def test_the_judge_handler_runs_its_three_steps(load_handler, lambda_context, s3, bedrock, make_run):
    # Given a run evaluated with the judge on (string metrics concluded, examples saved)
    judge = {"enabled": True, "metrics": ["Builtin.Correctness"]}
    run = make_run({"evaluation": {"judge": judge, "metric": "judge.correctness"}})
    state = _evaluation_state(run, s3, 30)
    state["evaluation"] = load_handler("evaluate").handler(state, lambda_context)
    handler = load_handler("judge").handler
    arns = [f"arn:aws:bedrock:us-east-1:123456789012:evaluation-job/{m}00000000" for m in ("cust", "base")]
    for arn in arns:
        expected = {"roleArn": EVALUATION_ROLE_ARN, "customerEncryptionKeyId": KMS_KEY_ARN, **dict.fromkeys(
            ("jobName", "jobDescription", "applicationType", "evaluationConfig", "inferenceConfig",
             "outputDataConfig", "clientRequestToken", "jobTags"), ANY)}  # fmt: skip
        bedrock.add_response("create_evaluation_job", {"jobArn": arn}, expected)

    # When it starts the judge, Then the jobs are created with the evaluation role and the key
    state["judge"] = handler({"step": "start", "state": state}, lambda_context)
    assert [j["job_arn"] for j in state["judge"]["jobs"]] == arns
    # and "check" reads each job; "conclude" of a failed judge, the rule naming a judge metric, fails the run
    for arn in arns:
        described = {"jobName": "j", "status": "Failed", "jobArn": arn, "roleArn": EVALUATION_ROLE_ARN,
                     "jobType": "Automated", "evaluationConfig": {"automated": {"datasetMetricConfigs": [
                         {"taskType": "General", "dataset": {"name": "answers"}, "metricNames": ["Builtin.Correctness"]}]}},
                     "inferenceConfig": {"models": [{"precomputedInferenceSource": {"inferenceSourceIdentifier": "custom"}}]},
                     "outputDataConfig": {"s3Uri": "s3://b/o/"}, "creationTime": datetime.now(UTC),
                     "failureMessages": ["judge down"]}  # fmt: skip
        bedrock.add_response("get_evaluation_job", described, {"jobIdentifier": arn})
    state["judge"] = handler({"step": "check", "state": state}, lambda_context)
    assert state["judge"]["status"] == "Failed"
    with pytest.raises(JudgeFailedError, match="judge down"):
        handler({"step": "conclude", "state": state}, lambda_context)
    with pytest.raises(ValidationError):
        handler({"step": "guess", "state": state}, lambda_context)


def test_evaluate_returns_the_scores(load_handler, lambda_context, s3, make_run):
    handler = load_handler("evaluate").handler
    run = make_run()
    result = handler(_evaluation_state(run, s3, 30), lambda_context)  # decision.MIN_CONFIDENT_EXAMPLES
    assert (result["custom"]["accuracy"], result["base"]["accuracy"]) == (1.0, 0.0)
    assert result["custom_beats_base"] is True
    assert result["decision"]["promote"] is True
    assert result["mode"] == "single"
    assert result["report_uri"].startswith(run.report_prefix)
    assert Evaluation.model_validate(result).report_html_uri == run.report_prefix + "evaluation/report.html"


def test_plan_evaluate_chunk_and_aggregate_fan_the_evaluation_out(load_handler, lambda_context, s3, make_run):
    # Given a test set above fan_out_above
    run = make_run({"evaluation": {"fan_out_above": 4, "chunk_size": 3}})
    state = _evaluation_state(run, s3, 7)

    # When the plan, each chunk (as the Distributed Map's ItemSelector gives it) and the aggregation run
    planned = load_handler("plan_evaluation").handler(state, lambda_context)
    assert (planned["examples"], planned["fan_out"], len(planned["chunks"])) == (7, True, 3)
    for chunk in planned["chunks"]:
        item = {"run": state["run"], "throughput": state["throughput"], "chunk": chunk}
        summary = load_handler("evaluate_chunk").handler(item, lambda_context)
        assert summary["examples"] == chunk["examples"]
    result = load_handler("aggregate_evaluation").handler({**state, "evaluation_plan": planned}, lambda_context)

    # Then the aggregation returns the evaluation, as "Evaluate custom against base" would
    assert result["mode"] == "fan_out"
    assert (result["custom"]["examples"], result["custom"]["correct"], result["base"]["correct"]) == (7, 7, 0)


def test_a_small_test_set_is_planned_for_one_step(load_handler, lambda_context, s3, make_run):
    planned = load_handler("plan_evaluation").handler(_evaluation_state(make_run(), s3, 3), lambda_context)
    assert planned == {"examples": 3, "fan_out": False, "chunks": []}


def test_apply_policy_returns_the_policy(load_handler, lambda_context, bedrock, make_run):
    handler = load_handler("apply_policy").handler
    run = make_run({"throughput_policy": "delete"})
    bedrock.add_response("get_provisioned_model_throughput", throughput_response(run, "InService"))
    bedrock.add_response("delete_provisioned_model_throughput", {}, {"provisionedModelId": THROUGHPUT_ARN})
    job = Job(job_arn=JOB_ARN, job_name=run.names.job_name, status="Completed", model_arn=MODEL_ARN)
    pt = Throughput(arn=THROUGHPUT_ARN, name=run.names.throughput_name, status="InService", model_units=1)
    evaluation = {
        "custom": {"model_id": THROUGHPUT_ARN, "examples": 1, "correct": 1, "errors": 0, "accuracy": 1.0},
        "base": {"model_id": "b", "examples": 1, "correct": 0, "errors": 0, "accuracy": 0.0},
        "custom_beats_base": True,
        "margin": 0.0,
        "report_uri": "s3://a/r.json",
        "report_markdown_uri": "s3://a/r.md",
    }
    event = {**state_of(run, job=job, throughput=pt), "evaluation": evaluation}
    result = handler(event, lambda_context)
    assert result["action"] == "deleted"
    assert result["reason"].startswith("throughput_policy is delete")


def test_cleanup_after_a_validation_failure_does_nothing(load_handler, lambda_context, bedrock):
    handler = load_handler("cleanup").handler
    event = {"run_name": "bot", "training_data": "x", "error": {"Error": "DataNotFoundError", "Cause": "{}"}}
    assert handler(event, lambda_context) == {"job": "no job", "throughput": "no throughput"}


def test_cleanup_stops_the_job_of_a_failed_run(load_handler, lambda_context, bedrock, make_run):
    handler = load_handler("cleanup").handler
    run = make_run()
    bedrock.add_response("get_model_customization_job", job_response(run, "InProgress"))
    bedrock.add_response(
        "list_tags_for_resource",
        {"tags": [{"key": "execution", "value": run.execution_name}]},
        {"resourceARN": JOB_ARN},
    )
    bedrock.add_response("stop_model_customization_job", {}, {"jobIdentifier": JOB_ARN})
    bedrock.add_client_error("get_provisioned_model_throughput", "ResourceNotFoundException", "no", 404)
    event = {**state_of(run), "error": {"Error": "WaitTimeoutError", "Cause": "{}"}}
    assert handler(event, lambda_context) == {
        "job": f"stopped job {run.names.job_name}",
        "throughput": "no throughput",
    }


# ---- notify ----


def test_notify_publishes_the_outcome(load_handler, lambda_context, handler_env, make_run):
    sqs = aws.client("sqs")
    queue_url = sqs.create_queue(QueueName="outcomes")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    aws.client("sns").subscribe(TopicArn=handler_env["TOPIC_ARN"], Protocol="sqs", Endpoint=queue_arn)
    handler = load_handler("notify").handler
    run = make_run()
    cause = json.dumps({"errorType": "EvaluationError", "errorMessage": "every call failed"})
    event = {"outcome": "FAILED", "state": {**state_of(run), "error": {"Error": "EvaluationError", "Cause": cause}}}

    body = handler(event, lambda_context)

    assert body["reason"] == "EvaluationError: every call failed"
    (message,) = sqs.receive_message(QueueUrl=queue_url)["Messages"]
    assert json.loads(json.loads(message["Body"])["Message"]) == body


def test_the_state_is_parsed_before_any_work(load_handler, lambda_context, bedrock):
    # A state without $.run (a wiring mistake) fails parsing instead of calling Bedrock
    handler = load_handler("check_job").handler
    with pytest.raises(ValidationError, match="run"):
        handler({"job": {"job_arn": JOB_ARN, "job_name": "j", "status": "InProgress"}}, lambda_context)


@pytest.mark.parametrize(("module", "function"), [("create_job", "_create"), ("create_throughput", "_create")])
def test_a_duplicate_start_inside_the_same_step_gets_a_retryable_typed_error(
    load_handler, lambda_context, make_run, monkeypatch, module, function
):
    # Given another execution of the same run holding the step's idempotency record right now
    handler_module = load_handler(module)

    def in_progress(**_: Any) -> dict[str, Any]:
        raise IdempotencyAlreadyInProgressError("record in progress")

    monkeypatch.setattr(handler_module, function, in_progress)
    run = make_run()
    state: dict[str, Any] = {"run": run.model_dump(mode="json")}
    if module == "create_throughput":
        state["job"] = {
            "job_arn": JOB_ARN,
            "job_name": run.names.job_name,
            "status": "Completed",
            "model_arn": MODEL_ARN,
        }
    # When this execution reaches the step, Then it raises the error the state machine retries
    with pytest.raises(StepInProgressError, match="record in progress"):
        handler_module.handler(state, lambda_context)


# ---- after an execution ended without its own cleanup ----


def _status_change(status: str) -> dict[str, Any]:
    return {
        "version": "0",
        "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
        "detail-type": "Step Functions Execution Status Change",
        "source": "aws.states",
        "account": "123456789012",
        "time": "2026-01-01T00:00:00Z",
        "region": "us-east-1",
        "resources": ["arn:aws:states:us-east-1:123456789012:execution:sm:ended"],
        "detail": {
            "executionArn": "arn:aws:states:us-east-1:123456789012:execution:sm:ended",
            "stateMachineArn": "arn:aws:states:us-east-1:123456789012:stateMachine:sm",
            "name": "ended",
            "status": status,
        },
    }


def _outcomes(handler_env) -> Any:
    sqs = aws.client("sqs")
    queue_url = sqs.create_queue(QueueName="aftercare")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    aws.client("sns").subscribe(TopicArn=handler_env["TOPIC_ARN"], Protocol="sqs", Endpoint=queue_arn)
    return lambda: [
        json.loads(json.loads(m["Body"])["Message"])
        for m in sqs.receive_message(QueueUrl=queue_url).get("Messages", [])
    ]


def test_an_aborted_execution_is_cleaned_up_and_reported(load_handler, lambda_context, bedrock, handler_env):
    received = _outcomes(handler_env)
    handler = load_handler("after_execution").handler
    bedrock.add_response("list_model_customization_jobs", {"modelCustomizationJobSummaries": []})
    bedrock.add_response("list_provisioned_model_throughputs", {"provisionedModelSummaries": []})
    bedrock.add_response("list_custom_model_deployments", {"modelDeploymentSummaries": []})
    bedrock.add_response("list_evaluation_jobs", {})  # botocore: jobSummaries has at least one item when present
    outcome = handler(_status_change("ABORTED"), lambda_context)
    assert outcome == {"jobs": [], "throughputs": [], "evaluation_jobs": []}
    (notice,) = received()
    assert (notice["run_id"], notice["status"]) == ("ended", "ABORTED")
    assert notice["cleanup"] == outcome


def _described(error: str, cause: str) -> dict[str, Any]:
    arn = "arn:aws:states:us-east-1:123456789012:execution:sm:ended"
    return {
        "executionArn": arn,
        "stateMachineArn": "arn:aws:states:us-east-1:123456789012:stateMachine:sm",
        "status": "FAILED",
        "startDate": datetime(2026, 1, 1, tzinfo=UTC),
        "error": error,
        "cause": cause,
    }


def _nothing_left(bedrock) -> None:
    bedrock.add_response("list_model_customization_jobs", {"modelCustomizationJobSummaries": []})
    bedrock.add_response("list_provisioned_model_throughputs", {"provisionedModelSummaries": []})
    bedrock.add_response("list_custom_model_deployments", {"modelDeploymentSummaries": []})
    bedrock.add_response("list_evaluation_jobs", {})  # botocore: jobSummaries has at least one item when present


def test_a_failed_execution_with_nothing_left_is_not_reported_twice(load_handler, lambda_context, bedrock, handler_env):
    received = _outcomes(handler_env)
    handler = load_handler("after_execution").handler
    _nothing_left(bedrock)
    with Stubber(aws.client("stepfunctions")) as sfn:
        # It ended in "Run failed", after "Notify failure" reported it
        sfn.add_response(
            "describe_execution", _described("RunFailed", "The run failed; the failure notification says why")
        )
        handler(_status_change("FAILED"), lambda_context)
        sfn.assert_no_pending_responses()
    assert received() == []


def test_a_failed_execution_whose_failure_was_never_reported_is_reported(
    load_handler, lambda_context, bedrock, handler_env
):
    # Its "Notify failure" step itself failed: the execution ended with that error, and nobody was told
    received = _outcomes(handler_env)
    handler = load_handler("after_execution").handler
    _nothing_left(bedrock)
    with Stubber(aws.client("stepfunctions")) as sfn:
        sfn.add_response("describe_execution", _described("RuntimeError", '{"errorMessage": "notify crashed"}'))
        handler(_status_change("FAILED"), lambda_context)
    (notice,) = received()
    assert (notice["run_id"], notice["status"]) == ("ended", "FAILED")
    assert notice["reason"] == (
        'the execution ended FAILED without reporting it: RuntimeError: {"errorMessage": "notify crashed"}'
    )
