"""The run browser's pages, as HTML strings from run records (no JavaScript, nothing fetched from elsewhere):
the runs table, a run's page, and two runs compared. Every value from a record is escaped."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from html import escape
from typing import Any
from urllib.parse import quote

from cli import runs as runlib
from customizer.evaluation.metrics import METRIC_TITLES

STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:0;color:#1d2430;background:#f6f7f9}
header{background:#232f3e;color:#fff;padding:10px 20px}header a{color:#fff;text-decoration:none;font-weight:600}
main{padding:16px 20px}h1{font-size:20px;margin:4px 0 12px}h2{font-size:16px;margin:22px 0 8px}
table{border-collapse:collapse;background:#fff}th,td{border:1px solid #dde1e6;padding:4px 8px;text-align:left;
vertical-align:top}th{background:#eef1f4;font-weight:600}td.num{text-align:right;font-variant-numeric:tabular-nums}
.SUCCEEDED{color:#1a7f37}.FAILED,.TIMED_OUT{color:#cf222e}.ABORTED{color:#9a6700}.RUNNING{color:#0969da}
code,pre{font:12px ui-monospace,monospace}pre{background:#fff;border:1px solid #dde1e6;padding:8px;overflow:auto;
max-height:360px}.bar{background:#0969da;height:10px;display:inline-block;min-width:2px}
.muted{color:#656d76}iframe{width:100%;height:640px;border:1px solid #dde1e6;background:#fff}
form.filters{margin-bottom:10px}form.filters *{margin-right:6px}
#runs{table-layout:fixed;width:100%}#runs td{overflow-wrap:anywhere}
#runs tbody tr{content-visibility:auto;contain-intrinsic-size:auto 2.6em}
"""


def _page(title: str, body: str) -> str:
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>"
        '<header><a href="/">Bedrock customization runs</a></header>'
        f"<main>{body}</main></body></html>"
    )


def _status(value: str) -> str:
    return f'<span class="{escape(value)}">{escape(value)}</span>'


def _link(record: Mapping[str, Any]) -> str:
    return "/run/" + quote(str(record.get("execution") or ""), safe="")


def runs_page(records: Sequence[Mapping[str, Any]], *, where: str, filters: Mapping[str, str] | None = None) -> str:
    """The runs table; tick two runs and compare them."""
    f = filters or {}
    rows = []
    for record in records:
        r = runlib.row(record)
        rows.append(
            "<tr>"
            f'<td><input type=checkbox name=run value="{escape(r["execution"])}"></td>'
            f"<td>{escape(r['started'])}</td><td>{_status(r['status'])}</td>"
            f'<td><a href="{_link(record)}">{escape(r["run"])}</a></td>'
            f"<td>{escape(r['base_model'])}</td><td>{escape(r['method'])}</td><td>{escape(r['decision'])}</td>"
            f"<td>{escape(r['metric'])}</td><td class=num>{escape(r['throughput_hours'])}</td>"
            f"<td class=num>{escape(r['cost'])}</td></tr>"
        )
    options = "".join(
        f"<option{' selected' if f.get('status') == s else ''}>{s}</option>"
        for s in ("", "RUNNING", "SUCCEEDED", "FAILED", "ABORTED", "TIMED_OUT")
    )
    body = (
        f"<h1>Runs <span class=muted>({len(records):,}, {escape(where)})</span></h1>"
        '<form class=filters method=get action="/">'
        f"status <select name=status>{options}</select>"
        f'base model <input name=model value="{escape(f.get("model", ""))}" size=28>'
        f'since <input name=since value="{escape(f.get("since", ""))}" size=10 placeholder="7d">'
        "<button>Filter</button></form>"
        '<form method=get action="/compare"><button id=compare>Compare the two ticked</button>'
        "<table id=runs><thead><tr><th></th><th>started (UTC)</th><th>status</th><th>run</th><th>base model</th>"
        "<th>method</th><th>decision</th><th>decision metric: custom vs base</th><th>throughput h (est / incurred)</th>"
        f"<th>est. USD</th></tr></thead><tbody>{''.join(rows)}</tbody></table></form>"
    )
    return _page("Runs", body)


# ---- one run ----


def _timeline(steps: Sequence[Mapping[str, Any]], ended: str | None) -> str:
    if not steps:
        return "<p class=muted>no states entered</p>"
    times = [datetime.fromisoformat(s["entered"]) for s in steps]
    end = datetime.fromisoformat(ended) if ended else times[-1]
    durations = [(b - a).total_seconds() for a, b in zip(times, [*times[1:], end], strict=True)]
    longest = max(*durations, 1e-9)
    rows = "".join(
        f"<tr><td>{escape(str(s['state']))}</td><td class=num>+{(t - times[0]).total_seconds():,.1f} s</td>"
        f'<td class=num>{d:,.1f} s</td><td><span class=bar style="width:{max(2, round(300 * d / longest))}px">'
        "</span></td></tr>"
        for s, t, d in zip(steps, times, durations, strict=True)
    )
    return (
        "<table id=timeline><thead><tr><th>state</th><th>entered</th><th>for</th><th></th></tr></thead>"
        f"<tbody>{rows}</tbody></table>"
    )


def _lineage(data: Mapping[str, Any] | None) -> str:
    if not data:
        return "<p class=muted>no data recorded (the run ended before its data was checked)</p>"
    rows = "".join(
        f"<tr><td>{escape(role)}</td><td><code>{escape(str(item.get('uri')))}</code></td>"
        f"<td class=num>{escape(str(item.get('records', '-')))}</td><td class=num>{escape(str(item.get('size', '-')))}</td>"
        f"<td><code>{escape(str(item.get('version_id') or '-'))}</code></td>"
        f"<td><code>{escape(str(item.get('sha256') or '-'))}</code></td></tr>"
        for role, item in data.items()
        if isinstance(item, Mapping)
    )
    return (
        "<table id=lineage><thead><tr><th>file</th><th>object</th><th>records</th><th>bytes</th><th>version</th>"
        f"<th>SHA-256</th></tr></thead><tbody>{rows}</tbody></table>"
    )


def curve_svg(curves: Mapping[str, Sequence[tuple[float, float]]], width: int = 640, height: int = 240) -> str:
    """Loss against step: one polyline per series (training, validation), axes with their ranges."""
    series = {name: points for name, points in curves.items() if points}
    if not series:
        return "<p class=muted>no training metrics (the job wrote none, or has not yet)</p>"
    xs = [x for points in series.values() for x, _ in points]
    ys = [y for points in series.values() for _, y in points]
    x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
    pad = 36

    def sx(x: float) -> float:
        return pad + (x - x0) / ((x1 - x0) or 1) * (width - 2 * pad)

    def sy(y: float) -> float:
        return height - pad - (y - y0) / ((y1 - y0) or 1) * (height - 2 * pad)

    colours = {"training": "#0969da", "validation": "#cf222e"}
    lines = []
    for name, points in series.items():
        colour = colours.get(name, "#656d76")
        coordinates = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in points)
        lines.append(
            f'<polyline class="curve {escape(name)}" fill=none stroke="{colour}" stroke-width=2 points="{coordinates}"/>'
        )
        if len(points) < 20:
            lines += [f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r=3 fill="{colour}"/>' for x, y in points]
    legend = " ".join(
        f'<tspan fill="{colours.get(n, "#656d76")}">{escape(n)} loss ({len(p):,} points)</tspan>'
        for n, p in series.items()
    )
    return (
        f'<svg id=curves xmlns="http://www.w3.org/2000/svg" width={width} height={height} '
        f'viewBox="0 0 {width} {height}" style="background:#fff;border:1px solid #dde1e6">'
        f'<line x1={pad} y1={height - pad} x2={width - pad} y2={height - pad} stroke="#8c959f"/>'
        f'<line x1={pad} y1={pad} x2={pad} y2={height - pad} stroke="#8c959f"/>'
        f"<text x={pad} y={height - 12} font-size=11>step {x0:g}</text>"
        f"<text x={width - pad} y={height - 12} font-size=11 text-anchor=end>step {x1:g}</text>"
        f"<text x=4 y={pad - 6} font-size=11>loss {y1:.3g}</text>"
        f"<text x=4 y={height - pad + 14} font-size=11>{y0:.3g}</text>"
        f"<text x={width // 2} y=18 font-size=12 text-anchor=middle>{legend}</text>"
        f"{''.join(lines)}</svg>"
    )


def _evaluation(record: Mapping[str, Any], report_url: str | None) -> str:
    evaluation = record.get("evaluation") or {}
    if not evaluation:
        return "<p class=muted>no evaluation</p>"
    rows = "".join(
        f"<tr><td>{escape(METRIC_TITLES.get(m['metric'], m['metric']))}</td><td class=num>{m['custom']:.3f}</td>"
        f"<td class=num>{m['base']:.3f}</td><td class=num>{m['difference']:+.3f}</td>"
        f"<td class=num>{m['ci_low']:+.3f} to {m['ci_high']:+.3f}</td></tr>"
        for m in evaluation.get("comparison", [])
    )
    decision = (evaluation.get("decision") or {}).get("reason") or runlib.decision_of(record)
    frame = (
        f'<h2>Evaluation report</h2><iframe id=report sandbox src="{escape(report_url)}"></iframe>'
        if report_url
        else ""
    )
    return (
        f"<p>{escape(str((evaluation.get('custom') or {}).get('examples', '?')))} test examples</p>"
        "<table id=evaluation><thead><tr><th>metric</th><th>custom</th><th>base</th><th>custom - base</th>"
        f"<th>95% CI</th></tr></thead><tbody>{rows}</tbody></table>"
        f"<p id=decision><b>Decision:</b> {escape(str(decision))}</p>{frame}"
    )


def _notification(record: Mapping[str, Any]) -> str:
    note = record.get("notification")
    if not note:
        return "<p class=muted>no notification recorded (a run that is still running, or recorded before 0.1)</p>"
    return f"<pre id=notification>{escape(json.dumps(note, indent=2, default=str))}</pre>"


def run_page(
    record: Mapping[str, Any], *, curves: Mapping[str, Sequence[tuple[float, float]]], report_url: str | None
) -> str:
    r = runlib.row(record)
    facts = (
        ("execution", record.get("execution")),
        ("status", record.get("status")),
        ("base model", f"{r['base_model']} ({r['method']})"),
        ("job", f"{record.get('job_arn') or '-'} {record.get('job_status') or ''}"),
        ("custom model", record.get("custom_model_arn")),
        ("throughput", f"{record.get('throughput_arn') or '-'} {record.get('throughput_status') or ''}"),
        ("throughput policy", record.get("throughput_policy")),
        ("throughput hours (estimated / incurred)", r["throughput_hours"]),
        ("estimated USD (throughput)", r["cost"]),
        ("started / ended (UTC)", f"{r['started']} / {runlib.started_text({'started_at': record.get('stopped_at')})}"),
    )
    fact_rows = "".join(f"<tr><th>{escape(k)}</th><td>{escape(str(v or '-'))}</td></tr>" for k, v in facts)
    settings = {"settings": record.get("settings"), "hyperparameters (as sent)": record.get("hyperparameters")}
    error = record.get("error")
    body = (
        f"<h1>Run {escape(r['run'])} {_status(r['status'])}</h1>"
        f"<table id=facts>{fact_rows}</table>"
        + (f"<h2>Error</h2><pre id=error>{escape(json.dumps(error, indent=2))}</pre>" if error else "")
        + f"<h2>Timeline</h2>{_timeline(record.get('steps') or [], record.get('stopped_at'))}"
        f"<h2>Data lineage</h2>{_lineage(record.get('data'))}"
        f"<h2>Training curves</h2>{curve_svg(curves)}"
        f"<h2>Evaluation</h2>{_evaluation(record, report_url)}"
        f"<h2>Notification</h2>{_notification(record)}"
        f"<h2>Settings</h2><pre id=settings>{escape(json.dumps(settings, indent=2, default=str))}</pre>"
        + (
            f"<h2>Cleanup</h2><pre>{escape(json.dumps(record['cleanup'], indent=2))}</pre>"
            if record.get("cleanup")
            else ""
        )
    )
    return _page(f"Run {r['run']}", body)


def compare_page(first: Mapping[str, Any], second: Mapping[str, Any]) -> str:
    name_a, name_b = runlib.names([first, second])
    rows = "".join(
        f"<tr><td>{escape(c['title'])}</td><td class=num>{c['first_custom']:.3f}</td>"
        f"<td class=num>{c['second_custom']:.3f}</td><td class=num>{c['difference']:+.3f}</td>"
        f"<td class=num>{c['first_base']:.3f}</td><td class=num>{c['second_base']:.3f}</td></tr>"
        for c in runlib.comparison(first, second)
    )
    a, b = runlib.decision_metric(first), runlib.decision_metric(second)
    summary = ""
    if a and b and a["metric"] == b["metric"]:
        summary = (
            f"<p id=difference>Decision metric {escape(a['title'])}: {b['custom']:.3f} - {a['custom']:.3f} = "
            f"<b>{b['custom'] - a['custom']:+.3f}</b> (decisions: {escape(runlib.decision_of(first))} / "
            f"{escape(runlib.decision_of(second))})</p>"
        )
    facts = "".join(
        f"<tr><th>{escape(label)}</th><td>{escape(str(f(first)))}</td><td>{escape(str(f(second)))}</td></tr>"
        for label, f in _COMPARED
    )
    body = (
        f'<h1>Compare <a href="{_link(first)}">{escape(name_a)}</a> and <a href="{_link(second)}">{escape(name_b)}</a></h1>'
        f"<table id=facts><tr><th></th><th>{escape(name_a)}</th><th>{escape(name_b)}</th></tr>{facts}</table>"
        f"<h2>Evaluations</h2>{summary}"
        f"<table id=comparison><thead><tr><th>metric</th><th>custom ({escape(name_a)})</th><th>custom ({escape(name_b)})"
        f"</th><th>second - first</th><th>base (first)</th><th>base (second)</th></tr></thead><tbody>{rows}</tbody></table>"
    )
    return _page(f"Compare {name_a} and {name_b}", body)


def _hyperparameters(record: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in (record.get("hyperparameters") or {}).items()) or "-"


_COMPARED: Iterable[tuple[str, Any]] = (
    ("status", lambda r: r.get("status")),
    ("base model", runlib.base_model_of),
    ("method", runlib.method_of),
    ("hyperparameters", _hyperparameters),
    ("training data SHA-256", lambda r: ((r.get("data") or {}).get("training") or {}).get("sha256", "-")),
    ("decision", runlib.decision_of),
    ("estimated USD (throughput)", runlib.cost_text),
)


def message_page(title: str, message: str) -> str:
    return _page(title, f"<h1>{escape(title)}</h1><p id=message>{escape(message)}</p>")
