"""The images and videos a run's records name: each must be an object in the data bucket (the only bucket the
customization role reads, as for the data files) and must exist. Checked with HEAD (never read), a few at a
time, before any job: a missing image fails the job after it has started to bill otherwise.

Not checked: the size and pixel limits of the media (the user guide gives them per model family in places
this project has not yet encoded)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from botocore.exceptions import ClientError

from customizer import aws
from customizer.errors import PipelineError
from customizer.validation.report import MAX_MEDIA_KEPT, Report

HEADS_AT_ONCE = 16


def check_media(report: Report, data_bucket: str, client: Any | None = None) -> None:
    """Add an error to ``report`` for each named image or video outside ``data_bucket`` or not there."""
    if not report.media:
        return
    s3 = client if client is not None else aws.client("s3")

    def missing(uri: str) -> str | None:
        bucket, key = uri.removeprefix("s3://").split("/", 1)
        if bucket != data_bucket:
            return f"{uri} is outside the data bucket {data_bucket}, which is the only bucket the run may read"
        try:
            with aws.translate_errors("HeadObject"):
                try:
                    s3.head_object(Bucket=bucket, Key=key)
                except ClientError as exc:
                    if aws.error_code(exc) in ("404", "403", "NoSuchKey", "NotFound", "Forbidden"):
                        return f"{uri} does not exist or cannot be read"
                    raise
        except PipelineError as exc:
            return f"{uri} could not be checked: {exc}"
        return None

    with ThreadPoolExecutor(max_workers=HEADS_AT_ONCE) as pool:
        problems = list(pool.map(missing, [uri for *_, uri in report.media]))
    for (file, line, field, _), problem in zip(report.media, problems, strict=True):
        if problem is not None:
            report.errors.add("media_missing", file, line, field, problem)
    unchecked = report.media_total - len(report.media)
    if len(report.media) >= MAX_MEDIA_KEPT and unchecked > 0:
        report.warnings.add(
            "media_not_checked",
            None,
            None,
            None,
            f"the first {MAX_MEDIA_KEPT:,} distinct images and videos were checked; {unchecked:,} more named were not",
        )
