"""Step Functions' failure tolerance of a Distributed Map, which the offline runtime adds to moto's interpreter
(the end-to-end suite runs it: a failed chunk fails the map)."""

from __future__ import annotations

import pytest

from offline.moto_patches import exceeds_tolerance


@pytest.mark.parametrize(
    ("failed", "total", "count", "percentage", "fails"),
    [
        (0, 10, None, None, False),
        (1, 10, None, None, True),  # nothing tolerated by default
        (1, 10, 0, 0.0, True),
        (2, 10, 2, None, False),
        (3, 10, 2, None, True),
        (2, 10, None, 20.0, False),
        (3, 10, None, 20.0, True),
        (3, 10, 5, 20.0, True),  # both set: exceeding either fails
        (3, 10, 2, 50.0, True),
        (2, 10, 5, 50.0, False),
    ],
)
def test_a_map_fails_when_its_failed_children_exceed_either_threshold(failed, total, count, percentage, fails):
    assert exceeds_tolerance(failed, total, count, percentage) is fails
