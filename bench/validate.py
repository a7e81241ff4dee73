"""The pre-flight check's throughput and memory on generated files of 100 MB and 500 MB.

Each measurement runs in a fresh subprocess (so peak RSS is the validator's own): a bare line-by-line
parse of the file with the same JSON library (the baseline), then the validator. The files are
generated into a temporary folder and deleted afterwards. The records are what fine-tuning data looks
like: prompt/completion pairs of 1 to 10 KB (about 5.5 KB on average, so the 500 MB file stays within
Titan Text Express's 100,000 records), mostly ASCII, some with accented and CJK text, escaped quotes and
newlines."""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time

MODEL = "amazon.titan-text-express-v1"
SIZES_MB = (100, 500)
REPEATS = 3
_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

_CHILD = """
import resource, sys, time
sys.path.insert(0, {lambdas!r})
mode, path = sys.argv[1], sys.argv[2]
from customizer.validation import reader
if mode == "bare":
    loads = reader.loads
    start = time.perf_counter()
    with open(path, "rb") as stream:
        for line in stream:
            loads(line)
    elapsed = time.perf_counter() - start
    valid = True
else:
    from customizer.validation import CheckSettings, DataSource, Role, validate_data
    start = time.perf_counter()
    report = validate_data(CheckSettings({model!r}, "FINE_TUNING"), [DataSource.from_path(Role.TRAINING, path)])
    elapsed = time.perf_counter() - start
    valid = report.valid
    assert report.file("training").records > 0
peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(elapsed, peak_kb, valid)
"""


def generate(path: str, megabytes: int, seed: int = 7) -> int:
    """A deterministic JSONL file of at least ``megabytes`` MB; returns its record count."""
    rng = random.Random(seed)  # noqa: S311 - deterministic test data, not secrets
    words = ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(1, 10))) for _ in range(4000)]
    words += ['"quoted"', "line\nbreak", "a,", "b."] * 20
    foreign = ["état", "über", "naïve", "déjà", "größe", "数据", "模型", "訓練", "Ωmega", "\u2014", "\u2019s"]
    target = megabytes * 1_000_000
    written = records = 0
    with open(path, "w", encoding="utf-8") as out:
        while written < target:
            prompt = " ".join(rng.choices(words, k=rng.randint(30, 450)))
            completion = " ".join(rng.choices(words, k=rng.randint(90, 1100)))
            if records % 10 == 0:  # one record in ten has non-ASCII text
                completion += " " + " ".join(rng.choices(foreign, k=20))
            line = json.dumps({"prompt": f"Question {records}: {prompt}", "completion": completion}, ensure_ascii=False)
            written += out.write(line + "\n") + (len(line.encode()) - len(line))
            records += 1
    return records


def _measure(mode: str, path: str) -> tuple[float, float, bool]:
    code = _CHILD.format(lambdas=os.path.join(_ROOT, "lambdas"), model=MODEL)
    out = subprocess.run(  # noqa: S603 - this interpreter, our own code
        [sys.executable, "-c", code, mode, path], check=True, capture_output=True, text=True
    )
    elapsed, peak_kb, valid = out.stdout.split()
    return float(elapsed), float(peak_kb) / 1024, valid == "True"


def run() -> dict[str, float]:
    folder = tempfile.mkdtemp(prefix="bench-validate-")
    try:
        results: dict[str, float] = {}
        total_mb = validate_s = bare_s = 0.0
        for size in SIZES_MB:
            path = os.path.join(folder, f"train-{size}.jsonl")
            generate(path, size)
            megabytes = os.path.getsize(path) / 1_000_000
            # Alternated and repeated, keeping each one's best: this machine is shared, and a busy moment
            # should not decide either figure.
            bare = elapsed = float("inf")
            peak_mb = 0.0
            for _ in range(REPEATS):
                bare = min(bare, _measure("bare", path)[0])
                seconds, peak, valid = _measure("validate", path)
                if not valid:
                    raise RuntimeError(f"the generated {size} MB file should be valid for {MODEL}")
                elapsed, peak_mb = min(elapsed, seconds), max(peak_mb, peak)
            total_mb += megabytes
            validate_s += elapsed
            bare_s += bare
            results[f"validate_peak_rss_mb_{size}"] = round(peak_mb, 1)
            os.remove(path)
        return {
            "validate_mb_per_s": round(total_mb / validate_s, 1),
            "validate_vs_bare_parse": round(bare_s / validate_s, 3),
            **results,
        }
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    start = time.perf_counter()
    for key, value in run().items():
        print(f"{key}: {value}")
    print(f"# {time.perf_counter() - start:.1f} s", file=sys.stderr)
