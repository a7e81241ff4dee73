"""What a customization job does with its data: read it from S3, check it as the service does (the base
model's format for the customization type, reserved strings, tokens per record, record counts, file sizes),
and the metric files a finished job leaves. Formats and limits come from ``customizer.families``."""

from __future__ import annotations

import csv
import io
import json
import math
import os
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

from customizer import invocation_logs
from customizer.families import BaseModel, CustomizationType, DataFormat, distillation, rft
from customizer.families.formats import Example, RecordError, check_record
from offline.bedrock_emulator.answering import BaseAnswerer, estimate_tokens

SYNTHETIC_SAMPLES = 20  # synthetic data samples a distillation job writes (the emulator's choice)
MAX_LOG_OBJECT_BYTES = 1024**3  # one invocation-log object read at most (the emulator's bound)
TRAINING_METRICS = "training_artifacts/step_wise_training_metrics.csv"
VALIDATION_METRICS = "validation_artifacts/post_fine_tuning_validation/validation/validation_metrics.csv"
MAX_METRIC_ROWS = 1000  # longer runs log every n-th step


class ObjectStoreError(Exception):
    """An object could not be read or written; the message is the job's failure message."""


class ObjectStore(Protocol):
    def read(self, uri: str, max_bytes: int) -> bytes: ...

    def list_objects(self, prefix_uri: str) -> list[str]: ...

    def write(self, uri: str, data: bytes, *, kms_key_id: str | None = None) -> None: ...


def split_s3_uri(uri: str) -> tuple[str, str]:
    if not uri.startswith("s3://") or "/" not in uri[5:]:
        raise ObjectStoreError(f"{uri} is not an s3://bucket/key URI")
    bucket, key = uri[5:].split("/", 1)
    return bucket, key


_SESSION_LOCK = threading.Lock()
_SESSION: Any = None


def _boto3_session() -> Any:
    """One boto3 session for every emulator in the process: a new one parses the S3 model again (~70 ms)."""
    global _SESSION  # noqa: PLW0603 - a lazily built, process-wide cache
    with _SESSION_LOCK:
        if _SESSION is None:
            import boto3

            _SESSION = boto3.session.Session()
        return _SESSION


def environment_client(service: str, region: str, endpoint: str, config: Any, *, credentials: Any = None) -> Any:
    """A client of ``service`` at ``endpoint`` (moto, offline) for the emulator's own calls, signed with
    ``credentials`` (a service role's session: access_key, secret_key, token) or else the environment's
    credentials now, not those the process-wide session resolved when it was first used (another emulator, other
    credentials): with the offline IAM enforcement on, a stale key is refused (InvalidAccessKeyId)."""
    session = _boto3_session()
    keys: dict[str, str] = {}
    if credentials is not None:
        keys = {
            "aws_access_key_id": credentials.access_key,
            "aws_secret_access_key": credentials.secret_key,
            "aws_session_token": credentials.token,
        }
    elif os.environ.get("AWS_ACCESS_KEY_ID") and os.environ.get("AWS_SECRET_ACCESS_KEY"):
        keys = {
            "aws_access_key_id": os.environ["AWS_ACCESS_KEY_ID"],
            "aws_secret_access_key": os.environ["AWS_SECRET_ACCESS_KEY"],
        }
        if os.environ.get("AWS_SESSION_TOKEN"):
            keys["aws_session_token"] = os.environ["AWS_SESSION_TOKEN"]
    elif session.get_credentials() is None:
        keys = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
    return session.client(service, region_name=region, endpoint_url=endpoint, config=config, **keys)


class S3Objects:
    """Objects on the S3 endpoint of the environment (moto, offline). Never real S3: with no endpoint
    configured every access fails with a message saying how to set one."""

    def __init__(self, region: str, endpoint_url: str | None = None, *, credentials: Any = None) -> None:
        self._region = region
        self._endpoint_url = endpoint_url
        # A service role's session (authorization.RoleCredentials: access_key, secret_key, token): Bedrock acting
        # as a job's role (service_roles.RoleObjects). None: the environment's credentials.
        self._credentials = credentials
        self._client: Any = None
        self._lock = threading.Lock()

    def _s3(self) -> Any:
        with self._lock:
            if self._client is None:
                endpoint = (
                    self._endpoint_url or os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
                )
                if not endpoint:
                    raise ObjectStoreError(
                        "the Bedrock emulator has no S3 endpoint: set AWS_ENDPOINT_URL_S3 (or AWS_ENDPOINT_URL) "
                        "to the offline S3 (moto)"
                    )
                from botocore.config import Config

                self._client = environment_client(
                    "s3",
                    self._region,
                    endpoint,
                    Config(s3={"addressing_style": "path"}, retries={"max_attempts": 2}, connect_timeout=5),
                    credentials=self._credentials,
                )
            return self._client

    def read(self, uri: str, max_bytes: int) -> bytes:
        from botocore.exceptions import BotoCoreError, ClientError

        bucket, key = split_s3_uri(uri)
        try:
            response = self._s3().get_object(Bucket=bucket, Key=key)
            size = int(response.get("ContentLength", 0))
            if size > max_bytes:
                response["Body"].close()
                raise ObjectStoreError(f"The file {uri} is {size} bytes, more than the {max_bytes} bytes allowed.")
            return bytes(response["Body"].read())
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            raise ObjectStoreError(f"Unable to read {uri}: {code or exc}") from exc
        except BotoCoreError as exc:
            raise ObjectStoreError(f"Unable to read {uri}: {exc}") from exc

    def list_objects(self, prefix_uri: str) -> list[str]:
        """The URIs of the objects under ``prefix_uri``, by key."""
        from botocore.exceptions import BotoCoreError, ClientError

        bucket, prefix = split_s3_uri(prefix_uri if prefix_uri[5:].count("/") else prefix_uri + "/")
        try:
            pages = self._s3().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
            keys = [o["Key"] for page in pages for o in page.get("Contents", [])]
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            raise ObjectStoreError(f"Unable to list {prefix_uri}: {code or exc}") from exc
        except BotoCoreError as exc:
            raise ObjectStoreError(f"Unable to list {prefix_uri}: {exc}") from exc
        return [f"s3://{bucket}/{key}" for key in sorted(keys)]

    def write(self, uri: str, data: bytes, *, kms_key_id: str | None = None) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        bucket, key = split_s3_uri(uri)
        extra = {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": kms_key_id} if kms_key_id else {}
        try:
            self._s3().put_object(Bucket=bucket, Key=key, Body=data, **extra)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            raise ObjectStoreError(f"Unable to write the job output to {uri}: {code or exc}") from exc
        except BotoCoreError as exc:
            raise ObjectStoreError(f"Unable to write the job output to {uri}: {exc}") from exc


# ---- the data check ----


@dataclass(frozen=True)
class DataCheck:
    """The job's data as the service saw it. ``problem`` is the failure message when it does not fit."""

    examples: tuple[Example, ...] = ()
    validation_records: tuple[int, ...] = ()  # per validator
    training_tokens: int = 0
    problem: str | None = None
    # Reinforcement fine-tuning: the training records as parsed, every field kept (the grader gets them).
    records: tuple[dict[str, Any], ...] = ()
    # Distillation: the synthetic data samples and prompt insights the job writes (customizer.distillation_outputs).
    synthetic: tuple[dict[str, str], ...] = ()
    insights: tuple[dict[str, Any], ...] = ()


class _DataProblem(Exception):
    pass


def read_and_check(
    objects: ObjectStore,
    *,
    model: BaseModel,
    customization_type: CustomizationType,
    hyperparameters: Mapping[str, str],
    training_uri: str,
    validation_uris: Sequence[str],
) -> DataCheck:
    try:
        training = objects.read(training_uri, model.training_file_max_bytes)
        validation = [objects.read(uri, model.validation_file_max_bytes) for uri in validation_uris]
    except ObjectStoreError as exc:
        return DataCheck(problem=str(exc))
    return check_data(model, customization_type, hyperparameters, training, validation)


def read_logs_and_check(
    objects: ObjectStore, *, model: BaseModel, customization_type: CustomizationType, config: Mapping[str, Any]
) -> DataCheck:
    """Training data from invocation logs (trainingDataConfig.invocationLogsConfig): the records under the
    source prefix (customizer.invocation_logs reads them as the pipeline does), filtered by
    requestMetadataFilters, at most 15,000, made into distillation prompts (with the logged responses when
    usePromptResponse), then checked as a file. The failure messages are this project's guesses (README)."""
    uri = str(config["invocationLogSource"]["s3Uri"])
    try:
        names = [name for name in objects.list_objects(uri) if invocation_logs.is_log_object(name[5:])]
        if not names:
            return DataCheck(problem=f"No invocation logs were found at {uri}.")
        found: list[invocation_logs.LogRecord] = []
        read = 0
        for name in names:
            for record in invocation_logs.records_of(name, objects.read(name, MAX_LOG_OBJECT_BYTES)):
                read += 1
                if invocation_logs.matches(config.get("requestMetadataFilters"), record.metadata):
                    found.append(record)
    except ObjectStoreError as exc:
        return DataCheck(problem=str(exc))
    except invocation_logs.LogFormatError as exc:
        return DataCheck(problem=f"The invocation logs at {uri} could not be read: {exc}.")
    if not found:
        return DataCheck(
            problem=f"None of the {read} invocation log records at {uri} matches the request metadata filters."
        )
    most = invocation_logs.MAX_PROMPTS.get(customization_type, invocation_logs.MAX_DISTILLATION_PROMPTS)
    if len(found) > most:
        return DataCheck(
            problem=f"The invocation logs at {uri} hold {len(found)} matching records; at most {most} are allowed."
        )
    body = invocation_logs.as_jsonl(
        found, customization_type, use_prompt_response=bool(config.get("usePromptResponse"))
    )
    provided = "invocation_log" if config.get("usePromptResponse") else "provided"
    return check_data(model, customization_type, {}, body, provided=provided)


def check_data(
    model: BaseModel,
    customization_type: CustomizationType,
    hyperparameters: Mapping[str, str],
    training: bytes,
    validation: Sequence[bytes] = (),
    *,
    provided: str = "provided",
) -> DataCheck:
    """``provided``: where a distillation prompt's own answer came from (``invocation_log`` for logged responses)."""
    limit = model.token_limit(hyperparameters)
    insights: list[dict[str, Any]] = []
    try:
        examples = _records(model, customization_type, training, "training", limit)
        checked = [_records(model, customization_type, data, "validation", limit) for data in validation]
        counts = tuple(len(v) for v in checked)
        if customization_type is CustomizationType.DISTILLATION:
            examples, insights = _prompt_insights(examples)
            if len(examples) < distillation.MIN_PROMPTS:
                raise _DataProblem(
                    f"The training data has {len(examples)} valid prompts; distillation needs at least "
                    f"{distillation.MIN_PROMPTS}."
                )
            synthetic = tuple(
                {
                    "prompt": e.prompt,
                    "system": e.system,
                    "response": _answered_by_teacher(e).completion,
                    "source": provided if e.completion else "teacher",
                }
                for e in examples[:SYNTHETIC_SAMPLES]
            )
            examples = [_answered_by_teacher(e) for e in examples]
        elif customization_type is CustomizationType.REINFORCEMENT_FINE_TUNING:
            _check_rft_counts(len(examples))
        else:
            _check_counts(model, len(examples), sum(counts))
    except _DataProblem as exc:
        return DataCheck(problem=str(exc))
    tokens = sum(_tokens(e)[2] for e in examples)
    records: tuple[dict[str, Any], ...] = ()
    if customization_type is CustomizationType.REINFORCEMENT_FINE_TUNING:
        records = tuple(json.loads(line) for line in training.decode("utf-8").splitlines() if line.strip())
    if customization_type is CustomizationType.DISTILLATION:
        return DataCheck(
            examples=tuple(examples),
            validation_records=counts,
            training_tokens=tokens,
            synthetic=synthetic,
            insights=tuple(insights),
        )
    return DataCheck(examples=tuple(examples), validation_records=counts, training_tokens=tokens, records=records)


def _prompt_insights(examples: Sequence[Example]) -> tuple[list[Example], list[dict[str, Any]]]:
    """The emulator's prompt insights (a guess: Bedrock documents that prompts are accepted or rejected with a
    reason, not its rules): a prompt repeating an earlier one (same system and user text) is rejected, every
    other is accepted. Returns the accepted examples and one insight per record."""
    seen: dict[tuple[str, str], int] = {}
    accepted: list[Example] = []
    insights: list[dict[str, Any]] = []
    for number, example in enumerate(examples, 1):
        key = (example.system, example.prompt)
        if key in seen:
            insights.append({"record": number, "status": "REJECTED", "reason": f"duplicate of record {seen[key]}"})
            continue
        seen[key] = number
        accepted.append(example)
        insights.append({"record": number, "status": "ACCEPTED", "reason": ""})
    return accepted, insights


def _check_rft_counts(records: int) -> None:
    """The user guide's rft-prepare-data (families/rft.py); the wording is a guess at the service's."""
    if records < rft.MIN_RECORDS:
        raise _DataProblem(
            f"The training data has {records} valid records; reinforcement fine-tuning needs at least "
            f"{rft.MIN_RECORDS}."
        )
    if records > rft.MAX_PROMPTS:
        raise _DataProblem(
            f"The training data has {records} prompts; reinforcement fine-tuning allows at most {rft.MAX_PROMPTS}."
        )


def _answered_by_teacher(example: Example) -> Example:
    """A distillation prompt trains the student on the teacher's answer: the emulated teacher gives the prompt's
    own answer where it has one, else the base models' generic answer (answering.BaseAnswerer)."""
    if example.completion:
        return example
    return replace(example, completion=BaseAnswerer().answer(example.prompt))


def _records(
    model: BaseModel, customization_type: CustomizationType, data: bytes, which: str, token_limit: int
) -> list[Example]:
    data_format = model.data_format(customization_type)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _DataProblem(f"Malformed input request: the {which} data is not UTF-8 text ({exc.reason})") from exc
    examples = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        where = f"{which} data line {number}"
        try:
            example = check_record(json.loads(line), data_format, model)
        except json.JSONDecodeError as exc:
            raise _DataProblem(
                f"Malformed input request: {where} is not valid JSON ({exc.msg}), "
                "please reformat your input and try again."
            ) from exc
        except RecordError as exc:
            raise _DataProblem(
                f"Malformed input request: {where}: {exc}, please reformat your input and try again."
            ) from exc
        _check_reserved(model, example, where)
        _check_tokens(model, example, where, token_limit, continued=data_format is DataFormat.CONTINUED_PRE_TRAINING)
        examples.append(example)
    return examples


def _check_reserved(model: BaseModel, example: Example, where: str) -> None:
    for reserved in model.reserved_strings:
        if any(reserved in text for text in (example.system, example.prompt, example.completion)):
            raise _DataProblem(
                f"Malformed input request: {where} contains the reserved string {reserved!r}, "
                "please reformat your input and try again."
            )


def _tokens(example: Example) -> tuple[int, int, int]:
    prompt = estimate_tokens(example.system) + estimate_tokens(example.prompt)
    completion = estimate_tokens(example.completion)
    return prompt, completion, prompt + completion


def _check_tokens(model: BaseModel, example: Example, where: str, limit: int, *, continued: bool) -> None:
    prompt, completion, total = _tokens(example)
    if continued:  # a continued pre-training record is all input
        prompt, completion = total, 0
    checks = (
        ("input", prompt, model.tokens.max_input),
        ("output", completion, model.tokens.max_output),
        ("input" if continued else "total", total, limit),
    )
    for kind, count, maximum in checks:
        if maximum is not None and count > maximum:
            raise _DataProblem(f"Maximum {kind} token count {count} exceeds limit of {maximum} ({where})")


def _check_counts(model: BaseModel, training: int, validation: int) -> None:
    limits = model.records
    name = model.name
    if training < limits.min_training:
        raise _DataProblem(f"The training data has {training} records; {name} needs at least {limits.min_training}.")
    if limits.max_training is not None and training > limits.max_training:
        raise _DataProblem(f"The training data has {training} records; {name} allows at most {limits.max_training}.")
    if limits.max_validation is not None and validation > limits.max_validation:
        raise _DataProblem(
            f"The validation data has {validation} records; {name} allows at most {limits.max_validation}."
        )
    combined = training + validation
    low, high = limits.min_combined, limits.max_combined
    if (low is not None and combined < low) or (high is not None and combined > high):
        raise _DataProblem(
            f"The training and validation data have {combined} records together; "
            f"{name} needs between {low or 1} and {high or 'any number of'} records."
        )


# ---- the metrics of a finished job ----


@dataclass(frozen=True)
class Metrics:
    training_csv: str
    validation_csv: str | None
    training_loss: float
    validation_losses: tuple[float, ...]  # one per validator


def _loss_curve(check: DataCheck, epochs: int) -> tuple[float, float]:
    """Start and floor of the training loss: more data and more epochs reach a lower floor."""
    records = max(1, len(check.examples))
    average_tokens = check.training_tokens / records
    start = 2.5 + min(1.0, average_tokens / 1000)
    floor = 0.15 + 1.5 / math.sqrt(1 + records * epochs / 8)
    return start, floor


def job_metrics(check: DataCheck, hyperparameters: Mapping[str, str]) -> Metrics:
    """Deterministic, strictly decreasing losses: a function of the data's size, epochCount and batchSize."""
    epochs = max(1, int(float(hyperparameters.get("epochCount", "1"))))
    batch = max(1, int(float(hyperparameters.get("batchSize", "1"))))
    per_epoch = max(1, math.ceil(len(check.examples) / batch))
    total = epochs * per_epoch
    start, floor = _loss_curve(check, epochs)

    def loss(step: int) -> float:
        return round(floor + (start - floor) * math.exp(-4.0 * step / total), 6)

    stride = max(1, math.ceil(total / MAX_METRIC_ROWS))
    rows = [
        (step, (step - 1) // per_epoch, loss(step))
        for step in range(1, total + 1)
        if step % stride == 0 or step == total
    ]
    training_csv = _csv(("step_number", "epoch_number", "training_loss", "perplexity"), rows)
    if not check.validation_records:
        return Metrics(training_csv, None, loss(total), ())
    combined = sum(check.validation_records)

    def validation_loss(step: int, records: int) -> float:
        return round(loss(step) + 0.05 + 0.5 / math.sqrt(1 + records), 6)

    epoch_ends = [(epoch + 1) * per_epoch for epoch in range(epochs)]
    validation_rows = [(step, (step - 1) // per_epoch, validation_loss(step, combined)) for step in epoch_ends]
    validation_csv = _csv(("step_number", "epoch_number", "validation_loss", "perplexity"), validation_rows)
    finals = tuple(validation_loss(total, n) for n in check.validation_records)
    return Metrics(training_csv, validation_csv, loss(total), finals)


def _csv(header: tuple[str, ...], rows: Sequence[tuple[int, int, float]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    for step, epoch, value in rows:
        writer.writerow((step, epoch, value, round(math.exp(value), 6)))
    return out.getvalue()
