"""Bedrock model invocation logs as a customization's training data (``trainingDataConfig.invocationLogsConfig``):
the records under an S3 prefix, the request-metadata filters Bedrock applies to them, and each record's prompt
(and response) as a training record. Used by the pre-flight check (``customizer.run``) and by the offline
emulator, so both read the logs the same way.

Sources, and what is this project's guess:
- The record layout (user guide, "Monitor model invocation using CloudWatch Logs and Amazon S3",
  model-invocation-logging): one JSON object per invocation with ``schemaType`` "ModelInvocationLog",
  ``schemaVersion``, ``timestamp``, ``accountId``, ``region``, ``requestId``, ``operation`` (Converse,
  InvokeModel...), ``modelId``, ``input`` {``inputContentType``, ``inputBodyJson``, ``inputTokenCount``},
  ``output`` {``outputContentType``, ``outputBodyJson``, ``outputTokenCount``} and ``requestMetadata`` (the
  string pairs the caller attached to the call, Converse's ``requestMetadata``).
- The S3 layout: Bedrock delivers the records under
  ``AWSLogs/<account>/BedrockModelInvocationLogs/<region>/<yyyy>/<mm>/<dd>/<hh>/`` in gzip-compressed objects
  (``.json.gz``), large bodies under a ``data/`` folder. That each object holds one record per line (or a single
  record) is read from delivered examples, not from a stated format: a guess. Objects under ``data/`` are skipped.
- The filters (botocore's ``RequestMetadataFilters``, a union: ``equals``, ``notEquals``, ``andAll``, ``orAll``;
  each map holds one pair; a list 1 to 16 base filters): a record matches ``equals`` {k: v} when its metadata
  has k = v, ``notEquals`` {k: v} when it does not (a record without k counts as not equal: a guess), ``andAll``
  when every base filter matches, ``orAll`` when any does; a base filter with both ``equals`` and ``notEquals``
  needs both (a guess).
- "You can provide a maximum of 15K prompts or prompt-response pairs" (user guide, distillation's "Option 2: Use
  invocation logs for data preparation"); with ``usePromptResponse`` Bedrock trains on the logged responses and
  does not ask the teacher again (same page)."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from customizer.families import CustomizationType, rft

SCHEMA_TYPE = "ModelInvocationLog"
MAX_DISTILLATION_PROMPTS = 15_000
# The most matching records each type takes (reinforcement fine-tuning: at most 20,000 prompts, families/rft.py).
MAX_PROMPTS = {
    CustomizationType.DISTILLATION: MAX_DISTILLATION_PROMPTS,
    CustomizationType.REINFORCEMENT_FINE_TUNING: rft.MAX_PROMPTS,
}
LARGE_DATA_FOLDER = "/data/"  # large request and response bodies Bedrock writes apart from the records


class LogFormatError(ValueError):
    """An object under the log prefix is not Bedrock invocation-log records; the message says where."""


# ---- the filters ----


def _base_matches(base: Mapping[str, Any], metadata: Mapping[str, str]) -> bool:
    checks = []
    for key, value in (base.get("equals") or {}).items():
        checks.append(metadata.get(key) == value)
    for key, value in (base.get("notEquals") or {}).items():
        checks.append(metadata.get(key) != value)
    return all(checks)


def matches(filters: Mapping[str, Any] | None, metadata: Mapping[str, Any] | None) -> bool:
    """Whether a record's ``requestMetadata`` passes ``requestMetadataFilters`` (botocore's names; None: every
    record passes)."""
    if not filters:
        return True
    found = {str(k): str(v) for k, v in (metadata or {}).items()}
    if "andAll" in filters:
        return all(_base_matches(base, found) for base in filters["andAll"])
    if "orAll" in filters:
        return any(_base_matches(base, found) for base in filters["orAll"])
    return _base_matches(filters, found)


# ---- the records ----


@dataclass(frozen=True)
class LogRecord:
    """One invocation: where it was read, its model, its prompt (system and user text) and response."""

    where: str
    model_id: str
    system: str
    prompt: str
    response: str
    metadata: dict[str, str]


def _text_of(content: Any) -> str:
    """Text of a Converse / Messages content (a string, or blocks with ``text``)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(str(b["text"]) for b in content if isinstance(b, Mapping) and "text" in b)
    return ""


def _prompt(body: Mapping[str, Any]) -> tuple[str, str]:
    """(system, user text) of a request body: Converse or Nova/Claude messages, else a family's native prompt."""
    if isinstance(body.get("messages"), list):
        user = [
            _text_of(m.get("content")) for m in body["messages"] if isinstance(m, Mapping) and m.get("role") == "user"
        ]
        system = body.get("system")
        return _text_of(system) if system is not None else "", "\n".join(t for t in user if t)
    for key in ("inputText", "prompt"):  # Titan, Llama / Cohere
        if isinstance(body.get(key), str):
            return "", str(body[key])
    return "", ""


def _response(body: Mapping[str, Any]) -> str:
    """The answer's text of a response body: Converse, Nova, Claude Messages, Llama, Titan, Cohere."""
    message = (body.get("output") or {}).get("message") if isinstance(body.get("output"), Mapping) else None
    if isinstance(message, Mapping):
        return _text_of(message.get("content"))
    if isinstance(body.get("content"), list):
        return _text_of(body["content"])
    if isinstance(body.get("generation"), str):
        return str(body["generation"])
    results = body.get("results") or body.get("generations")
    if isinstance(results, list) and results and isinstance(results[0], Mapping):
        return str(results[0].get("outputText") or results[0].get("text") or "")
    return ""


def parse_record(record: Any, where: str) -> LogRecord:
    """A log record checked against the documented layout; LogFormatError naming ``where`` otherwise."""
    if not isinstance(record, Mapping) or record.get("schemaType") != SCHEMA_TYPE:
        raise LogFormatError(f"{where}: not a Bedrock invocation log record (schemaType {SCHEMA_TYPE!r} expected)")
    given = (record.get("input") or {}).get("inputBodyJson")
    if not isinstance(given, Mapping):
        raise LogFormatError(f"{where}: input.inputBodyJson is missing (is text logging on for the account?)")
    system, prompt = _prompt(given)
    if not prompt.strip():
        raise LogFormatError(f"{where}: input.inputBodyJson holds no user text")
    output = (record.get("output") or {}).get("outputBodyJson")
    metadata = record.get("requestMetadata") or {}
    return LogRecord(
        where=where,
        model_id=str(record.get("modelId", "")),
        system=system,
        prompt=prompt,
        response=_response(output) if isinstance(output, Mapping) else "",
        metadata={str(k): str(v) for k, v in metadata.items()} if isinstance(metadata, Mapping) else {},
    )


def records_of(name: str, body: bytes) -> Iterator[LogRecord]:
    """The records of one log object (gzip or plain; one JSON record per line, or one record)."""
    if body[:2] == b"\x1f\x8b":
        try:
            body = gzip.decompress(body)
        except (OSError, EOFError) as exc:
            raise LogFormatError(f"{name}: not a readable gzip object ({exc})") from None
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise LogFormatError(f"{name}: not UTF-8 JSON") from None
    lines = [line for line in text.splitlines() if line.strip()]
    try:
        parsed = [json.loads(line) for line in lines]
    except json.JSONDecodeError:
        try:
            parsed = [json.loads(text)]  # one pretty-printed record
        except json.JSONDecodeError as exc:
            raise LogFormatError(f"{name}: not JSON ({exc.msg}, line {exc.lineno})") from None
    for number, record in enumerate(parsed, 1):
        yield parse_record(record, f"{name} record {number}")


def is_log_object(key: str) -> bool:
    """Objects that hold records: not a folder marker, not a large-body object under ``data/``."""
    return not key.endswith("/") and LARGE_DATA_FOLDER not in f"/{key}"


# ---- as training records ----


def distillation_prompt(record: LogRecord, *, use_prompt_response: bool) -> dict[str, Any]:
    """A record as a distillation prompt in the Bedrock conversation schema (the assistant's turn only with
    ``use_prompt_response``: otherwise the teacher answers it)."""
    messages: list[dict[str, Any]] = [{"role": "user", "content": [{"text": record.prompt}]}]
    if use_prompt_response and record.response.strip():
        messages.append({"role": "assistant", "content": [{"text": record.response}]})
    found: dict[str, Any] = {"schemaVersion": "bedrock-conversation-2024", "messages": messages}
    if record.system.strip():
        found["system"] = [{"text": record.system}]
    return found


def rft_prompt(record: LogRecord, *, use_prompt_response: bool) -> dict[str, Any]:
    """A record as a reinforcement fine-tuning prompt (families/rft.py: OpenAI chat messages): the logged response
    is its ``reference_answer`` (with ``use_prompt_response``, which an RFT run needs: settings.check_rft), and the
    request metadata its other fields, which reach the grader."""
    messages: list[dict[str, Any]] = []
    if record.system.strip():
        messages.append({"role": "system", "content": record.system})
    messages.append({"role": "user", "content": record.prompt})
    found: dict[str, Any] = {"messages": messages}
    if use_prompt_response and record.response.strip():
        found["reference_answer"] = record.response
    return {**record.metadata, **found}


# The training record each customization type makes of a log record.
CONVERTERS = {
    CustomizationType.DISTILLATION: distillation_prompt,
    CustomizationType.REINFORCEMENT_FINE_TUNING: rft_prompt,
}


def as_jsonl(
    records: Iterable[LogRecord], customization_type: CustomizationType, *, use_prompt_response: bool
) -> bytes:
    convert = CONVERTERS[customization_type]
    return b"".join(json.dumps(convert(r, use_prompt_response=use_prompt_response)).encode() + b"\n" for r in records)
