"""Helpers of the validator's tests: valid records of every format, files built from records, and a
one-call way to check them."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from customizer.families import BASE_MODELS, BaseModel, CustomizationType, DataFormat
from customizer.validation import CheckSettings, DataSource, Finding, Report, Role, validate_data

CONV = "bedrock-conversation-2024"

# One model per data format and family: the corpora below cover each.
TITAN = "amazon.titan-text-express-v1"
TITAN_LITE = "amazon.titan-text-lite-v1"
COHERE = "cohere.command-text-v14"
LLAMA_PC = "meta.llama3-1-8b-instruct-v1:0"
LLAMA_CONV = "meta.llama3-2-1b-instruct-v1:0"
NOVA = "amazon.nova-micro-v1:0"
CLAUDE = "anthropic.claude-3-haiku-20240307-v1:0"


def pair(i: int, prompt: str | None = None, completion: str | None = None) -> dict[str, Any]:
    return {"prompt": prompt or f"What is item {i}?", "completion": completion or f"Item {i} is a thing."}


def conversation(i: int, user: str | None = None, assistant: str | None = None) -> dict[str, Any]:
    return {
        "schemaVersion": CONV,
        "system": [{"text": "You answer questions."}],
        "messages": [
            {"role": "user", "content": [{"text": user or f"What is item {i}?"}]},
            {"role": "assistant", "content": [{"text": assistant or f"Item {i} is a thing."}]},
        ],
    }


def claude(i: int, user: str | None = None, assistant: str | None = None) -> dict[str, Any]:
    return {
        "system": "You answer questions.",
        "messages": [
            {"role": "user", "content": user or f"What is item {i}?"},
            {"role": "assistant", "content": assistant or f"Item {i} is a thing."},
        ],
    }


def cpt(i: int, text: str | None = None) -> dict[str, Any]:
    return {"input": text or f"Item {i} is a thing that people write about."}


def rft_prompt(i: int, user: str | None = None, reference: Any = None) -> dict[str, Any]:
    """A reinforcement fine-tuning record: OpenAI chat messages and a reference answer, plus a field for the grader."""
    return {
        "messages": [
            {"role": "system", "content": "You answer questions."},
            {"role": "user", "content": user or f"What is item {i}?"},
        ],
        "reference_answer": reference if reference is not None else f"Item {i} is a thing.",
        "task_id": f"task-{i}",
    }


RECORD: dict[DataFormat, Callable[..., dict[str, Any]]] = {
    DataFormat.PROMPT_COMPLETION: pair,
    DataFormat.CONVERSATION: conversation,
    DataFormat.CLAUDE_MESSAGES: claude,
    DataFormat.CONTINUED_PRE_TRAINING: cpt,
    DataFormat.DISTILLATION_PROMPTS: conversation,
    DataFormat.RFT_CHAT: rft_prompt,
}


def model(model_id: str) -> BaseModel:
    return next(m for m in BASE_MODELS if m.model_id == model_id)


def good_records(
    model_id: str, ctype: CustomizationType = CustomizationType.FINE_TUNING, n: int | None = None
) -> list[Any]:
    """Enough distinct valid records for ``model_id`` to pass its minimum counts."""
    m = model(model_id)
    # distillation: 100 prompts (AWS's validator); reinforcement fine-tuning: 100 records (the user guide)
    least = 100 if ctype in (CustomizationType.DISTILLATION, CustomizationType.REINFORCEMENT_FINE_TUNING) else 3
    needed = n if n is not None else max(m.records.min_training, m.records.min_combined or 0, least)
    make = RECORD[m.data_format(ctype)]
    return [make(i) for i in range(needed)]


def jsonl(records: Sequence[Any], newline: bytes = b"\n") -> bytes:
    return b"".join((r if isinstance(r, bytes) else json.dumps(r).encode()) + newline for r in records)


def chunked(data: bytes, size: int) -> Iterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


def source(role: Role, data: bytes, *, chunk: int = 64 * 1024, size: int | None = None) -> DataSource:
    name = {Role.TRAINING: "train.jsonl", Role.VALIDATION: "validation.jsonl", Role.TEST: "test.jsonl"}[role]
    return DataSource(role, name, lambda: chunked(data, chunk), location=f"/data/{name}", size=size)


def check(
    training: bytes | Sequence[Any],
    model_id: str = TITAN,
    ctype: str = "FINE_TUNING",
    *,
    validation: bytes | Sequence[Any] | None = None,
    test: bytes | Sequence[Any] | None = None,
    hyperparameters: Mapping[str, Any] | None = None,
    chunk: int = 64 * 1024,
    prices: Mapping[str, Any] | None = None,
) -> Report:
    sources = []
    for role, data in ((Role.TRAINING, training), (Role.VALIDATION, validation), (Role.TEST, test)):
        if data is not None:
            sources.append(source(role, data if isinstance(data, bytes) else jsonl(data), chunk=chunk))
    settings = CheckSettings(model_id, ctype, hyperparameters or {}, prices=prices)
    return validate_data(settings, sources)


def findings(report: Report, kind: str, *, warnings: bool = False) -> list[Finding]:
    found = (report.warnings if warnings else report.errors).kept.get(kind, [])
    return list(found)


def only(report: Report, kind: str, *, warnings: bool = False) -> Finding:
    found = findings(report, kind, warnings=warnings)
    assert len(found) == 1, (kind, report.summary(), found)
    return found[0]


def error_kinds(report: Report) -> dict[str, int]:
    return dict(report.errors.counts)
