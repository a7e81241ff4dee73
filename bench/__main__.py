"""Run every benchmark module listed in BENCHMARKS (or those named on the command line) and print
``name: value`` lines."""

from __future__ import annotations

import importlib
import platform
import sys
import time

BENCHMARKS: tuple[str, ...] = ("validate", "evaluate", "ui")


def main(argv: list[str]) -> int:
    names = argv or list(BENCHMARKS)
    print(f"# {platform.node()} {platform.machine()} python {platform.python_version()} {time.strftime('%Y-%m-%d')}")
    for name in names:
        module = importlib.import_module(f"bench.{name}")
        for key, value in module.run().items():
            print(f"{key}: {value:.3f}" if isinstance(value, float) else f"{key}: {value}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
