"""Reading records of each data format: their structural check and the (prompt, completion) pair that
evaluation and the offline emulator use. The full data validator (per-line reports, token statistics,
file checks) builds on ``check_record``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from customizer.families.base import DataFormat

CONVERSATION_SCHEMA_VERSION = "bedrock-conversation-2024"


class RecordError(ValueError):
    """A record does not fit its format. ``field`` is a dotted path inside the record; ``kind`` names the
    rule (missing_key, unknown_key, wrong_type, empty_text, role_order, schema_version, not_an_object), so a
    report can group problems by kind."""

    def __init__(self, field: str, message: str, kind: str = "format") -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message
        self.kind = kind


@dataclass(frozen=True)
class Example:
    """A record reduced to what a model sees and what it should answer."""

    prompt: str
    completion: str
    system: str = ""


def _text(record: dict[str, Any], key: str, where: str | None = None) -> str:
    where = where or key
    if key not in record:
        raise RecordError(where, "required key is missing", "missing_key")
    value = record[key]
    if not isinstance(value, str):
        raise RecordError(where, f"must be a string, not {type(value).__name__}", "wrong_type")
    if not value.strip():
        raise RecordError(where, "must not be empty", "empty_text")
    return value


def _unknown_keys(record: dict[str, Any], allowed: set[str]) -> None:
    extra = sorted(set(record) - allowed)
    if extra:
        raise RecordError(extra[0], f"unknown key; allowed keys: {', '.join(sorted(allowed))}", "unknown_key")


def _messages_list(record: dict[str, Any]) -> list[Any]:
    messages = record.get("messages")
    if "messages" not in record:
        raise RecordError("messages", "required key is missing: a list of at least two messages", "missing_key")
    if not isinstance(messages, list):
        raise RecordError(
            "messages", f"must be a list of at least two messages, not {type(messages).__name__}", "wrong_type"
        )
    if len(messages) < 2:
        raise RecordError("messages", "must be a list of at least two messages (user, then assistant)", "role_order")
    return messages


def _message_keys(message: dict[str, Any], i: int) -> None:
    extra = sorted(set(message) - {"role", "content"})
    if extra:
        raise RecordError(f"messages[{i}].{extra[0]}", "unknown key; allowed keys: content, role", "unknown_key")
    expected = "user" if i % 2 == 0 else "assistant"
    if message.get("role") != expected:
        raise RecordError(
            f"messages[{i}].role", f"must be {expected!r} (roles alternate, starting with user)", "role_order"
        )


def _conversation(record: dict[str, Any]) -> Example:
    _unknown_keys(record, {"schemaVersion", "system", "messages"})
    if record.get("schemaVersion") != CONVERSATION_SCHEMA_VERSION:
        raise RecordError("schemaVersion", f"must be {CONVERSATION_SCHEMA_VERSION!r}", "schema_version")
    system = ""
    if "system" in record:
        blocks = record["system"]
        if not isinstance(blocks, list):
            raise RecordError("system", 'must be a list of {"text": ...} blocks', "wrong_type")
        for i, block in enumerate(blocks):
            if not isinstance(block, dict):
                raise RecordError(f"system[{i}]", 'must be a {"text": ...} object', "wrong_type")
        system = "\n".join(_text(b, "text", f"system[{i}].text") for i, b in enumerate(blocks))
    messages = _messages_list(record)
    texts: list[str] = []
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            raise RecordError(f"messages[{i}]", "must be an object", "wrong_type")
        _message_keys(message, i)
        content = message.get("content")
        if not isinstance(content, list) or not content:
            raise RecordError(
                f"messages[{i}].content", 'must be a non-empty list of {"text": ...} blocks', "wrong_type"
            )
        parts = []
        for j, block in enumerate(content):
            if not isinstance(block, dict):
                raise RecordError(f"messages[{i}].content[{j}]", "must be an object", "wrong_type")
            parts.append(_text(block, "text", f"messages[{i}].content[{j}].text"))
        texts.append("\n".join(parts))
    if len(messages) % 2:
        raise RecordError(
            f"messages[{len(messages) - 1}].role", "the last message must be from the assistant", "role_order"
        )
    return Example(prompt="\n".join(texts[:-1]), completion=texts[-1], system=system)


def _claude(record: dict[str, Any]) -> Example:
    _unknown_keys(record, {"system", "messages"})
    system = _text(record, "system") if "system" in record else ""
    messages = _messages_list(record)
    texts: list[str] = []
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            raise RecordError(f"messages[{i}]", "must be an object", "wrong_type")
        _message_keys(message, i)
        texts.append(_text(message, "content", f"messages[{i}].content"))
    if len(messages) % 2:
        raise RecordError(
            f"messages[{len(messages) - 1}].role", "the last message must be from the assistant", "role_order"
        )
    return Example(prompt="\n".join(texts[:-1]), completion=texts[-1], system=system)


def check_record(record: object, data_format: DataFormat) -> Example:
    """Check one parsed JSONL record against ``data_format``; return its Example or raise RecordError."""
    if not isinstance(record, dict):
        raise RecordError("(record)", f"must be a JSON object, not {type(record).__name__}", "not_an_object")
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
        raise RecordError(
            "prompt", "test records of a continued pre-training run are prompt/completion pairs", "missing_key"
        )
    return check_record(record, data_format)
