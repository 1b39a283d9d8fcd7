"""The benchmark's machinery on a tiny workload: every mode measured, numbers sane.

No timing assertions: targets live in `toygrpc bench`, never in tests.
"""

from __future__ import annotations

from pathlib import Path

from toygrpc.bench import analysis_cost, overhead


def test_every_capture_mode_runs_the_same_workload() -> None:
    rows = overhead.measure(calls=20, concurrency=2, rounds=1)
    assert [r.mode for r in rows] == list(overhead.MODES)
    for row in rows:
        assert row.p50_us > 0 and row.p99_us >= row.p50_us
        assert row.rpcs_per_s > 0 and row.peak_rss_mb > 0
    written = {r.mode: r.bytes_per_rpc for r in rows}
    assert written["untraced"] == 0  # writes nothing
    # the core trace and viztracer each add what they write
    assert 0 < written["hooks"] < written["hooks+core"] < written["full"]
    assert written["viztracer alone"] > written["hooks+core"]


def test_analysis_cost_compares_with_parsing(tmp_path: Path) -> None:
    seen: list[str] = []
    (result,) = analysis_cost.measure([30], tmp_path, seen.append)
    assert result.rpcs == 30 and result.events > 30 * 10
    assert result.parse_s > 0 and result.analysis_s > 0
    assert result.analysis_peak_mb > 0
    assert any("analysing" in s for s in seen)
