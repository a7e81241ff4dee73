"""The command line's parser (orjson) and Lambda's (the standard library) give the same verdict and the same
message on every line: a property over JSON values with escaped surrogates, extreme numbers and corrupted
bytes, and the cases the two libraries disagree on by themselves."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from customizer.validation import reader, validator
from tests.unit.validation.corpus import check, pair

# Any code point, lone surrogates included: json.dumps escapes them (\ud800), as a file written by a careless
# tool would hold them.
ANY_TEXT = st.text(st.characters(min_codepoint=0, max_codepoint=0x10FFFF), max_size=12)
NUMBERS = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(["1e400", "-1e400", "1e308", "2.5e-400", "18446744073709551616", "-0", "0.0"]),
)
SCALARS = st.one_of(st.none(), st.booleans(), ANY_TEXT, NUMBERS)
VALUES = st.recursive(
    SCALARS,
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(ANY_TEXT, children, max_size=4)),
    max_leaves=12,
)


def _dump(value: Any) -> bytes:
    """A JSON line of ``value``; numbers given as text are written as they are (1e400 stays 1e400)."""
    if isinstance(value, str) and value and value.lstrip("-")[:1].isdigit() and _is_number_text(value):
        return value.encode()
    return json.dumps(value, ensure_ascii=True).encode()


def _is_number_text(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _verdict(loads: Any, line: bytes) -> bool:
    try:
        loads(line)
    except (ValueError, RecursionError):
        return False
    return True


@settings(max_examples=400, deadline=None)
@given(VALUES, st.booleans())
def test_both_parsers_give_one_verdict_on_json_values(value: Any, raw_number: bool) -> None:
    line = _dump(value) if raw_number else json.dumps(value, ensure_ascii=True).encode()
    assert _verdict(orjson.loads, line) == _verdict(reader.stdlib_loads, line), line


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=24), st.binary(max_size=24))
def test_both_parsers_give_one_verdict_on_corrupted_lines(head: bytes, tail: bytes) -> None:
    line = b'{"prompt": "' + head + b'", "completion": "a' + tail + b'"}'
    assert _verdict(orjson.loads, line) == _verdict(reader.stdlib_loads, line), line


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (b'{"prompt": "\\ud800", "completion": "a"}', "a lone surrogate escape (\\ud800) in a string"),
        (b'{"prompt": "q", "\\udc00": "a"}', "a lone surrogate escape (\\udc00) in a string"),
        (b'{"prompt": "q", "completion": "a", "n": 1e400}', "the number 1e400 is out of range (infinite as a double)"),
    ],
)
def test_what_the_libraries_disagree_on_is_refused_by_both_with_one_message(
    line: bytes, message: str, json_backend: str
) -> None:
    # The cases orjson refuses and the standard library would take: refused by both, explained alike
    with pytest.raises(ValueError):
        orjson.loads(line)
    with pytest.raises(ValueError):
        reader.stdlib_loads(line)
    report = check([pair(0), line, pair(1)])
    (error,) = report.errors.first(5)
    assert (error.kind, error.line) == ("invalid_json", 2)
    assert error.message.startswith(f"not valid JSON: {message}"), error.message
    assert validator._json_problem(line)[1] == error.message


def test_a_valid_surrogate_pair_and_escaped_backslashes_are_text() -> None:
    assert reader.stdlib_loads(b'"\\ud83d\\ude00"') == "\U0001f600"
    assert reader.stdlib_loads(b'"\\\\ud800"') == "\\ud800"  # a backslash, then letters: no escape
