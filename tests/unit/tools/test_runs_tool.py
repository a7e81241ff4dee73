"""``make runs OFFLINE=1`` when the demo that wrote ``.offline/endpoints.json`` has stopped: one line, no traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from offline.runtime import free_port
from tools import runs


def test_a_stale_endpoints_file_is_one_clear_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    stale = tmp_path / "endpoints.json"
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there any more
    stale.write_text(json.dumps({"environment": {"AWS_ENDPOINT_URL": url}, "outputs": {"RunsTableName": "t"}}))
    monkeypatch.setattr(runs, "ENDPOINTS", stale)
    with pytest.raises(SystemExit) as stopped:
        runs.main(["--offline"])
    assert str(stopped.value) == (
        f"the offline stack is not running (nothing answers at {url}, as {stale} says): "
        "start it with `python -m offline demo --keep-running`"
    )
