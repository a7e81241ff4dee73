"""``python -m offline.bedrock_emulator --port 4599``: serve the emulator until interrupted."""

from __future__ import annotations

import argparse
import contextlib
import logging
import signal
import sys
from dataclasses import replace
from types import FrameType

from offline.bedrock_emulator.config import EmulatorSettings
from offline.bedrock_emulator.server import EmulatorServer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m offline.bedrock_emulator", description=__doc__)
    parser.add_argument("--port", type=int, default=4599, help="0 picks a free port (default 4599)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--job-seconds", type=float, help="InProgress -> Completed (env BEDROCK_EMULATOR_JOB_SECONDS)")
    parser.add_argument("--throughput-seconds", type=float, help="Creating -> InService")
    parser.add_argument("--deployment-seconds", type=float, help="Creating -> Active")
    parser.add_argument("--stop-seconds", type=float, help="Stopping -> Stopped")
    parser.add_argument("--s3-endpoint-url", help="default: AWS_ENDPOINT_URL_S3, then AWS_ENDPOINT_URL")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")

    settings = EmulatorSettings.from_env()
    settings = replace(
        settings,
        durations=settings.durations.updated(
            job_seconds=args.job_seconds,
            throughput_seconds=args.throughput_seconds,
            deployment_seconds=args.deployment_seconds,
            stop_seconds=args.stop_seconds,
        ),
        s3_endpoint_url=args.s3_endpoint_url or settings.s3_endpoint_url,
    )
    server = EmulatorServer(port=args.port, host=args.host, settings=settings).bind()

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)
    print(f"Bedrock emulator listening on {server.endpoint_url}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
