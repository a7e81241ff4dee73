"""The first step of every run: check the request, the settings and the data before any money is spent,
and derive the names that make the rest of the run idempotent."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from customizer import aws
from customizer.errors import (
    AwsRequestRejectedError,
    DataNotFoundError,
    ResourceMissingError,
    RunInputError,
    SettingsError,
)
from customizer.families import DataFormat
from customizer.families.formats import RecordError, check_record, evaluation_example
from customizer.models import DataObject, DataSet, Names, Run, RunRequest
from customizer.settings import RunSettings, ThroughputPolicy, check_family, resolve_run_settings

MAX_ERRORS_SHOWN = 5


class DataValidationError(RunInputError):
    """The data does not fit the base model's format or limits."""


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


def scan_records(
    lines: Iterable[bytes], data_format: DataFormat, where: str, *, test_set: bool = False
) -> tuple[int, list[str]]:
    """Count the records of a JSONL stream and collect the first errors (line number, field, message)."""
    count = 0
    errors: list[str] = []
    error_total = 0
    for number, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line:
            continue
        count += 1
        try:
            record = json.loads(line)
            if test_set:
                evaluation_example(record, data_format)
            else:
                check_record(record, data_format)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            error_total += 1
            if len(errors) < MAX_ERRORS_SHOWN:
                errors.append(f"{where} line {number}: not a JSON object on one line ({exc.__class__.__name__})")
        except RecordError as exc:
            error_total += 1
            if len(errors) < MAX_ERRORS_SHOWN:
                errors.append(f"{where} line {number}: {exc.field}: {exc.message}")
    if error_total > len(errors):
        errors.append(f"{where}: {error_total - len(errors)} more errors")
    return count, errors


def inspect_object(
    uri: str, where: str, data_bucket: str, data_format: DataFormat, *, test_set: bool = False
) -> tuple[DataObject, list[str]]:
    """Stream one data object once: its hash, its record count and its format errors."""
    bucket, key = _check_bucket(uri, where, data_bucket)
    response = _open(bucket, key, where)
    digest = hashlib.sha256()

    def lines() -> Iterable[bytes]:
        pending = b""
        for chunk in response["Body"].iter_chunks(chunk_size=1 << 20):
            digest.update(chunk)
            pending += chunk
            *complete, pending = pending.split(b"\n")
            yield from complete
        if pending:
            yield pending

    with aws.translate_errors(f"reading {where}"):
        count, errors = scan_records(lines(), data_format, where, test_set=test_set)
    if count == 0:
        errors.insert(0, f"{where}: s3://{bucket}/{key} holds no records")
    return (
        DataObject(
            uri=uri,
            version_id=response.get("VersionId"),
            size=int(response.get("ContentLength", 0)),
            sha256=digest.hexdigest(),
            records=count,
        ),
        errors,
    )


def _check_counts(settings: RunSettings, data: DataSet) -> list[str]:
    limits = settings.model.records
    training = data.training.records
    validation = data.validation.records if data.validation else 0
    problems = []
    name = settings.model.model_id
    if training < limits.min_training:
        problems.append(f"input.training_data: {training} records; {name} needs at least {limits.min_training}")
    if limits.max_training and training > limits.max_training:
        problems.append(f"input.training_data: {training} records; {name} takes at most {limits.max_training}")
    if limits.max_validation and validation > limits.max_validation:
        problems.append(f"input.validation_data: {validation} records; {name} takes at most {limits.max_validation}")
    combined = training + validation
    if limits.min_combined and combined < limits.min_combined:
        problems.append(
            f"input.training_data: {combined} training and validation records; {name} needs at least {limits.min_combined}"
        )
    if limits.max_combined and combined > limits.max_combined:
        problems.append(
            f"input.training_data: {combined} training and validation records; {name} takes at most {limits.max_combined}"
        )
    return problems


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


def validate_run(
    request: Mapping[str, Any],
    *,
    execution_name: str,
    defaults: Mapping[str, Any],
    data_bucket: str,
    artifacts_bucket: str,
) -> Run:
    """Everything the run needs, checked. Raises RunInputError (or a subclass) naming the problem."""
    req = parse_request(request)
    config = load_run_config(req.config_data, data_bucket) if req.config_data else {}
    settings = resolve_run_settings(defaults, config, req.settings)
    hyperparameters = check_family(settings, has_validation_data=req.validation_data is not None)
    if settings.throughput_policy is ThroughputPolicy.KEEP_IF_BETTER and not req.test_data:
        raise SettingsError(
            "settings.throughput_policy: keep_if_better needs a test set to compare the models; "
            "give input.test_data or choose keep or delete"
        )
    data_format = settings.model.data_format(settings.customization_type)
    errors: list[str] = []
    training, found = inspect_object(req.training_data, "input.training_data", data_bucket, data_format)
    errors += found
    validation = test = None
    if req.validation_data:
        validation, found = inspect_object(req.validation_data, "input.validation_data", data_bucket, data_format)
        errors += found
    if req.test_data:
        test, found = inspect_object(req.test_data, "input.test_data", data_bucket, data_format, test_set=True)
        errors += found
    data = DataSet(training=training, validation=validation, test=test)
    errors += _check_counts(settings, data)
    if errors:
        raise DataValidationError(
            f"the data does not fit {settings.base_model_id} ({settings.customization_type.value}): "
            + "; ".join(errors)
        )
    names = derive_names(req.run_name, settings, hyperparameters, data, req.attempt)
    run_id = names.job_name
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
    )
