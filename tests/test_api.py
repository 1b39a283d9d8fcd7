"""The Python API on real captures: what a script or a notebook gets back and shows."""

from __future__ import annotations

import asyncio
import html
import re
from pathlib import Path

import pytest

import toygrpc
from toygrpc.api import Trace
from toygrpc.errors import UsageError


@pytest.fixture(scope="module")
def trace(tmp_path_factory: pytest.TempPathFactory) -> Trace:
    out = tmp_path_factory.mktemp("api") / "client"
    return toygrpc.trace_client(rpcs=3, python_layer=False, out=out)


def visible_text(markup: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", " ", markup))


def test_trace_client_returns_the_analysed_run(trace: Trace) -> None:
    assert len(trace.rpcs) == 3 and all(r.complete for r in trace.rpcs)
    assert trace.trace_path.is_file() and trace.trace_path.parent == trace.run_dir
    assert trace.summary["rpc_count"] == 3
    assert "3 RPCs" in repr(trace)


def test_in_a_notebook_it_shows_the_swimlane_picture_the_table_and_the_trace(
        trace: Trace) -> None:
    bundle = trace._repr_mimebundle_()
    page = bundle["text/html"]
    assert "<svg" in page  # the swimlane as a picture
    text = visible_text(page)
    for stat in trace.run.stage_stats:
        if stat.count:
            assert f"{stat.p50 / 1000:.1f}" in text, stat.name  # this run's own numbers
    assert str(trace.trace_path) in text and f"toygrpc view {trace.run_dir}" in text
    assert "3/3 RPCs with complete chains" in bundle["text/plain"]


def test_a_swimlane_and_the_stage_table_display_on_their_own(trace: Trace) -> None:
    bundle = trace.swimlane(2)._repr_mimebundle_()
    assert "<svg" in bundle["text/html"]
    assert "RPC 2:" in bundle["text/plain"] and "#1 resumed" in visible_text(bundle["text/html"])
    table = trace.stages._repr_mimebundle_()
    assert "core_and_network" in visible_text(table["text/html"])


def test_load_gives_the_same_run_back(trace: Trace) -> None:
    again = toygrpc.load(trace.run_dir)
    assert [r.latency for r in again.rpcs] == [r.latency for r in trace.rpcs]
    assert {p.name for p in again.figures()} == {"swimlane.svg", "swimlane.png",
                                                 "stages.svg", "stages.png"}


def test_capturing_from_inside_a_running_event_loop(tmp_path: Path) -> None:
    """A notebook kernel runs an asyncio loop: capturing must neither need nor disturb it."""
    async def in_the_kernel() -> Trace:
        loop = asyncio.get_running_loop()
        captured = toygrpc.trace_client(rpcs=1, python_layer=False, out=tmp_path / "run")
        assert asyncio.get_running_loop() is loop
        return captured

    assert len(asyncio.run(in_the_kernel()).rpcs) == 1


def test_a_used_directory_is_refused_in_one_line(trace: Trace) -> None:
    with pytest.raises(UsageError) as error:
        toygrpc.trace_client(rpcs=1, out=trace.run_dir)
    assert "\n" not in str(error.value)


def test_a_scenario_from_python(tmp_path: Path) -> None:
    traced = toygrpc.trace_both(rpcs=1, python_layer=False, out=tmp_path / "run",
                                scenario="server-abort")
    assert sorted(r.status for r in traced.rpcs) == ["INVALID_ARGUMENT"] * 2
    with pytest.raises(UsageError) as error:
        toygrpc.trace_both(rpcs=1, out=tmp_path / "other", scenario="no-such")
    assert "\n" not in str(error.value) and "server-abort" in str(error.value)


def test_hooks_only_leaves_the_core_log_off_and_says_so(tmp_path: Path) -> None:
    """The lightest mode: no core lines, chains that stop before the core call, and every
    view names the mode its numbers come from."""
    light = toygrpc.trace_client(rpcs=2, python_layer=False, core_trace=False,
                                 out=tmp_path / "hooks")
    assert light.capture_mode == "hooks"
    assert light.run.manifest.options["tracers"] == []
    core_api = [e for e in light.run.timeline.events if e.category == "core"
                and e.kind != "core.line"]  # the one line left is the core's log-level notice
    assert core_api == []
    assert len(light.rpcs) == 2 and all(r.missing.endswith("core_call") for r in light.rpcs)
    assert "captured with hooks)" in visible_text(light.stages._repr_mimebundle_()["text/html"])
    with pytest.raises(UsageError):
        toygrpc.trace_client(rpcs=1, core_trace=False, tracers=("http",), out=tmp_path / "x")


def test_the_mode_is_named_beside_the_numbers(trace: Trace) -> None:
    assert trace.capture_mode == "hooks + core trace"
    page = visible_text(trace._repr_mimebundle_()["text/html"])
    assert "captured with hooks + core trace" in page
    assert "(hooks + core trace)" in repr(trace)
    summary = trace.summary
    assert summary["capture_mode"] == "hooks + core trace"
    assert [row["name"] for row in summary["hook_spans"]] == [
        s.name for s in trace.run.hook_span_stats]
    latency = next(row for row in summary["hook_spans"] if row["name"] == "latency")
    assert latency["count"] == 3 and latency["p50"] == sorted(r.latency for r in trace.rpcs)[1]


def test_compare_sets_runs_side_by_side_with_their_modes(trace: Trace, tmp_path: Path) -> None:
    light = toygrpc.trace_client(rpcs=2, python_layer=False, core_trace=False,
                                 out=tmp_path / "light")
    spans = toygrpc.compare(spans="hooks", light=light, heavy=trace)
    for label, run in (("light", light), ("heavy", trace)):
        waiter = next(s for s in run.run.hook_span_stats if s.name == "waiter")
        assert waiter.count == len(run.rpcs) and spans.value(label, "waiter") == waiter.p50
    text = visible_text(spans._repr_mimebundle_()["text/html"])
    assert "(hooks)" in text and "(hooks + core trace)" in text
    stages = toygrpc.compare(light=light, heavy=trace)
    assert stages.value("light", "core_and_network") is None  # hooks alone cannot see it
    assert stages.value("heavy", "core_and_network") is not None
    assert "(hooks)" not in visible_text(toygrpc.compare(
        show_modes=False, light=light)._repr_mimebundle_()["text/html"])
    with pytest.raises(UsageError):
        toygrpc.compare(statistic="p42", light=light)
    with pytest.raises(UsageError):
        toygrpc.compare(spans="threads", light=light)
