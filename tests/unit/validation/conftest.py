"""Fixtures of the validator's tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from customizer.validation import reader


@pytest.fixture(params=["fast", "stdlib"])
def json_backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Each test that asks for it runs with the command line's parser (orjson) and with Lambda's (the
    standard library): both must find the same problems."""
    if request.param == "stdlib":
        monkeypatch.setattr(reader, "loads", reader.stdlib_loads)
    yield request.param
