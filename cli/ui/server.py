"""The run browser's server: loopback only, GET and HEAD only (read-only: it never changes the stack).

``/`` the runs (``?status=&model=&since=``), ``/run/<execution>`` one run, ``/run/<execution>/report.html`` its
evaluation report from the artifacts bucket, ``/compare?run=A&run=B`` two runs side by side."""

from __future__ import annotations

import contextlib
import csv
import io
import threading
from collections.abc import Callable, Mapping, Sequence
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol
from urllib.parse import parse_qs, quote, unquote, urlsplit

from botocore.exceptions import BotoCoreError, ClientError

from cli import runs as runlib
from cli.stack import CliError, Stack
from cli.ui import pages
from customizer.jobs import TRAINING_METRICS, VALIDATION_ARTIFACTS, VALIDATION_METRICS_FILE

LOOPBACK = "127.0.0.1"
LIST_LIMIT = 1000


class Source(Protocol):
    """What the pages are made from (the stack; a benchmark gives made-up runs)."""

    where: str

    def runs(self, limit: int, filters: Mapping[str, str]) -> list[dict[str, Any]]: ...
    def run(self, identifier: str) -> dict[str, Any]: ...
    def curves(self, record: Mapping[str, Any]) -> dict[str, list[tuple[float, float]]]: ...
    def report(self, record: Mapping[str, Any]) -> bytes | None: ...


class StackSource:
    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.where = stack.where

    def runs(self, limit: int, filters: Mapping[str, str]) -> list[dict[str, Any]]:
        since = filters.get("since")
        return runlib.list_runs(
            self.stack,
            limit=limit,
            status=filters.get("status") or None,
            base_model=filters.get("model") or None,
            since=runlib.parse_since(since) if since else None,
        )

    def run(self, identifier: str) -> dict[str, Any]:
        return runlib.find_run(self.stack, identifier)

    def _read(self, uri: str) -> bytes | None:
        bucket, _, key = uri.removeprefix("s3://").partition("/")
        try:
            return bytes(self.stack.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read())
        except ClientError:
            return None

    def curves(self, record: Mapping[str, Any]) -> dict[str, list[tuple[float, float]]]:
        """Loss by step from the job's metric files (customizer.jobs names where they are)."""
        root = str((record.get("training_metrics") or {}).get("output_uri") or "")
        if not root.startswith("s3://"):
            return {}
        root = root.rstrip("/") + "/"
        training = _points(self._read(root + TRAINING_METRICS), "step_number", "training_loss")
        bucket, _, prefix = (root + VALIDATION_ARTIFACTS).removeprefix("s3://").partition("/")
        validation: list[tuple[float, float]] = []
        listed = self.stack.client("s3").list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])
        found = sorted((o["Key"] for o in listed if o["Key"].endswith("/" + VALIDATION_METRICS_FILE)), key=len)
        if found:
            validation = _points(self._read(f"s3://{bucket}/{found[0]}"), "step_number", "validation_loss")
        return {"training": training, "validation": validation}

    def report(self, record: Mapping[str, Any]) -> bytes | None:
        uri = (record.get("evaluation") or {}).get("report_html_uri")
        return self._read(str(uri)) if uri else None


def _points(body: bytes | None, x: str, y: str) -> list[tuple[float, float]]:
    if not body:
        return []
    points = []
    for index, row in enumerate(csv.DictReader(io.StringIO(body.decode("utf-8", "replace")))):
        clean = {k.strip(): v for k, v in row.items() if k}
        try:
            points.append((float(clean.get(x) or index), float(clean[y])))
        except (KeyError, ValueError, TypeError):
            continue
    return points


def route(source: Source, path: str, query: Mapping[str, Sequence[str]]) -> tuple[int, bytes]:
    """(HTTP status, HTML) of a page; CliError when there is no such page or run."""
    if path == "/":
        filters = {k: query[k][0] for k in ("status", "model", "since") if query.get(k)}
        records = source.runs(LIST_LIMIT, filters)
        return HTTPStatus.OK, pages.runs_page(records, where=source.where, filters=filters).encode()
    if path.startswith("/run/") and path.endswith("/report.html"):
        report = source.report(source.run(unquote(path.removeprefix("/run/").removesuffix("/report.html"))))
        if report is None:
            raise CliError("this run has no evaluation report")
        return HTTPStatus.OK, report
    if path.startswith("/run/"):
        return HTTPStatus.OK, _run_page(source, unquote(path.removeprefix("/run/"))).encode()
    if path == "/compare":
        return _compare(source, list(query.get("run", [])))
    raise CliError(f"no page {path}")


def _run_page(source: Source, identifier: str) -> str:
    record = source.run(identifier)
    report_url = None
    if (record.get("evaluation") or {}).get("report_html_uri"):
        report_url = "/run/" + quote(str(record["execution"]), safe="") + "/report.html"
    return pages.run_page(record, curves=source.curves(record), report_url=report_url)


def _compare(source: Source, chosen: list[str]) -> tuple[int, bytes]:
    if len(chosen) != 2:
        message = pages.message_page("Compare", f"tick two runs to compare ({len(chosen)} ticked)")
        return HTTPStatus.BAD_REQUEST, message.encode()
    first, second = source.run(chosen[0]), source.run(chosen[1])
    for record in (first, second):
        runlib.require_evaluation(record)
    return HTTPStatus.OK, pages.compare_page(first, second).encode()


class Handler(BaseHTTPRequestHandler):
    server_version = "bedrock-customize-ui"
    source: Source  # set on the subclass make_server builds

    def log_message(self, format: str, *args: Any) -> None:
        return  # no access log on the terminal

    def do_HEAD(self) -> None:
        self.do_GET(body=False)

    def do_GET(self, body: bool = True) -> None:
        url = urlsplit(self.path)
        try:
            status, payload = route(self.source, url.path, parse_qs(url.query))
        except CliError as exc:
            status, payload = HTTPStatus.NOT_FOUND, pages.message_page("Not found", str(exc)).encode()
        except (ClientError, BotoCoreError) as exc:
            status, payload = HTTPStatus.BAD_GATEWAY, pages.message_page("AWS refused a request", str(exc)).encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Cache-Control", "no-store")
        # Nothing from elsewhere; the report is framed from here only.
        self.send_header(
            "Content-Security-Policy", "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:"
        )
        self.send_header("X-Content-Type-Options", "nosniff")
        self.end_headers()
        if body:
            self.wfile.write(payload)

    def _refuse(self) -> None:
        self.send_error(HTTPStatus.METHOD_NOT_ALLOWED, "the run browser is read-only")

    do_POST = do_PUT = do_DELETE = do_PATCH = _refuse


def make_server(source: Source, port: int = 0) -> ThreadingHTTPServer:
    """Bound to loopback only; ``port`` 0 picks a free one (``server.server_address``)."""
    handler = type("SourceHandler", (Handler,), {"source": source})
    server = ThreadingHTTPServer((LOOPBACK, port), handler)
    server.daemon_threads = True
    return server


def serve(stack: Stack, *, port: int, on_ready: Callable[[str], None]) -> None:
    try:
        server = make_server(StackSource(stack), port)
    except OSError as exc:
        raise CliError(
            f"cannot listen on {LOOPBACK}:{port} ({exc.strerror}): give another --port (0: any free one)"
        ) from None
    with server:
        on_ready(f"http://{LOOPBACK}:{server.server_address[1]}/")
        with contextlib.suppress(KeyboardInterrupt):
            server.serve_forever()


def serve_in_background(source: Source) -> tuple[ThreadingHTTPServer, str]:
    """For tests and the benchmark: the server on a free loopback port, in a thread; (server, base URL)."""
    server = make_server(source)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://{LOOPBACK}:{server.server_address[1]}"
