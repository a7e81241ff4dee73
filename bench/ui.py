"""The run browser's list of 1,000 runs: how long the page takes to make and to show in Debian's chromium.

The runs are made up (``made_up_runs``: records shaped as the pipeline writes them, every status, four base
models, evaluations with five metrics), served by the run browser's own server (``cli.ui.server``) from a source
that holds them in memory, so the figures are the page's, not the runs table's (DynamoDB's query of 1,000
records is a separate cost: 4 pages of 1 MB at most). Each load is in a fresh tab of one browser; the figures
are the median of ``LOADS`` loads, from the browser's Navigation Timing:

- ``ui_list_1000_make_s``: the server making the page (Python, ``pages.runs_page``), median of ``LOADS``;
- ``ui_list_1000_response_s``: request sent to the last byte received (the making included);
- ``ui_list_1000_shown_s``: navigation start to the load event (parsed, laid out, drawn): the target, under 1 s;
- ``ui_list_1000_rows``: the table rows the browser shows (1,000), ``ui_list_1000_kb``: the page's size;
- ``ui_one_line_page_shown_s``: the same for the server's one-line "not found" page: what the machine (and its
  load at the time) costs any page, for reading the figure above."""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.chromium import chromium
from cli.stack import CliError
from cli.ui import pages
from cli.ui.server import serve_in_background

RUNS = 1000
LOADS = 5
MODELS = (
    "amazon.nova-micro-v1:0",
    "amazon.titan-text-express-v1",
    "meta.llama3-1-8b-instruct-v1:0",
    "cohere.command-light-text-v14",
)
STATUSES = ("SUCCEEDED", "SUCCEEDED", "SUCCEEDED", "FAILED", "ABORTED", "RUNNING")
METRICS = ("contains_match", "exact_match", "token_f1", "rouge_l", "output_words")


def made_up_runs(count: int = RUNS) -> list[dict[str, Any]]:
    start = datetime(2026, 12, 1, tzinfo=UTC)
    records = []
    for i in range(count):
        status = STATUSES[i % len(STATUSES)]
        custom, base = 0.5 + (i % 47) / 100, 0.3 + (i % 31) / 100
        evaluated = status == "SUCCEEDED"
        records.append(
            {
                "execution": f"run-{i:04d}-{i * 7919 % 10**16:016x}",
                "run_id": f"run-{i:04d}-{i * 104729 % 10**12:012x}",
                "run_name": f"run-{i:04d}",
                "status": status,
                "started_at": (start - timedelta(minutes=37 * i)).isoformat(),
                "settings": {
                    "base_model_id": MODELS[i % len(MODELS)],
                    "customization_type": "CONTINUED_PRE_TRAINING" if i % 5 == 4 else "FINE_TUNING",
                    "evaluation": {"metric": "contains_match"},
                },
                "evaluation": {
                    "custom_beats_base": custom > base,
                    "decision": {"promote": custom > base + 0.05, "metric": "contains_match"},
                    "comparison": [
                        {
                            "metric": m,
                            "custom": custom,
                            "base": base,
                            "difference": custom - base,
                            "ci_low": custom - base - 0.05,
                            "ci_high": custom - base + 0.05,
                        }
                        for m in METRICS
                    ],
                }
                if evaluated
                else None,
                "throughput_policy": ("kept", "deleted")[i % 2] if evaluated else None,
                "throughput_hours_estimated": 0.5 + (i % 9) / 10,
                "throughput_hours_incurred": None if i % 2 == 0 else 0.4 + (i % 7) / 10,
                "throughput_estimate": {"usd_until_decision": 10.5 + i % 13, "usd_if_kept": 512.5},
            }
        )
    return records


class MadeUpRuns:
    where = "made-up runs"

    def __init__(self, records: list[dict[str, Any]]) -> None:
        self.records = records
        self.make_seconds: list[float] = []

    def runs(self, limit: int, filters: Mapping[str, str]) -> list[dict[str, Any]]:
        return self.records[:limit]

    def run(self, identifier: str) -> dict[str, Any]:
        found = next((r for r in self.records if r["execution"] == identifier), None)
        if found is None:
            raise CliError(f"no run {identifier!r}")
        return found

    def curves(self, record: Mapping[str, Any]) -> dict[str, list[tuple[float, float]]]:
        return {}

    def report(self, record: Mapping[str, Any]) -> bytes | None:
        return None


def run() -> dict[str, float | int]:
    records = made_up_runs()
    made = []
    for _ in range(LOADS):
        started = time.perf_counter()
        page = pages.runs_page(records, where="made-up runs")
        made.append(time.perf_counter() - started)
    server, url = serve_in_background(MadeUpRuns(records))
    responses, shown, blank, rows = [], [], [], 0
    try:
        with chromium(1400, 1000) as driver:
            driver.get("about:blank")
            for _ in range(LOADS):  # the reference: a page of one line, as the machine shows it now
                driver.switch_to.new_window("tab")
                driver.get(url + "/run/none")
                blank.append(
                    driver.execute_script(
                        "const n = performance.getEntriesByType('navigation')[0]; return n.loadEventEnd - n.startTime;"
                    )
                    / 1000
                )
                driver.close()
                driver.switch_to.window(driver.window_handles[0])
            for _ in range(LOADS):
                driver.switch_to.new_window("tab")
                driver.get(url + "/")
                timing = driver.execute_script(
                    "const n = performance.getEntriesByType('navigation')[0];"
                    "return [n.responseEnd - n.requestStart, n.loadEventEnd - n.startTime,"
                    " document.querySelectorAll('#runs tbody tr').length];"
                )
                responses.append(timing[0] / 1000)
                shown.append(timing[1] / 1000)
                rows = int(timing[2])
                driver.close()
                driver.switch_to.window(driver.window_handles[0])
    finally:
        server.shutdown()
        server.server_close()
    return {
        "ui_list_1000_make_s": statistics.median(made),
        "ui_list_1000_response_s": statistics.median(responses),
        "ui_list_1000_shown_s": statistics.median(shown),
        "ui_list_1000_rows": rows,
        "ui_one_line_page_shown_s": statistics.median(blank),
        "ui_load_average_1m": round(os.getloadavg()[0], 2),  # the machine's load as the figures were taken
        "ui_list_1000_kb": round(len(page.encode()) / 1024),
    }
