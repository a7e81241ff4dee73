"""Reading records of each data format: their structural check and the (prompt, completion) pair that
evaluation and the offline emulator use. The full data validator (per-line reports, token statistics,
file checks) builds on ``check_record``."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from customizer.families.base import TEXT_ONLY, BaseModel, DataFormat, MediaRef, MediaSupport

# What the examples write; the Nova user guide: "schemaVersion can be any string value", and AWS's Nova validator
# (aws-samples, custom-models/bedrock-fine-tuning/nova: ConverseDatasetSample) takes it as an optional string.
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
    media: tuple[MediaRef, ...] = field(default=())
    # The assistant turns' reasoningContent text (Nova 2 Lite): trained on, counted in the record's tokens, not
    # part of the answer the evaluation compares.
    reasoning: str = ""


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


def _unknown_keys(record: dict[str, Any], allowed: set[str], where: str = "") -> None:
    extra = sorted(set(record) - allowed)
    if extra:
        path = f"{where}.{extra[0]}" if where else extra[0]
        raise RecordError(path, f"unknown key; allowed keys: {', '.join(sorted(allowed))}", "unknown_key")


def _messages_list(record: dict[str, Any], *, prompt_only: bool = False) -> list[Any]:
    messages = record.get("messages")
    if "messages" not in record:
        raise RecordError("messages", "required key is missing: a list of at least two messages", "missing_key")
    if not isinstance(messages, list):
        raise RecordError(
            "messages", f"must be a list of at least two messages, not {type(messages).__name__}", "wrong_type"
        )
    if prompt_only and not messages:
        raise RecordError("messages", "must hold at least the user's message", "role_order")
    if not prompt_only and len(messages) < 2:
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


def _media_block(value: Any, kind: str, formats: frozenset[str], where: str) -> MediaRef:
    """``{"format": ..., "source": {"s3Location": {"uri": "s3://...", "bucketOwner": ...}}}`` (the user guide's
    "Prepare data for fine-tuning image and text processing models"; AWS's Nova validator: ImageContent,
    VideoContent, S3Location)."""
    if not isinstance(value, dict):
        raise RecordError(where, 'must be an object {"format": ..., "source": {"s3Location": ...}}', "wrong_type")
    _unknown_keys(value, {"format", "source"}, where)
    fmt = value.get("format")
    if not isinstance(fmt, str) or fmt.lower() not in formats:
        raise RecordError(
            f"{where}.format",
            f"{fmt!r} is not {'an' if kind == 'image' else 'a'} {kind} format it takes; allowed: {', '.join(sorted(formats))}",
            "media",
        )
    source = value.get("source")
    location = source.get("s3Location") if isinstance(source, dict) else None
    if not isinstance(location, dict):
        raise RecordError(f"{where}.source", 'must be {"s3Location": {"uri": "s3://bucket/key"}}', "missing_key")
    _unknown_keys(location, {"uri", "bucketOwner"}, f"{where}.source.s3Location")
    uri = location.get("uri")
    bucket, _, key = uri.removeprefix("s3://").partition("/") if isinstance(uri, str) else ("", "", "")
    if not isinstance(uri, str) or not uri.startswith("s3://") or not bucket or not key:
        raise RecordError(f"{where}.source.s3Location.uri", f"{uri!r} is not an s3://bucket/key URI", "media")
    if "bucketOwner" in location and not isinstance(location["bucketOwner"], str):
        raise RecordError(f"{where}.source.s3Location.bucketOwner", "must be an account id string", "wrong_type")
    return MediaRef(kind, fmt.lower(), uri, where)


def _reasoning_block(value: Any, where: str) -> str:
    """``{"reasoningText": {"text": ..., "signature": ...}}``: Converse's ReasoningContentBlock, text form only.
    The Bedrock user guide ("Supervised fine-tuning on Amazon Nova 2.0", nova-2-sft-data-prep): reasoning content
    in assistant turns; "Nova 2.0 SFT supports only text-based reasoning content in the reasoningText field"
    (so not redactedContent). AWS's Nova validator (amazon-nova-samples, customization/bedrock-finetuning/
    understanding/dataset_validation: ReasoningText) requires a non-empty text."""
    if not isinstance(value, dict):
        raise RecordError(where, 'must be an object {"reasoningText": {"text": ...}}', "wrong_type")
    if "reasoningText" not in value:
        raise RecordError(
            f"{where}.reasoningText", "required key is missing (only text reasoning is trained on)", "missing_key"
        )
    _unknown_keys(value, {"reasoningText"}, where)
    text_block = value["reasoningText"]
    if not isinstance(text_block, dict):
        raise RecordError(f"{where}.reasoningText", 'must be an object {"text": ...}', "wrong_type")
    _unknown_keys(text_block, {"text", "signature"}, f"{where}.reasoningText")
    if "signature" in text_block and not isinstance(text_block["signature"], str):
        raise RecordError(f"{where}.reasoningText.signature", "must be a string", "wrong_type")
    return _text(text_block, "text", f"{where}.reasoningText.text")


@dataclass(frozen=True)
class _Block:
    text: str = ""
    media: MediaRef | None = None
    reasoning: str = ""


def _content_block(
    block: Any, where: str, role: str, media: MediaSupport, model: str, *, reasoning: bool = False
) -> _Block:
    """One content block: exactly one of text, image, video, reasoningContent (Converse's ContentBlock is a
    union); media only in user turns and only where the base takes it; reasoning only in assistant turns and
    only where the base trains on it."""
    if not isinstance(block, dict):
        raise RecordError(where, "must be an object", "wrong_type")
    allowed = {"text", *media.kinds, *(("reasoningContent",) if reasoning else ())}
    if len(block) != 1:
        names = ", ".join(sorted(block)) or "nothing"
        raise RecordError(where, f"holds one of {', '.join(sorted(allowed))}, not {names}", "wrong_type")
    (key,) = block
    if key == "text":
        return _Block(text=_text(block, "text", f"{where}.text"))
    if key == "reasoningContent":
        if not reasoning:
            raise RecordError(
                f"{where}.reasoningContent", f"reasoning content, which {model} is not trained on", "unknown_key"
            )
        if role != "assistant":
            raise RecordError(
                f"{where}.reasoningContent", "reasoning content goes in assistant turns only", "role_order"
            )
        return _Block(reasoning=_reasoning_block(block[key], f"{where}.reasoningContent"))
    if key in ("image", "video") and key not in media.kinds:
        takes = f"takes {' and '.join(media.kinds)}" if media.kinds else "takes text only"
        raise RecordError(
            f"{where}.{key}", f"{'an' if key == 'image' else 'a'} {key}, which {model} does not take ({takes})", "media"
        )
    if key not in allowed:
        raise RecordError(f"{where}.{key}", f"unknown key; allowed keys: {', '.join(sorted(allowed))}", "unknown_key")
    if role != "user":
        raise RecordError(
            f"{where}.{key}",
            f"{'an' if key == 'image' else 'a'} {key} in an assistant turn: media go in user turns only",
            "media",
        )
    formats = media.image_formats if key == "image" else media.video_formats
    return _Block(media=_media_block(block[key], key, formats, f"{where}.{key}"))


def _check_media_counts(found: list[MediaRef], media: MediaSupport) -> None:
    images = [m for m in found if m.kind == "image"]
    videos = [m for m in found if m.kind == "video"]
    if images and videos:
        raise RecordError(videos[0].field, "a record holds images or one video, not both", "media")
    if len(images) > media.max_images:
        raise RecordError(images[media.max_images].field, f"more than {media.max_images} images in a record", "media")
    if len(videos) > media.max_videos:
        raise RecordError(videos[media.max_videos].field, f"more than {media.max_videos} video in a record", "media")


def _system_blocks(blocks: Any) -> str:
    if not isinstance(blocks, list):
        raise RecordError("system", 'must be a list of {"text": ...} blocks', "wrong_type")
    for i, block in enumerate(blocks):
        if not isinstance(block, dict):
            raise RecordError(f"system[{i}]", 'must be a {"text": ...} object', "wrong_type")
        _unknown_keys(block, {"text"}, f"system[{i}]")
    return "\n".join(_text(b, "text", f"system[{i}].text") for i, b in enumerate(blocks))


def _conversation(
    record: dict[str, Any], media: MediaSupport, model: str, reasoning: bool, *, prompt_only: bool = False
) -> Example:
    """``prompt_only``: a distillation prompt, whose assistant answer is optional (the teacher writes it)."""
    _unknown_keys(record, {"schemaVersion", "system", "messages"})
    if "schemaVersion" in record and not isinstance(record["schemaVersion"], str):
        raise RecordError("schemaVersion", "must be a string (any value)", "schema_version")
    system = _system_blocks(record["system"]) if "system" in record else ""
    messages = _messages_list(record, prompt_only=prompt_only)
    texts: list[str] = []
    found: list[MediaRef] = []
    thoughts: list[str] = []
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
        for j, item in enumerate(content):
            block = _content_block(
                item, f"messages[{i}].content[{j}]", str(message["role"]), media, model, reasoning=reasoning
            )
            if block.media is not None:
                found.append(block.media)
            elif block.reasoning:
                thoughts.append(block.reasoning)
            else:
                parts.append(block.text)
        if not parts and message["role"] == "assistant":
            raise RecordError(
                f"messages[{i}].content",
                "an assistant turn needs a text block (its answer), not reasoning alone",
                "empty_text",
            )
        texts.append("\n".join(parts))
    if len(messages) % 2:
        if not prompt_only:
            raise RecordError(
                f"messages[{len(messages) - 1}].role", "the last message must be from the assistant", "role_order"
            )
        texts.append("")  # no answer: the teacher writes it
    _check_media_counts(found, media)
    return Example(
        prompt="\n".join(texts[:-1]),
        completion=texts[-1],
        system=system,
        media=tuple(found),
        reasoning="\n".join(thoughts),
    )


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


_RFT_ROLES = ("system", "user", "assistant")


def _rft_content(message: dict[str, Any], where: str) -> str:
    """A message's content: a string, or OpenAI's list of ``{"type": "text", "text": ...}`` parts (the Nova 2
    user guide's RFT evaluation example). Text only: "RFT on Amazon Nova 2 currently supports text-based training
    data" (nova-data-prep-rft-2)."""
    if "content" not in message:
        raise RecordError(f"{where}.content", "required key is missing", "missing_key")
    content = message["content"]
    if isinstance(content, str):
        return _text(message, "content", f"{where}.content")
    if not isinstance(content, list) or not content:
        raise RecordError(
            f"{where}.content", 'must be a string or a non-empty list of {"type": "text", "text": ...}', "wrong_type"
        )
    texts = []
    for j, part in enumerate(content):
        part_where = f"{where}.content[{j}]"
        if not isinstance(part, dict) or part.get("type") != "text":
            raise RecordError(part_where, 'must be {"type": "text", "text": ...} (RFT takes text only)', "wrong_type")
        texts.append(_text(part, "text", f"{part_where}.text"))
    return "\n".join(texts)


def reference_text(value: Any) -> str:
    """A reference answer as the text the evaluation compares answers with: a string as it is, anything else as
    compact JSON."""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _rft_chat(record: dict[str, Any]) -> Example:
    """A reinforcement fine-tuning prompt (families/rft.py): OpenAI chat-completion ``messages`` (system first if
    any, then user and assistant turns, ending with the user's: the model writes the next turn, which the grader
    receives appended to the messages, per the user guide's reward-function payload) and a ``reference_answer`` of
    any JSON type. Every other field is kept for the grader ("[Optional] You can add fields used by grader Lambda
    for grading")."""
    if "messages" not in record:
        raise RecordError("messages", "required key is missing: the prompt's messages", "missing_key")
    messages = record["messages"]
    if not isinstance(messages, list) or not messages:
        raise RecordError("messages", "must be a non-empty list of messages", "wrong_type")
    system: list[str] = []
    turns: list[str] = []
    for i, message in enumerate(messages):
        where = f"messages[{i}]"
        if not isinstance(message, dict):
            raise RecordError(where, "must be an object", "wrong_type")
        role = message.get("role")
        if role not in _RFT_ROLES:
            raise RecordError(f"{where}.role", f"{role!r}; allowed: {', '.join(_RFT_ROLES)}", "role_order")
        text = _rft_content(message, where)
        if role == "system":
            if turns:
                raise RecordError(f"{where}.role", "a system message comes before the user's", "role_order")
            system.append(text)
        else:
            turns.append(text)
    if messages[-1].get("role") != "user":
        raise RecordError(
            f"messages[{len(messages) - 1}].role",
            "the last message must be the user's (the model answers it during training)",
            "role_order",
        )
    if "reference_answer" not in record:
        raise RecordError(
            "reference_answer",
            "required key is missing: the expected output or criteria the grader scores the answer against",
            "missing_key",
        )
    reference = record["reference_answer"]
    if reference is None or reference in ("", {}, []) or (isinstance(reference, str) and not reference.strip()):
        raise RecordError("reference_answer", "must not be empty", "empty_text")
    return Example(prompt="\n".join(turns), completion=reference_text(reference), system="\n".join(system))


def check_record(record: object, data_format: DataFormat, model: BaseModel | None = None) -> Example:
    """Check one parsed JSONL record against ``data_format`` (and, in the conversation schema, the images,
    videos and reasoning content ``model`` takes: none without a model); return its Example or raise
    RecordError."""
    media = model.media if model is not None else TEXT_ONLY
    name = model.name if model is not None else "this model"
    reasoning = model.reasoning_content if model is not None else False
    if not isinstance(record, dict):
        raise RecordError("(record)", f"must be a JSON object, not {type(record).__name__}", "not_an_object")
    if data_format is DataFormat.PROMPT_COMPLETION:
        _unknown_keys(record, {"prompt", "completion"})
        return Example(prompt=_text(record, "prompt"), completion=_text(record, "completion"))
    if data_format is DataFormat.CONTINUED_PRE_TRAINING:
        _unknown_keys(record, {"input"})
        return Example(prompt="", completion=_text(record, "input"))
    if data_format is DataFormat.CONVERSATION:
        return _conversation(record, media, name, reasoning)
    if data_format is DataFormat.DISTILLATION_PROMPTS:
        # AWS's distillation validator: the conversation schema, "System is optional, and so is the assistant
        # content within messages".
        return _conversation(record, media, name, reasoning, prompt_only=True)
    if data_format is DataFormat.RFT_CHAT:
        return _rft_chat(record)
    return _claude(record)


def evaluation_example(record: object, data_format: DataFormat, model: BaseModel | None = None) -> Example:
    """A test-set record as an Example. Test sets of continued pre-training runs use prompt/completion
    records (the model continues the prompt), so that format is accepted for every family. Images and videos
    are kept: the evaluation sends them with the prompt through Converse."""
    if isinstance(record, dict) and "prompt" in record and "completion" in record:
        return check_record(record, DataFormat.PROMPT_COMPLETION)
    if data_format is DataFormat.CONTINUED_PRE_TRAINING:
        raise RecordError(
            "prompt", "test records of a continued pre-training run are prompt/completion pairs", "missing_key"
        )
    if data_format is DataFormat.DISTILLATION_PROMPTS:
        data_format = DataFormat.CONVERSATION  # a test example needs the answer it is scored against
    return check_record(record, data_format, model)


def example_from_json(value: dict[str, Any]) -> Example:
    """An Example from its ``dataclasses.asdict`` form (as the evaluation's chunk files hold it)."""
    media = tuple(MediaRef(**ref) for ref in value.get("media") or ())
    return Example(**{**value, "media": media})
