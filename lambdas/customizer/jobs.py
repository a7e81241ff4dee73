"""The customization job: create it once, check it, read its metrics, stop it."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any

from customizer import aws, distillation_outputs
from customizer.errors import AwsRequestRejectedError, ResourceMissingError, SettingsError, WaitTimeoutError
from customizer.families import CustomizationType, rft
from customizer.models import Job, Run
from customizer.settings import grader_lambda_arn

TRAINING_METRICS = "training_artifacts/step_wise_training_metrics.csv"
# Where the validation metrics lie: AWS's sample code reads
# validation_artifacts/post_fine_tuning_validation/validation/validation_metrics.csv, the user guide ("Analyze the
# results of a model customization job") shows it without the validation/ folder. The file is looked for under
# validation_artifacts/, wherever it is; this is the path tried when the folder cannot be listed.
VALIDATION_ARTIFACTS = "validation_artifacts/"
VALIDATION_METRICS_FILE = "validation_metrics.csv"
VALIDATION_METRICS = "validation_artifacts/post_fine_tuning_validation/validation/validation_metrics.csv"


EXECUTION_TAG = "execution"
# The tag whose value names the deployment (the stack): the roles may stop and delete only what carries it.
PIPELINE_TAG_KEY = "pipeline"


def pipeline_tags(run: Run, pipeline_tag: str) -> list[dict[str, str]]:
    """Tags on everything the run creates, so cleanup and sweeps can find it and know who created it."""
    return [
        {"key": PIPELINE_TAG_KEY, "value": pipeline_tag},
        {"key": "run-id", "value": run.run_id},
        {"key": EXECUTION_TAG, "value": run.execution_name[:256]},
    ]


def _job_from(response: dict[str, Any]) -> Job:
    return Job(
        job_arn=response["jobArn"],
        job_name=response["jobName"],
        # botocore makes status optional in GetModelCustomizationJob's output: a job not yet given one is starting.
        status=response.get("status") or "InProgress",
        model_arn=response.get("outputModelArn"),
        failure_message=response.get("failureMessage"),
        checked_at=datetime.now(UTC).isoformat(),
        created_at=_iso(response.get("creationTime")),
        ended_at=_iso(response.get("endTime")),
    )


def _iso(moment: Any) -> str | None:
    return moment.isoformat() if isinstance(moment, datetime) else moment


def job_seconds(job: Job) -> float | None:
    """How long the job ran, from its creation to its end (None until it has ended)."""
    if not job.created_at or not job.ended_at:
        return None
    return (datetime.fromisoformat(job.ended_at) - datetime.fromisoformat(job.created_at)).total_seconds()


def find_job(name_or_arn: str) -> Job | None:
    bedrock = aws.client("bedrock")
    try:
        with aws.translate_errors("GetModelCustomizationJob"):
            return _job_from(bedrock.get_model_customization_job(jobIdentifier=name_or_arn))
    except ResourceMissingError:
        return None


def create_job(
    run: Run,
    *,
    role_arn: str,
    kms_key_arn: str,
    pipeline_tag: str,
    smoke: bool = False,
    reward_function_arn: str | None = None,
) -> Job:
    """Create the job (with ``smoke``, the run's short job), or return the one this run already created
    (same name, same token). A reinforcement fine-tuning job's grader is the run's own Lambda
    (``settings.grader.lambda_arn``), else ``reward_function_arn`` (the stack's reward function)."""
    if smoke and run.smoke is None:
        raise ResourceMissingError(f"run {run.run_id} has no smoke test planned")
    job_name = run.smoke.job_name if smoke and run.smoke else run.names.job_name
    existing = find_job(job_name)
    if existing:
        return existing
    bedrock = aws.client("bedrock")
    request: dict[str, Any] = {
        "jobName": job_name,
        "customModelName": run.names.model_name,
        "roleArn": role_arn,
        "clientRequestToken": run.names.client_token,
        "baseModelIdentifier": run.settings.base_model_id,
        "customizationType": run.settings.customization_type.value,
        "customModelKmsKeyId": kms_key_arn,
        "trainingDataConfig": {"s3Uri": run.job_training_uri or run.data.training.uri},
        "outputDataConfig": {"s3Uri": run.output_uri},
        "hyperParameters": run.hyperparameters,
        "jobTags": pipeline_tags(run, pipeline_tag),
        "customModelTags": pipeline_tags(run, pipeline_tag),
    }
    if smoke and run.smoke:
        request |= {
            "customModelName": run.smoke.model_name,
            "clientRequestToken": run.smoke.client_token,
            "trainingDataConfig": {"s3Uri": run.smoke.training_uri},
            "outputDataConfig": {"s3Uri": run.smoke.output_uri},
            "hyperParameters": run.smoke.hyperparameters,
        }
    if run.settings.invocation_logs is not None:
        # The training data is the account's invocation logs (trainingDataConfig.invocationLogsConfig, botocore).
        request["trainingDataConfig"] = {"invocationLogsConfig": run.settings.invocation_logs.as_config()}
    if run.data.validation:
        request["validationDataConfig"] = {"validators": [{"s3Uri": run.data.validation.uri}]}
    distilling = run.settings.distillation
    if run.settings.customization_type is CustomizationType.DISTILLATION and distilling is not None:
        # The user guide's "Submit a model distillation job": the teacher in customizationConfig, and no
        # hyperparameters.
        del request["hyperParameters"]
        request["customizationConfig"] = {
            "distillationConfig": {
                "teacherModelConfig": {
                    "teacherModelIdentifier": distilling.teacher_model_id,
                    "maxResponseLengthForInference": distilling.max_response_length,
                }
            }
        }
    if run.settings.customization_type is CustomizationType.REINFORCEMENT_FINE_TUNING:
        grader = grader_lambda_arn(run.settings) or reward_function_arn
        if not grader:
            raise SettingsError("settings.grader: a reinforcement fine-tuning job needs a grader; none is set")
        # botocore's RFTConfig: the grader and the typed hyperparameters in customizationConfig, none at the top.
        del request["hyperParameters"]
        request["customizationConfig"] = rft.rft_config(run.hyperparameters, grader)
    return aws.create_or_find(
        lambda: str(bedrock.create_model_customization_job(**request)["jobArn"]),
        find_job,
        name=job_name,
        action="CreateModelCustomizationJob",
        what="job",
    )


def _read_metrics_csv(uri_prefix: str, relative: str) -> list[dict[str, float]]:
    bucket, prefix = aws.split_s3_uri(uri_prefix.rstrip("/") + "/" + relative, "job output")
    try:
        with aws.translate_errors("reading job metrics"):
            body = aws.client("s3").get_object(Bucket=bucket, Key=prefix)["Body"].read().decode("utf-8")
    except ResourceMissingError:
        return []
    rows = []
    for row in csv.DictReader(io.StringIO(body)):
        try:
            rows.append({k.strip(): float(v) for k, v in row.items() if k and v not in (None, "")})
        except ValueError:
            continue
    return rows


def validation_metrics_path(output_root: str) -> str:
    """The validation metrics file's path under the job's output folder: the first ``validation_metrics.csv``
    under ``validation_artifacts/`` (the shallowest, then by name), or the sample code's path if none is listed."""
    bucket, prefix = aws.split_s3_uri(output_root.rstrip("/") + "/" + VALIDATION_ARTIFACTS, "job output")
    found: list[str] = []
    try:
        with aws.translate_errors("listing job metrics"):
            pages = aws.client("s3").get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
            for page in pages:
                found += [
                    o["Key"] for o in page.get("Contents", []) if o["Key"].endswith("/" + VALIDATION_METRICS_FILE)
                ]
    except (ResourceMissingError, AwsRequestRejectedError):
        return VALIDATION_METRICS
    if not found:
        return VALIDATION_METRICS
    key = min(found, key=lambda k: (k.count("/"), k))
    return VALIDATION_ARTIFACTS + key[len(prefix) :]


def read_metric_files(output_root: str) -> tuple[list[dict[str, float]], list[dict[str, float]]]:
    """The rows of the job's training and validation metric files under its output folder
    (``metrics["output_uri"]``); a file the job did not write has no rows."""
    validation = validation_metrics_path(output_root)
    return _read_metrics_csv(output_root, TRAINING_METRICS), _read_metrics_csv(output_root, validation)


def collect_metrics(run: Run, job: Job) -> dict[str, Any]:
    """Final and best losses from the job's metric files (written under the job's output location)."""
    job_id = job.job_arn.rsplit("/", 1)[-1]
    root = f"{run.output_uri.rstrip('/')}/model-customization-job-{job_id}/"
    training, validation = read_metric_files(root)
    summary: dict[str, Any] = {
        "output_uri": root,
        "training_steps": len(training),
        "validation_points": len(validation),
    }
    if training:
        losses = [r["training_loss"] for r in training if "training_loss" in r]
        if losses:
            summary["final_training_loss"] = losses[-1]
            summary["best_training_loss"] = min(losses)
        # Reinforcement fine-tuning: the grader's mean score per step (the emulator's layout, a guess: README).
        rewards = [r["training_reward"] for r in training if "training_reward" in r]
        if rewards:
            summary |= {
                "reward_points": len(rewards),
                "first_training_reward": rewards[0],
                "final_training_reward": rewards[-1],
                "best_training_reward": max(rewards),
            }
    if validation:
        losses = [r["validation_loss"] for r in validation if "validation_loss" in r]
        if losses:
            summary["final_validation_loss"] = losses[-1]
            summary["best_validation_loss"] = min(losses)
    if run.settings.customization_type is CustomizationType.DISTILLATION:
        # Synthetic data samples and prompt insights (customizer.distillation_outputs: the layout is a guess).
        summary["distillation"] = distillation_outputs.read(root).model_dump(mode="json")
    return summary


def check_job(run: Run, job: Job, *, now: datetime | None = None) -> Job:
    """The job's current status; on completion, its metrics. WaitTimeoutError past the job timeout."""
    current = find_job(job.job_arn)
    if current is None:
        raise ResourceMissingError(f"job {job.job_arn} no longer exists")
    if current.status == "Completed":
        return current.model_copy(update={"metrics": collect_metrics(run, current)})
    if current.status in ("InProgress", "Stopping"):
        started = datetime.fromisoformat(run.started_at)
        limit = timedelta(hours=run.settings.timeouts.job_hours)
        if (now or datetime.now(UTC)) - started > limit:
            raise WaitTimeoutError(
                f"job {current.job_name} still {current.status} after settings.timeouts.job_hours="
                f"{run.settings.timeouts.job_hours}; the run stops it and cleans up"
            )
    return current


def check_smoke_job(run: Run, job: Job) -> Job:
    """The smoke job's status; once it has completed, its custom model is deleted (it would bill storage
    and nothing uses it: the smoke job only shows that the full job can run)."""
    current = check_job(run, job)
    if current.status == "Completed":
        outcome = delete_custom_model(current.model_arn) if current.model_arn else "no model"
        return current.model_copy(update={"metrics": {"model": outcome}})
    return current


def delete_custom_model(model_arn: str) -> str:
    """Delete a custom model; say what happened (one already gone is not an error)."""
    try:
        with aws.translate_errors("DeleteCustomModel"):
            aws.client("bedrock").delete_custom_model(modelIdentifier=model_arn)
    except ResourceMissingError:
        return f"model {model_arn} already deleted"
    return f"deleted model {model_arn}"


def stop_job_if_running(name_or_arn: str) -> str:
    """Stop the job if it is still running; say what happened."""
    job = find_job(name_or_arn)
    return stop_job(job) if job else "no job"


def stop_job(job: Job) -> str:
    """Stop ``job`` (as last read) if it is still running; say what happened."""
    if job.status == "InProgress":
        with aws.translate_errors("StopModelCustomizationJob"):
            aws.client("bedrock").stop_model_customization_job(jobIdentifier=job.job_arn)
        return f"stopped job {job.job_name}"
    return f"job {job.job_name} already {job.status}"
