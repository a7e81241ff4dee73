"""``settings.invocation_logs`` as the run's training data, checked before any job: the log prefix lies in the
pipeline's data bucket and holds objects, every object holds Bedrock invocation-log records
(``customizer.invocation_logs``), at least one record passes the request-metadata filters, and a distillation
takes at most 15,000 of them (the user guide's limit). The matching records become the training records the
job will train on (distillation prompts), which the validator then checks as it checks a file (format, tokens,
the teacher's cost, at least 100 prompts)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

from customizer import aws
from customizer.errors import AwsRequestRejectedError, DataNotFoundError, ResourceMissingError, RunInputError
from customizer.families import CustomizationType
from customizer.invocation_logs import (
    MAX_DISTILLATION_PROMPTS,
    MAX_PROMPTS,
    LogFormatError,
    LogRecord,
    as_jsonl,
    is_log_object,
    matches,
    records_of,
)
from customizer.models import DataObject
from customizer.settings import InvocationLogsSettings, RunSettings
from customizer.validation import DataSource, Report, Role

WHERE = "settings.invocation_logs"


class InvocationLogsError(RunInputError):
    """The invocation logs the run names cannot train it (none there, not log records, none matching, too many)."""


class LogData:
    """The run's invocation logs, read once: the matching records as training records, and a digest of every
    object read (it names the run, as a data file's SHA-256 does)."""

    def __init__(self, settings: RunSettings, data_bucket: str) -> None:
        assert settings.invocation_logs is not None
        self.logs: InvocationLogsSettings = settings.invocation_logs
        self.customization_type = settings.customization_type
        self.uri = self.logs.s3_uri
        bucket, prefix = aws.split_s3_uri(self.uri, f"{WHERE}.s3_uri")
        if bucket != data_bucket:
            raise DataNotFoundError(f"{WHERE}.s3_uri: {self.uri} is not in the pipeline's data bucket {data_bucket}")
        self.bucket, self.prefix = bucket, prefix
        self.digest = hashlib.sha256()
        self.size = 0
        self.read = 0  # records read, matching or not
        self.records = self._matching()
        self.body = as_jsonl(self.records, self.customization_type, use_prompt_response=self.logs.use_prompt_response)

    def _keys(self) -> list[str]:
        keys: list[str] = []
        try:
            with aws.translate_errors(f"listing {WHERE}.s3_uri"):
                pages = (
                    aws.client("s3").get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self.prefix)
                )
                for page in pages:
                    keys += [o["Key"] for o in page.get("Contents", []) if is_log_object(o["Key"])]
        except (ResourceMissingError, AwsRequestRejectedError):
            raise DataNotFoundError(f"{WHERE}.s3_uri: {self.uri} cannot be listed") from None
        if not keys:
            raise DataNotFoundError(
                f"{WHERE}.s3_uri: no log objects under {self.uri} (is model invocation logging delivering to it?)"
            )
        return sorted(keys)

    def _objects(self) -> Iterator[tuple[str, bytes]]:
        s3 = aws.client("s3")
        for key in self._keys():
            try:
                with aws.translate_errors(f"reading {WHERE}"):
                    body = bytes(s3.get_object(Bucket=self.bucket, Key=key)["Body"].read())
            except (ResourceMissingError, AwsRequestRejectedError):
                raise DataNotFoundError(f"{WHERE}: s3://{self.bucket}/{key} cannot be read") from None
            self.digest.update(key.encode() + b"\0" + body)
            self.size += len(body)
            yield f"s3://{self.bucket}/{key}", body

    def _matching(self) -> list[LogRecord]:
        filters = self.logs.request_metadata_filters
        wanted = filters.model_dump(exclude_none=True) if filters is not None else None
        found: list[LogRecord] = []
        for name, body in self._objects():
            try:
                for record in records_of(name, body):
                    self.read += 1
                    if matches(wanted, record.metadata):
                        found.append(record)
            except LogFormatError as exc:
                raise InvocationLogsError(f"{WHERE}: {exc}") from None
            most = MAX_PROMPTS.get(self.customization_type, MAX_DISTILLATION_PROMPTS)
            if len(found) > most:
                source = (
                    "rft-prepare-data"
                    if self.customization_type is CustomizationType.REINFORCEMENT_FINE_TUNING
                    else "distillation with invocation logs"
                )
                raise InvocationLogsError(
                    f"{WHERE}: more than {most:,} records under {self.uri} match; Bedrock takes "
                    f"at most {most:,} prompts or prompt-response pairs (user guide, "
                    f"{source}): narrow request_metadata_filters or the prefix"
                )
        if not self.read:
            raise InvocationLogsError(f"{WHERE}: the logs under {self.uri} hold no invocation records")
        if not found:
            raise InvocationLogsError(
                f"{WHERE}.request_metadata_filters: none of the {self.read:,} records under {self.uri} matches"
            )
        return found

    def source(self) -> DataSource:
        return DataSource(Role.TRAINING, WHERE, lambda: iter([self.body]), location=self.uri, size=len(self.body))

    def described(self, report: Report) -> DataObject:
        summary = report.file(Role.TRAINING.value)
        return DataObject(
            uri=self.uri,
            size=self.size,
            sha256=self.digest.hexdigest(),
            records=summary.records if summary else len(self.records),
        )
