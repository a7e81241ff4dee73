"""The evaluation report: JSON for machines (``report.json`` and one row per example in ``examples.jsonl``),
and pages for people: ``report.html`` (the summary table, the decision, inline SVG charts of the metric
comparison and the loss curves, and the examples where the two models differ most) and ``report.md`` (the
same tables, for a terminal or a code review).

The charts are SVG written here: no plotting library fits a Lambda without bundling. Every text that comes
from data (prompts, answers, model ids) is escaped."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from html import escape
from typing import Any

from customizer.evaluation.decision import MIN_CONFIDENT_EXAMPLES
from customizer.evaluation.metrics import QUALITY_METRICS, LabelScore, metric_title
from customizer.evaluation.training_health import Curves
from customizer.models import DistillationOutputs, Evaluation, MetricComparison, ModelScore
from customizer.settings import EvaluationSettings

CUSTOM_COLOR = "#1f6feb"
BASE_COLOR = "#8b949e"
VALIDATION_COLOR = "#d9822b"
DIFFERING_EXAMPLES = 10
MAX_CURVE_POINTS = 400
TEXT_LIMIT = 400


@dataclass(frozen=True)
class ReportData:
    run_id: str
    base_model_id: str
    custom_model_id: str
    evaluation: Evaluation
    settings: EvaluationSettings
    rows: list[dict[str, Any]]
    curves: Curves = field(default_factory=lambda: Curves([], []))
    labels: list[LabelScore] = field(default_factory=list)


# ---- choosing examples ----


def differing(rows: Sequence[Mapping[str, Any]], metric: str, limit: int = DIFFERING_EXAMPLES) -> list[dict[str, Any]]:
    """The examples where the two models' scores differ most: on the decision metric, then on token F1."""

    def gap(row: Mapping[str, Any]) -> tuple[float, float, int]:
        custom, base = row["custom"]["scores"], row["base"]["scores"]
        on_metric = abs(custom[metric] - base[metric]) if metric in custom and metric in base else 0.0
        return (on_metric, abs(custom["token_f1"] - base["token_f1"]), -int(row["index"]))

    ranked = sorted(rows, key=gap, reverse=True)
    return [dict(r) for r in ranked[:limit] if gap(r)[0] > 0 or gap(r)[1] > 0]


def _clip(text: str | None, limit: int = TEXT_LIMIT) -> str:
    if text is None:
        return ""
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


# ---- JSON ----


def to_json(data: ReportData, examples_uri: str) -> dict[str, Any]:
    return {
        "run_id": data.run_id,
        "base_model_id": data.base_model_id,
        "custom_model_id": data.custom_model_id,
        "settings": data.settings.model_dump(mode="json"),
        "summary": data.evaluation.model_dump(mode="json"),
        "metrics": {c.metric: metric_title(c.metric) for c in data.evaluation.comparison},
        "labels": [asdict(label) for label in data.labels],
        "loss_curves": {"training": data.curves.training, "validation": data.curves.validation},
        "reward_curve": data.curves.rewards,
        "differing_examples": [r["index"] for r in differing(data.rows, data.settings.metric)],
        "examples_uri": examples_uri,
    }


def to_jsonl(rows: Sequence[Mapping[str, Any]]) -> bytes:
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows).encode()


# ---- numbers as text ----


def _fmt(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def _signed(value: float) -> str:
    return f"{value:+.3f}"


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.0f} ms"


def _summary_rows(evaluation: Evaluation) -> list[tuple[str, str, str, str, str]]:
    """(metric, custom, base, difference, 95% CI) for the tables."""
    c, b = evaluation.custom, evaluation.base
    rows = [
        (metric_title(m.metric), _fmt(m.custom), _fmt(m.base), _signed(m.difference), _ci(m))
        for m in evaluation.comparison
    ]
    rows.append(("latency p50", _ms(c.latency_p50_ms), _ms(b.latency_p50_ms), "", ""))
    rows.append(("latency p95", _ms(c.latency_p95_ms), _ms(b.latency_p95_ms), "", ""))
    rows.append(("errors", f"{c.errors} of {c.examples}", f"{b.errors} of {b.examples}", "", ""))
    return rows


def _teacher_rows(evaluation: Evaluation) -> list[tuple[str, str, str, str, str, str]]:
    """A distillation's three arms: (metric, custom, base, teacher, custom - teacher, its 95% CI)."""
    base = {c.metric: c.base for c in evaluation.comparison}
    rows = [
        (
            metric_title(t.metric),
            _fmt(t.custom),
            _fmt(base.get(t.metric)),
            _fmt(t.teacher),
            _signed(t.difference),
            f"{_signed(t.ci_low)} to {_signed(t.ci_high)}",
        )
        for t in evaluation.teacher_comparison
    ]
    if evaluation.teacher is not None:
        c, b, t = evaluation.custom, evaluation.base, evaluation.teacher
        rows.append(
            (
                "errors",
                f"{c.errors} of {c.examples}",
                f"{b.errors} of {b.examples}",
                f"{t.errors} of {t.examples}",
                "",
                "",
            )
        )
    return rows


TEACHER_HEADER = ("metric", "student (custom)", "student base", "teacher", "custom - teacher", "95% CI")


def _teacher_text(evaluation: Evaluation) -> str:
    t = evaluation.teacher
    return (
        f"The teacher `{t.model_id}` answered the same {t.examples} test examples on demand (a distillation's "
        "third arm); the intervals come from a paired bootstrap of the examples."
        if t is not None
        else ""
    )


def _ci(comparison: MetricComparison) -> str:
    return f"{_signed(comparison.ci_low)} to {_signed(comparison.ci_high)}"


def _verdict(evaluation: Evaluation) -> str:
    return "Promote the custom model" if evaluation.custom_beats_base else "Do not promote the custom model"


# ---- Markdown ----


def _md_cell(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ").replace("\r", " ")


def _md_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_md_cell(cell) for cell in row) + " |" for row in rows]
    return lines


def _health_rows(data: ReportData) -> list[tuple[str, str]]:
    health = data.evaluation.training
    if health is None:
        return []
    rewards = (
        [
            (
                "training reward (first / final / best)",
                f"{_fmt(health.first_training_reward, 4)} / {_fmt(health.final_training_reward, 4)} / "
                f"{_fmt(health.best_training_reward, 4)} over {health.reward_points} steps",
            )
        ]
        if health.reward_points
        else []
    )
    return [
        *rewards,
        ("training steps", str(health.training_steps)),
        ("validation points", str(health.validation_points)),
        ("final / best training loss", f"{_fmt(health.final_training_loss, 4)} / {_fmt(health.best_training_loss, 4)}"),
        (
            "final / best validation loss",
            f"{_fmt(health.final_validation_loss, 4)} / {_fmt(health.best_validation_loss, 4)}",
        ),
        (
            "final perplexity (training / validation)",
            f"{_fmt(health.final_training_perplexity, 2)} / {_fmt(health.final_validation_perplexity, 2)}",
        ),
    ]


def to_markdown(data: ReportData, html_name: str = "report.html") -> str:
    e = data.evaluation
    decision = e.decision.reason if e.decision else ""
    lines = [
        f"# Evaluation of run {data.run_id}",
        "",
        f"Base model `{data.base_model_id}` on demand, custom model served by `{data.custom_model_id}`; "
        f"{e.custom.examples} test examples ({'fanned out in chunks' if e.mode == 'fan_out' else 'one step'}). "
        f"Charts: [{html_name}]({html_name}).",
        "",
        f"## Decision: {_verdict(e)}",
        "",
        decision,
        "",
        "## Summary",
        "",
        *_md_table(("metric", "custom", "base", "custom - base", "95% CI"), _summary_rows(e)),
        "",
        f"Contains-match accuracy: custom {e.custom.accuracy:.1%} "
        f"({e.custom.correct}/{e.custom.examples}), base {e.base.accuracy:.1%} ({e.base.correct}/{e.base.examples}).",
        *(line for text in _judge_lines(e) for line in ("", text)),
        "",
    ]
    if e.teacher is not None:
        lines += ["## Student vs teacher", "", _teacher_text(e), "", *_md_table(TEACHER_HEADER, _teacher_rows(e)), ""]
    lines += [
        "## Training",
        "",
    ]
    health = _health_rows(data)
    lines += _md_table(("", "value"), health) if health else ["No training metrics."]
    warnings = e.training.warnings if e.training else []
    lines += ["", *(f"- **warning**: {w}" for w in warnings)] if warnings else ["", "No warnings."]
    outputs = e.training.distillation if e.training else None
    if outputs is not None:
        lines += ["", "## Distillation outputs", "", *_distillation_lines(outputs)]
    if data.labels:
        lines += ["", "## Per-label accuracy (exact match)", ""]
        lines += _md_table(
            ("label", "examples", "custom", "base"),
            [(label.label, str(label.support), f"{label.custom:.1%}", f"{label.base:.1%}") for label in data.labels],
        )
    lines += ["", "## Where the models differ most", ""]
    chosen = differing(data.rows, data.settings.metric)
    if not chosen:
        lines.append("Nowhere: both models scored alike on every example.")
    for row in chosen:
        lines += [
            f"### Example {row['index']}",
            "",
            f"- prompt: {_clip(row['prompt'])!r}",
            f"- expected: {_clip(row['expected'])!r}",
            f"- custom ({_scores_text(row['custom'], data.settings.metric)}): {_answer_text(row['custom'])}",
            f"- base ({_scores_text(row['base'], data.settings.metric)}): {_answer_text(row['base'])}",
            *(
                [f"- teacher ({_scores_text(row['teacher'], data.settings.metric)}): {_answer_text(row['teacher'])}"]
                if "teacher" in row
                else []
            ),
            *(f"  - judge on custom: {note}" for note in judge_notes(row["custom"])),
            *(f"  - judge on base: {note}" for note in judge_notes(row["base"])),
            "",
        ]
    return "\n".join(lines).rstrip() + "\n"


def _distillation_lines(outputs: DistillationOutputs) -> list[str]:
    """The job's synthetic data samples and prompt insights (customizer.distillation_outputs; a guessed layout)."""
    if not outputs.found:
        return ["The job wrote no synthetic data samples or prompt insights."]
    lines = [
        f"Prompt insights: {outputs.accepted} of {outputs.prompts} prompts accepted, {outputs.rejected} rejected"
        + (": " + "; ".join(f"{reason} ({n})" for reason, n in outputs.reasons.items()) if outputs.reasons else "")
        + f". Synthetic data: {outputs.synthetic_samples} samples.",
    ]
    lines += [f"- rejected record {r['record']}: {r['reason']}" for r in outputs.rejections]
    lines += [f"- sample ({s['source']}): {_clip(s['prompt'])!r} -> {_clip(s['response'])!r}" for s in outputs.samples]
    return lines


def _scores_text(side: Mapping[str, Any], metric: str) -> str:
    scores = side["scores"]
    first = f"{metric_title(metric)} {_fmt(scores.get(metric), 2)}"
    return first if metric == "token_f1" else f"{first}, token F1 {scores['token_f1']:.2f}"


def judge_notes(side: Mapping[str, Any]) -> list[str]:
    """The judge's score and explanation of one answer on each judge metric (none without the judge)."""
    return [
        f"{metric_title(metric)} {side['scores'].get(metric, math.nan):.2f}: {why}"
        for metric, why in (side.get("judge") or {}).items()
    ]


def _judge_lines(evaluation: Evaluation) -> list[str]:
    """What the judge did, for the reports (nothing when it was off)."""
    judge = evaluation.judge
    if judge is None:
        return []
    if judge.status == "Failed":
        return [f"The judge ({judge.model_id}) failed: {judge.message}."]
    scored = ", ".join(f"{metric_title(m)} on {n}" for m, n in judge.scored.items())
    return [
        f"Judge model {judge.model_id}, {len(judge.jobs)} evaluation jobs; examples both models got a score on: "
        f"{scored}. A failed call scores 0, as on the string metrics."
    ]


def _answer_text(side: Mapping[str, Any]) -> str:
    if side.get("error"):
        return f"error: {_clip(side['error'])}"
    return repr(_clip(side.get("text")))


# ---- SVG ----


def _nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values covering [low, high]."""
    if not math.isfinite(low) or not math.isfinite(high):
        return [0.0, 1.0]
    if high <= low:
        high = low + (abs(low) or 1.0)
    raw = (high - low) / max(1, count - 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first, last = math.floor(low / step + 1e-9), math.ceil(high / step - 1e-9)
    return [round(i * step, 10) for i in range(first, last + 1)]


def _tick_label(value: float) -> str:
    return f"{value:g}" if abs(value) >= 1e-3 or value == 0 else f"{value:.1e}"


@dataclass(frozen=True)
class _Frame:
    """A plot area inside an SVG of width x height, with margins for axes and a legend on top."""

    width: int = 640
    height: int = 300
    left: int = 60
    right: int = 20
    top: int = 40
    bottom: int = 45

    @property
    def inner_width(self) -> int:
        return self.width - self.left - self.right

    @property
    def inner_height(self) -> int:
        return self.height - self.top - self.bottom


def _svg_open(frame: _Frame, title: str) -> list[str]:
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{frame.width}" height="{frame.height}" '
        f'viewBox="0 0 {frame.width} {frame.height}" role="img" aria-label="{escape(title)}" '
        'font-family="sans-serif" font-size="12">',
        f"<title>{escape(title)}</title>",
        f'<text x="{frame.left}" y="16" font-size="14" font-weight="bold">{escape(title)}</text>',
    ]


def _legend(frame: _Frame, items: Sequence[tuple[str, str]]) -> list[str]:
    parts, x = [], frame.left
    for label, color in items:
        parts.append(f'<rect x="{x}" y="24" width="12" height="8" fill="{color}"/>')
        parts.append(f'<text x="{x + 16}" y="32">{escape(label)}</text>')
        x += 24 + 7 * len(label)
    return parts


def line_chart(
    series: Sequence[tuple[str, str, Sequence[tuple[float, float]]]], *, title: str, x_label: str, y_label: str
) -> str:
    """Lines of (x, y) points: one per (label, color, points)."""
    frame = _Frame()
    points = [p for _, _, line in series for p in line]
    parts = _svg_open(frame, title)
    if not points:
        parts.append(f'<text x="{frame.left}" y="{frame.top + 20}">No data.</text></svg>')
        return "".join(parts)
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    x_ticks, y_ticks = _nice_ticks(min(xs), max(xs)), _nice_ticks(min(ys), max(ys))
    x0, x1, y0, y1 = x_ticks[0], x_ticks[-1], y_ticks[0], y_ticks[-1]

    def sx(x: float) -> float:
        return frame.left + (x - x0) / ((x1 - x0) or 1) * frame.inner_width

    def sy(y: float) -> float:
        return frame.top + frame.inner_height - (y - y0) / ((y1 - y0) or 1) * frame.inner_height

    parts += _axes(frame, [(sx(t), _tick_label(t)) for t in x_ticks], [(sy(t), _tick_label(t)) for t in y_ticks])
    parts += _axis_labels(frame, x_label, y_label)
    for _, color, line in series:
        thinned = _thin(line)
        if len(thinned) == 1:
            (x, y) = thinned[0]
            parts.append(f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="3" fill="{color}"/>')
            continue
        path = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in thinned)
        parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="2" points="{path}"/>')
        if len(thinned) <= 20:
            parts += [f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="2.5" fill="{color}"/>' for x, y in thinned]
    parts += _legend(frame, [(label, color) for label, color, line in series if line])
    parts.append("</svg>")
    return "".join(parts)


def _thin(points: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    if len(points) <= MAX_CURVE_POINTS:
        return list(points)
    step = math.ceil(len(points) / MAX_CURVE_POINTS)
    thinned = list(points[::step])
    if thinned[-1] != points[-1]:
        thinned.append(points[-1])
    return thinned


def _axes(frame: _Frame, x_ticks: Sequence[tuple[float, str]], y_ticks: Sequence[tuple[float, str]]) -> list[str]:
    bottom, right = frame.top + frame.inner_height, frame.left + frame.inner_width
    parts = [
        f'<line x1="{frame.left}" y1="{bottom}" x2="{right}" y2="{bottom}" stroke="#444"/>',
        f'<line x1="{frame.left}" y1="{frame.top}" x2="{frame.left}" y2="{bottom}" stroke="#444"/>',
    ]
    for x, label in x_ticks:
        parts.append(f'<line x1="{x:.1f}" y1="{bottom}" x2="{x:.1f}" y2="{bottom + 4}" stroke="#444"/>')
        parts.append(f'<text x="{x:.1f}" y="{bottom + 16}" text-anchor="middle">{escape(label)}</text>')
    for y, label in y_ticks:
        parts.append(f'<line x1="{frame.left}" y1="{y:.1f}" x2="{right}" y2="{y:.1f}" stroke="#e5e5e5"/>')
        parts.append(f'<text x="{frame.left - 6}" y="{y + 4:.1f}" text-anchor="end">{escape(label)}</text>')
    return parts


def _axis_labels(frame: _Frame, x_label: str, y_label: str) -> list[str]:
    middle_x = frame.left + frame.inner_width / 2
    middle_y = frame.top + frame.inner_height / 2
    return [
        f'<text x="{middle_x:.1f}" y="{frame.height - 8}" text-anchor="middle">{escape(x_label)}</text>',
        f'<text x="14" y="{middle_y:.1f}" text-anchor="middle" transform="rotate(-90 14 {middle_y:.1f})">'
        f"{escape(y_label)}</text>",
    ]


def bar_chart(groups: Sequence[tuple[str, float, float]], *, title: str) -> str:
    """Custom and base side by side for each metric (label, custom, base), on a 0 to 1 scale."""
    frame = _Frame()
    parts = _svg_open(frame, title)
    top = max([1.0, *(v for _, c, b in groups for v in (c, b))])
    ticks = _nice_ticks(0.0, top)
    scale_top = ticks[-1]

    def sy(value: float) -> float:
        return frame.top + frame.inner_height - value / scale_top * frame.inner_height

    parts += _axes(frame, [], [(sy(t), _tick_label(t)) for t in ticks])
    slot = frame.inner_width / max(1, len(groups))
    bar = min(40.0, slot / 3)
    bottom = frame.top + frame.inner_height
    for i, (label, custom, base) in enumerate(groups):
        centre = frame.left + slot * (i + 0.5)
        for offset, value, color in ((-bar, custom, CUSTOM_COLOR), (0.0, base, BASE_COLOR)):
            y = sy(value)
            parts.append(
                f'<rect x="{centre + offset:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{bottom - y:.1f}" '
                f'fill="{color}"><title>{escape(label)}: {value:.3f}</title></rect>'
            )
            parts.append(
                f'<text x="{centre + offset + bar / 2:.1f}" y="{y - 3:.1f}" text-anchor="middle" font-size="10">'
                f"{value:.2f}</text>"
            )
        parts.append(f'<text x="{centre:.1f}" y="{bottom + 16}" text-anchor="middle">{escape(label)}</text>')
    parts += _legend(frame, [("custom", CUSTOM_COLOR), ("base", BASE_COLOR)])
    parts.append("</svg>")
    return "".join(parts)


def interval_chart(comparisons: Sequence[MetricComparison], *, title: str) -> str:
    """custom - base for each metric: the observed difference and its 95% interval, against zero."""
    frame = _Frame(height=max(140, 60 + 36 * len(comparisons)), left=150)
    parts = _svg_open(frame, title)
    low = min([0.0, *(c.ci_low for c in comparisons)])
    high = max([0.0, *(c.ci_high for c in comparisons)])
    span = max(high - low, 0.1)
    ticks = _nice_ticks(low - 0.05 * span, high + 0.05 * span)

    def sx(value: float) -> float:
        return frame.left + (value - ticks[0]) / ((ticks[-1] - ticks[0]) or 1) * frame.inner_width

    parts += _axes(frame, [(sx(t), _tick_label(t)) for t in ticks], [])
    zero = sx(0.0)
    bottom = frame.top + frame.inner_height
    parts.append(
        f'<line x1="{zero:.1f}" y1="{frame.top}" x2="{zero:.1f}" y2="{bottom}" stroke="#b00" stroke-dasharray="4 3"/>'
    )
    row = frame.inner_height / max(1, len(comparisons))
    for i, c in enumerate(comparisons):
        y = frame.top + row * (i + 0.5)
        color = CUSTOM_COLOR if c.ci_low > 0 else (BASE_COLOR if c.ci_high < 0 else "#555")
        title = escape(metric_title(c.metric))
        parts.append(f'<text x="{frame.left - 8}" y="{y + 4:.1f}" text-anchor="end">{title}</text>')
        parts.append(
            f'<line x1="{sx(c.ci_low):.1f}" y1="{y:.1f}" x2="{sx(c.ci_high):.1f}" y2="{y:.1f}" '
            f'stroke="{color}" stroke-width="3"/>'
        )
        parts.append(
            f'<circle cx="{sx(c.difference):.1f}" cy="{y:.1f}" r="5" fill="{color}">'
            f"<title>{title}: {_signed(c.difference)} ({_ci(c)})</title></circle>"
        )
    middle = frame.left + frame.inner_width / 2
    parts.append(
        f'<text x="{middle:.1f}" y="{frame.height - 8}" text-anchor="middle">'
        "custom - base (right of the dashed line: custom is better)</text>"
    )
    parts.append("</svg>")
    return "".join(parts)


# ---- HTML ----

_STYLE = """
body{font-family:system-ui,-apple-system,sans-serif;max-width:980px;margin:2em auto;padding:0 1em;color:#1f2328}
table{border-collapse:collapse;margin:.5em 0}th,td{border:1px solid #d0d7de;padding:4px 10px;vertical-align:top}
th{background:#f6f8fa;text-align:left}td.num{text-align:right;font-variant-numeric:tabular-nums}
.decision{padding:.8em 1em;border-radius:6px;border:1px solid}.promote{background:#dafbe1;border-color:#4ac26b}
.reject{background:#ffebe9;border-color:#ff8182}.warning{color:#9a6700}.answer{white-space:pre-wrap;max-width:30em}
figure{margin:1em 0}
"""


def _html_table(header: Sequence[str], rows: Sequence[Sequence[str]], numeric_from: int = 1) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="num">{escape(cell)}</td>' if i >= numeric_from else f"<td>{escape(cell)}</td>"
            for i, cell in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _score_groups(custom: ModelScore, base: ModelScore) -> list[tuple[str, float, float]]:
    return [
        (
            metric_title(m),
            float(getattr(custom, "accuracy" if m == "contains_match" else m)),
            float(getattr(base, "accuracy" if m == "contains_match" else m)),
        )
        for m in QUALITY_METRICS
    ]


def to_html(data: ReportData) -> str:
    e = data.evaluation
    # On one scale (lengths are in the table): the string metrics and the judge's, all in [0, 1].
    quality = [c for c in e.comparison if c.metric in (*QUALITY_METRICS, "grader") or c.metric.startswith("judge.")]
    promote = e.custom_beats_base
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>Evaluation of run {escape(data.run_id)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>Evaluation of run {escape(data.run_id)}</h1>",
        f"<p>Base model <code>{escape(data.base_model_id)}</code> on demand; custom model served by "
        f"<code>{escape(data.custom_model_id)}</code>; {e.custom.examples} test examples "
        f"({'fanned out in chunks' if e.mode == 'fan_out' else 'in one step'}).</p>",
        f'<div class="decision {"promote" if promote else "reject"}"><strong>{escape(_verdict(e))}.</strong> '
        f"{escape(e.decision.reason if e.decision else '')}</div>",
        "<h2>Summary</h2>",
        _html_table(("metric", "custom", "base", "custom - base", "95% CI"), _summary_rows(e)),
        "<p>Every metric is a mean over all test examples (a call that failed after its retries scores 0); "
        "the confidence intervals come from a paired bootstrap of the examples.</p>",
        *(f"<p>{escape(text)}</p>" for text in _judge_lines(e)),
        *(
            [
                "<h2>Student vs teacher</h2>",
                f"<p>{escape(_teacher_text(e))}</p>",
                _html_table(TEACHER_HEADER, _teacher_rows(e)),
            ]
            if e.teacher is not None
            else []
        ),
        "<h2>Custom vs base</h2>",
        f"<figure>{bar_chart(_score_groups(e.custom, e.base), title='Answer quality by metric')}</figure>",
        f"<figure>{interval_chart(quality, title='Difference custom - base, with 95% confidence intervals')}</figure>",
        "<h2>Training</h2>",
    ]
    health = _health_rows(data)
    parts.append(_html_table(("", "value"), health) if health else "<p>No training metrics.</p>")
    warnings = e.training.warnings if e.training else []
    parts.append(
        "<ul>" + "".join(f'<li class="warning">warning: {escape(w)}</li>' for w in warnings) + "</ul>"
        if warnings
        else "<p>No warnings.</p>"
    )
    outputs = e.training.distillation if e.training else None
    if outputs is not None:
        items = "".join(f"<li>{escape(line.removeprefix('- '))}</li>" for line in _distillation_lines(outputs))
        parts += ["<h2>Distillation outputs</h2>", f"<ul>{items}</ul>"]
    series = [
        ("training loss", CUSTOM_COLOR, data.curves.training),
        ("validation loss", VALIDATION_COLOR, data.curves.validation),
    ]
    parts.append(f"<figure>{line_chart(series, title='Loss curves', x_label='step', y_label='loss')}</figure>")
    if data.curves.rewards:
        reward_series = [("training reward", CUSTOM_COLOR, data.curves.rewards)]
        chart = line_chart(
            reward_series, title="Reward curve (the grader's mean score)", x_label="step", y_label="reward"
        )
        parts.append(f"<figure>{chart}</figure>")
    if data.labels:
        parts.append("<h2>Per-label accuracy (exact match)</h2>")
        parts.append(
            _html_table(
                ("label", "examples", "custom", "base"),
                [(lb.label, str(lb.support), f"{lb.custom:.1%}", f"{lb.base:.1%}") for lb in data.labels],
            )
        )
    parts.append("<h2>Where the models differ most</h2>")
    chosen = differing(data.rows, data.settings.metric)
    if not chosen:
        parts.append("<p>Nowhere: both models scored alike on every example.</p>")
    else:

        def answer(side: Mapping[str, Any]) -> str:
            scores = escape(_scores_text(side, data.settings.metric))
            notes = "".join(f"<br><small>judge: {escape(note)}</small>" for note in judge_notes(side))
            return f'<td class="answer">{escape(_answer_plain(side))}<br><small>{scores}</small>{notes}</td>'

        rows = "".join(
            f'<tr><td>{r["index"]}</td><td class="answer">{escape(_clip(r["prompt"]))}</td>'
            f'<td class="answer">{escape(_clip(r["expected"]))}</td>{answer(r["custom"])}{answer(r["base"])}</tr>'
            for r in chosen
        )
        parts.append(
            "<table><thead><tr><th>#</th><th>prompt</th><th>expected</th><th>custom</th><th>base</th></tr></thead>"
            f"<tbody>{rows}</tbody></table>"
        )
    s = data.settings
    parts.append("<h2>Settings</h2>")
    parts.append(
        _html_table(
            ("setting", "value"),
            [
                ("promotion metric", metric_title(s.metric)),
                ("min_improvement", f"{s.min_improvement:g}"),
                ("floor", f"{s.floor:g}"),
                ("require_confidence", str(s.require_confidence).lower()),
                (
                    "confidence needs at least",
                    f"{MIN_CONFIDENT_EXAMPLES} test examples (fewer make the bootstrap interval too narrow)",
                ),
                ("max_tokens / temperature / top_p", f"{s.max_tokens} / {s.temperature:g} / {s.top_p:g}"),
            ],
        )
    )
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _answer_plain(side: Mapping[str, Any]) -> str:
    if side.get("error"):
        return f"error: {_clip(side['error'])}"
    return _clip(side.get("text"))
