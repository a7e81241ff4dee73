"""``make -s runs`` lists recent runs; ``make -s run RUN=<id>`` shows one.

Against a deployed stack it uses your AWS credentials and finds the runs table from the stack's outputs.
Against the offline stack (``python -m offline demo --keep-running``), give ``--offline``: the demo writes
where its endpoints and tables are to ``.offline/endpoints.json``."""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "lambdas"))

from customizer.records import find_record, recent_records  # noqa: E402

ENDPOINTS = ROOT / ".offline" / "endpoints.json"
STACK = "BedrockCustomization"


def _table(args: argparse.Namespace) -> str:
    if args.table:
        return str(args.table)
    if args.offline:
        if not ENDPOINTS.is_file():
            raise SystemExit(
                f"{ENDPOINTS} not found: start the offline stack with `python -m offline demo --keep-running`"
            )
        endpoints = json.loads(ENDPOINTS.read_text())
        url = urlsplit(endpoints["environment"]["AWS_ENDPOINT_URL"])
        try:
            socket.create_connection((url.hostname, url.port), timeout=2).close()
        except OSError:
            raise SystemExit(
                f"the offline stack is not running (nothing answers at {url.geturl()}, as {ENDPOINTS} says): "
                "start it with `python -m offline demo --keep-running`"
            ) from None
        os.environ.update(endpoints["environment"])
        return str(endpoints["outputs"]["RunsTableName"])
    import boto3

    outputs = boto3.client("cloudformation").describe_stacks(StackName=STACK)["Stacks"][0].get("Outputs", [])
    for output in outputs:
        if output["OutputKey"] == "RunsTableName":
            return str(output["OutputValue"])
    raise SystemExit(f"stack {STACK} has no RunsTableName output: deploy the current version")


def _hours(record: dict[str, Any]) -> str:
    """Throughput hours: estimated before the run, and incurred (``open`` while a kept throughput bills)."""
    estimated, incurred = record.get("throughput_hours_estimated"), record.get("throughput_hours_incurred")
    if estimated is None and incurred is None:
        return "-"
    shown = "?" if estimated is None else f"{estimated:.2f}"
    return f"{shown} h est / " + ("open" if incurred is None else f"{incurred:.2f} h")


def _line(record: dict[str, Any]) -> str:
    evaluation = record.get("evaluation") or {}
    accuracy = ""
    if evaluation:
        accuracy = f"custom {evaluation['custom']['accuracy']:.1%} / base {evaluation['base']['accuracy']:.1%}"
    return "  ".join(
        str(v)
        for v in (
            record.get("started_at", "")[:19],
            f"{record.get('status', ''):<9}",
            f"{record.get('run_id') or '-':<40}",
            f"{record.get('throughput_policy') or '-':<7}",
            f"{_hours(record):<24}",
            accuracy,
        )
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="runs", description=__doc__.split("\n\n")[0])
    parser.add_argument("run", nargs="?", help="an execution name, run id or run name: show that run")
    parser.add_argument("--limit", type=int, default=20)
    parser.add_argument("--offline", action="store_true", help="use the offline stack of a running demo")
    parser.add_argument("--table", help="the runs table's name (default: from the stack's outputs)")
    args = parser.parse_args(argv)
    table = _table(args)
    if args.run:
        record = find_record(table, args.run)
        if record is None:
            print(f"no run {args.run!r} in {table}", file=sys.stderr)
            return 1
        print(json.dumps(record, indent=2, default=str))
        return 0
    records = recent_records(table, args.limit)
    if not records:
        print("no runs recorded yet")
    for record in records:
        print(_line(record))
    return 0


if __name__ == "__main__":
    sys.exit(main())
