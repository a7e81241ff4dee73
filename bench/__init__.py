"""Benchmarks (``make bench``): each module here with a ``run() -> dict[str, float]`` prints its figures
as ``name: value`` lines. Results are written down in the README's performance section with the machine
and the date; no test asserts on timings."""
