"""The run browser's pages from records (no stack, no browser): every value escaped, the list of 1,000 runs
whole, a run's page and a comparison from the records' own shapes."""

from __future__ import annotations

import re

from bench.ui import made_up_runs
from cli.ui import pages


def test_the_list_of_1000_runs_has_a_row_and_a_link_for_each() -> None:
    records = made_up_runs(1000)
    page = pages.runs_page(records, where="made-up runs")
    assert page.count("<tr><td><input type=checkbox") == 1000
    assert len(set(re.findall(r'href="/run/([^"]+)"', page))) == 1000
    assert "Runs <span class=muted>(1,000, made-up runs)</span>" in page


def test_every_value_from_a_record_is_escaped() -> None:
    hostile = {
        **made_up_runs(1)[0],
        "execution": 'x"><script>alert(1)</script>',
        "run_id": "<img src=x onerror=alert(1)>",
        "data": {"training": {"uri": "s3://b/<u>", "sha256": "<i>", "records": 1, "size": 2}},
        "steps": [{"state": "<script>", "entered": "2026-12-01T00:00:00+00:00"}],
        "notification": {"reason": "</pre><script>"},
    }
    for page in (
        pages.runs_page([hostile], where="<here>"),
        pages.run_page(hostile, curves={"training": [(1.0, 2.0), (2.0, 1.0)]}, report_url=None),
        pages.compare_page(hostile, hostile),
    ):
        assert "<script>" not in page and "<img" not in page and "<u>" not in page
    assert "&lt;script&gt;" in pages.run_page(hostile, curves={}, report_url=None)


def test_the_curves_are_drawn_from_their_points_and_say_so_when_there_are_none() -> None:
    svg = pages.curve_svg({"training": [(1, 3.0), (2, 2.0), (3, 1.0)], "validation": [(3, 1.5)]})
    (points,) = re.findall(r'class="curve training"[^>]*points="([^"]+)"', svg)
    xs = [float(p.split(",")[0]) for p in points.split()]
    assert len(xs) == 3 and xs == sorted(xs)
    assert "validation loss (1 points)" in svg
    assert "no training metrics" in pages.curve_svg({"training": [], "validation": []})
