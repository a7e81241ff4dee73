"""Reading records of each data format: their structural check and the (prompt, completion) pair that
evaluation and the offline emulator use. The full data validator (per-line reports, token statistics,
file checks) builds on ``check_record``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from customizer.families.base import DataFormat

CONVERSATION_SCHEMA_VERSION = "bedrock-conversation-2024"


class RecordError(ValueError):
    """A record does not fit its format. ``field`` is a dotted path inside the record."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class Example:
    """A record reduced to what a model sees and what it should answer."""

    prompt: str
    completion: str
    system: str = ""


def _text(record: dict[str, Any], key: str, where: str | None = None) -> str:
    where = where or key
    if key not in record:
        raise RecordError(where, "required key is missing")
    value = record[key]
    if not isinstance(value, str):
        raise RecordError(where, f"must be a string, not {type(value).__name__}")
    if not value.strip():
        raise RecordError(where, "must not be empty")
    return value


def _unknown_keys(record: dict[str, Any], allowed: set[str]) -> None:
    extra = sorted(set(record) - allowed)
    if extra:
        raise RecordError(extra[0], f"unknown key; allowed keys: {', '.join(sorted(allowed))}")


def _conversation(record: dict[str, Any]) -> Example:
    _unknown_keys(record, {"schemaVersion", "system", "messages"})
    if record.get("schemaVersion") != CONVERSATION_SCHEMA_VERSION:
        raise RecordError("schemaVersion", f"must be {CONVERSATION_SCHEMA_VERSION!r}")
    system = ""
    if "system" in record:
        blocks = record["system"]
        if not isinstance(blocks, list):
            raise RecordError("system", 'must be a list of {"text": ...} blocks')
        system = "\n".join(_text(b, "text", f"system[{i}].text") for i, b in enumerate(blocks) if isinstance(b, dict))
    messages = record.get("messages")
    if not isinstance(messages, list) or len(messages) < 2:
        raise RecordError("messages", "must be a list of at least two messages")
    texts: list[str] = []
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            raise RecordError(f"messages[{i}]", "must be an object")
        expected = "user" if i % 2 == 0 else "assistant"
        if message.get("role") != expected:
            raise RecordError(f"messages[{i}].role", f"must be {expected!r} (roles alternate, starting with user)")
        content = message.get("content")
        if not isinstance(content, list) or not content:
            raise RecordError(f"messages[{i}].content", 'must be a non-empty list of {"text": ...} blocks')
        parts = []
        for j, block in enumerate(content):
            if not isinstance(block, dict):
                raise RecordError(f"messages[{i}].content[{j}]", "must be an object")
            parts.append(_text(block, "text", f"messages[{i}].content[{j}].text"))
        texts.append("\n".join(parts))
    if len(messages) % 2:
        raise RecordError(f"messages[{len(messages) - 1}].role", "the last message must be from the assistant")
    return Example(prompt="\n".join(texts[:-1]), completion=texts[-1], system=system)


def _claude(record: dict[str, Any]) -> Example:
    _unknown_keys(record, {"system", "messages"})
    system = _text(record, "system") if "system" in record else ""
    messages = record.get("messages")
    if not isinstance(messages, list) or len(messages) < 2:
        raise RecordError("messages", "must be a list of at least two messages")
    texts: list[str] = []
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            raise RecordError(f"messages[{i}]", "must be an object")
        expected = "user" if i % 2 == 0 else "assistant"
        if message.get("role") != expected:
            raise RecordError(f"messages[{i}].role", f"must be {expected!r} (roles alternate, starting with user)")
        texts.append(_text(message, "content", f"messages[{i}].content"))
    if len(messages) % 2:
        raise RecordError(f"messages[{len(messages) - 1}].role", "the last message must be from the assistant")
    return Example(prompt="\n".join(texts[:-1]), completion=texts[-1], system=system)


def check_record(record: object, data_format: DataFormat) -> Example:
    """Check one parsed JSONL record against ``data_format``; return its Example or raise RecordError."""
    if not isinstance(record, dict):
        raise RecordError("(record)", f"must be a JSON object, not {type(record).__name__}")
    if data_format is DataFormat.PROMPT_COMPLETION:
        _unknown_keys(record, {"prompt", "completion"})
        return Example(prompt=_text(record, "prompt"), completion=_text(record, "completion"))
    if data_format is DataFormat.CONTINUED_PRE_TRAINING:
        _unknown_keys(record, {"input"})
        return Example(prompt="", completion=_text(record, "input"))
    if data_format is DataFormat.CONVERSATION:
        return _conversation(record)
    return _claude(record)


def evaluation_example(record: object, data_format: DataFormat) -> Example:
    """A test-set record as an Example. Test sets of continued pre-training runs use prompt/completion
    records (the model continues the prompt), so that format is accepted for every family."""
    if isinstance(record, dict) and "prompt" in record and "completion" in record:
        return check_record(record, DataFormat.PROMPT_COMPLETION)
    if data_format is DataFormat.CONTINUED_PRE_TRAINING:
        raise RecordError("prompt", "test records of a continued pre-training run are prompt/completion pairs")
    return check_record(record, data_format)
