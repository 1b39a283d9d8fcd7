"""Per-stage latency over a run: p50, p90, p99 and max of every stage's durations."""

from __future__ import annotations

from dataclasses import dataclass

from toygrpc.analysis.chains import HOOK_SPANS, STAGE_DEFINITIONS, STAGE_ORDER, Analysis

PERCENTILES = (50, 90, 99)


@dataclass(frozen=True)
class StageStats:
    name: str
    definition: str
    count: int
    p50: int
    p90: int
    p99: int
    max: int


def percentile(sorted_values: list[int], q: float) -> int:
    """Nearest-rank percentile of already sorted values."""
    if not sorted_values:
        return 0
    rank = max(1, round(q / 100 * len(sorted_values) + 0.4999))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def stage_samples(analysis: Analysis) -> dict[str, list[int]]:
    """Every duration (ns) per stage: each complete chain's own stages (one sample per
    chain, per message of a stream), and Python before and after the core of each complete
    RPC (``Rpc.stages()``). The table and the plots both read this."""
    samples: dict[str, list[int]] = {name: [] for name in STAGE_ORDER}
    for chain in analysis.chains:
        if chain.complete:
            for name, value in chain.stages().items():
                samples[name].append(value)
    for rpc in analysis.rpcs:
        if rpc.side == "client" and rpc.complete:
            stages = rpc.stages()
            samples["python_before_core"].append(stages["python_before_core"])
            samples["python_after_core"].append(stages["python_after_core"])
    return samples


def stage_statistics(analysis: Analysis) -> list[StageStats]:
    """p50/p90/p99/max of every stage over ``stage_samples``."""
    samples = stage_samples(analysis)
    result = []
    for name in STAGE_ORDER:
        values = sorted(samples[name])
        result.append(StageStats(name, STAGE_DEFINITIONS[name], len(values),
                                 percentile(values, 50), percentile(values, 90),
                                 percentile(values, 99), values[-1] if values else 0))
    return result


def _statistics(name: str, definition: str, values: list[int]) -> StageStats:
    values = sorted(values)
    return StageStats(name, definition, len(values), percentile(values, 50),
                      percentile(values, 90), percentile(values, 99),
                      values[-1] if values else 0)


def hook_span_statistics(analysis: Analysis) -> list[StageStats]:
    """p50/p90/p99/max of ``HOOK_SPANS`` over the client RPCs that have them: what every
    capture mode, hooks alone included, measures the same way."""
    samples: dict[str, list[int]] = {name: [] for name in HOOK_SPANS}
    for rpc in analysis.rpcs:
        spans = rpc.hook_spans()
        if spans is not None:
            for name, value in spans.items():
                samples[name].append(value)
    return [_statistics(name, HOOK_SPANS[name], samples[name]) for name in HOOK_SPANS]
