"""The images and videos a run's records name: each must be an object in the data bucket (the only bucket the
customization role reads, as for the data files), must exist and must be within the model's size limit
(``MediaSupport.max_image_bytes`` / ``max_video_bytes``, from the family module). Checked with HEAD (never
read), a few at a time, before any job: a missing image fails the job after it has started to bill otherwise.

Not checked: pixel dimensions (Llama's 8192 x 8192), which need the image read."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from botocore.exceptions import ClientError

from customizer import aws
from customizer.errors import PipelineError
from customizer.families.base import TEXT_ONLY, MediaSupport
from customizer.validation.report import MAX_MEDIA_KEPT, Report

HEADS_AT_ONCE = 16


def _kind(field: str) -> str:
    return field.rsplit(".", 1)[-1]  # messages[0].content[1].image -> image


def check_media(report: Report, data_bucket: str, client: Any | None = None, media: MediaSupport = TEXT_ONLY) -> None:
    """Add an error to ``report`` for each named image or video outside ``data_bucket``, not there, or larger
    than ``media`` allows for its kind."""
    if not report.media:
        return
    s3 = client if client is not None else aws.client("s3")

    def problem(item: tuple[str, int, str, str]) -> tuple[str, str] | None:
        *_, field, uri = item
        bucket, key = uri.removeprefix("s3://").split("/", 1)
        if bucket != data_bucket:
            return (
                "media_missing",
                f"{uri} is outside the data bucket {data_bucket}, which is the only bucket the run may read",
            )
        try:
            with aws.translate_errors("HeadObject"):
                try:
                    head = s3.head_object(Bucket=bucket, Key=key)
                except ClientError as exc:
                    if aws.error_code(exc) in ("404", "403", "NoSuchKey", "NotFound", "Forbidden"):
                        return "media_missing", f"{uri} does not exist or cannot be read"
                    raise
        except PipelineError as exc:
            return "media_missing", f"{uri} could not be checked: {exc}"
        kind = _kind(field)
        limit = media.max_bytes(kind)
        size = int(head.get("ContentLength") or 0)
        if limit is not None and size > limit:
            return (
                "media_too_large",
                f"{uri} is {size:,} bytes; {report.model_name or 'the model'} takes {kind}s of at most {limit:,} ({media.source})",
            )
        return None

    with ThreadPoolExecutor(max_workers=HEADS_AT_ONCE) as pool:
        problems = list(pool.map(problem, report.media))
    for (file, line, field, _), found in zip(report.media, problems, strict=True):
        if found is not None:
            report.errors.add(found[0], file, line, field, found[1])
    unchecked = report.media_total - len(report.media)
    if len(report.media) >= MAX_MEDIA_KEPT and unchecked > 0:
        report.warnings.add(
            "media_not_checked",
            None,
            None,
            None,
            f"the first {MAX_MEDIA_KEPT:,} distinct images and videos were checked; {unchecked:,} more named were not",
        )
