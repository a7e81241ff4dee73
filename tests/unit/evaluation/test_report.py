"""The report's pages: what they say, escaping, and the SVG charts."""

from __future__ import annotations

import json
import re

import pytest

from customizer.evaluation.metrics import LabelScore
from customizer.evaluation.report import (
    ReportData,
    _nice_ticks,
    differing,
    interval_chart,
    line_chart,
    to_html,
    to_json,
    to_markdown,
)
from customizer.evaluation.training_health import Curves
from customizer.models import Decision, Evaluation, MetricComparison, ModelScore, TrainingHealth
from customizer.settings import EvaluationSettings

SCORES = ("contains_match", "exact_match", "token_f1", "rouge_l", "output_words")


def row(index: int, custom: float, base: float, prompt: str = "q", custom_text: str = "a") -> dict[str, object]:
    def side(value: float, text: str | None) -> dict[str, object]:
        return {"text": text, "error": None, "attempts": 1, "latency_ms": 5.0, "scores": dict.fromkeys(SCORES, value)}

    return {
        "index": index,
        "prompt": prompt,
        "system": "",
        "expected": "e",
        "custom": side(custom, custom_text),
        "base": side(base, "b"),
    }


def data(rows: list[dict[str, object]], **extra: object) -> ReportData:
    score = ModelScore(
        model_id="m", examples=len(rows), correct=1, errors=0, accuracy=0.5, latency_p50_ms=12.0, latency_p95_ms=30.0
    )
    comparison = [
        MetricComparison(metric=m, custom=0.6, base=0.4, difference=0.2, ci_low=0.05, ci_high=0.35) for m in SCORES
    ]
    evaluation = Evaluation(
        custom=score,
        base=score.model_copy(update={"model_id": "base | model"}),
        custom_beats_base=True,
        margin=0.0,
        report_uri="s3://a/r.json",
        report_markdown_uri="s3://a/r.md",
        report_html_uri="s3://a/r.html",
        decision=Decision(promote=True, metric="contains_match", reason="promote: <because>"),
        comparison=comparison,
        training=TrainingHealth(training_steps=12, warnings=["overfitting: <watch>"]),
    )
    defaults: dict[str, object] = {
        "run_id": "run-1",
        "base_model_id": "amazon.titan-text-express-v1",
        "custom_model_id": "arn:aws:bedrock:us-east-1:1:provisioned-model/x",
        "evaluation": evaluation,
        "settings": EvaluationSettings(),
        "rows": rows,
        "curves": Curves([(1.0, 2.0), (2.0, 1.5)], [(2.0, 1.7)]),
    }
    return ReportData(**{**defaults, **extra})  # type: ignore[arg-type]


def test_the_examples_that_differ_most_come_first_and_ties_are_left_out():
    rows = [row(0, 1.0, 1.0), row(1, 1.0, 0.0), row(2, 0.5, 0.0), row(3, 0.0, 1.0)]
    assert [r["index"] for r in differing(rows, "token_f1")] == [1, 3, 2]
    assert [r["index"] for r in differing(rows, "token_f1", limit=1)] == [1]


def test_the_html_page_escapes_every_text_from_the_data():
    page = to_html(data([row(0, 1.0, 0.0, prompt="<script>alert(1)</script>", custom_text="<b>bold</b>")]))
    assert "<script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;b&gt;bold&lt;/b&gt;" in page
    assert "promote: &lt;because&gt;" in page
    assert "warning: overfitting: &lt;watch&gt;" in page


def test_the_html_page_has_the_summary_the_decision_and_three_charts():
    page = to_html(data([row(0, 1.0, 0.0)], labels=[LabelScore("positive", 3, 1.0, 0.5)]))
    assert page.startswith("<!doctype html>")
    assert '<div class="decision promote"><strong>Promote the custom model.</strong>' in page
    assert page.count("<svg") == 3
    assert "<h2>Per-label accuracy (exact match)</h2>" in page
    # the interval chart shows the quality metrics on one scale; lengths in words stay in the table
    intervals = re.findall(r"<svg.*?</svg>", page, re.S)[1]
    assert "token F1" in intervals and "output length" not in intervals


def test_the_markdown_tables_escape_pipes_and_say_the_decision():
    page = to_markdown(data([row(0, 1.0, 0.0, prompt="a | b")]))
    assert "## Decision: Promote the custom model" in page
    assert "| contains match | 0.600 | 0.400 | +0.200 | +0.050 to +0.350 |" in page
    assert "| latency p50 | 12 ms | 12 ms |  |  |" in page
    assert "- prompt: 'a | b'" in page
    assert "- **warning**: overfitting: <watch>" in page


def test_the_json_summary_points_at_the_examples():
    found = to_json(data([row(0, 1.0, 0.0), row(1, 0.0, 0.0)]), "s3://a/examples.jsonl")
    assert found["examples_uri"] == "s3://a/examples.jsonl"
    assert found["differing_examples"] == [0]
    assert found["loss_curves"] == {"training": [(1.0, 2.0), (2.0, 1.5)], "validation": [(2.0, 1.7)]}
    assert json.loads(json.dumps(found))["summary"]["decision"]["promote"] is True


@pytest.mark.parametrize(
    ("low", "high", "ticks"),
    [
        (0, 1, [0.0, 0.25, 0.5, 0.75, 1.0]),
        (0, 2400, [0, 1000, 2000, 3000]),  # the last tick covers the last point
        (0.3, 2.5, [0.0, 1.0, 2.0, 3.0]),
    ],
)
def test_axis_ticks_are_round_and_cover_the_data(low, high, ticks):
    assert _nice_ticks(low, high) == ticks


def test_charts_without_data_say_so_and_points_stay_inside_the_plot():
    assert "No data." in line_chart([("training loss", "#000", [])], title="t", x_label="x", y_label="y")
    chart = line_chart(
        [("loss", "#000", [(float(s), 2.0 - s / 100) for s in range(1, 151)])], title="t", x_label="x", y_label="y"
    )
    xs = [float(x) for x in re.findall(r"([\d.]+),[\d.]+", re.search(r'points="([^"]+)"', chart).group(1))]  # type: ignore[union-attr]
    assert min(xs) >= 60 and max(xs) <= 620
    forest = interval_chart(
        [MetricComparison(metric="token_f1", custom=0.5, base=0.6, difference=-0.1, ci_low=-0.2, ci_high=-0.01)],
        title="t",
    )
    assert "#8b949e" in forest  # the interval lies below zero: drawn in the base model's colour
