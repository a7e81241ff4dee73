"""The training data of an RFT run graded by the project's scorers: a copy in the artifacts bucket with the
run's grader embedded in every record, for the deployed reward function, which is shared by all runs and learns
each run's grader from the record it grades (``customizer.grading.reward``; extra fields of a record reach the
grader in its ``metadata``: Nova user guide, "Reinforcement fine-tuning (RFT) for Amazon Nova models",
"Additional properties"). A user's own Lambda grader gets the data as it is: nothing is copied."""

from __future__ import annotations

import json

from customizer import aws
from customizer.errors import RunInputError
from customizer.grading.reward import GRADER_FIELD
from customizer.grading.spec import GraderSettings
from customizer.validation import reader


def embed_grader(line: bytes, spec: dict[str, object], where: str) -> bytes:
    """One JSONL record with the grader field added (``spec``: GraderSettings.spec())."""
    try:
        record = json.loads(line)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RunInputError(f"{where}: not a JSON object: {exc}") from None
    if not isinstance(record, dict):
        raise RunInputError(f"{where}: not a JSON object")
    if GRADER_FIELD in record:
        raise RunInputError(f"{where}: the field {GRADER_FIELD} is the pipeline's own (it holds the run's grader)")
    return json.dumps({**record, GRADER_FIELD: spec}, ensure_ascii=False).encode() + b"\n"


def prepare_training_data(training_uri: str, grader: GraderSettings, artifacts_bucket: str, key: str) -> str:
    """The training data for the job: ``training_uri`` itself for a Lambda grader of the user's; for the project's
    scorers, a copy at ``s3://<artifacts_bucket>/<key>`` with the grader in every record, whose URI is returned.
    Streamed line by line; blank lines are dropped."""
    if not grader.builtin:
        return training_uri
    spec = grader.spec()
    bucket, source_key = aws.split_s3_uri(training_uri, "input.training_data")
    lines: list[bytes] = []
    with aws.translate_errors("reading input.training_data to embed the grader"):
        body = aws.client("s3").get_object(Bucket=bucket, Key=source_key)["Body"]
        for number, line in enumerate(body.iter_lines(chunk_size=reader.CHUNK_BYTES), start=1):
            if line.strip():
                lines.append(embed_grader(line, spec, f"input.training_data line {number}"))
        body.close()
    with aws.translate_errors("writing the training data with the grader"):
        aws.client("s3").put_object(
            Bucket=artifacts_bucket, Key=key, Body=b"".join(lines), ContentType="application/jsonl"
        )
    return f"s3://{artifacts_bucket}/{key}"
