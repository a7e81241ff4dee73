"""Checks of one parsed record: its format (``customizer.families.formats``), the strings its family
reserves, and its estimated length against the family's token limits."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from customizer.families import BaseModel, DataFormat
from customizer.families.formats import Example, RecordError, check_record, evaluation_example
from customizer.validation.tokens import CHARS_PER_TOKEN, RECORD_OVERHEAD, estimate_tokens

_ROUND_UP = CHARS_PER_TOKEN - 1

INPUT_FIELD = {DataFormat.PROMPT_COMPLETION: "prompt"}
OUTPUT_FIELD = {DataFormat.PROMPT_COMPLETION: "completion", DataFormat.CONTINUED_PRE_TRAINING: "input"}


def _texts(value: Any, path: str) -> Iterator[tuple[str, str]]:
    """Every string inside a parsed record, with its field path (``messages[1].content[0].text``)."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from _texts(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _texts(item, f"{path}[{i}]")


class RecordChecker:
    """Checks records of one file. ``test_set``: records of the held-out test set, read as evaluation reads
    them (prompt/completion accepted for every family) and not subject to training limits."""

    def __init__(
        self, model: BaseModel, data_format: DataFormat, hyperparameters: Mapping[str, str], *, test_set: bool
    ) -> None:
        self.model = model
        self.data_format = data_format
        self.test_set = test_set
        self.limit = model.token_limit(hyperparameters)
        batch = hyperparameters.get("batchSize")
        self._limit_note = f" at batchSize {batch}" if model.tokens.by_batch_size and batch else ""
        self._reserved = (
            re.compile("|".join(re.escape(s) for s in model.reserved_strings))
            if model.reserved_strings and not test_set
            else None
        )

    def check(self, record: Any) -> tuple[Example, int]:
        """The record's Example and estimated tokens; RecordError (with its kind) when it does not fit."""
        if self.test_set:
            return evaluation_example(record, self.data_format, self.model), 0
        example = check_record(record, self.data_format, self.model)
        if self._reserved is not None:
            self._check_reserved(record, example)
        prompt, completion, system = example.prompt, example.completion, example.system
        if example.reasoning:  # trained on: the loss counts reasoning tokens too (Nova 2.0 SFT user guide)
            completion = f"{example.reasoning}\n{completion}"
        if prompt.isascii() and completion.isascii() and system.isascii():  # the common case, inlined
            prompt_tokens = (len(prompt) + _ROUND_UP) // CHARS_PER_TOKEN + (len(system) + _ROUND_UP) // CHARS_PER_TOKEN
            completion_tokens = (len(completion) + _ROUND_UP) // CHARS_PER_TOKEN
        else:
            prompt_tokens = estimate_tokens(prompt) + estimate_tokens(system)
            completion_tokens = estimate_tokens(completion)
        total = prompt_tokens + completion_tokens + RECORD_OVERHEAD
        if total > self.limit:
            raise RecordError(
                "input" if self.data_format is DataFormat.CONTINUED_PRE_TRAINING else "(record)",
                f"about {total:,} tokens (estimated), over the limit of {self.limit:,} for "
                f"{self.model.model_id}{self._limit_note}",
                "too_many_tokens",
            )
        tokens = self.model.tokens
        if tokens.max_input and prompt_tokens > tokens.max_input:
            raise RecordError(
                INPUT_FIELD.get(self.data_format, "(record)"),
                f"about {prompt_tokens:,} input tokens (estimated), over the limit of {tokens.max_input:,} for "
                f"{self.model.model_id}",
                "too_many_tokens",
            )
        if tokens.max_output and completion_tokens > tokens.max_output:
            raise RecordError(
                OUTPUT_FIELD.get(self.data_format, "(record)"),
                f"about {completion_tokens:,} output tokens (estimated), over the limit of {tokens.max_output:,} "
                f"for {self.model.model_id}",
                "too_many_tokens",
            )
        return example, total

    def _check_reserved(self, record: Any, example: Example) -> None:
        assert self._reserved is not None
        search = self._reserved.search
        if not (
            search(example.prompt) or search(example.completion) or search(example.system) or search(example.reasoning)
        ):
            return
        # Rare: walk the record to name the field that holds it.
        for path, text in _texts(record, ""):
            found = search(text)
            if found:
                raise RecordError(
                    path,
                    f"contains {found.group()!r}, a string {self.model.name} reserves; reword or remove it",
                    "reserved_string",
                )
