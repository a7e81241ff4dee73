"""How often the paired bootstrap interval lies above zero when the two models are in truth equal, by the
number of test examples: the figures behind ``decision.MIN_CONFIDENT_EXAMPLES``.

Each trial draws n per-example differences (custom - base) with a tie half of the time and a win or a loss a
quarter each (true mean 0), and asks ``paired_bootstrap`` for the 95% interval; the rule would claim
confidence when its lower end is above zero, which should happen in about 2.5% of trials. Seeded: the same
figures every time. ``python -m tools.bootstrap_coverage`` (about a minute)."""

from __future__ import annotations

import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lambdas"))

from customizer.evaluation.bootstrap import paired_bootstrap

SIZES = (1, 2, 3, 5, 10, 20, 30, 50)
TRIALS = 1000
RESAMPLES = 500


def false_confidence(n: int, rng: random.Random) -> float:
    above = 0
    for trial in range(TRIALS):
        differences = [rng.choice((-1.0, 0.0, 0.0, 1.0)) for _ in range(n)]
        custom = [max(d, 0.0) for d in differences]
        base = [max(-d, 0.0) for d in differences]
        interval = paired_bootstrap({"m": custom}, {"m": base}, resamples=RESAMPLES, seed=trial)["m"]
        above += interval.low > 0
    return above / TRIALS


def main() -> None:
    rng = random.Random(1)  # noqa: S311 - a seeded simulation, not cryptography
    for n in SIZES:
        print(f"examples {n}: interval above zero in {false_confidence(n, rng):.1%} of trials (nominal 2.5%)")


if __name__ == "__main__":
    main()
