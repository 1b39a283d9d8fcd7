"""One truth for every view: on real captures, summary.json, ``show --json``, the terminal
swimlane and the plots carry the same stage values, and every swimlane arrow is a link
of the analysis (also for chains whose wake or drain served an earlier completion)."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from toygrpc.analysis.run import Run
from toygrpc.pipeline import load_run
from toygrpc.render.show_json import ShowJson
from toygrpc.render.terminal import RpcSwimlane

TERMINAL_ROW = re.compile(r"^\s*(?P<offset>[+-]\d+\.\d) .*?(?P<label>#\d+ \w+|RPC start|RPC end|"
                          r"call arrived|handler done)\s+(?P<thread>\S+)(?P<rest>.*)$")


def trace(out: Path, *args: str) -> Run:
    """``toygrpc trace`` as a user runs it; the run as ``toygrpc show`` reads it."""
    done = subprocess.run([sys.executable, "-m", "toygrpc", "trace", *args, "--no-python",
                           "--out", str(out)], capture_output=True, text=True, timeout=300,
                          check=False)
    assert done.returncode == 0, done.stderr
    return load_run(out)


@pytest.fixture(scope="module", params=["both", "all"])
def run(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Run:
    out = tmp_path_factory.mktemp("agree") / request.param
    if request.param == "both":
        return trace(out, "both", "--rpcs", "30", "--concurrency", "3")
    return trace(out, "client", "--method", "all", "--rpcs", "6", "--concurrency", "2")


def summary(run: Run) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(run.layout.summary.read_text())
    return data


def sums(rows: list[dict[str, Any]], keep: Any) -> dict[str, int]:
    totals: dict[str, int] = defaultdict(int)
    for row in rows:
        if row["stage"] and row["stage_ns"] is not None and keep(row):
            totals[row["stage"]] += row["stage_ns"]
    return dict(totals)


def nonzero(stages: dict[str, int] | None) -> dict[str, int]:
    return {k: v for k, v in (stages or {}).items() if v}


def test_the_runs_hold_the_hard_cases(run: Run) -> None:
    """The agreement below is checked where views used to disagree."""
    chains = run.analysis.chains
    served_earlier = [c for c in chains if c.shared_wake or (
        c.drain is not None and c.returned is not None and c.drain.ts < c.returned.ts)]
    assert served_earlier


def test_summary_and_show_json_agree_on_every_rpc_and_chain(run: Run) -> None:
    written = summary(run)
    for index, rpc_data in enumerate(written["rpcs"], 1):
        shown = ShowJson(index).render(run)["rpc"]
        assert shown["index"] == index
        steps = shown["steps"]
        side_chains = [c["chain"] for c in shown["chains"] if c["side"] == rpc_data["side"]]
        # Every RPC's stages divide its latency (issue 10: on both sides, every shape)...
        assert shown["stages"] == rpc_data["stages"]
        assert sum(rpc_data["stages"].values()) == rpc_data["latency"]
        if rpc_data["side"] == "client" and len(side_chains) == 1:
            # ...and with one chain, its rows' shares are exactly that division (a
            # stream's chains overlap: each row keeps its chain's own stage, the RPC's
            # division counts every instant once, see docs/summary.md)
            mine = [r for r in steps if r["chain"] in side_chains
                    or r["step"] == "RPC end"]
            assert nonzero(sums(mine, lambda r: True)) == nonzero(rpc_data["stages"])
        ordered = [c for c in shown["chains"] if c["side"] == rpc_data["side"]]
        assert len(ordered) == len(rpc_data["chains"])
        for shown_chain, chain_data in zip(ordered, rpc_data["chains"], strict=True):
            from_core = sums(steps, lambda r, n=shown_chain["chain"]: r["chain"] == n
                             and r["step"] not in ("created", "core_call"))
            assert nonzero(from_core) == nonzero(chain_data["stages"])


def test_every_swimlane_arrow_is_a_link_of_the_analysis(run: Run) -> None:
    links = {((a.pid, a.tid, a.ts), (b.pid, b.tid, b.ts))
             for a, b, _ in run.analysis.all_links()}
    for index in range(1, len(run.analysis.rpcs) + 1):
        shown = ShowJson(index).render(run)["rpc"]
        steps = shown["steps"]
        for link in shown["links"]:
            a, b = steps[link["from"]], steps[link["to"]]
            assert ((a["pid"], a["tid"], a["ts"]), (b["pid"], b["tid"], b["ts"])) in links
            assert a["ts"] <= b["ts"] or link["label"] != "handoff"


def test_the_terminal_swimlane_shows_the_same_stages(run: Run) -> None:
    for index in range(1, len(run.analysis.rpcs) + 1, 3):
        shown = ShowJson(index).render(run)["rpc"]
        console = Console(file=io.StringIO(), width=200, record=True)
        console.print(RpcSwimlane(run.swimlane(index)))
        rows = [m for line in console.export_text().splitlines()
                if (m := TERMINAL_ROW.match(line))]
        assert len(rows) == len(shown["steps"])
        for row, step in zip(rows, shown["steps"], strict=True):
            rest = row["rest"].split()
            stage = next((w for w in rest if w == step["stage"]), None)
            assert stage == step["stage"], (row.string, step)
            if step["stage_ns"] is not None:
                assert rest[-1] == f"{step['stage_ns'] / 1000:.1f}"


def test_the_stage_picture_and_show_json_count_what_summary_counts(run: Run) -> None:
    done = subprocess.run([sys.executable, "-m", "toygrpc", "show", str(run.run_dir), "--json"],
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    printed = json.loads(done.stdout)
    written = summary(run)
    assert printed["stages"] == written["stages"]
    svg = run.layout.picture("stages", ".svg").read_text()
    for stage in written["stages"]:
        if stage["count"]:
            assert f">{stage['name']} (n={stage['count']})<" in svg
