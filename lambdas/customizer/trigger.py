"""Start a run from an upload: ``<run prefix><run name>/manifest.json`` names the run's files.

The manifest is uploaded last, so a run never starts on half an upload. The execution's name comes from
the manifest's key and version, so the same upload delivered twice starts one run."""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any
from urllib.parse import unquote_plus

from botocore.exceptions import ClientError

from customizer import aws
from customizer.errors import AwsRequestRejectedError, ResourceMissingError, RunInputError

MANIFEST_NAME = "manifest.json"
_FILE_KEYS = {
    "training": "training_data",
    "validation": "validation_data",
    "test": "test_data",
    "config": "config_data",
}
_ALLOWED = {*_FILE_KEYS, "settings", "run_name", "attempt"}


def run_name_for(key: str, prefix: str) -> str:
    folder = key[len(prefix) :].rsplit("/", 1)[0] if key.startswith(prefix) else key.rsplit("/", 1)[0]
    name = re.sub(r"[^A-Za-z0-9]+", "-", folder).strip("-")[:40].strip("-")
    return name or "run"


def parse_manifest(body: bytes, bucket: str, key: str, prefix: str) -> dict[str, Any]:
    """The execution input the manifest describes (the same shape as a console start)."""
    where = f"s3://{bucket}/{key}"
    try:
        manifest = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RunInputError(f"{where}: not valid JSON: {exc}") from None
    if not isinstance(manifest, dict):
        raise RunInputError(f"{where}: must be a JSON object")
    unknown = sorted(set(manifest) - _ALLOWED)
    if unknown:
        raise RunInputError(f"{where}: unknown key {unknown[0]!r}; allowed: {', '.join(sorted(_ALLOWED))}")
    from_logs = isinstance(manifest.get("settings"), dict) and "invocation_logs" in manifest["settings"]
    if "training" not in manifest and not from_logs:
        raise RunInputError(f"{where}: 'training' (the training file's name) is required, or settings.invocation_logs")
    folder = key.rsplit("/", 1)[0]
    request: dict[str, Any] = {"run_name": manifest.get("run_name") or run_name_for(key, prefix)}
    for name, field in _FILE_KEYS.items():
        value = manifest.get(name)
        if value is None:
            continue
        if not isinstance(value, str) or not value:
            raise RunInputError(f"{where}: {name!r} must be a file name or an s3:// URI")
        request[field] = value if value.startswith("s3://") else f"s3://{bucket}/{folder}/{value}"
    if "settings" in manifest:
        request["settings"] = manifest["settings"]
    if "attempt" in manifest:
        request["attempt"] = manifest["attempt"]
    return request


def require_files(request: dict[str, Any], where: str) -> None:
    """Every file the manifest names must exist, so a run never starts on half an upload."""
    for name, field in _FILE_KEYS.items():
        uri = request.get(field)
        if uri is None:
            continue
        bucket, key = aws.split_s3_uri(uri, f"{where}: {name!r}")
        try:
            with aws.translate_errors(f"checking {uri}"):
                aws.client("s3").head_object(Bucket=bucket, Key=key)
        except (ResourceMissingError, AwsRequestRejectedError):
            raise RunInputError(
                f"{where}: {name!r} names {uri}, which does not exist or cannot be read; "
                "upload the data files before the manifest"
            ) from None


def execution_name(run_name: str, bucket: str, key: str, version: str) -> str:
    digest = hashlib.sha256(f"{bucket}/{key}#{version}".encode()).hexdigest()[:16]
    return f"{run_name[:60]}-{digest}"


def start_from_upload(
    bucket: str, raw_key: str, version_id: str | None, etag: str | None, *, prefix: str, state_machine_arn: str
) -> dict[str, Any]:
    """Read the manifest and start (at most once) the execution it describes."""
    key = unquote_plus(raw_key)  # S3 events carry URL-encoded keys
    get: dict[str, Any] = {"Bucket": bucket, "Key": key}
    if version_id:
        get["VersionId"] = version_id
    with aws.translate_errors("reading the manifest"):
        body = aws.client("s3").get_object(**get)["Body"].read()
    request = parse_manifest(body, bucket, key, prefix)
    require_files(request, f"s3://{bucket}/{key}")
    name = execution_name(request["run_name"], bucket, key, version_id or etag or "")
    try:
        response = aws.client("stepfunctions").start_execution(
            stateMachineArn=state_machine_arn, name=name, input=json.dumps(request)
        )
    except ClientError as exc:
        if aws.error_code(exc) == "ExecutionAlreadyExists":
            return {"execution_name": name, "started": False, "reason": "this upload already started a run"}
        with aws.translate_errors("StartExecution"):
            raise
    return {"execution_name": name, "execution_arn": response["executionArn"], "started": True}
