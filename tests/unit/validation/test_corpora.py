"""A good and a bad corpus for every family: good ones pass clean; in bad ones every rule is reported at
its line, with its field."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from customizer.families import BASE_MODELS, CustomizationType
from customizer.validation import report as report_module
from tests.unit.validation.corpus import (
    CLAUDE,
    COHERE,
    CONV,
    LLAMA_CONV,
    LLAMA_PC,
    NOVA,
    TITAN,
    check,
    claude,
    conversation,
    cpt,
    good_records,
    jsonl,
    pair,
)

ALL_MODELS = [(m.model_id, t) for m in BASE_MODELS for t in m.customization_types]


@pytest.mark.parametrize(("model_id", "ctype"), ALL_MODELS, ids=[f"{m}-{t.value}" for m, t in ALL_MODELS])
def test_a_good_corpus_of_every_model_passes_clean(model_id, ctype, json_backend):
    records = good_records(model_id, ctype)
    report = check(records, model_id, ctype.value, test=[pair(i) for i in range(1000, 1003)])
    assert report.valid, report.summary()
    assert report.verdict == "valid"
    assert not report.warnings.counts, list(report.warnings)
    training = report.file("training")
    assert training is not None and training.records == len(records) and training.checked
    assert training.tokens is not None and training.tokens["records"] == len(records)
    assert report.cost is not None
    if ctype is CustomizationType.REINFORCEMENT_FINE_TUNING:  # sampled answers counted too (families/rft.py)
        assert report.cost.training_tokens > training.tokens["total"]
    else:
        assert report.cost.training_tokens == training.tokens["total"]


def _nested(record: dict[str, Any], path: list[Any], value: Any) -> dict[str, Any]:
    copy: dict[str, Any] = json.loads(json.dumps(record))
    target = copy
    for step in path[:-1]:
        target = target[step]
    if value is _DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return copy


_DELETE = object()

# (bad line, error kind, field) per family. Each bad line sits between good ones; the test computes its
# line number. Lines are raw bytes where the file itself is the problem.
COMMON: list[tuple[bytes | dict[str, Any] | list[Any], str, str | None]] = [
    (b'{"prompt": "q", "completion": ', "invalid_json", None),
    (b'{"prompt": "caf\xe9", "completion": "a"}', "invalid_utf8", None),
    (["a", "list"], "not_an_object", "(record)"),
    (b"{", "pretty_printed", None),
    (b'{"prompt": "q", "completion": "a"},', "invalid_json", None),
]
PROMPT_COMPLETION: list[tuple[bytes | dict[str, Any] | list[Any], str, str | None]] = [
    ({"prompt": "q"}, "missing_key", "completion"),
    ({"completion": "a"}, "missing_key", "prompt"),
    ({"prompt": "q", "completion": "a", "id": 7}, "unknown_key", "id"),
    ({"prompt": 12, "completion": "a"}, "wrong_type", "prompt"),
    ({"prompt": "q", "completion": ["a"]}, "wrong_type", "completion"),
    ({"prompt": "q", "completion": "  \n "}, "empty_text", "completion"),
    ({"prompt": "", "completion": "a"}, "empty_text", "prompt"),
]
CONVERSATION: list[tuple[bytes | dict[str, Any] | list[Any], str, str | None]] = [
    (_nested(conversation(1), ["schemaVersion"], 2023), "schema_version", "schemaVersion"),
    (_nested(conversation(1), ["messages"], _DELETE), "missing_key", "messages"),
    (_nested(conversation(1), ["messages"], "hello"), "wrong_type", "messages"),
    (_nested(conversation(1), ["extra"], 1), "unknown_key", "extra"),
    (_nested(conversation(1), ["system"], "be brief"), "wrong_type", "system"),
    (_nested(conversation(1), ["system", 0], "be brief"), "wrong_type", "system[0]"),
    (_nested(conversation(1), ["system", 0, "text"], ""), "empty_text", "system[0].text"),
    (_nested(conversation(1), ["messages", 0, "role"], "assistant"), "role_order", "messages[0].role"),
    (_nested(conversation(1), ["messages", 1, "role"], "user"), "role_order", "messages[1].role"),
    (_nested(conversation(1), ["messages", 1], _DELETE), "role_order", "messages"),
    (_nested(conversation(1), ["messages", 1, "content"], "a"), "wrong_type", "messages[1].content"),
    (_nested(conversation(1), ["messages", 1, "content"], []), "wrong_type", "messages[1].content"),
    (_nested(conversation(1), ["messages", 1, "content", 0, "text"], " "), "empty_text", "messages[1].content[0].text"),
    (_nested(conversation(1), ["messages", 1, "content", 0, "text"], 5), "wrong_type", "messages[1].content[0].text"),
    (_nested(conversation(1), ["messages", 0, "name"], "bob"), "unknown_key", "messages[0].name"),
    (
        {
            "schemaVersion": CONV,
            "messages": [*conversation(1)["messages"], {"role": "user", "content": [{"text": "more?"}]}],
        },
        "role_order",
        "messages[2].role",
    ),
]
CLAUDE_MESSAGES: list[tuple[bytes | dict[str, Any] | list[Any], str, str | None]] = [
    (_nested(claude(1), ["system"], 3), "wrong_type", "system"),
    (_nested(claude(1), ["messages"], _DELETE), "missing_key", "messages"),
    (_nested(claude(1), ["messages", 0, "content"], [{"text": "q"}]), "wrong_type", "messages[0].content"),
    (_nested(claude(1), ["messages", 1, "content"], ""), "empty_text", "messages[1].content"),
    (_nested(claude(1), ["messages", 0, "role"], "system"), "role_order", "messages[0].role"),
    (_nested(claude(1), ["schemaVersion"], CONV), "unknown_key", "schemaVersion"),
    (_nested(claude(1), ["messages", 1, "content"], "x" * 100_000), "too_many_tokens", "(record)"),
]
CPT: list[tuple[bytes | dict[str, Any] | list[Any], str, str | None]] = [
    ({"text": "x"}, "unknown_key", "text"),
    ({}, "missing_key", "input"),
    ({"input": 3}, "wrong_type", "input"),
    ({"input": ""}, "empty_text", "input"),
    # The classic late failure: 4,919 tokens against Titan's 4,096 (here about 4,927 estimated).
    ({"input": "word " * 2_952}, "too_many_tokens", "input"),
]
RESERVED = [
    (
        _nested(conversation(1), ["messages", 0, "content", 0, "text"], "User: hi"),
        "reserved_string",
        "messages[0].content[0].text",
    ),
    (
        _nested(conversation(1), ["messages", 1, "content", 0, "text"], "ok [EOS]"),
        "reserved_string",
        "messages[1].content[0].text",
    ),
    (_nested(conversation(1), ["system", 0, "text"], "ASSISTANT: be nice"), "reserved_string", "system[0].text"),
    (
        _nested(conversation(1), ["messages", 0, "content", 0, "text"], "see <image>"),
        "reserved_string",
        "messages[0].content[0].text",
    ),
]

BAD_CORPORA: dict[str, tuple[str, str, Callable[..., dict[str, Any]], list[Any]]] = {
    "titan-ft": (
        TITAN,
        "FINE_TUNING",
        pair,
        [*COMMON, *PROMPT_COMPLETION, ({"prompt": "q " * 7000, "completion": "a"}, "too_many_tokens", "(record)")],
    ),
    "titan-cpt": (TITAN, "CONTINUED_PRE_TRAINING", cpt, [*COMMON, *CPT]),
    "cohere": (
        COHERE,
        "FINE_TUNING",
        pair,
        [
            *COMMON,
            *PROMPT_COMPLETION,
            # Cohere's own limits: input 4,096 and output 2,048 tokens.
            ({"prompt": "q " * 6_300, "completion": "a"}, "too_many_tokens", "prompt"),
            ({"prompt": "q", "completion": "a " * 3_200}, "too_many_tokens", "completion"),
        ],
    ),
    "llama-pc": (LLAMA_PC, "FINE_TUNING", pair, [*COMMON, *PROMPT_COMPLETION]),
    "llama-conversation": (LLAMA_CONV, "FINE_TUNING", conversation, [*COMMON, *CONVERSATION]),
    "nova": (NOVA, "FINE_TUNING", conversation, [*COMMON, *CONVERSATION, *RESERVED]),
    "claude": (CLAUDE, "FINE_TUNING", claude, [*COMMON, *CLAUDE_MESSAGES]),
}


@pytest.mark.parametrize("corpus", list(BAD_CORPORA))
def test_a_bad_corpus_reports_every_rule_at_its_line_and_field(corpus, json_backend, monkeypatch):
    monkeypatch.setattr(report_module, "EXAMPLES_PER_KIND", 100)  # keep every finding, to compare them all
    model_id, ctype, make, cases = BAD_CORPORA[corpus]
    lines: list[Any] = [make(0)]
    expected: list[tuple[str, int, str | None]] = []
    for i, (bad, kind, field) in enumerate(cases, start=1):
        lines.append(bad)
        expected.append((kind, len(lines), field))
        lines.append(make(i))
    # enough good records on top for the family's minimum count
    lines += [make(i) for i in range(1000, 1000 + max(0, 100 - len(lines)))]
    report = check(jsonl(lines), model_id, ctype)

    found = sorted(((f.kind, f.line, f.field) for f in report.errors), key=lambda f: f[1] or 0)
    assert found == expected
    assert report.errors.total == len(cases)
    assert not report.valid and report.verdict == "invalid"
    assert report.file("training").records == len(lines)  # type: ignore[union-attr]


def test_reserved_strings_are_only_refused_where_the_family_reserves_them():
    text = "User: where is my order? Assistant: on its way [EOS]"
    llama = check([conversation(i, user=f"{text} {i}") for i in range(100)], LLAMA_CONV)
    assert llama.valid, llama.summary()
    nova = check([conversation(i, user=f"{text} {i}") for i in range(8)], NOVA)
    assert nova.errors.counts == {"reserved_string": 8}


def test_a_conversation_model_given_prompt_completion_records_names_the_keys():
    report = check([pair(i) for i in range(100)], LLAMA_CONV)
    first = report.errors.first(1)[0]
    assert (first.kind, first.line, first.field) == ("unknown_key", 1, "completion")
    assert "allowed keys: messages, schemaVersion, system" in first.message
