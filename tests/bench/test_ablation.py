"""``toygrpc bench --ablation`` on a tiny workload: one row per variant, each variant
installing exactly the hooks it names (seen in the kinds of event it recorded).

No timing assertions: what each group costs is the benchmark's business, never a test's.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from toygrpc.bench import ablation
from toygrpc.bench.workload import WARMUP

# The kinds of event each group records on a unary client call (startup: thread births).
RECORDS = {
    "startup": {"thread.started"},
    "loop": {"future.created", "future.resolved", "task.resumed", "loop.wake", "poller.drain",
             "poller.socketpair"},
    "glue": {"glue.span"},
    "rpc": {"rpc.started", "rpc.finished"},
}


@pytest.fixture(scope="module")
def bench_output(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict[str, Any]]:
    """One tiny run of the command, as a user runs it: its table and its JSON."""
    out = tmp_path_factory.mktemp("ablation") / "ablation.json"
    done = subprocess.run([sys.executable, "-m", "toygrpc", "bench", "--ablation", "--calls",
                           "30", "--rounds", "2", "--json", str(out)],
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout, json.loads(out.read_text())


def test_the_table_has_one_row_per_variant_at_each_concurrency(
        bench_output: tuple[str, dict[str, Any]]) -> None:
    table, _ = bench_output
    lines = table.splitlines()
    for concurrency in (1, 8):
        title = next(i for i, line in enumerate(lines)
                     if line.startswith("hooks installed one group at a time, concurrency "
                                        f"{concurrency},"))
        assert "medians of p50 over interleaved rounds, difference from none" in lines[title]
        assert lines[title + 1].split()[:4] == ["installed", "p50", "us", "+us"]
        rows = lines[title + 2: title + 2 + len(ablation.VARIANTS)]
        assert [row[:20].strip() for row in rows] == list(ablation.VARIANTS)
        assert rows[0].split()[1:4] == [rows[0].split()[1], "+0", "1.00"]  # none against itself


def test_each_variant_recorded_what_its_groups_record_and_nothing_else(
        bench_output: tuple[str, dict[str, Any]]) -> None:
    _, results = bench_output
    for concurrency in (1, 8):
        rows = results[f"ablation_c{concurrency}"]
        assert [r["variant"] for r in rows] == list(ablation.VARIANTS)
        for row in rows:
            assert tuple(row["groups"]) == ablation.VARIANTS[row["variant"]]
            expected = set().union(*(RECORDS[g] for g in row["groups"]))
            kinds = set(row["event_kinds"])
            assert kinds <= expected | {"task.finished"}, (row["variant"], kinds - expected)
            assert expected - kinds == set(), (row["variant"], expected - kinds)
            if "rpc" in row["groups"]:  # every timed and warm-up call started and ended
                calls = 30 + WARMUP
                assert row["event_kinds"]["rpc.started"] == calls
                assert row["event_kinds"]["rpc.finished"] == calls
            assert row["p50_us"] > 0 and row["cpu_us"] > 0
            assert row["low_us"] <= row["p50_us"] <= row["high_us"]


def test_variants_take_turns_so_each_ran_all_its_calls(tmp_path: Path) -> None:
    """The ring of turns hands every variant all of its batches (30 calls, turns of 20)."""
    rows = ablation.measure(30, 1, 1, variants={"none": ("startup",),
                                                "rpc": ("startup", "rpc")})
    assert [r.variant for r in rows] == ["none", "rpc"]
    assert rows[1].event_kinds["rpc.finished"] == 30 + WARMUP
