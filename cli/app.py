"""The commands. ``bedrock-customize --help`` lists them; each says what it needs in its own ``--help``."""

from __future__ import annotations

import functools
import json
import sys
import time
import webbrowser
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, ParamSpec, TypeVar

import typer
from botocore.exceptions import BotoCoreError, ClientError
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn
from rich.table import Table

from cli import dataset as datasets
from cli import runs as runlib
from cli.follow import TERMINAL, follow
from cli.stack import DEFAULT_STACK, CliError, Stack, connect, describe_error
from customizer.evaluation.metrics import METRIC_TITLES
from customizer.trigger import MANIFEST_NAME, execution_name

EXIT_INTERRUPTED = 130
START_SECONDS = 60.0  # how long `start` waits for the upload's execution to appear before saying why not
PIPED_WIDTH = 200
STOP_SECONDS = 180.0  # how long `stop` waits for the aftercare to stop jobs and delete throughput

app = typer.Typer(
    name="bedrock-customize",
    help="Start, follow, compare and stop Bedrock model customization runs of the deployed (or offline) stack.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

P = ParamSpec("P")
R = TypeVar("R")


class Options:
    def __init__(self, offline: bool, stack: str, region: str | None) -> None:
        self.offline, self.stack_name, self.region = offline, stack, region
        self._stack: Stack | None = None

    def stack(self) -> Stack:
        if self._stack is None:
            self._stack = connect(offline=self.offline, stack_name=self.stack_name, region=self.region)
        return self._stack


def handled(command: Callable[P, R]) -> Callable[P, R]:
    """Every failure one line on stderr and a non-zero exit; Ctrl-C stops the command only."""

    @functools.wraps(command)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except CliError as exc:
            err.print(f"error: {exc}", markup=False)
            raise typer.Exit(exc.code) from None
        except (ClientError, BotoCoreError) as exc:
            err.print(f"error: {describe_error(exc, 'AWS refused a request')}", markup=False)
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            err.print("interrupted", markup=False)
            raise typer.Exit(EXIT_INTERRUPTED) from None

    return run


def _options(ctx: typer.Context) -> Options:
    options = ctx.find_object(Options)
    assert options is not None
    return options


@app.callback()
def _global(
    ctx: typer.Context,
    offline: Annotated[
        bool,
        typer.Option("--offline", help="use the offline stack of a running `python -m offline demo --keep-running`"),
    ] = False,
    stack: Annotated[str, typer.Option("--stack", help="the deployed stack's name")] = DEFAULT_STACK,
    region: Annotated[
        str | None, typer.Option("--region", help="its region (default: your AWS configuration's)")
    ] = None,
) -> None:
    ctx.obj = Options(offline, stack, region)
    if not out.is_terminal:
        out.width = PIPED_WIDTH  # to a file or a pipe: tables as wide as their content needs, up to this


# ---- start, cost ----

ModelOption = Annotated[str | None, typer.Option("--model", help="base model id (default: the settings')")]
TypeOption = Annotated[
    str | None, typer.Option("--type", help="FINE_TUNING or CONTINUED_PRE_TRAINING (default: the settings')")
]
SettingsOption = Annotated[
    str | None, typer.Option("--settings", help="run settings: a JSON object, or a file holding one")
]
FolderArgument = Annotated[
    Path, typer.Argument(help="folder with train.jsonl and optional validation.jsonl, test.jsonl, config.json")
]


@app.command()
@handled
def start(
    ctx: typer.Context,
    folder: FolderArgument,
    model: ModelOption = None,
    customization_type: TypeOption = None,
    settings: SettingsOption = None,
    name: Annotated[str | None, typer.Option("--name", help="the run's name (default: the folder's)")] = None,
    follow_run: Annotated[bool, typer.Option("--follow", help="follow the run until it ends")] = False,
) -> None:
    """Check the data here first (the pipeline's own pre-flight check), upload it with the manifest last,
    and print the execution the upload started; --follow shows it until it ends (Ctrl-C stops following only)."""
    data = datasets.load(folder, model=model, customization_type=customization_type, settings=settings)
    report = datasets.preflight(data)
    run_name = name or datasets.default_run_name(folder)
    warned = (
        f", {report.warnings.total} warning{'s' if report.warnings.total != 1 else ''}" if report.warnings.total else ""
    )
    out.print(f"Pre-flight check: {report.verdict} ({data.resolved.base_model_id}{warned})", markup=False)
    stack = _options(ctx).stack()
    arn = _upload(stack, data, run_name)
    execution = arn.rsplit(":", 1)[-1]
    out.print(f"Started {execution}", markup=False)
    out.print(f"  {arn}", markup=False)
    if not follow_run:
        out.print(f"Follow it with: bedrock-customize{' --offline' if stack.offline else ''} show {execution}")
        return
    _follow_and_summarize(stack, arn)


def _upload(stack: Stack, data: datasets.Dataset, run_name: str) -> str:
    """Upload the files (progress bars), then the manifest; the execution ARN the trigger starts for it."""
    s3 = stack.client("s3")
    folder = f"{stack.run_prefix}{run_name}/"
    with Progress(
        TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(), console=err
    ) as progress:
        for path in data.files.values():
            task = progress.add_task(f"uploading {path.name}", total=path.stat().st_size)
            try:
                s3.upload_file(
                    str(path),
                    stack.data_bucket,
                    folder + path.name,
                    Callback=lambda sent, task=task: progress.advance(task, sent),
                )
            except (ClientError, BotoCoreError) as exc:
                raise CliError(describe_error(exc, f"uploading {path} to s3://{stack.data_bucket}/{folder}")) from None
    key = folder + MANIFEST_NAME
    try:
        put = s3.put_object(
            Bucket=stack.data_bucket,
            Key=key,
            Body=json.dumps(data.manifest(run_name)).encode(),
            ContentType="application/json",
        )
    except (ClientError, BotoCoreError) as exc:
        raise CliError(describe_error(exc, f"uploading the manifest to s3://{stack.data_bucket}/{key}")) from None
    # The trigger names the execution after the manifest's key and its event's version id (S3 sends one for a
    # versioned bucket), else its ETag (customizer.trigger.execution_name): either names this upload only.
    versions = [v for v in (put.get("VersionId"), str(put.get("ETag", "")).strip('"')) if v]
    candidates = [stack.execution_arn(execution_name(run_name, stack.data_bucket, key, v)) for v in versions]
    sfn = stack.client("stepfunctions")
    deadline = time.monotonic() + START_SECONDS
    while True:
        for arn in candidates:
            try:
                sfn.describe_execution(executionArn=arn)
                return arn
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") != "ExecutionDoesNotExist":
                    raise
        if time.monotonic() > deadline:
            raise CliError(
                f"s3://{stack.data_bucket}/{key} started no run within {START_SECONDS:.0f} s: the trigger rejected it "
                "(its reason is published to the outcome topic) or the stack's trigger is not deployed"
            )
        time.sleep(0.5)


def _follow_and_summarize(stack: Stack, arn: str) -> None:
    execution = arn.rsplit(":", 1)[-1]
    try:
        ended = follow(stack, arn, lambda line: out.print(line, markup=False))
    except KeyboardInterrupt:
        err.print(
            f"stopped following; the run goes on: bedrock-customize{' --offline' if stack.offline else ''} "
            f"show {execution}",
            markup=False,
        )
        raise typer.Exit(EXIT_INTERRUPTED) from None
    record = _record_when_written(stack, execution) or runlib.live_record(stack, arn)
    out.print()
    _print_run(record)
    if ended["status"] != "SUCCEEDED":
        raise CliError(f"run {execution} ended {ended['status']}: {_why(record, ended)}")


def _why(record: dict[str, Any], ended: dict[str, Any]) -> str:
    reason = (record.get("notification") or {}).get("reason")
    if reason:
        return str(reason)[:400]  # what the failure notification says (the state machine's own error only points there)
    error = record.get("error") or {}
    cause = error.get("Cause") or ended.get("cause") or ""
    try:
        parsed = json.loads(cause)
        cause = parsed.get("errorMessage", cause) if isinstance(parsed, dict) else cause
    except (ValueError, TypeError):
        pass
    return f"{error.get('Error') or ended.get('error') or 'no error given'}: {str(cause)[:400]}"


def _record_when_written(stack: Stack, execution: str, seconds: float = 30.0) -> dict[str, Any] | None:
    """The run's record, written by the rule on the execution's end (a moment after it)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            found = runlib.find_run(stack, execution)
        except CliError:
            found = None
        if found is not None and not found.get("live"):
            return found
        if time.monotonic() > deadline:
            return None
        time.sleep(0.5)


@app.command()
@handled
def cost(
    folder: FolderArgument,
    model: ModelOption = None,
    customization_type: TypeOption = None,
    settings: SettingsOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="the estimate as JSON")] = False,
) -> None:
    """The cost estimate of a run on this folder, from the pre-flight check alone (no stack, no credentials)."""
    data = datasets.load(folder, model=model, customization_type=customization_type, settings=settings)
    report = datasets.preflight(data)
    estimate = report.cost
    if estimate is None:
        raise CliError(f"the pre-flight check of {folder} made no estimate")
    if as_json:
        out.print_json(json.dumps(estimate.as_dict()))
        return
    table = Table(title=f"Estimate for {data.resolved.base_model_id} ({data.resolved.customization_type.value})")
    table.add_column("item")
    table.add_column("USD", justify="right")
    table.add_column("from")
    table.add_row(
        "training",
        f"{estimate.training_usd:,.2f}",
        f"{estimate.training_tokens:,} tokens x {estimate.epochs} epochs at {estimate.training_per_1k_tokens} / 1k",
    )
    table.add_row("custom model storage", f"{estimate.storage_usd_per_month:,.2f} / month", "")
    table.add_row(
        "provisioned throughput",
        f"{estimate.throughput_usd_per_hour:,.2f} / hour",
        f"{estimate.model_units} model unit{'s' if estimate.model_units != 1 else ''}, no commitment",
    )
    out.print(table)
    out.print(
        f"Prices as of {estimate.prices_as_of}; the token count leans high (conservative estimate).", markup=False
    )


# ---- runs, show, report, compare ----


@app.command("runs")
@handled
def list_runs(
    ctx: typer.Context,
    status: Annotated[
        str | None, typer.Option("--status", help="RUNNING, SUCCEEDED, FAILED, ABORTED, TIMED_OUT")
    ] = None,
    model: Annotated[str | None, typer.Option("--model", help="base model id (or part of it)")] = None,
    since: Annotated[str | None, typer.Option("--since", help="a date, a time, or 30m / 12h / 7d ago")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000)] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="the rows as JSON")] = False,
) -> None:
    """Recent runs, newest first (running ones on top)."""
    if status and status.upper() not in ("RUNNING", *TERMINAL):
        raise CliError(f"--status {status!r}: one of RUNNING, {', '.join(TERMINAL)}", 2)
    found = runlib.list_runs(
        _options(ctx).stack(),
        limit=limit,
        status=status.upper() if status else None,
        base_model=model,
        since=runlib.parse_since(since) if since else None,
    )
    rows = [runlib.row(r) for r in found]
    if as_json:
        out.print_json(json.dumps(rows))
        return
    if not rows:
        out.print("no runs" + (" match" if status or model or since else " recorded yet"))
        return
    table = Table()
    for title in (
        "started (UTC)",
        "status",
        "run",
        "base model",
        "method",
        "decision",
        "metric: custom vs base",
        "throughput h",
        "est. USD",
    ):
        table.add_column(title, overflow="fold")
    for r in rows:
        table.add_row(
            r["started"], r["status"], r["run"], r["base_model"], r["method"], r["decision"], r["metric"],
            r["throughput_hours"], r["cost"],
        )  # fmt: skip
    out.print(table)


RunArgument = Annotated[str, typer.Argument(help="execution name, run id or run name")]


@app.command()
@handled
def show(
    ctx: typer.Context,
    run: RunArgument,
    as_json: Annotated[bool, typer.Option("--json", help="the whole record as JSON (numbers as stored)")] = False,
) -> None:
    """One run: status, data lineage, settings, job, throughput, evaluation, decision, cleanup, timeline."""
    record = runlib.find_run(_options(ctx).stack(), run)
    if as_json:
        sys.stdout.write(json.dumps(record, indent=2, default=str) + "\n")
        return
    _print_run(record)


def _print_run(record: dict[str, Any]) -> None:
    r = runlib.row(record)
    out.print(f"Run {r['run']}: {r['status']}", markup=False, style="bold")
    facts = Table.grid(padding=(0, 2))
    facts.add_column(style="dim")
    facts.add_column(overflow="fold")
    for label, value in (
        ("execution", record.get("execution")),
        ("started / ended", f"{r['started']} / {runlib.started_text({'started_at': record.get('stopped_at')}) or '-'}"),
        ("base model", f"{r['base_model']} ({r['method']})"),
        ("job", f"{record.get('job_arn') or '-'} {record.get('job_status') or ''}".strip()),
        ("custom model", record.get("custom_model_arn") or "-"),
        ("throughput", f"{record.get('throughput_arn') or '-'} {record.get('throughput_status') or ''}".strip()),
        ("throughput policy", record.get("throughput_policy") or "-"),
        ("throughput hours", r["throughput_hours"]),
        ("estimated USD (throughput)", r["cost"]),
    ):
        facts.add_row(label, str(value))
    out.print(facts)
    _print_data(record)
    evaluation = record.get("evaluation") or {}
    if evaluation:
        table = Table(title=f"Evaluation ({(evaluation.get('custom') or {}).get('examples', '?')} test examples)")
        for column in ("metric", "custom", "base", "custom - base", "95% CI"):
            table.add_column(column, justify="right" if column != "metric" else "left")
        for m in evaluation.get("comparison", []):
            table.add_row(
                METRIC_TITLES.get(m["metric"], m["metric"]),
                f"{m['custom']:.3f}",
                f"{m['base']:.3f}",
                f"{m['difference']:+.3f}",
                f"{m['ci_low']:+.3f} to {m['ci_high']:+.3f}",
            )
        out.print(table)
        decision = evaluation.get("decision") or {}
        out.print(f"Decision: {decision.get('reason') or r['decision']}", markup=False)
        if evaluation.get("report_html_uri"):
            out.print(f"Report: {evaluation['report_html_uri']}", markup=False)
    if record.get("cleanup"):
        out.print(f"Cleanup: {json.dumps(record['cleanup'])}", markup=False)
    if record.get("error"):
        out.print(f"Error: {json.dumps(record['error'])[:600]}", markup=False)
    steps = record.get("steps") or []
    if steps:
        first = datetime.fromisoformat(steps[0]["entered"])
        out.print("Timeline: " + " -> ".join(
            f"{s['state']} (+{(datetime.fromisoformat(s['entered']) - first).total_seconds():.0f}s)" for s in steps
        ), markup=False)  # fmt: skip


def _print_data(record: dict[str, Any]) -> None:
    """The data's lineage: each file's object, version, size, records and SHA-256."""
    data = record.get("data") or {}
    if not data:
        return
    out.print("Data:", markup=False)
    for role, item in data.items():
        if isinstance(item, dict):
            out.print(
                f"  {role:<10} {item.get('records', '?')} records, {item.get('size', '?')} bytes, "
                f"sha256 {item.get('sha256') or '-'}",
                markup=False,
            )
            out.print(f"  {'':<10} {item.get('uri')} (version {item.get('version_id') or '-'})", markup=False)


@app.command()
@handled
def report(
    ctx: typer.Context,
    run: RunArgument,
    to: Annotated[Path, typer.Option("--to", help="where to save it")] = Path("bedrock-reports"),
    open_it: Annotated[
        bool | None, typer.Option("--open/--no-open", help="open it in a browser (default: on a terminal)")
    ] = None,
) -> None:
    """Download the run's HTML evaluation report (with its Markdown and JSON) and open it, or print its path."""
    stack = _options(ctx).stack()
    record = runlib.find_run(stack, run)
    evaluation = record.get("evaluation") or {}
    uri = evaluation.get("report_html_uri")
    if not uri:
        raise CliError(f"run {record.get('run_id') or run} ({record.get('status')}) has no evaluation report")
    folder = to / str(record.get("run_id") or record["execution"])
    folder.mkdir(parents=True, exist_ok=True)
    s3 = stack.client("s3")
    saved: Path | None = None
    for key in ("report_html_uri", "report_markdown_uri", "report_uri"):
        source = evaluation.get(key)
        if not source:
            continue
        bucket, _, object_key = str(source).removeprefix("s3://").partition("/")
        try:
            body = s3.get_object(Bucket=bucket, Key=object_key)["Body"].read()
        except (ClientError, BotoCoreError) as exc:
            raise CliError(describe_error(exc, f"downloading {source}")) from None
        target = folder / object_key.rsplit("/", 1)[-1]
        target.write_bytes(body)
        saved = saved or target
    assert saved is not None
    out.print(str(saved.resolve()), markup=False)
    if open_it if open_it is not None else sys.stdout.isatty():
        webbrowser.open(saved.resolve().as_uri())


@app.command()
@handled
def compare(ctx: typer.Context, first: RunArgument, second: RunArgument) -> None:
    """Two runs' evaluations side by side, with the difference of their decision metric (second - first)."""
    stack = _options(ctx).stack()
    a, b = runlib.find_run(stack, first), runlib.find_run(stack, second)
    runlib.require_evaluation(a)
    runlib.require_evaluation(b)
    rows = runlib.comparison(a, b)
    if not rows:
        raise CliError("the two evaluations have no metric in common")
    name_a, name_b = runlib.names([a, b])
    table = Table(title=f"{name_a}  vs  {name_b}")
    for column in (
        "metric",
        f"custom ({name_a})",
        f"custom ({name_b})",
        "second - first",
        "base (first)",
        "base (second)",
    ):
        table.add_column(column, justify="left" if column == "metric" else "right", overflow="fold")
    for r in rows:
        table.add_row(
            r["title"], f"{r['first_custom']:.3f}", f"{r['second_custom']:.3f}", f"{r['difference']:+.3f}",
            f"{r['first_base']:.3f}", f"{r['second_base']:.3f}",
        )  # fmt: skip
    out.print(table)
    metric_a, metric_b = runlib.decision_metric(a), runlib.decision_metric(b)
    if metric_a and metric_b and metric_a["metric"] == metric_b["metric"]:
        out.print(
            f"Decision metric {metric_a['title']}: {metric_b['custom']:.3f} - {metric_a['custom']:.3f} = "
            f"{metric_b['custom'] - metric_a['custom']:+.3f} (decisions: {runlib.decision_of(a)} / {runlib.decision_of(b)})",
            markup=False,
        )
    elif metric_a and metric_b:
        out.print(
            f"The runs decided on different metrics ({metric_a['title']} / {metric_b['title']}): no single difference",
            markup=False,
        )


# ---- stop ----


@app.command()
@handled
def stop(
    ctx: typer.Context,
    run: RunArgument,
    wait: Annotated[float, typer.Option("--wait", help="seconds to wait for the aftercare")] = STOP_SECONDS,
) -> None:
    """Stop a running run (StopExecution), wait for the aftercare, and say what it stopped and deleted."""
    from cli.aftercare import stop_run

    stack = _options(ctx).stack()
    record = runlib.find_run(stack, run)
    if record.get("status") != "RUNNING":
        raise CliError(f"run {record.get('run_id') or run} is {record.get('status')}: nothing to stop")
    for line in stop_run(stack, record, wait):
        out.print(line, markup=False)


# ---- ui ----


@app.command()
@handled
def ui(
    ctx: typer.Context,
    port: Annotated[int, typer.Option("--port", help="loopback port (0: any free one)")] = 8765,
    open_it: Annotated[bool, typer.Option("--open/--no-open", help="open it in a browser")] = True,
) -> None:
    """The run browser: a read-only page on 127.0.0.1 with the runs, each run, and two runs compared."""
    from cli.ui.server import serve

    stack = _options(ctx).stack()
    serve(stack, port=port, on_ready=lambda url: _ready(url, open_it))


def _ready(url: str, open_it: bool) -> None:
    out.print(f"Run browser at {url} (read-only; Ctrl-C stops it)", markup=False)
    if open_it:
        webbrowser.open(url)


def main() -> None:
    app(prog_name="bedrock-customize")
