"""Percentiles against numpy's nearest-rank percentile, on the same samples."""

from __future__ import annotations

import random

import numpy
import pytest

from toygrpc.analysis.stages import percentile


@pytest.mark.parametrize("size", [1, 2, 3, 7, 10, 99, 100, 101, 1000])
@pytest.mark.parametrize("q", [50, 90, 99])
def test_percentile_is_the_nearest_rank(size: int, q: int) -> None:
    values = sorted(random.Random(size * 1000 + q).randrange(0, 10**6) for _ in range(size))
    assert percentile(values, q) == numpy.percentile(values, q, method="inverted_cdf")


def test_percentiles_of_a_known_sample() -> None:
    values = list(range(1, 11))  # 1..10: nearest rank p50 = 5th, p90 = 9th, p99 = 10th
    assert [percentile(values, q) for q in (50, 90, 99)] == [5, 9, 10]
    assert percentile([], 50) == 0
