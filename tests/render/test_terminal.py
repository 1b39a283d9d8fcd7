"""The terminal views on the committed real capture: rendered into a string, then read."""

from __future__ import annotations

import dataclasses
import html
import io
import itertools
import json
import re
from pathlib import Path

import numpy
import pytest
from rich.console import Console

from tests.render import oracle
from tests.render.conftest import FIXTURE_RUN
from toygrpc.analysis.chains import STAGE_ORDER, STEPS, Analysis, Chain, Rpc
from toygrpc.analysis.http2 import frame_rows
from toygrpc.analysis.run import Run
from toygrpc.analysis.stages import StageStats, stage_samples, stage_statistics
from toygrpc.analysis.swimlane import SwimlaneModel, build_swimlane, pick_rpc
from toygrpc.errors import UsageError
from toygrpc.model.events import Event
from toygrpc.model.timeline import Timeline
from toygrpc.render.terminal import (
    Http2FrameTable,
    RpcSwimlane,
    RunReport,
    StageComparison,
    StageTable,
)

ROW = re.compile(r"^\s*(?P<offset>[+-]\d+\.\d) .*?(?P<label>#\d+ \w+|RPC start|RPC end|"
                 r"call arrived|handler done)\s+(?P<thread>\S+)")
ARROWS = ("▶", "◀")


def render(renderable: object, width: int = 120) -> str:
    console = Console(file=io.StringIO(), width=width, record=True)
    console.print(renderable)
    return console.export_text()


def rows(text: str) -> list[re.Match[str]]:
    return [m for line in text.splitlines() if (m := ROW.match(line))]


def shown_chains(rpc: Rpc) -> list[Chain]:
    """The chains a swimlane shows, numbered #1.. by creation: the RPC's, then its peer's."""
    chains = rpc.chains + (rpc.peer.chains if rpc.peer is not None else [])
    return sorted(chains, key=lambda c: c.future.ts)


def named_links(chain: Chain) -> list[tuple[tuple[str, Event], tuple[str, Event]]]:
    """Chain.links() with the step names of both ends."""
    present = [(name, e) for name in STEPS if (e := chain.step(name)) is not None]
    pairs = list(itertools.pairwise(present))
    assert [(a, b) for (_, a), (_, b) in pairs] == chain.links()
    return pairs


def test_the_fixture_is_a_small_real_capture(fixture_run: tuple[Timeline, Analysis]) -> None:
    timeline, analysis = fixture_run
    size = sum(p.stat().st_size for p in FIXTURE_RUN.rglob("*") if p.is_file())
    assert size < 300_000
    assert (FIXTURE_RUN / "capture.json").is_file()
    assert all((FIXTURE_RUN / role / "core.log").is_file() for role in ("client", "server"))
    assert sorted(timeline.processes.values()) == ["client", "server"]
    assert [r.side for r in analysis.rpcs].count("client") == 3
    assert all(r.complete and r.peer is not None for r in analysis.rpcs)


def test_default_rpc_is_the_median_complete_client_rpc(
        fixture_run: tuple[Timeline, Analysis]) -> None:
    _, analysis = fixture_run
    client = sorted((r for r in analysis.rpcs if r.side == "client"), key=lambda r: r.latency)
    assert pick_rpc(analysis) is client[1]
    assert analysis.rpcs.index(client[1]) + 1 == oracle.MEDIAN_CLIENT.index  # read by hand


def test_server_rpc_is_the_default_when_no_client_was_traced(
        fixture_run: tuple[Timeline, Analysis]) -> None:
    _, analysis = fixture_run
    server_only = Analysis(analysis.chains, [r for r in analysis.rpcs if r.side == "server"])
    assert pick_rpc(server_only).side == "server"


def test_rpc_by_index_and_out_of_range(fixture_run: tuple[Timeline, Analysis]) -> None:
    _, analysis = fixture_run
    assert pick_rpc(analysis, 1) is analysis.rpcs[0]
    assert pick_rpc(analysis, 6) is analysis.rpcs[5]
    for index in (0, 7):
        with pytest.raises(UsageError) as error:
            pick_rpc(analysis, index)
        assert "\n" not in str(error.value) and "1-6" in str(error.value)
    with pytest.raises(UsageError):
        pick_rpc(Analysis([], []))


@pytest.mark.parametrize("index", [None, 1, 2])
def test_swimlane_shows_every_link_in_time_order_on_its_thread(
        fixture_run: tuple[Timeline, Analysis], index: int | None) -> None:
    timeline, analysis = fixture_run
    rpc = pick_rpc(analysis, index)
    text = render(RpcSwimlane(build_swimlane(analysis, timeline, rpc)))
    found = rows(text)
    by_label = {m["label"]: (i, m) for i, m in enumerate(found)}
    offsets = [float(m["offset"]) for m in found]
    assert offsets == sorted(offsets)  # one row per step, in time order
    chains = shown_chains(rpc)
    assert len(chains) == (2 if rpc.peer is None else 5)  # 1 client batch; request + 3 batches
    links = 0
    for number, chain in enumerate(chains, 1):
        for (name_a, a), (name_b, b) in named_links(chain):
            i, row_a = by_label[f"#{number} {name_a}"]
            j, row_b = by_label[f"#{number} {name_b}"]
            for row, event in ((row_a, a), (row_b, b)):
                assert float(row["offset"]) == pytest.approx((event.ts - rpc.start) / 1000,
                                                             abs=0.051)
                assert row["thread"] == timeline.thread_role(event.pid, event.tid)
            assert (i < j) == (a.ts <= b.ts) or a.ts == b.ts
            line = row_b.string
            if (a.pid, a.tid) != (b.pid, b.tid):  # control passes to another thread
                assert any(arrow in line for arrow in ARROWS), line
            links += 1
    assert links == sum(len(c.links()) for c in chains) == 7 * len(chains)
    steps = sum(1 for m in found if m["label"].startswith("#"))
    assert steps == 8 * len(chains)
    assert "RPC start" in by_label and "RPC end" in by_label
    assert f"{rpc.side} {rpc.method}" in text


def test_server_request_completion_shows_the_client_arrow(
        fixture_run: tuple[Timeline, Analysis]) -> None:
    """The client -> server link: the request completes on a server thread, arrows from both
    the server's request-call and the client's lanes arrive on that row."""
    timeline, analysis = fixture_run
    rpc = pick_rpc(analysis)
    request = next(n for n, c in enumerate(shown_chains(rpc), 1) if c.kind == "request_call")
    text = render(RpcSwimlane(build_swimlane(analysis, timeline, rpc)))
    line = next(m.string for m in rows(text) if m["label"] == f"#{request} completed")
    lanes = line.split("#")[0]
    assert lanes.count("╰") + lanes.count("╯") == 1 and "┴" in lanes  # two sources, one line


def test_swimlane_adapts_to_a_narrow_terminal(fixture_run: tuple[Timeline, Analysis]) -> None:
    timeline, analysis = fixture_run
    rpc = pick_rpc(analysis)
    wide = render(RpcSwimlane(build_swimlane(analysis, timeline, rpc)), 120)
    narrow = render(RpcSwimlane(build_swimlane(analysis, timeline, rpc)), 80)
    assert max(len(line) for line in narrow.splitlines()) <= 80
    labels = [re.search(r"#\d+ \w+|RPC start|RPC end", line) for line in wide.splitlines()]
    narrow_labels = [re.search(r"#\d+ \w+|RPC start|RPC end", line)
                     for line in narrow.splitlines()]
    assert [m[0] for m in labels if m] == [m[0] for m in narrow_labels if m]
    assert "event_engine" in wide and "event_engine" not in narrow  # the lane says it there


def nearest_rank(values: list[int], q: int) -> float:
    """The percentile as numpy computes it (nearest rank: method inverted_cdf)."""
    return float(numpy.percentile(values, q, method="inverted_cdf"))


def test_stage_table_lists_every_stage_in_microseconds(
        fixture_run: tuple[Timeline, Analysis]) -> None:
    _, analysis = fixture_run
    stats = stage_statistics(analysis)
    samples = stage_samples(analysis)
    text = render(StageTable(stats))
    lines = text.splitlines()
    for s in stats:
        line = next(line for line in lines if line.startswith(s.name + " "))
        cells = line.split()
        values = samples[s.name]
        assert cells[1] == str(len(values))
        if not values:
            assert cells[2:6] == ["-"] * 4
            continue
        expected = [nearest_rank(values, q) for q in (50, 90, 99)] + [max(values)]
        assert cells[2:6] == [f"{v / 1000:.1f}" for v in expected]
    assert [line.split()[0] for line in lines if line.split() and line.split()[0]
            in STAGE_ORDER] == list(STAGE_ORDER)
    flat = " ".join(text.split())
    assert "from the batch start to a core thread completing its tag" in flat
    narrow = render(StageTable(stats), 70)
    assert max(len(line) for line in narrow.splitlines()) <= 70
    assert "core_and_network: in the core and on the network" in " ".join(narrow.split())


def test_views_display_in_a_notebook() -> None:
    """Both forms of the bundle hold the run's own numbers, as read by hand from the raw
    events: the median call's steps and stage shares, the stage table's p50s."""
    run = Run.load(oracle.FIXTURE_RUN)
    call = oracle.MEDIAN_CLIENT
    steps = [f"#2 {step}" for step in STEPS] + [oracle.us(v) for v in call.deltas().values()]
    p50s = [f"{name} 3 {oracle.us(oracle.nearest_rank(oracle.client_stage_values(name), 50))}"
            for name in ("python_before_core", "python_after_core")]
    for view, shown in ((RpcSwimlane(run.swimlane()), ["RPC start", "RPC end", *steps]),
                        (StageTable(run.stage_stats), p50s)):
        bundle = view._repr_mimebundle_()
        assert set(bundle) == {"text/plain", "text/html"}
        assert bundle["text/plain"].strip() and "\x1b[" not in bundle["text/plain"]
        html_text = " ".join(html.unescape(re.sub(r"<[^>]+>", "", bundle["text/html"])).split())
        plain = " ".join(bundle["text/plain"].split())
        for text in shown:  # the run's own numbers and steps, in what the notebook shows
            assert text in html_text and text in plain, text


def test_fixture_is_read_not_written(fixture_run: tuple[Timeline, Analysis]) -> None:
    assert not (Path(FIXTURE_RUN) / "swimlane.svg").exists()


# --- against the values read by hand from the raw events (tests/render/oracle.py) -------

STAGE_ROW = re.compile(r"^\s*(?P<offset>[+-]\d+\.\d) .*?(?P<label>#\d+ \w+|RPC start|RPC end|"
                       r"call arrived|handler done)\s+(?P<thread>\S+)"
                       r"(?:\s+(?P<stage>[a-z_]+)\s+(?P<delta>\d+\.\d))?\s*$")


def stage_column(text: str) -> dict[str, tuple[str, str, str | None, str | None]]:
    """Row label -> (offset, thread, stage, Δ µs) as the swimlane prints them."""
    return {m["label"]: (m["offset"], m["thread"], m["stage"], m["delta"])
            for line in text.splitlines() if (m := STAGE_ROW.match(line))}


@pytest.mark.parametrize("call", oracle.CLIENT_CALLS, ids=lambda c: f"rpc{c.index}")
def test_swimlane_stage_column_against_the_raw_events(call: oracle.ClientCall) -> None:
    """Every row of the client batch names the stage that ends there and its share, as
    read by hand from events.jsonl; the request call's completion is ``awaiting_call``
    and a batch's ``core_and_network``.

    Kills the listed mutation "the swimlane's batch/request-call stage test inverted"
    (the stage of a ``completed`` step chosen by ``kind != "batch"``, now in
    ``Chain.stage_of``; applied by hand: this test fails), and the legend's own
    batch/request-call test in render/terminal.py."""
    run = Run.load(oracle.FIXTURE_RUN)
    text = render(RpcSwimlane(run.swimlane(call.index)), 140)
    rows = stage_column(text)
    us = oracle.us
    deltas = call.deltas()
    assert rows["RPC start"] == ("+0.0", "main", None, None)
    assert rows["#2 created"] == (f"+{us(call.ts('created') - call.start)}", "main",
                                  "python_before_core", us(call.ts("created") - call.start))
    expected_threads = {"completed": "event_engine", "returned": "poller"}
    for step, stage in (("core_call", "python_before_core"), ("completed", "core_and_network"),
                        ("returned", "core_to_poller"), ("woken", "poller_to_wake"),
                        ("drained", "wake_to_drain"), ("resolved", "drain_to_resolution"),
                        ("resumed", "resolution_to_resume")):
        offset = f"+{us(call.ts(step) - call.start)}"
        assert rows[f"#2 {step}"] == (offset, expected_threads.get(step, "main"), stage,
                                      us(deltas[stage])), step
    assert rows["RPC end"] == (f"+{us(call.latency)}", "main", "python_after_core",
                               us(call.rpc_stages()["python_after_core"]))
    assert rows["#1 completed"][1:3] == ("event_engine", "awaiting_call")
    for number in (3, 4, 5):  # the server's batches
        assert rows[f"#{number} completed"][2] == "core_and_network"
    assert rows["call arrived"][2] is None
    legend = text.split("#1 server: ")[1]
    assert legend.startswith("request_call\n#2 client: batch SendInitialMetadata SendMessage "
                             "SendCloseFromClient ReceiveInitialMetadata ReceiveMessage "
                             "ReceiveStatusOnClient\n#3 server: batch ReceiveCloseOnServer\n")
    stages = ", ".join(f"{name} {us(value)}" for name, value in call.rpc_stages().items())
    flat = " ".join(text.split())
    assert f"client OK, latency {us(call.latency)} µs = {stages}" in flat
    assert text.startswith(f"RPC {call.index}: client /HelloService/Hello OK, "
                           f"{us(call.latency)} µs; its server side shown too")
    assert "#1 completed: a client's call arrived" in text


def test_stage_table_against_the_raw_events() -> None:
    """The rows whose samples are the client calls alone, percentiles by nearest rank."""
    run = Run.load(oracle.FIXTURE_RUN)
    text = render(StageTable(run.stage_stats, "hooks + core trace"), 140)
    assert text.startswith("Stages over the run (µs, captured with hooks + core trace)")
    cells = {line.split()[0]: line.split()[1:6] for line in text.splitlines()
             if line.split() and line.split()[0] in oracle.STAGE_NAMES}
    assert list(cells) == oracle.STAGE_NAMES
    for name in ("python_before_core", "python_after_core"):
        values = oracle.client_stage_values(name)
        assert cells[name] == ["3", *(oracle.us(oracle.nearest_rank(values, q))
                                      for q in (50, 90, 99)), oracle.us(max(values))]
    assert cells["core_and_network"][0] == str(oracle.BATCH_STARTS)
    assert cells["core_and_network"][4] == "4204.0"  # client call 1, lines 85 -> 144
    assert cells["awaiting_call"][0] == str(oracle.REQUEST_CALLS)
    no_samples = render(StageTable([StageStats("awaiting_call", "idle", 0, 0, 0, 0, 0)]), 120)
    assert no_samples.splitlines()[-1].split()[:6] == ["awaiting_call", "0", "-", "-", "-", "-"]
    untitled = render(StageTable(run.stage_stats), 120)
    assert untitled.splitlines()[0].rstrip() == "Stages over the run (µs)"


def test_run_report_against_the_raw_events() -> None:
    """The report's counts and footer: hooks fired per process, complete RPCs, files."""
    run = Run.load(oracle.FIXTURE_RUN)
    console = Console(file=io.StringIO(), width=300, record=True)
    RunReport(run).print(console)
    text = console.export_text()
    printed = render(RunReport(run), 300)
    for out in (text, printed):
        assert out.startswith("RPC 5: client /HelloService/Hello OK")
        assert ("client (pid 22792) hooks fired: poller.socketpair 1, poller.thread 1, "
                "loop.add_reader 3, loop.create_future 3, future.resolve 3, task.resume 3, "
                "loop.wake 3, glue.execute_batch 3, glue.client 0, glue.server 0, "
                "glue.serialization 0, rpc.client 6") in out
        assert f"6/6 RPCs with complete chains, {oracle.LINKS} links" in out
        assert f"  {oracle.FIXTURE_RUN / 'events.jsonl'}  the merged timeline" in out
        assert f"  {oracle.FIXTURE_RUN / 'client'}/  the raw inputs of the client process" in out
        assert (f"another RPC: toygrpc show {oracle.FIXTURE_RUN} --rpc N  (N from 1 to 6)"
                in out)
        assert f"open the trace: toygrpc view {oracle.FIXTURE_RUN}" in out
        assert out.index("RPC end") < out.index("Stages over the run") < out.index("files:")
    bundle = RunReport(run, 1)._repr_mimebundle_()
    assert bundle["text/plain"].startswith("RPC 1: client")
    visible = html.unescape(re.sub(r"<[^>]+>", "", bundle["text/html"]))
    assert "6/6 RPCs with complete chains" in visible


def test_stage_comparison_against_the_raw_events() -> None:
    """Runs side by side: the hook spans of the client calls (read by hand) beside the
    stages; "-" where a run has no sample of a row, rows with no sample anywhere dropped."""
    run = Run.load(oracle.FIXTURE_RUN)
    calls = oracle.CLIENT_CALLS
    spans = [s for s in run.hook_span_stats if s.name != "after_resume"]
    empty = [StageStats("awaiting_call", "idle", 0, 0, 0, 0, 0),
             StageStats("unseen", "", 0, 0, 0, 0, 0)]
    view = StageComparison({"full": run.stage_stats, "light": spans, "none": empty},
                           modes={"full": "hooks + core trace"}, statistic="max")
    waiter = max(c.ts("resolved") - c.ts("created") for c in calls)
    before = max(c.ts("created") - c.start for c in calls)
    assert view.value("light", "waiter") == waiter
    assert view.value("light", "latency") == max(c.latency for c in calls)
    assert view.value("light", "core_and_network") is None
    assert view.value("none", "awaiting_call") is None
    assert view.value("full", "python_before_core") == max(
        oracle.client_stage_values("python_before_core"))
    text = render(view, 100)
    rows = {line.split()[0]: line.split()[1:] for line in text.splitlines()[4:]
            if line.strip()}
    us = oracle.us
    assert rows["before_waiter"] == ["-", us(before), "-"]
    assert rows["waiter"] == ["-", us(waiter), "-"]
    assert rows["resolution_to_resume"][1] == us(max(
        c.deltas()["resolution_to_resume"] for c in calls))
    assert rows["core_and_network"] == ["4204.0", "-", "-"]
    assert "unseen" not in rows and "after_resume" not in rows
    assert list(rows)[:9] == oracle.STAGE_NAMES
    assert text.startswith("max (µs) by run")
    assert "(hooks + core trace)" in text and "light" in text
    p50 = StageComparison({"full": run.stage_stats})
    assert p50.value("full", "python_before_core") == oracle.nearest_rank(
        oracle.client_stage_values("python_before_core"), 50)
    bundle = p50._repr_mimebundle_()
    assert bundle["text/plain"].startswith("p50 (µs) by run")
    assert "273.8" in html.unescape(re.sub(r"<[^>]+>", "", bundle["text/html"]))


def test_stage_comparison_as_printed() -> None:
    """The whole table, character for character: the title on the left, a column per run
    with its mode under its name, values on the right, the stage names unbroken even
    where the terminal is narrow."""
    run = Run.load(oracle.FIXTURE_RUN)
    calls = oracle.CLIENT_CALLS
    waiter = oracle.nearest_rank([c.ts("resolved") - c.ts("created") for c in calls], 50)
    latency = oracle.nearest_rank([c.latency for c in calls], 50)
    assert (oracle.us(waiter), oracle.us(latency)) == ("4445.9", "4759.7")
    spans = [s for s in run.hook_span_stats if s.name in ("waiter", "latency")]
    view = StageComparison({"light": spans, "other run": [StageStats("waiter", "", 1, 5, 5, 5,
                                                                     5)]},
                           modes={"light": "hooks"})
    assert render(view, 60) == (
        "p50 (µs) by run              \n"
        "            light            \n"
        "stage     (hooks)   other run\n"
        "─────────────────────────────\n"
        "waiter     4445.9         0.0\n"
        "latency    4759.7           -\n")
    narrow = render(StageComparison({"a run with a long name": run.stage_stats}), 30)
    assert "resolution_to_resume" in narrow.split()


def test_report_lines_naming_files_are_never_broken() -> None:
    """On a narrow terminal the paths stay whole (a user copies them)."""
    run = Run.load(oracle.FIXTURE_RUN)
    console = Console(file=io.StringIO(), width=60, record=True)
    RunReport(run).print(console)
    lines = console.export_text().splitlines()
    assert f"open the trace: toygrpc view {oracle.FIXTURE_RUN}" in lines
    assert f"  {oracle.FIXTURE_RUN / 'events.jsonl'}  the merged timeline" in lines


def test_a_notebook_bundle_is_120_columns_wide() -> None:
    run = Run.load(oracle.FIXTURE_RUN)
    for view in (RpcSwimlane(run.swimlane()), StageTable(run.stage_stats)):
        widths = [len(line) for line in view._repr_mimebundle_()["text/plain"].splitlines()]
        assert max(widths) == 120, type(view).__name__


DIM = '<span style="color: #7f7f7f; text-decoration-color: #7f7f7f">'
BOLD = '<span style="font-weight: bold">'


def test_report_styles_in_the_notebook_html() -> None:
    """What is secondary is dim, headings bold, warnings yellow, with inline styles (the
    HTML a notebook shows carries its own colours)."""
    run = Run.load(oracle.FIXTURE_RUN)
    page = RunReport(run)._repr_mimebundle_()["text/html"]
    assert f"{DIM}server (pid 22784) hooks fired: poller.socketpair 1" in page
    assert f"{BOLD}files:</span>" in page and f"{BOLD}open the trace: </span>" in page
    assert "\n6/6 RPCs with complete chains, 180 links\n" in page  # plain: the result
    assert 'class="r' not in page
    empty = Run(run.manifest, run.timeline)
    empty.__dict__["analysis"] = Analysis([], [])
    nothing = RunReport(empty)._repr_mimebundle_()
    assert nothing["text/plain"].startswith("no RPCs in this run: no swimlane to draw\n")
    assert ('<span style="color: #808000; text-decoration-color: #808000">no RPCs in this '
            'run: no swimlane to draw</span>') in nothing["text/html"]
    assert "another RPC" not in nothing["text/plain"]


def test_the_stage_definitions_are_inline_from_100_columns() -> None:
    run = Run.load(oracle.FIXTURE_RUN)
    at_100 = render(StageTable(run.stage_stats), 100)
    at_99 = render(StageTable(run.stage_stats), 99)
    assert "what it measures" in at_100 and "what it measures" not in at_99
    assert "core_and_network: in the core and on the network" in " ".join(at_99.split())


def test_the_servers_stderr_is_not_listed_among_the_files(run_copy: Path) -> None:
    """An untraced server's stderr (the capture writes it) is for diagnostics only."""
    from toygrpc.render.terminal import describe_files

    (run_copy / "server.stderr.txt").write_text("")
    lines = describe_files(Run.load(run_copy))
    assert not any("server.stderr.txt" in line for line in lines)
    assert f"{run_copy / 'capture.json'}  the manifest" in lines


def test_stage_table_as_printed() -> None:
    """The table character for character, narrow (definitions after it) and wide (inline):
    the client calls' python_before_core (n 3, p50 the middle one, the rest the largest)."""
    values = oracle.client_stage_values("python_before_core")
    p50, top = oracle.nearest_rank(values, 50), max(values)
    assert (oracle.nearest_rank(values, 90), oracle.nearest_rank(values, 99)) == (top, top)
    stats = [StageStats("python_before_core", "Python before the core", 3, p50, top, top, top),
             StageStats("awaiting_call", "idle", 0, 0, 0, 0, 0),
             StageStats("core_and_network", "core", oracle.BATCH_STARTS, 1, 2, 3, 4)]
    assert render(StageTable(stats, "hooks"), 60) == (
        "Stages over the run (µs, captured with hooks)          \n"
        "stage                 n     p50     p90     p99     max\n"
        + "─" * 55 + "\n"
        "python_before_core    3   273.8   299.1   299.1   299.1\n"
        "awaiting_call         0       -       -       -       -\n"
        "core_and_network     12     0.0     0.0     0.0     0.0\n"
        "python_before_core: Python before the core\n"
        "awaiting_call: idle\n"
        "core_and_network: core\n\n")
    assert render(StageTable(stats, "hooks"), 100).splitlines()[1:4] == [
        "stage                 n     p50     p90     p99     max   what it measures      ",
        "─" * 80,
        "python_before_core    3   273.8   299.1   299.1   299.1   Python before the core"]


def stage_table_html(stats: list[StageStats], width: int) -> list[str]:
    """The stage table's lines in the HTML a notebook shows, with their inline styles."""
    console = Console(file=io.StringIO(), width=width, record=True)
    console.print(StageTable(stats, "hooks"))
    page = console.export_html(inline_styles=True)
    return page.split("<code style=\"font-family:inherit\">")[1].split("</code>")[0].split("\n")


GREY = '<span style="color: #7f7f7f; text-decoration-color: #7f7f7f">'


def test_the_stage_tables_styles() -> None:
    """A stage without samples is dim, a measured one plain; the definitions are dim and,
    after a narrow table, follow their stage's name in bold."""
    values = oracle.client_stage_values("python_before_core")
    stats = [StageStats("python_before_core", "Python before the core", 3,
                        oracle.nearest_rank(values, 50), max(values), max(values), max(values)),
             StageStats("awaiting_call", "idle", 0, 0, 0, 0, 0)]
    wide = stage_table_html(stats, 100)
    assert wide[3] == ("python_before_core   3   273.8   299.1   299.1   299.1   "
                       f"{GREY}Python before the core</span>")
    assert wide[4] == (f"{GREY}awaiting_call     </span>   0       -       -       -       -   "
                       f"{GREY}idle                  </span>")
    narrow = stage_table_html(stats, 60)
    assert narrow[3] == "python_before_core   3   273.8   299.1   299.1   299.1"
    assert narrow[5:7] == [
        f'{BOLD}python_before_core</span>{GREY}: Python before the core</span>',
        f"{BOLD}awaiting_call</span>{GREY}: idle</span>"]


def test_a_stage_table_too_narrow_for_its_cells_keeps_one_line_per_stage() -> None:
    """At 40 columns the names and numbers are cut with an ellipsis, never broken over two
    lines (a row per stage, as wide terminals show it)."""
    values = oracle.client_stage_values("python_before_core")
    stats = [StageStats("python_before_core", "Python before the core", 3,
                        oracle.nearest_rank(values, 50), max(values), max(values), max(values)),
             StageStats("awaiting_call", "idle", 0, 0, 0, 0, 0)]
    lines = render(StageTable(stats), 40).splitlines()
    assert lines[1].startswith("stage ") and set(lines[2]) == {"─"}
    assert lines[3].startswith("python_before_c… ") and lines[3].count("…") == 5
    assert lines[4].split() == ["awaiting_call", "-", "-", "-", "-"]
    assert lines[5].startswith("python_before_core: Python before the")


def test_large_values_leave_the_definitions_whole() -> None:
    """Eleven-digit µs values at 100 columns leave the definitions 11 columns: they wrap
    there, every word whole (a column wider than the room left would be cut off by the
    terminal)."""
    definition = "Python before the core and a long definition of what it measures here"
    huge = 10**13  # ns: 10000000000.0 µs
    text = render(StageTable([StageStats("python_before_core", definition, 3, huge, huge,
                                          huge, huge)]), 100)
    assert max(len(line) for line in text.splitlines()) <= 100
    cells = [line[89:].strip() for line in text.splitlines()[1:]
             if line[89:].strip() and "─" not in line]
    assert " ".join(cells) == "what it measures " + definition
    assert text.splitlines()[4].split()[:7] == ["python_before_core", "3",
                                                *["10000000000.0"] * 4, "Python"]


def swimlane_html(model: SwimlaneModel) -> list[str]:
    """The swimlane's lines in the HTML a notebook shows (140 columns: lanes 9 wide)."""
    console = Console(file=io.StringIO(), width=140, record=True)
    console.print(RpcSwimlane(model))
    return console.export_html(inline_styles=True).split("\n")


def swimlane_html_rows(model: SwimlaneModel) -> dict[str, str]:
    """Row label -> its lanes cell, as the notebook's HTML styles it."""
    rows = {}
    for line in swimlane_html(model):
        if m := re.match(r"^\s*[+-]\d+\.\d   (.*?)   <span[^>]*>(#\d+ \w+|RPC \w+)", line):
            rows[m[2]] = m[1]
    return rows


YELLOW_BOLD = '<span style="color: #808000; text-decoration-color: #808000; font-weight: bold">'
CYAN_BOLD = '<span style="color: #008080; text-decoration-color: #008080; font-weight: bold">'
MAGENTA_BOLD = '<span style="color: #800080; text-decoration-color: #800080; font-weight: bold">'
GREEN_BOLD = '<span style="color: #008000; text-decoration-color: #008000; font-weight: bold">'
CYAN = '<span style="color: #008080; text-decoration-color: #008080">'
MAGENTA = '<span style="color: #800080; text-decoration-color: #800080">'
GREEN = '<span style="color: #008000; text-decoration-color: #008000">'


def test_the_swimlanes_colours_in_the_notebook_html() -> None:
    """The lanes dim; the arrows bold yellow from each source lane's centre to the step; the
    step's mark and its process's name above its lanes bold in the process's colour
    (client cyan, server magenta). Lanes 9 wide:
    client main, core, poller (centres 4, 13, 22), server main, core, poller (31, 40, 49).
    The client batch's completion (lane 1) comes from the client's core call (lane 0) and
    the server's reply batch (lane 3)."""
    model = Run.load(oracle.FIXTURE_RUN).swimlane()
    [header] = [line for line in swimlane_html(model) if "╌client╌" in line]
    assert (f"{CYAN_BOLD}{'╌' * 11}client{'╌' * 10}</span>"  # 3 lanes of 9: 27 columns
            f"{MAGENTA_BOLD}{'╌' * 11}server{'╌' * 10}</span>") in header
    rows = swimlane_html_rows(model)
    assert rows["#2 completed"] == (
        f"{GREY}    </span>{YELLOW_BOLD}╰───────▶</span>{CYAN_BOLD}●</span>"
        f"{YELLOW_BOLD}◀────────────────╯</span>{GREY}        │        │    </span>")
    assert rows["RPC start"] == (f"{GREY}    </span>{CYAN_BOLD}◆</span>"
                                 f"{GREY}        │        │        │        │        │    </span>")
    assert rows["#3 completed"] == (f"{GREY}    │        │        │        </span>"
                                    f"{MAGENTA_BOLD}●</span>{GREY}        │        │    </span>")
    page = "\n".join(swimlane_html(model))
    assert f"{CYAN}#2 completed</span>" in page and f"{MAGENTA}#3 completed</span>" in page


def test_hand_offs_the_committed_runs_do_not_show() -> None:
    """Rows made by hand on the median call's model: control from another thread of the
    step's own lane (an arrow head only), from two lanes on the right (the nearer joins
    the line with ┴), and a process that is neither client nor server (green)."""
    model = Run.load(oracle.FIXTURE_RUN).swimlane()
    steps = []
    for step in model.steps:
        if step.label == "#2 completed":  # lane 1, from lane 1 only
            step = dataclasses.replace(step, sources=[1])
        elif step.label == "#2 woken":  # lane 0, from lanes 1 and 2
            step = dataclasses.replace(step, sources=[1, 2])
        steps.append(step)
    rows = swimlane_html_rows(dataclasses.replace(model, steps=steps))
    assert rows["#2 completed"] == (
        f"{GREY}    │       </span>{YELLOW_BOLD}▶</span>{CYAN_BOLD}●</span>"
        f"{GREY}        │        │        │        │    </span>")
    assert rows["#2 woken"] == (
        f"{GREY}    </span>{CYAN_BOLD}●</span>{YELLOW_BOLD}◀───────┴────────╯</span>"
        f"{GREY}        │        │        │    </span>")
    lanes = [dataclasses.replace(lane, process="program") if lane.process == "server"
             else lane for lane in model.lanes]
    rows = swimlane_html_rows(dataclasses.replace(model, lanes=lanes))
    assert rows["#3 completed"] == (f"{GREY}    │        │        │        </span>"
                                    f"{GREEN_BOLD}●</span>{GREY}        │        │    </span>")
    page = "\n".join(swimlane_html(dataclasses.replace(model, lanes=lanes)))
    assert f"{GREEN}#3 completed</span>" in page and f"{CYAN}#2 completed</span>" in page
    assert f"{GREEN_BOLD}{'╌' * 10}program{'╌' * 10}</span>" in page  # its 3 lanes' heading


def test_the_title_of_a_call_whose_other_side_was_not_traced() -> None:
    """traces/samples/client, its first call: rpc.started line 16 (ts ...4888885826) to
    rpc.finished line 43 (...4896001659): 7,115,833 ns; no server side to mention."""
    run = Run.load(FIXTURE_RUN.parents[3] / "traces" / "samples" / "client")
    assert RpcSwimlane(run.swimlane(1)).title() == "RPC 1: client /HelloService/Hello OK, 7115.8 µs"


def test_the_thread_column_from_100_columns() -> None:
    run = Run.load(oracle.FIXTURE_RUN)
    at_100 = render(RpcSwimlane(run.swimlane()), 100).splitlines()
    at_99 = render(RpcSwimlane(run.swimlane()), 99).splitlines()
    assert at_100[2].split()[-5:] == ["step", "thread", "stage", "Δ", "µs"]
    assert at_99[2].split()[-4:] == ["step", "stage", "Δ", "µs"]


def test_short_shares_keep_the_columns_in_the_width() -> None:
    """Every share under 10 µs (hand-made: 1.5 µs each on the median call's rows): the Δ
    column is as wide as its heading, 4, and the stage column takes the rest of 80:
    µs 7, lanes 6 x 5, step 12, stage 15, Δ 4, and 3 between each."""
    model = Run.load(oracle.FIXTURE_RUN).swimlane()
    short = dataclasses.replace(model, steps=[
        dataclasses.replace(s, delta=None if s.delta is None else 1500) for s in model.steps])
    lines = render(RpcSwimlane(short), 80).splitlines()
    assert lines[2] == ("     µs    main core poll main core poll   step           stage"
                        "             Δ µs")
    row = next(line for line in lines if "#2 core_call" in line)
    lanes = "  ●  " + "  │  " * 5
    assert row == " +211.6   " + lanes + "   #2 core_call   python_before_…    1.5"


def test_the_lanes_share_what_the_other_columns_and_the_stage_leave() -> None:
    """Lanes are (width - fixed columns - 20 for the stage) // lanes wide, 5 to 9. At 108
    columns the median call's fixed columns take 52 (µs 7, step 12, thread 12, Δ 6, and
    3 x 5 between): 6 lanes of (108 - 52 - 20) // 6 = 6. traces/samples/client at 80
    (no thread column: 7 + 12 + 6 + 3 x 4 = 37): 3 lanes of (80 - 37 - 20) // 3 = 7."""
    run = Run.load(oracle.FIXTURE_RUN)
    header = render(RpcSwimlane(run.swimlane()), 108).splitlines()[2]
    assert header.startswith("     µs    main  core polle  main  core polle    step ")
    client = Run.load(FIXTURE_RUN.parents[3] / "traces" / "samples" / "client")
    header = render(RpcSwimlane(client.swimlane(1)), 80).splitlines()[2]
    assert header.startswith("     µs     main   core  poller   step ")


def test_the_stage_column_from_8_columns_of_room() -> None:
    """Below 100 columns the median call's fixed columns take 37 (µs 7, step 12, Δ 6, 3 x
    4 between) and its 6 lanes 5 each: at 75 columns 8 are left for the stage (shown, cut
    with an ellipsis), at 74 only 7 (no stage column)."""
    run = Run.load(oracle.FIXTURE_RUN)
    at_75 = render(RpcSwimlane(run.swimlane()), 75).splitlines()
    at_74 = render(RpcSwimlane(run.swimlane()), 74).splitlines()
    header_75 = next(line for line in at_75 if line.endswith(" Δ µs"))
    header_74 = next(line for line in at_74 if " Δ µs" in line)
    assert header_75.split()[-4:] == ["step", "stage", "Δ", "µs"] and len(header_75) == 75
    assert next(line for line in at_75 if "#1 core_call" in line).endswith(
        "#1 core_call   python_…     10.1")
    assert header_74.split()[-3:] == ["step", "Δ", "µs"]


@pytest.mark.parametrize("width", [40, 50, 60, 80])
def test_a_narrow_terminal_keeps_a_line_per_step(width: int) -> None:
    """However narrow, each step is one line that starts with its time, and no line is wider
    than the terminal (columns are cut, never wrapped)."""
    for run, index in ((Run.load(oracle.FIXTURE_RUN), 1),
                       (Run.load(FIXTURE_RUN.parents[3] / "traces" / "samples" / "client"), 1)):
        model = run.swimlane(index)
        lines = render(RpcSwimlane(model), width).splitlines()
        rule = next(i for i, line in enumerate(lines) if set(line.strip()) == {"─"})
        rows = lines[rule + 1:rule + 1 + len(model.steps)]
        assert all(re.match(r"^\s*[+-]\d+\.\d ", line) for line in rows), rows
        assert not re.match(r"^\s*[+-]\d+\.\d ", lines[rule + 1 + len(model.steps)])
        assert max(len(line) for line in lines) <= width


YELLOW = '<span style="color: #808000; text-decoration-color: #808000">'


def test_the_legend_of_calls_seen_by_the_hooks_alone() -> None:
    """The committed run without its core events (as a hooks-only capture records it): the
    chains stop before the core call and say so in the legend, each RPC's end reason in
    yellow; the chain numbers bold, the notes and the key dim. An RPC with no chain at all
    (its peer's chains dropped by hand) is named in yellow too."""
    run = Run.load(oracle.FIXTURE_RUN)
    hooks_only = Run(run.manifest, dataclasses.replace(run.timeline, events=[
        e for e in run.timeline.events if e.category != "core"]))
    model = hooks_only.swimlane(1)
    page = "\n".join(swimlane_html(model))
    assert (f"{BOLD}#1 </span>server: request_call (incomplete: no core_call)\n"
            f"{BOLD}#2 </span>client: batch SendInitialMetadata") in page
    assert f"{YELLOW}client RPC ends: chain 1: incomplete: no core_call</span>\n" in page
    assert f"{GREY}● step  ◆ RPC start/end  ─▶ control passes to another thread" in page
    assert model.rpc.peer is not None
    alone = dataclasses.replace(model, rpc=dataclasses.replace(
        model.rpc, peer=dataclasses.replace(model.rpc.peer, chains=[])))
    page = "\n".join(swimlane_html(alone))
    assert (f"{YELLOW}the server RPC has no chain to show: its completions were not followed "
            "(see the hook diagnostics)</span>\n") in page
    assert "the client RPC has no chain" not in page
    notes = "\n".join(swimlane_html(Run.load(oracle.FIXTURE_RUN).swimlane()))
    assert f"{GREY}#1 completed: a client&#x27;s call arrived" in notes


GOLDEN = Path(__file__).parent / "golden"


@pytest.mark.parametrize("width", [140, 80])
def test_swimlane_as_printed(width: int) -> None:
    """The median client call's swimlane character for character (tests/render/golden/,
    written by this renderer and read over by hand: its numbers are the ones
    ``test_swimlane_stage_column_against_the_raw_events`` checks against the raw events).
    A change of layout rewrites the golden file on purpose, in the same commit."""
    run = Run.load(oracle.FIXTURE_RUN)
    expected = (GOLDEN / f"swimlane-rpc5-{width}.txt").read_text()
    assert render(RpcSwimlane(run.swimlane()), width) == expected
    call = oracle.MEDIAN_CLIENT
    row = next(line for line in expected.splitlines() if "#2 completed" in line)
    assert row.rstrip().endswith(oracle.us(call.deltas()["core_and_network"]))


def test_a_failed_rpc_names_its_status_and_details() -> None:
    """traces/samples/failure: the deadline's and the cancel's details, as the client's
    rpc.finished events recorded them."""
    from toygrpc.render.terminal import rpc_stage_line

    run = Run.load(oracle.FIXTURE_RUN.parents[3] / "traces" / "samples" / "failure")
    lines = [rpc_stage_line(r) for r in run.analysis.rpcs if r.side == "client"]
    assert lines[0].startswith("client DEADLINE_EXCEEDED (Deadline Exceeded), latency ")
    assert lines[1].startswith("client CANCELLED (Locally cancelled by application!), ")
    server = next(r for r in run.analysis.rpcs if r.side == "server")
    assert rpc_stage_line(server).startswith("server DEADLINE_EXCEEDED, latency ")


# --- the HTTP/2 frame table (tests/fixtures/runs/http-both-1) ---------------------------

# A real capture: ``toygrpc trace both --rpcs 1 --no-python --tracer http`` (one unary
# call, both sides traced, the core's http tracer on); capture.json and events.jsonl kept.
HTTP_RUN = FIXTURE_RUN.parent / "http-both-1"
# Its 18 frames as read by hand from events.jsonl (kind core.http2_frame, one per line
# given): receiver (pid 14464 is the server, 14549 the client), µs after the first frame
# (line 111, ts 1795632576532129000: the difference of the two ts, in µs), TYPE:FLAGS,
# length, stream id, thread id.
HTTP_FRAMES = [
    (111, "server", 0, "SETTINGS", 36, 0, 14542),
    (120, "server", 28, "WINDOW_UPDATE", 4, 0, 14542),
    (124, "client", 333, "SETTINGS", 24, 0, 14598),
    (131, "client", 382, "WINDOW_UPDATE", 4, 0, 14598),
    (132, "client", 385, "SETTINGS:ACK", 0, 0, 14598),
    (134, "server", 429, "SETTINGS:ACK", 0, 0, 14543),
    (150, "server", 674, "HEADERS:END_HEADERS", 278, 1, 14543),
    (154, "server", 734, "WINDOW_UPDATE", 4, 1, 14543),
    (155, "server", 737, "DATA:END_STREAM", 10, 1, 14543),
    (157, "server", 745, "WINDOW_UPDATE", 4, 0, 14543),
    (171, "client", 924, "PING", 8, 0, 14598),
    (174, "server", 955, "PING:ACK", 8, 0, 14543),
    (231, "client", 10639, "HEADERS:END_HEADERS", 78, 1, 14598),
    (233, "client", 10672, "DATA", 18, 1, 14598),
    (235, "client", 10681, "HEADERS:END_STREAM:END_HEADERS", 30, 1, 14598),
    (237, "client", 10689, "WINDOW_UPDATE", 4, 0, 14598),
    (255, "server", 12022, "PING", 8, 0, 14542),
    (264, "client", 12177, "PING:ACK", 8, 0, 14598),
]
HTTP_HEADER = ("receiver   at µs   frame                            length   stream   thread")


def http_row(receiver: str, at_us: int, frame: str, length: int, stream: int,
             thread: int, frame_width: int = 30) -> str:
    """A row as the table prints it: receiver and frame on the left, numbers on the right,
    three spaces between columns as wide as their widest cell."""
    return (f"{receiver:<8}   {at_us:>5}   {frame:<{frame_width}}   {length:>6}   "
            f"{stream:>6}   {thread:>6}")


def test_the_http2_frames_cited_are_the_raw_lines() -> None:
    lines = (HTTP_RUN / "events.jsonl").read_text().splitlines()
    header = json.loads(lines[0])
    first = json.loads(lines[HTTP_FRAMES[0][0] - 1])["ts"]
    assert first == 1795632576532129000
    for number, receiver, at_us, frame, length, stream, thread in HTTP_FRAMES:
        raw = json.loads(lines[number - 1])
        assert raw["kind"] == "core.http2_frame", number
        assert (header["processes"][str(raw["pid"])], (raw["ts"] - first) // 1000,
                ":".join([raw["frame"], *raw["flags"]]), raw["length"], raw["stream_id"],
                raw["tid"]) == (receiver, at_us, frame, length, stream, thread), number
    assert sum('"core.http2_frame"' in line for line in lines) == len(HTTP_FRAMES)


def test_http2_frame_table_as_printed() -> None:
    """Every frame received, in time order, character for character; only the first
    ``max_rows`` when there are more, and a line saying how many were left out and where
    they are."""
    rows = frame_rows(Run.load(HTTP_RUN).timeline)
    title = "HTTP/2 frames received (µs after the first)"
    table = [HTTP_HEADER, "─" * len(HTTP_HEADER),
             *(http_row(*frame[1:]) for frame in HTTP_FRAMES)]
    assert render(Http2FrameTable(rows), 100) == "".join(
        f"{line:<{len(HTTP_HEADER)}}\n" for line in [title, *table])
    assert render(Http2FrameTable(rows, max_rows=18), 100).splitlines() == [
        f"{title:<76}", *table]
    three = render(Http2FrameTable(rows, title="Frames", max_rows=3), 100).splitlines()
    assert [line.rstrip() for line in three] == [  # the frame column as wide as its 3 rows
        "Frames (µs after the first)",
        "receiver   at µs   frame           length   stream   thread", "─" * 59,
        *(http_row(*frame[1:], frame_width=13) for frame in HTTP_FRAMES[:3]),
        "... and 15 more frames (events.jsonl, kind core.http2_frame)"]
    bundle = Http2FrameTable(rows, max_rows=2)._repr_mimebundle_()
    plain = [line.rstrip() for line in bundle["text/plain"].splitlines()]
    assert plain[3:] == [*(http_row(*frame[1:], frame_width=13) for frame in HTTP_FRAMES[:2]),
                         "... and 16 more frames (events.jsonl, kind core.http2_frame)"]
    assert "HEADERS:END_STREAM:END_HEADERS" not in bundle["text/html"]
    assert (f"{GREY}... and 16 more frames (events.jsonl, kind core.http2_frame)</span>"
            in bundle["text/html"])
    assert Http2FrameTable.MAX_ROWS == 40 and Http2FrameTable(rows).max_rows == 40


def test_the_report_of_a_run_traced_with_http_lists_its_frames() -> None:
    """After the stage table, before the hook counts; a run without frames has no table."""
    run = Run.load(HTTP_RUN)
    text = render(RunReport(run), 100)
    lines = [line.rstrip() for line in text.splitlines()]
    start = lines.index("HTTP/2 frames received (µs after the first)")
    assert lines[start - 1].strip() == ""
    assert lines[start + 1:start + 21] == [
        HTTP_HEADER, "─" * len(HTTP_HEADER), *(http_row(*f[1:]) for f in HTTP_FRAMES)]
    assert lines.index("Stages over the run (µs, captured with hooks + core trace)") < start
    assert lines[start + 21].startswith("server (pid 14464) hooks fired:")
    assert "HTTP/2" not in render(RunReport(Run.load(FIXTURE_RUN)), 100)
