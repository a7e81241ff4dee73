"""The first step of every run: check the request, the settings and the data before any money is spent,
and derive the names that make the rest of the run idempotent."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from customizer import aws
from customizer.catalog import check_lifecycle, check_offered, check_teacher, teacher_invoke_id
from customizer.catalog import describe as describe_offering
from customizer.errors import (
    AwsRequestRejectedError,
    DataNotFoundError,
    ResourceMissingError,
    RunInputError,
    SettingsError,
)
from customizer.evaluation.runner import CUSTOM, concurrency_bounds
from customizer.families import CustomizationType, base_invoke_id
from customizer.grading import preflight
from customizer.grading.data import prepare_training_data
from customizer.models import DataObject, DataSet, Names, Run, RunRequest, SmokePlan
from customizer.settings import RunSettings, SweeperSettings, ThroughputPolicy, check_family, resolve_run_settings
from customizer.validation import CheckSettings, DataSource, Report, Role, reader, validate_data
from customizer.validation.cost import (
    JudgeCostEstimate,
    ThroughputEstimate,
    estimate_judge_cost,
    estimate_throughput_hours,
)
from customizer.validation.log_source import LogData
from customizer.validation.media import check_media
from customizer.validation.report import SUMMARY_ERRORS

MAX_ERRORS_SHOWN = SUMMARY_ERRORS


class DataValidationError(RunInputError):
    """The data does not fit the base model's format or limits."""


def judge_estimate(settings: RunSettings, report: Report) -> JudgeCostEstimate | None:
    """The judge's tokens and price (settings.evaluation.judge), from the test set's token estimate."""
    judge = settings.evaluation.judge
    test = report.file(Role.TEST.value)
    if not judge.enabled or test is None or not test.records:
        return None
    examples = min(test.records, settings.evaluation.max_examples)
    return estimate_judge_cost(
        judge_model_id=judge.model_id,
        metrics=len(judge.metric_keys),
        examples=examples,
        question_tokens=float(test.tokens.get("total", 0)) / test.records if test.tokens else 0.0,
        max_tokens=settings.evaluation.max_tokens,
        prices=settings.prices.model_dump(exclude_none=True) if settings.prices else None,
    )


def parse_request(request: Mapping[str, Any]) -> RunRequest:
    try:
        return RunRequest.model_validate(request)
    except ValidationError as exc:
        problems = "; ".join(
            f"input.{'.'.join(str(p) for p in e['loc'])}: {'unknown field' if e['type'] == 'extra_forbidden' else e['msg']}"
            for e in exc.errors()
        )
        raise RunInputError(problems) from None


def _check_bucket(uri: str, where: str, data_bucket: str) -> tuple[str, str]:
    bucket, key = aws.split_s3_uri(uri, where)
    if bucket != data_bucket:
        raise DataNotFoundError(f"{where}: {uri} is not in the pipeline's data bucket {data_bucket}")
    return bucket, key


def _open(bucket: str, key: str, where: str) -> Any:
    try:
        with aws.translate_errors(f"reading {where}"):
            return aws.client("s3").get_object(Bucket=bucket, Key=key)
    except (ResourceMissingError, AwsRequestRejectedError):
        raise DataNotFoundError(f"{where}: s3://{bucket}/{key} does not exist or cannot be read") from None


def load_run_config(uri: str, data_bucket: str) -> dict[str, Any]:
    bucket, key = _check_bucket(uri, "input.config_data", data_bucket)
    body = _open(bucket, key, "input.config_data")["Body"].read()
    try:
        config = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SettingsError(f"input.config_data: s3://{bucket}/{key} is not valid JSON: {exc}") from None
    if not isinstance(config, dict):
        raise SettingsError(f"input.config_data: s3://{bucket}/{key} must hold a JSON object of settings")
    return config


class _S3Data:
    """One data object, streamed once: its chunks feed the validator and the SHA-256 that names the run."""

    def __init__(self, uri: str, where: str, data_bucket: str) -> None:
        self.uri = uri
        self.where = where
        self.bucket, self.key = _check_bucket(uri, where, data_bucket)
        try:
            with aws.translate_errors(f"reading {where}"):
                head = aws.client("s3").head_object(Bucket=self.bucket, Key=self.key)
        except (ResourceMissingError, AwsRequestRejectedError):
            raise DataNotFoundError(f"{where}: {uri} does not exist or cannot be read") from None
        self.version_id: str | None = head.get("VersionId")
        self.size = int(head.get("ContentLength", 0))
        self.etag = str(head.get("ETag", ""))
        self.digest = hashlib.sha256()

    def chunks(self) -> Iterator[bytes]:
        # Read the object that was looked up, or fail: If-Match needs only s3:GetObject (reading by
        # VersionId would need s3:GetObjectVersion too).
        try:
            with aws.translate_errors(f"reading {self.where}"):
                response = aws.client("s3").get_object(
                    Bucket=self.bucket, Key=self.key, **({"IfMatch": self.etag} if self.etag else {})
                )
        except (ResourceMissingError, AwsRequestRejectedError) as exc:
            if "PreconditionFailed" in str(exc):
                raise DataNotFoundError(
                    f"{self.where}: {self.uri} changed while the run was being checked; start the run again"
                ) from None
            raise DataNotFoundError(f"{self.where}: {self.uri} does not exist or cannot be read") from None
        self.version_id = response.get("VersionId", self.version_id)
        body = response["Body"]
        with aws.translate_errors(f"reading {self.where}"):
            for chunk in body.iter_chunks(chunk_size=reader.CHUNK_BYTES):
                self.digest.update(chunk)
                yield chunk

    def source(self, role: Role) -> DataSource:
        return DataSource(role, self.where, self.chunks, location=self.uri, size=self.size)

    def described(self, report: Report, role: Role) -> DataObject:
        summary = report.file(role.value)
        return DataObject(
            uri=self.uri,
            version_id=self.version_id,
            size=self.size,
            sha256=self.digest.hexdigest(),
            records=summary.records if summary else 0,
        )


def write_report(report: Report, artifacts_bucket: str, prefix: str) -> str:
    """The report as JSON and Markdown under ``prefix``; returns the Markdown page's URI."""
    s3 = aws.client("s3")
    with aws.translate_errors("writing the validation report"):
        s3.put_object(
            Bucket=artifacts_bucket,
            Key=f"{prefix}report.json",
            Body=json.dumps(report.as_dict(), indent=2).encode(),
            ContentType="application/json",
        )
        s3.put_object(
            Bucket=artifacts_bucket,
            Key=f"{prefix}report.md",
            Body=report.to_markdown().encode(),
            ContentType="text/markdown; charset=utf-8",
        )
    return f"s3://{artifacts_bucket}/{prefix}report.md"


def derive_names(
    run_name: str, settings: RunSettings, hyperparameters: Mapping[str, str], data: DataSet, attempt: int
) -> Names:
    """Names and the idempotency token come from the data's content and the settings that shape the job:
    a retried or duplicated start finds the job it already created instead of creating a second one."""
    identity = {
        "run_name": run_name,
        "attempt": attempt,
        "base_model": settings.base_model_id,
        "type": settings.customization_type.value,
        "hyperparameters": dict(sorted(hyperparameters.items())),
        "training": data.training.sha256,
        "validation": data.validation.sha256 if data.validation else None,
    }
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()
    stem = f"{run_name}-{digest[:12]}"
    return Names(job_name=stem, model_name=f"{stem}-model", throughput_name=f"{stem}-pt", client_token=digest[:64])


def smoke_records(settings: RunSettings) -> int:
    """The short job's training records: as asked, raised to the family's minimum."""
    limits = settings.model.records
    return max(settings.smoke_test.records, limits.min_training, limits.min_combined or 0)


def write_smoke_sample(training_uri: str, records: int, artifacts_bucket: str, key: str) -> tuple[str, int]:
    """The first ``records`` records of the training data (streamed: the rest is never read), written to
    ``key`` in the artifacts bucket; returns its URI and how many records it holds."""
    bucket, source_key = aws.split_s3_uri(training_uri, "input.training_data")
    lines: list[bytes] = []
    with aws.translate_errors("reading input.training_data for the smoke sample"):
        body = aws.client("s3").get_object(Bucket=bucket, Key=source_key)["Body"]
        for line in body.iter_lines(chunk_size=reader.CHUNK_BYTES):
            if line.strip():
                lines.append(line.rstrip(b"\r") + b"\n")
                if len(lines) >= records:
                    break
        body.close()
    with aws.translate_errors("writing the smoke sample"):
        aws.client("s3").put_object(
            Bucket=artifacts_bucket, Key=key, Body=b"".join(lines), ContentType="application/jsonl"
        )
    return f"s3://{artifacts_bucket}/{key}", len(lines)


def plan_smoke(
    settings: RunSettings, hyperparameters: Mapping[str, str], data: DataSet, names: Names, artifacts_bucket: str
) -> SmokePlan:
    """The short job: a sample of the training data, one epoch, names of its own (``<stem>-smoke``)."""
    prefix = f"runs/{names.job_name}/smoke/"
    uri, records = write_smoke_sample(
        data.training.uri, smoke_records(settings), artifacts_bucket, f"{prefix}train.jsonl"
    )
    stem = f"{names.job_name}-smoke"
    return SmokePlan(
        training_uri=uri,
        records=records,
        job_name=stem,
        model_name=stem,
        client_token=hashlib.sha256(f"{names.client_token}:smoke".encode()).hexdigest()[:64],
        output_uri=f"s3://{artifacts_bucket}/{prefix}job-output/",
        hyperparameters={**hyperparameters, "epochCount": "1"},
    )


def estimate_throughput(
    settings: RunSettings, test_records: int, usd_per_hour: float, sweeper: SweeperSettings | None
) -> ThroughputEstimate:
    """The run's throughput hours, from its settings and the stack's sweeper (None: no sweeper deletes)."""
    on_demand = settings.serving == "on_demand"
    return estimate_throughput_hours(
        serving=settings.serving,
        policy=settings.throughput_policy.value,
        test_records=test_records,
        max_examples=settings.evaluation.max_examples,
        max_tokens=settings.evaluation.max_tokens,
        concurrency=concurrency_bounds(settings.evaluation.concurrency, 0 if on_demand else settings.model_units)[
            CUSTOM
        ],
        check_seconds=settings.poll.throughput_seconds,
        usd_per_hour=usd_per_hour,
        commitment=settings.commitment,
        kept_lifetime_hours=sweeper.max_throughput_hours if sweeper is not None and not sweeper.dry_run else None,
        sweep_minutes=sweeper.schedule_minutes if sweeper is not None else 0,
    )


def _one_training_source(req: RunRequest, settings: RunSettings) -> None:
    """Exactly one of input.training_data and settings.invocation_logs."""
    if settings.invocation_logs is None and not req.training_data:
        raise RunInputError(
            "input.training_data: Field required (or settings.invocation_logs: Bedrock's invocation logs)"
        )
    if settings.invocation_logs is not None and req.training_data:
        raise RunInputError(
            "input.training_data: give the training data or settings.invocation_logs, not both (the job trains on one)"
        )


def _checked_teacher(settings: RunSettings, region: str | None) -> str | None:
    """A distillation's teacher, offered here, Active, callable on demand (catalog.check_teacher): what the
    evaluation's third arm calls it by. None without a teacher."""
    if settings.distillation is None:
        return None
    teacher = settings.distillation.teacher_model_id
    return teacher_invoke_id(teacher, region, check_teacher(settings, region, describe_offering(teacher)))


def _data_objects(req: RunRequest, data_bucket: str) -> dict[Role, _S3Data]:
    """The run's data files, each looked up before any is read: a missing one fails the run at once. No training
    file when the training data is settings.invocation_logs."""
    objects: dict[Role, _S3Data] = {}
    if req.training_data:
        objects[Role.TRAINING] = _S3Data(req.training_data, "input.training_data", data_bucket)
    if req.validation_data:
        objects[Role.VALIDATION] = _S3Data(req.validation_data, "input.validation_data", data_bucket)
    if req.test_data:
        objects[Role.TEST] = _S3Data(req.test_data, "input.test_data", data_bucket)
    return objects


def validate_run(
    request: Mapping[str, Any],
    *,
    execution_name: str,
    defaults: Mapping[str, Any],
    data_bucket: str,
    artifacts_bucket: str,
    sweeper: SweeperSettings | None = None,
    reward_function_arn: str | None = None,
    grader_lambda_arns: Sequence[str] = (),
    claim: Callable[[str], object] | None = None,
) -> Run:
    """Everything the run needs, checked. Raises RunInputError (or a subclass) naming the problem.

    ``claim`` is called with the run's id as soon as it is known (its data read and checked), before anything is
    written under it: the pipeline takes the run's lease there (customizer/leases.py), so a duplicated start
    ends without touching the running execution's files.

    ``sweeper`` is the stack's sweeper, whose maximum lifetime bounds a kept throughput's estimated hours.
    ``reward_function_arn`` is the stack's reward function and ``grader_lambda_arns`` the users' own graders it
    may call (pipeline.grader_lambda_arns): an RFT run's grader is checked on sample records before any job."""
    req = parse_request(request)
    config = load_run_config(req.config_data, data_bucket) if req.config_data else {}
    settings = resolve_run_settings(defaults, config, req.settings)
    hyperparameters = check_family(settings, has_validation_data=req.validation_data is not None)
    _one_training_source(req, settings)
    region = aws.region()
    base_id = base_invoke_id(settings.model, region, settings.evaluation.base_invoke_id)
    # Ask Bedrock first (one call, before any data is read): is this customization of the base offered here today?
    offering = check_offered(settings, region, describe_offering(settings.base_model_id))
    teacher_id = _checked_teacher(settings, region)
    if settings.throughput_policy is ThroughputPolicy.KEEP_IF_BETTER and not req.test_data:
        raise SettingsError(
            "settings.throughput_policy: keep_if_better needs a test set to compare the models; "
            "give input.test_data or choose keep or delete"
        )
    # The invocation logs (settings.invocation_logs) are read and checked now, before any job.
    logs = LogData(settings, data_bucket) if settings.invocation_logs is not None else None
    objects = _data_objects(req, data_bucket)
    report = validate_data(
        CheckSettings.of_run(settings),
        ([logs.source()] if logs else []) + [data.source(role) for role, data in objects.items()],
    )
    # The images and videos the records name: in the data bucket, there, and within the model's size limits.
    check_media(report, data_bucket, media=settings.model.media)
    if not report.valid:
        location = write_report(report, artifacts_bucket, f"runs/{execution_name}/validation/")
        raise DataValidationError(
            f"the data does not fit {settings.base_model_id} ({settings.customization_type.value}): "
            f"{report.summary()}; report: {location}"
        )
    if settings.customization_type is CustomizationType.REINFORCEMENT_FINE_TUNING and settings.grader is not None:
        # The grader Bedrock will call, called now on samples of the data: refused before any job if it fails.
        # From invocation logs: the records made of them (LogData.body, the same the data check read).
        samples = (
            preflight.read_samples(req.training_data)
            if req.training_data
            else preflight.samples_of(logs.body.splitlines() if logs else [])
        )
        report.grader_check = preflight.check_grader(
            settings.grader,
            samples,
            reward_function_arn=reward_function_arn,
            allowed_lambda_arns=grader_lambda_arns,
        ).as_dict()
    described = {role: data.described(report, role) for role, data in objects.items()}
    if logs is not None:
        described[Role.TRAINING] = logs.described(report)
    data = DataSet(
        training=described[Role.TRAINING],
        validation=described.get(Role.VALIDATION),
        test=described.get(Role.TEST),
    )
    names = derive_names(req.run_name, settings, hyperparameters, data, req.attempt)
    run_id = names.job_name
    if claim is not None:
        claim(run_id)
    usd_per_hour = report.cost.throughput_usd_per_hour if report.cost else 0.0
    report.throughput = estimate = estimate_throughput(
        settings, data.test.records if data.test else 0, usd_per_hour, sweeper
    )
    report.judge = judge_estimate(settings, report)
    lifetime = sweeper.max_throughput_hours if sweeper and not sweeper.dry_run and not settings.commitment else None
    if lifetime is not None and estimate.billed_hourly and lifetime < estimate.hours_until_decision:
        report.warnings.add(
            "short_lifetime",
            None,
            None,
            "pipeline.sweeper.max_throughput_hours",
            f"{lifetime:g} h, but the run needs its throughput for about "
            f"{estimate.hours_until_decision:.2f} h (provisioning and evaluation): the sweeper may delete it "
            "mid-evaluation; raise the lifetime or lower evaluation.max_examples",
        )
    # Once the run's hours are estimated: the base's lifecycle (Legacy, end of life) and how it can be called.
    offered = check_lifecycle(
        settings,
        region,
        offering,
        now=datetime.now(UTC),
        run_hours=settings.timeouts.job_hours + (estimate.hours_if_kept or estimate.hours_until_decision),
        evaluates_base=data.test is not None,
    )
    for warning in offered:
        report.warnings.add(warning.code, None, None, warning.setting, warning.message)
    write_report(report, artifacts_bucket, f"runs/{run_id}/validation/")
    smoke = (
        plan_smoke(settings, hyperparameters, data, names, artifacts_bucket) if settings.smoke_test.enabled else None
    )
    job_training_uri = None
    if (
        settings.customization_type is CustomizationType.REINFORCEMENT_FINE_TUNING
        and settings.grader is not None
        and logs is None
    ):
        # The stack's reward function learns the run's grader from each record it grades: the job trains on a
        # copy of the data with the grader embedded (a user's own Lambda gets the data as it is).
        prepared = prepare_training_data(
            data.training.uri, settings.grader, artifacts_bucket, f"runs/{run_id}/rft/train.jsonl"
        )
        job_training_uri = prepared if prepared != data.training.uri else None
    return Run(
        run_id=run_id,
        run_name=req.run_name,
        execution_name=execution_name,
        settings=settings,
        hyperparameters=hyperparameters,
        data=data,
        names=names,
        output_uri=f"s3://{artifacts_bucket}/runs/{run_id}/job-output/",
        report_prefix=f"s3://{artifacts_bucket}/runs/{run_id}/",
        started_at=datetime.now(UTC).isoformat(),
        smoke=smoke,
        job_training_uri=job_training_uri,
        throughput_estimate=report.throughput,
        base_invoke_id=base_id,
        teacher_invoke_id=teacher_id if data.test is not None else None,
        warnings=[f"{w.code}: {w.message}" for w in offered],
    )
