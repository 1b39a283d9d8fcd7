"""``toygrpc trace run`` on the project's own example with every call shape
(examples/four_shapes.py: serves and calls in one process), as a new user runs it: the
invariants hold, client and server are linked, and every view tells the same numbers."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from rich.console import Console

from toygrpc.analysis.invariants import violations
from toygrpc.analysis.run import Run
from toygrpc.capture.launch import CaptureOptions
from toygrpc.cli import main
from toygrpc.pipeline import capture_run
from toygrpc.render.perfetto import PerfettoRenderer
from toygrpc.render.summary import SummaryRenderer
from toygrpc.render.terminal import RpcSwimlane, StageTable, rpc_stage_line, us

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "four_shapes.py"
REPLIES, CHAT = 40, 10


@pytest.fixture(scope="module")
def example_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    out = tmp_path_factory.mktemp("example") / "run"
    return capture_run(CaptureOptions(mode="run", out=out, python_layer=True,
                                      script=(str(EXAMPLE), "--replies", str(REPLIES),
                                              "--chat", str(CHAT))))


def text_of(renderable: object) -> str:
    console = Console(file=io.StringIO(), width=200, record=True)
    console.print(renderable)
    return console.export_text()


def test_example_program_holds_the_invariants(example_run: Run) -> None:
    analysis = example_run.analysis
    assert example_run.manifest.processes[0].exit_status == 0
    assert violations(analysis) == []
    methods = [(r.side, r.method.rsplit("/", 1)[-1]) for r in analysis.rpcs]
    shapes = ("Hello", "HelloServerStream", "HelloClientStream", "HelloBidiStream")
    assert sorted(methods) == sorted((side, m) for m in shapes for side in ("client", "server"))
    for rpc in analysis.rpcs:
        assert rpc.status == "OK" and rpc.complete, (rpc.method, rpc.missing)
        # one process, both sides: linked like trace both
        assert rpc.peer is not None and rpc.peer.peer is rpc and rpc.peer.side != rpc.side
    stream = next(r for r in analysis.rpcs
                  if r.side == "client" and r.method.endswith("ServerStream"))
    reads = sum("ReceiveMessageOperation" in c.ops for c in stream.chains)
    assert reads == REPLIES + 1  # one chain per message, and the end of the stream


def test_every_view_tells_the_same_numbers(example_run: Run,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    analysis = example_run.analysis
    (summary_path,) = SummaryRenderer().render(example_run)
    summary = json.loads(summary_path.read_text())
    assert main(["show", str(example_run.run_dir), "--json", "--rpc", "3"]) == 0
    shown = json.loads(capsys.readouterr().out)
    # summary.json and show --json: the stage table and the RPC's stages
    assert shown["stages"] == summary["stages"]
    assert shown["rpc"]["stages"] == summary["rpcs"][2]["stages"]
    for row, rpc in zip(summary["rpcs"], analysis.rpcs, strict=True):
        assert row["stages"] == rpc.stages()
        assert sum(row["stages"].values()) == row["latency"]
    # show --json's steps: each chain step's share is the chain's own stage
    for step in shown["rpc"]["steps"]:
        assert step["stage_ns"] is None or step["stage_ns"] >= 0
    # the terminal: the swimlane states the RPC's division, the table the percentiles
    model = example_run.swimlane(3)
    swimlane = text_of(RpcSwimlane(model))
    # (a line longer than the console wraps at a space: compared word by word)
    words = " ".join(swimlane.split())
    assert " ".join(rpc_stage_line(model.rpc).split()) in words or all(
        f"{name} {us(value)}" in words for name, value in model.rpc.stages().items()
        if value)
    table = text_of(StageTable(example_run.stage_stats))
    for row in summary["stages"]:
        if row["count"]:
            line = next(ln for ln in table.splitlines() if ln.split()[:1] == [row["name"]])
            assert line.split()[1:6] == [str(row["count"]), us(row["p50"]), us(row["p90"]),
                                         us(row["p99"]), us(row["max"])]
    # the Perfetto trace: one flow per link, none back in time
    renderer = PerfettoRenderer(trace_format="json")
    (trace_path,) = renderer.render(example_run)
    events = json.loads(trace_path.read_text())["traceEvents"]
    starts = {e["id"]: e for e in events if e["ph"] == "s"}
    ends = {e["id"]: e for e in events if e["ph"] == "f"}
    assert len(starts) == len(ends) == summary["links"] == analysis.links
    assert all(ends[i]["ts"] >= starts[i]["ts"] - 1 for i in starts)  # µs, core stamps
