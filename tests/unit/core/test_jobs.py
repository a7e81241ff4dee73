"""The customization job against a stubbed Bedrock (every call and its parameters checked) and moto S3."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.stub import ANY, Stubber

from customizer.errors import (
    AwsRequestRejectedError,
    AwsServiceUnavailableError,
    BedrockThrottledError,
    ResourceMissingError,
    WaitTimeoutError,
)
from customizer.jobs import (
    TRAINING_METRICS,
    VALIDATION_METRICS,
    check_job,
    check_smoke_job,
    create_job,
    delete_custom_model,
    pipeline_tags,
    stop_job_if_running,
    validation_metrics_path,
)
from customizer.models import Job, Run, SmokePlan
from tests.unit.core.stubs import JOB_ARN, JOB_ID, KMS_KEY_ARN, MODEL_ARN, ROLE_ARN, job_response

TAG = "bedrock-customization"


def create(run: Run) -> Job:
    return create_job(run, role_arn=ROLE_ARN, kms_key_arn=KMS_KEY_ARN, pipeline_tag=TAG)


def not_found(bedrock: Stubber, method: str = "get_model_customization_job", identifier: str | None = None) -> None:
    params = None if identifier is None else {"jobIdentifier": identifier}
    bedrock.add_client_error(method, "ResourceNotFoundException", "no such job", 404, expected_params=params)


def expected_create_request(run: Run) -> dict[str, Any]:
    tags = [
        {"key": "pipeline", "value": TAG},
        {"key": "run-id", "value": run.run_id},
        {"key": "execution", "value": run.execution_name},
    ]
    return {
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
        "jobTags": tags,
        "customModelTags": tags,
    }


# ---- create ----


def test_create_job_creates_the_job_with_the_runs_names_and_token(bedrock, make_run):
    # Given a run whose job does not exist yet
    run = make_run()
    not_found(bedrock, identifier=run.names.job_name)
    bedrock.add_response("create_model_customization_job", {"jobArn": JOB_ARN}, expected_create_request(run))
    bedrock.add_response("get_model_customization_job", job_response(run, "InProgress"), {"jobIdentifier": JOB_ARN})

    # When the job is created
    job = create(run)

    # Then the request carried the run's names, token, data and tags, and the job is read back
    assert job.job_arn == JOB_ARN
    assert job.job_name == run.names.job_name
    assert job.status == "InProgress"
    assert job.model_arn is None
    assert job.checked_at is not None


def test_create_job_passes_the_validation_data(bedrock, make_run):
    run = make_run(validation=True)
    assert run.data.validation is not None
    not_found(bedrock)
    request = expected_create_request(run)
    request["validationDataConfig"] = {"validators": [{"s3Uri": run.data.validation.uri}]}
    bedrock.add_response("create_model_customization_job", {"jobArn": JOB_ARN}, request)
    bedrock.add_response("get_model_customization_job", job_response(run, "InProgress"))
    assert create(run).job_arn == JOB_ARN


def test_create_job_returns_the_existing_job_without_creating_a_second(bedrock, make_run):
    # Given the run already created its job (a retried or duplicated step)
    run = make_run()
    bedrock.add_response(
        "get_model_customization_job", job_response(run, "InProgress"), {"jobIdentifier": run.names.job_name}
    )
    # When the step runs again, Then it returns that job (no create call is queued: one would fail the test)
    assert create(run).job_arn == JOB_ARN


@pytest.mark.parametrize("code", ["ConflictException", "ResourceInUseException", "ValidationException"])
def test_a_concurrent_create_returns_the_job_the_other_start_created(bedrock, make_run, code):
    run = make_run()
    not_found(bedrock)
    bedrock.add_client_error("create_model_customization_job", code, "job name in use", 409)
    bedrock.add_response(
        "get_model_customization_job", job_response(run, "InProgress"), {"jobIdentifier": run.names.job_name}
    )
    assert create(run).job_arn == JOB_ARN


def test_a_conflict_without_a_job_to_find_is_rejected(bedrock, make_run):
    run = make_run()
    not_found(bedrock)
    bedrock.add_client_error("create_model_customization_job", "ConflictException", "model name in use", 409)
    not_found(bedrock)
    with pytest.raises(
        AwsRequestRejectedError, match=r"^CreateModelCustomizationJob: ConflictException: model name in use$"
    ):
        create(run)


@pytest.mark.parametrize(
    ("code", "status", "expected"),
    [
        ("ThrottlingException", 429, BedrockThrottledError),
        ("InternalServerException", 500, AwsServiceUnavailableError),
        ("ServiceUnavailableException", 503, AwsServiceUnavailableError),
        ("ValidationException", 400, AwsRequestRejectedError),
        ("AccessDeniedException", 403, AwsRequestRejectedError),
        ("ServiceQuotaExceededException", 400, AwsRequestRejectedError),
    ],
)
def test_create_failures_become_typed_errors(bedrock, make_run, code, status, expected):
    run = make_run()
    not_found(bedrock)
    bedrock.add_client_error("create_model_customization_job", code, "no", status)
    if code == "ValidationException":
        not_found(bedrock, identifier=run.names.job_name)  # a name in use? No: it stands
    with pytest.raises(expected, match=f"^CreateModelCustomizationJob: {code}: no$"):
        create(run)


def test_a_throttled_lookup_is_a_throttling_error(bedrock, make_run):
    bedrock.add_client_error("get_model_customization_job", "ThrottlingException", "slow down", 429)
    with pytest.raises(BedrockThrottledError, match=r"^GetModelCustomizationJob: ThrottlingException"):
        create(make_run())


def test_a_job_that_cannot_be_read_back_is_missing(bedrock, make_run):
    run = make_run()
    not_found(bedrock)
    bedrock.add_response("create_model_customization_job", {"jobArn": JOB_ARN})
    not_found(bedrock, identifier=JOB_ARN)
    with pytest.raises(ResourceMissingError, match="was created but cannot be read back"):
        create(run)


def test_pipeline_tags_cut_the_execution_name_to_the_tag_limit(make_run):
    run = make_run().model_copy(update={"execution_name": "e" * 300})
    tags = {t["key"]: t["value"] for t in pipeline_tags(run, TAG)}
    assert tags == {"pipeline": TAG, "run-id": run.run_id, "execution": "e" * 256}


# ---- check ----


def job_for(run: Run, status: str = "InProgress") -> Job:
    return Job(job_arn=JOB_ARN, job_name=run.names.job_name, status=status)


def put_csv(s3: Any, run: Run, relative: str, text: str) -> None:
    bucket, _, prefix = run.output_uri.removeprefix("s3://").partition("/")
    s3.put_object(Bucket=bucket, Key=f"{prefix}model-customization-job-{JOB_ID}/{relative}", Body=text.encode())


def test_a_completed_job_reports_its_model_and_losses(bedrock, s3, make_run):
    # Given a completed job whose metric files are in the output location
    run = make_run(validation=True)
    put_csv(
        s3,
        run,
        TRAINING_METRICS,
        "step_number,epoch_number,training_loss,perplexity\n1,1,2.5,12.1\n2,1,1.0,2.7\n3,2,1.5,4.4\n",
    )
    put_csv(
        s3,
        run,
        VALIDATION_METRICS,
        "step_number,epoch_number,validation_loss,perplexity\n2,1,1.1,3.0\n3,2,1.4,4.0\n",
    )
    bedrock.add_response("get_model_customization_job", job_response(run, "Completed"), {"jobIdentifier": JOB_ARN})

    # When the job is checked
    job = check_job(run, job_for(run))

    # Then the custom model and the final and best losses are reported
    assert job.status == "Completed"
    assert job.model_arn == MODEL_ARN
    assert job.metrics == {
        "output_uri": f"{run.output_uri}model-customization-job-{JOB_ID}/",
        "training_steps": 3,
        "validation_points": 2,
        "final_training_loss": 1.5,
        "best_training_loss": 1.0,
        "final_validation_loss": 1.4,
        "best_validation_loss": 1.1,
    }


def test_missing_or_malformed_metric_files_do_not_fail_the_check(bedrock, s3, make_run):
    run = make_run()
    put_csv(s3, run, TRAINING_METRICS, "step_number,epoch_number,training_loss,perplexity\n1,1,n/a,x\n2,1,0.5,1.6\n")
    bedrock.add_response("get_model_customization_job", job_response(run, "Completed"))
    metrics = check_job(run, job_for(run)).metrics
    assert metrics["training_steps"] == 1
    assert metrics["final_training_loss"] == metrics["best_training_loss"] == 0.5
    assert metrics["validation_points"] == 0
    assert "final_validation_loss" not in metrics


def test_a_failed_job_reports_its_failure_message(bedrock, s3, make_run):
    run = make_run()
    bedrock.add_response(
        "get_model_customization_job",
        job_response(run, "Failed", failureMessage="Maximum input token count 4919 exceeds limit of 4096"),
    )
    job = check_job(run, job_for(run))
    assert (job.status, job.failure_message) == ("Failed", "Maximum input token count 4919 exceeds limit of 4096")
    assert job.metrics == {}


def test_a_running_job_within_its_timeout_is_still_running(bedrock, make_run):
    started = datetime(2025, 1, 1, tzinfo=UTC)
    run = make_run({"timeouts": {"job_hours": 2}}, started_at=started)
    bedrock.add_response("get_model_customization_job", job_response(run, "InProgress"))
    job = check_job(run, job_for(run), now=started + timedelta(hours=1, minutes=59))
    assert job.status == "InProgress"


@pytest.mark.parametrize("status", ["InProgress", "Stopping"])
def test_a_job_past_its_timeout_raises_wait_timeout(bedrock, make_run, status):
    started = datetime(2025, 1, 1, tzinfo=UTC)
    run = make_run({"timeouts": {"job_hours": 2}}, started_at=started)
    bedrock.add_response("get_model_customization_job", job_response(run, status))
    with pytest.raises(WaitTimeoutError) as caught:
        check_job(run, job_for(run), now=started + timedelta(hours=2, seconds=1))
    assert str(caught.value) == (
        f"job {run.names.job_name} still {status} after settings.timeouts.job_hours=2.0; the run stops it and cleans up"
    )


def test_the_job_timeout_uses_the_clock_when_no_time_is_given(bedrock, make_run):
    run = make_run({"timeouts": {"job_hours": 1}}, started_at=datetime.now(UTC) - timedelta(hours=3))
    bedrock.add_response("get_model_customization_job", job_response(run, "InProgress"))
    with pytest.raises(WaitTimeoutError):
        check_job(run, job_for(run))


def test_a_finished_job_is_reported_even_past_the_timeout(bedrock, make_run):
    started = datetime(2025, 1, 1, tzinfo=UTC)
    run = make_run({"timeouts": {"job_hours": 1}}, started_at=started)
    bedrock.add_response("get_model_customization_job", job_response(run, "Stopped"))
    assert check_job(run, job_for(run), now=started + timedelta(days=3)).status == "Stopped"


def test_a_vanished_job_is_missing(bedrock, make_run):
    run = make_run()
    not_found(bedrock, identifier=JOB_ARN)
    with pytest.raises(ResourceMissingError, match=f"^job {JOB_ARN} no longer exists$"):
        check_job(run, job_for(run))


# ---- stop ----


def test_a_running_job_is_stopped(bedrock, make_run):
    run = make_run()
    bedrock.add_response("get_model_customization_job", job_response(run, "InProgress"), {"jobIdentifier": "x"})
    bedrock.add_response("stop_model_customization_job", {}, {"jobIdentifier": JOB_ARN})
    assert stop_job_if_running("x") == f"stopped job {run.names.job_name}"


@pytest.mark.parametrize("status", ["Completed", "Failed", "Stopping", "Stopped"])
def test_a_job_that_is_not_running_is_left_alone(bedrock, make_run, status):
    run = make_run()
    bedrock.add_response("get_model_customization_job", job_response(run, status))
    assert stop_job_if_running(JOB_ARN) == f"job {run.names.job_name} already {status}"


def test_stopping_a_job_that_does_not_exist_says_so(bedrock):
    not_found(bedrock)
    assert stop_job_if_running("nothing") == "no job"


def test_a_rejected_stop_is_a_typed_error(bedrock, make_run):
    run = make_run()
    bedrock.add_response("get_model_customization_job", job_response(run, "InProgress"))
    bedrock.add_client_error(
        "stop_model_customization_job",
        "ValidationException",
        "cannot stop",
        400,
        expected_params={"jobIdentifier": ANY},
    )
    with pytest.raises(AwsRequestRejectedError, match=r"^StopModelCustomizationJob: ValidationException"):
        stop_job_if_running(JOB_ARN)


# ---- the smoke job (settings.smoke_test) ----


def _with_smoke(run: Run) -> Run:
    smoke = SmokePlan(
        training_uri="s3://artifacts/runs/x/smoke/train.jsonl",
        records=100,
        job_name=f"{run.names.job_name}-smoke",
        model_name=f"{run.names.job_name}-smoke",
        client_token="s" * 64,
        output_uri="s3://artifacts/runs/x/smoke/job-output/",
        hyperparameters={**run.hyperparameters, "epochCount": "1"},
    )
    return run.model_copy(update={"smoke": smoke})


def test_the_smoke_job_has_its_own_names_token_sample_and_one_epoch(bedrock, make_run):
    run = _with_smoke(make_run())
    assert run.smoke is not None
    not_found(bedrock, identifier=run.smoke.job_name)
    request = expected_create_request(run) | {
        "jobName": run.smoke.job_name,
        "customModelName": run.smoke.model_name,
        "clientRequestToken": run.smoke.client_token,
        "trainingDataConfig": {"s3Uri": run.smoke.training_uri},
        "outputDataConfig": {"s3Uri": run.smoke.output_uri},
        "hyperParameters": run.smoke.hyperparameters,
    }
    bedrock.add_response("create_model_customization_job", {"jobArn": JOB_ARN}, request)
    bedrock.add_response("get_model_customization_job", job_response(run, "InProgress"), {"jobIdentifier": JOB_ARN})
    job = create_job(run, role_arn=ROLE_ARN, kms_key_arn=KMS_KEY_ARN, pipeline_tag=TAG, smoke=True)
    assert job.job_arn == JOB_ARN


def test_a_smoke_job_without_a_plan_is_refused(make_run):
    with pytest.raises(ResourceMissingError):
        create_job(make_run(), role_arn=ROLE_ARN, kms_key_arn=KMS_KEY_ARN, pipeline_tag=TAG, smoke=True)


def test_a_completed_smoke_job_has_its_model_deleted(bedrock, s3, make_run):
    run = _with_smoke(make_run())
    job = Job(job_arn=JOB_ARN, job_name="j", status="InProgress")
    bedrock.add_response("get_model_customization_job", job_response(run, "Completed"), {"jobIdentifier": JOB_ARN})
    bedrock.add_response("delete_custom_model", {}, {"modelIdentifier": MODEL_ARN})
    checked = check_smoke_job(run, job)
    assert checked.status == "Completed"
    assert checked.metrics == {"model": f"deleted model {MODEL_ARN}"}


def test_a_smoke_model_already_gone_is_not_an_error(bedrock):
    bedrock.add_client_error("delete_custom_model", "ResourceNotFoundException", "gone", 404)
    assert delete_custom_model(MODEL_ARN) == f"model {MODEL_ARN} already deleted"


def test_a_running_smoke_job_keeps_its_model(bedrock, make_run):
    run = _with_smoke(make_run())
    job = Job(job_arn=JOB_ARN, job_name="j", status="InProgress")
    bedrock.add_response("get_model_customization_job", job_response(run, "InProgress"))
    assert check_smoke_job(run, job).status == "InProgress"


@pytest.mark.parametrize(
    "relative",
    [
        # AWS's sample code
        "validation_artifacts/post_fine_tuning_validation/validation/validation_metrics.csv",
        # the user guide ("Analyze the results of a model customization job")
        "validation_artifacts/post_fine_tuning_validation/validation_metrics.csv",
        # anywhere else under validation_artifacts/
        "validation_artifacts/elsewhere/validation_metrics.csv",
    ],
)
def test_the_validation_metrics_are_found_wherever_they_lie_under_validation_artifacts(bedrock, s3, make_run, relative):
    run = make_run(validation=True)
    put_csv(s3, run, relative, "step_number,epoch_number,validation_loss\n2,1,1.1\n3,2,0.9\n")
    bedrock.add_response("get_model_customization_job", job_response(run, "Completed"), {"jobIdentifier": JOB_ARN})
    job = check_job(run, job_for(run))
    assert (job.metrics["validation_points"], job.metrics["best_validation_loss"]) == (2, 0.9)


def test_of_two_validation_metric_files_the_shallowest_is_read(s3, make_run):
    run = make_run(validation=True)
    deep = "validation_artifacts/post_fine_tuning_validation/validation/validation_metrics.csv"
    shallow = "validation_artifacts/post_fine_tuning_validation/validation_metrics.csv"
    for relative in (deep, shallow):
        put_csv(s3, run, relative, "step_number,validation_loss\n1,1.0\n")
    root = f"{run.output_uri}model-customization-job-{JOB_ID}/"
    assert validation_metrics_path(root) == shallow


def test_a_job_without_a_status_yet_is_in_progress(bedrock, make_run):
    # botocore makes GetModelCustomizationJob's status optional
    run = make_run()
    response = job_response(run, "InProgress")
    del response["status"]
    bedrock.add_response("get_model_customization_job", response, {"jobIdentifier": JOB_ARN})
    assert check_job(run, job_for(run), now=datetime(2025, 1, 1, 1, tzinfo=UTC)).status == "InProgress"


# ---- reinforcement fine-tuning ----

RFT_SETTINGS = {
    "base_model_id": "amazon.nova-2-lite-v1:0",
    "customization_type": "REINFORCEMENT_FINE_TUNING",
    "hyperparameters": {"epochCount": 3, "learningRate": 0.0001, "reasoningEffort": "low"},
}
OWN_GRADER = "arn:aws:lambda:us-east-1:123456789012:function:my-grader"
STACK_GRADER = "arn:aws:lambda:us-east-1:123456789012:function:reward"


@pytest.mark.parametrize(
    ("grader", "expected"), [({"lambda_arn": OWN_GRADER}, OWN_GRADER), ({"scorer": "token_f1"}, STACK_GRADER)]
)
def test_an_rft_job_carries_its_grader_and_typed_hyperparameters_in_rft_config(bedrock, make_run, grader, expected):
    run = make_run({**RFT_SETTINGS, "grader": grader})
    not_found(bedrock)
    request = expected_create_request(run)
    del request["hyperParameters"]
    request["customizationType"] = "REINFORCEMENT_FINE_TUNING"
    request["customizationConfig"] = {
        "rftConfig": {
            "graderConfig": {"lambdaGrader": {"lambdaArn": expected}},
            "hyperParameters": {"epochCount": 3, "learningRate": 0.0001, "reasoningEffort": "low"},
        }
    }
    bedrock.add_response("create_model_customization_job", {"jobArn": JOB_ARN}, request)
    bedrock.add_response("get_model_customization_job", job_response(run, "InProgress"))
    job = create_job(
        run, role_arn=ROLE_ARN, kms_key_arn=KMS_KEY_ARN, pipeline_tag=TAG, reward_function_arn=STACK_GRADER
    )
    assert job.job_arn == JOB_ARN


def test_an_rft_job_without_a_reward_function_is_not_created(bedrock, make_run):
    from customizer.errors import SettingsError

    run = make_run({**RFT_SETTINGS, "grader": {"scorer": "token_f1"}})
    not_found(bedrock)
    with pytest.raises(SettingsError, match="needs a grader"):
        create(run)


def test_a_completed_rft_job_reports_its_reward_curve(bedrock, s3, make_run):
    run = make_run({**RFT_SETTINGS, "grader": {"scorer": "exact_match"}})
    put_csv(
        s3,
        run,
        TRAINING_METRICS,
        "step_number,epoch_number,training_reward,episode_length,training_loss\n"
        "1,0,0.2,10,0.8\n2,0,0.6,11,0.4\n3,1,0.55,12,0.45\n",
    )
    bedrock.add_response("get_model_customization_job", job_response(run, "Completed"), {"jobIdentifier": JOB_ARN})
    metrics = check_job(run, job_for(run)).metrics
    assert {k: metrics[k] for k in metrics if "reward" in k} == {
        "reward_points": 3,
        "first_training_reward": 0.2,
        "final_training_reward": 0.55,
        "best_training_reward": 0.6,
    }
    assert metrics["final_training_loss"] == 0.45
