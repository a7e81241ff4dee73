"""Properties: corrupting a valid file at any line (truncation, bad bytes, a missing key, a wrong type, or
arbitrary bytes) never crashes the validator, and the problem is reported at that line."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from unittest import mock

from hypothesis import given, settings
from hypothesis import strategies as st

from customizer.families import DataFormat
from customizer.validation import reader
from tests.unit.validation.corpus import (
    CLAUDE,
    LLAMA_CONV,
    NOVA,
    TITAN,
    check,
    claude,
    conversation,
    cpt,
    model,
    pair,
)

# (model, customization type, record maker, required key, where a wrong type is reported)
FORMATS: dict[str, tuple[str, str, Callable[..., dict[str, Any]], list[str]]] = {
    "prompt-completion": (TITAN, "FINE_TUNING", pair, ["prompt", "completion"]),
    "input": (TITAN, "CONTINUED_PRE_TRAINING", cpt, ["input"]),
    "conversation": (NOVA, "FINE_TUNING", conversation, ["messages"]),
    "conversation-llama": (LLAMA_CONV, "FINE_TUNING", conversation, ["messages"]),
    "claude": (CLAUDE, "FINE_TUNING", claude, ["messages"]),
}
# Bytes that never occur in UTF-8.
NEVER_UTF8 = [b"\xc0", b"\xc1", *(bytes([b]) for b in range(0xF5, 0x100))]
TEXT = st.text(st.characters(blacklist_categories=["Cs"]), min_size=1, max_size=40).filter(lambda t: t.strip() != "")


def _records(fmt: str, count: int, text: str) -> list[Any]:
    model_id, ctype, make, _ = FORMATS[fmt]
    m = model(model_id)
    needed = max(m.records.min_training, m.records.min_combined or 0, count)
    records = [make(i) for i in range(needed)]
    if m.data_format(ctype) is DataFormat.CONTINUED_PRE_TRAINING:
        records[0] = make(0, text)
    elif not m.reserved_strings:  # a random text may hold one of Nova's reserved strings
        records[0] = make(0, text, text + "!")
    return records


def _lines(records: list[Any], ascii_only: bool) -> list[bytes]:
    return [json.dumps(r, ensure_ascii=ascii_only).encode() for r in records]


def _run(fmt: str, lines: list[bytes], backend: str, chunk: int) -> Any:
    model_id, ctype, _, _ = FORMATS[fmt]
    loads = reader.stdlib_loads if backend == "stdlib" else reader.loads
    with mock.patch.object(reader, "loads", loads):
        return check(b"\n".join(lines) + b"\n", model_id, ctype, chunk=chunk)


def _errors_at(report: Any) -> set[int | None]:
    return {f.line for f in report.errors}


common = dict(
    fmt=st.sampled_from(list(FORMATS)),
    count=st.integers(min_value=1, max_value=12),
    text=TEXT,
    backend=st.sampled_from(["fast", "stdlib"]),
    chunk=st.sampled_from([3, 17, 4096, 1 << 16]),
    data=st.data(),
)


@settings(max_examples=60, deadline=None)
@given(**common)
def test_a_truncated_line_is_reported_at_its_number(fmt, count, text, backend, chunk, data):
    lines = _lines(_records(fmt, count, text), ascii_only=False)
    index = data.draw(st.integers(0, len(lines) - 1))
    cut = data.draw(st.integers(1, len(lines[index]) - 1))
    lines[index] = lines[index][:cut]
    report = _run(fmt, lines, backend, chunk)
    assert _errors_at(report) == {index + 1}
    assert set(report.errors.counts) <= {"invalid_json", "pretty_printed", "invalid_utf8"}


@settings(max_examples=60, deadline=None)
@given(**common)
def test_bad_bytes_are_reported_at_their_line(fmt, count, text, backend, chunk, data):
    lines = _lines(_records(fmt, count, text), ascii_only=data.draw(st.booleans()))
    index = data.draw(st.integers(0, len(lines) - 1))
    at = data.draw(st.integers(0, len(lines[index])))
    bad = data.draw(st.sampled_from(NEVER_UTF8))
    lines[index] = lines[index][:at] + bad + lines[index][at:]
    report = _run(fmt, lines, backend, chunk)
    assert report.errors.counts == {"invalid_utf8": 1}
    assert _errors_at(report) == {index + 1}


@settings(max_examples=60, deadline=None)
@given(**common)
def test_a_missing_key_is_reported_at_its_line_with_its_field(fmt, count, text, backend, chunk, data):
    records = _records(fmt, count, text)
    index = data.draw(st.integers(0, len(records) - 1))
    key = data.draw(st.sampled_from(FORMATS[fmt][3]))
    del records[index][key]
    report = _run(fmt, _lines(records, ascii_only=True), backend, chunk)
    [finding] = list(report.errors)
    assert (finding.kind, finding.line, finding.field) == ("missing_key", index + 1, key)


@settings(max_examples=60, deadline=None)
@given(
    **common,
    value=st.one_of(
        st.integers(),
        st.floats(allow_nan=False, allow_infinity=False),
        st.none(),
        st.booleans(),
        st.lists(st.integers(), max_size=2),
    ),
)
def test_a_wrong_type_is_reported_at_its_line_with_its_field(fmt, count, text, backend, chunk, data, value):
    records = _records(fmt, count, text)
    index = data.draw(st.integers(0, len(records) - 1))
    key = data.draw(st.sampled_from(FORMATS[fmt][3]))
    records[index][key] = value
    report = _run(fmt, _lines(records, ascii_only=True), backend, chunk)
    [finding] = list(report.errors)
    assert finding.line == index + 1
    # A list of messages that are not objects is reported at the first one (messages[0]).
    assert finding.field == key or (finding.field or "").startswith(f"{key}[")
    assert finding.kind in {"wrong_type", "role_order"}  # a list of fewer than two messages is a role problem


@settings(max_examples=80, deadline=None)
@given(**common, garbage=st.binary(max_size=200).map(lambda b: b.replace(b"\n", b"")))
def test_arbitrary_bytes_in_place_of_a_line_never_crash_the_validator(fmt, count, text, backend, chunk, data, garbage):
    lines = _lines(_records(fmt, count, text), ascii_only=False)
    index = data.draw(st.integers(0, len(lines) - 1))
    lines[index] = garbage
    report = _run(fmt, lines, backend, chunk)
    # Whatever the bytes are, nothing is reported anywhere else; a blank line is a warning, not an error.
    assert _errors_at(report) <= {index + 1, None}
    assert report.file("training").lines == len(lines)
