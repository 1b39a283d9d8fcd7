"""Percentiles and the stage table's statistics, checked independently of the code.

The tool documents its percentiles as nearest-rank (``stages.percentile``, the stage
table, docs/summary.md): the p-th percentile of n sorted values is the value of rank
ceil(p/100 * n), 1-based; no interpolation, always one of the samples. numpy calls
this definition ``method="inverted_cdf"``; ``statistics.quantiles`` interpolates
(between ranks), so it is the wrong reference except where both agree.
"""

from __future__ import annotations

import math
import random
import statistics
from pathlib import Path

import numpy
import pytest

from toygrpc.analysis import stages as stages_module
from toygrpc.analysis.chains import HOOK_SPANS, STAGE_ORDER, Analysis, analyze
from toygrpc.analysis.stages import (
    hook_span_statistics,
    percentile,
    stage_samples,
    stage_statistics,
)
from toygrpc.model.timeline import Timeline

ROOT = Path(__file__).resolve().parents[2]
# Committed real captures: the test fixtures and the samples under traces/.
RUNS = [ROOT / "tests" / "fixtures" / "runs" / name
        for name in ("both-3", "shapes-both", "cancel-both")] + [
    ROOT / "traces" / "samples" / name for name in ("both", "client", "stream")]


def nearest_rank(values: list[int], q: float) -> int:
    """The definition, spelled out: the value of rank ceil(q/100 * n)."""
    return sorted(values)[max(1, math.ceil(q / 100 * len(values))) - 1]


@pytest.mark.parametrize("size", [1, 2, 3, 7, 10, 99, 100, 101, 199, 1000])
@pytest.mark.parametrize("q", [50, 90, 99])
def test_percentile_is_the_nearest_rank(size: int, q: int) -> None:
    """Distinct values (drawn without replacement): with repeated values a rank off by
    one can pick an equal neighbour and pass unseen."""
    values = sorted(random.Random(size * 1000 + q).sample(range(10**6), size))
    expected = nearest_rank(values, q)
    assert percentile(values, q) == expected
    assert percentile(values, q) == numpy.percentile(values, q, method="inverted_cdf")


def test_percentiles_of_known_samples() -> None:
    """Kills "percentile off by one" (stages.percentile): ranks read off by hand."""
    ten = list(range(10, 101, 10))  # 10..100: p50 = 5th, p90 = 9th, p99 = 10th
    assert [percentile(ten, q) for q in (50, 90, 99)] == [50, 90, 100]
    assert [percentile([10, 20], q) for q in (50, 90, 99)] == [10, 20, 20]
    assert [percentile([7], q) for q in (50, 90, 99)] == [7, 7, 7]
    hundred = list(range(1, 101))  # p50 = 50th, p90 = 90th, p99 = 99th: never the max
    assert [percentile(hundred, q) for q in (50, 90, 99)] == [50, 90, 99]
    assert percentile(list(range(1, 201)), 99) == 198
    assert percentile([], 50) == 0


def test_nearest_rank_is_not_the_interpolated_quantile() -> None:
    """Where ``statistics.quantiles`` would interpolate, the tool returns a sample."""
    values = [10, 20, 30, 40]
    interpolated = statistics.quantiles(values, n=100, method="inclusive")[49]  # p50
    assert interpolated == 25.0
    assert percentile(values, 50) == 20 and percentile(values, 50) in values
    # and where a rank falls exactly, the two agree
    odd = [10, 20, 30, 40, 50]
    assert percentile(odd, 50) == statistics.quantiles(odd, n=100, method="inclusive")[49]


@pytest.fixture(scope="module")
def pooled() -> Analysis:
    """The chains and RPCs of six committed real runs pooled: over 100 samples of
    core_to_poller, so p90, p99 and the max are three different samples."""
    analyses = [analyze(Timeline.load(run)) for run in RUNS]
    return Analysis([c for a in analyses for c in a.chains], [r for a in analyses
                                                               for r in a.rpcs])


def test_stage_statistics_are_the_nearest_rank_of_the_samples(pooled: Analysis) -> None:
    samples = stage_samples(pooled)
    assert len(samples["core_to_poller"]) > 100
    stats = {s.name: s for s in stage_statistics(pooled)}
    assert list(stats) == list(STAGE_ORDER)
    for name in STAGE_ORDER:
        values, s = samples[name], stats[name]
        assert s.count == len(values)
        if not values:
            assert (s.p50, s.p90, s.p99, s.max) == (0, 0, 0, 0)
            continue
        assert s.max == max(values)
        for got, q in ((s.p50, 50), (s.p90, 90), (s.p99, 99)):
            assert got == nearest_rank(values, q) == numpy.percentile(
                values, q, method="inverted_cdf"), (name, q)
    poller = sorted(samples["core_to_poller"])
    assert len({stats["core_to_poller"].p90, stats["core_to_poller"].p99,
                stats["core_to_poller"].max}) == 3
    assert stats["core_to_poller"].p99 == poller[math.ceil(0.99 * len(poller)) - 1]


def test_a_run_without_samples_has_zero_statistics() -> None:
    stats = stage_statistics(Analysis([], []))
    assert [(s.count, s.p50, s.p90, s.p99, s.max) for s in stats] == [(0, 0, 0, 0, 0)] * len(
        STAGE_ORDER)


def test_hook_span_statistics_are_the_nearest_rank_of_each_rpcs_spans(pooled: Analysis) -> None:
    """Over the pooled runs' single-chain client RPCs (their spans are differences of hook
    events), each span's p50/p90/p99/max, against the definition."""
    spans = [s for s in (r.hook_spans() for r in pooled.rpcs) if s is not None]
    assert len(spans) >= 10
    stats = {s.name: s for s in hook_span_statistics(pooled)}
    assert list(stats) == list(HOOK_SPANS)
    for name in HOOK_SPANS:
        values = [s[name] for s in spans]
        assert len(set(values)) == len(values)  # distinct: a rank off by one shows
        got = stats[name]
        assert got.count == len(values) and got.max == max(values)
        assert (got.p50, got.p90, got.p99) == tuple(nearest_rank(values, q)
                                                    for q in (50, 90, 99)), name
    assert [(s.count, s.max) for s in hook_span_statistics(Analysis([], []))] == [(0, 0)] * 5


def test_the_statistics_of_two_hundred_values() -> None:
    """``_statistics`` (the hook spans' table) on 1..200: nearest ranks 100, 180, 198."""
    s = stages_module._statistics("span", "what it is", list(reversed(range(1, 201))))
    assert (s.name, s.definition, s.count, s.p50, s.p90, s.p99, s.max) == (
        "span", "what it is", 200, 100, 180, 198, 200)
    empty = stages_module._statistics("span", "", [])
    assert (empty.count, empty.p50, empty.max) == (0, 0, 0)
