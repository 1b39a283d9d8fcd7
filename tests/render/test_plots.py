"""The pictures, drawn from the committed real capture and read back from disk."""

from __future__ import annotations

import itertools
import re
import subprocess
import sys
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy
import pytest
from matplotlib.colors import to_hex
from matplotlib.figure import Figure
from matplotlib.image import imread
from matplotlib.lines import Line2D
from matplotlib.patches import FancyArrowPatch, Rectangle
from matplotlib.text import Annotation

from tests.render import oracle
from toygrpc.analysis.chains import Analysis, cross_process_links
from toygrpc.analysis.run import Run
from toygrpc.analysis.stages import StageStats, stage_samples, stage_statistics
from toygrpc.analysis.swimlane import build_swimlane, pick_rpc
from toygrpc.errors import UsageError
from toygrpc.model.timeline import Timeline
from toygrpc.render.plots import (
    StagesPlot,
    SwimlanePlot,
    write_stage_distributions,
    write_swimlane,
)


def ids(svg: Path, prefix: str) -> list[str]:
    return re.findall(rf'id="({prefix}-[^"]+)"', svg.read_text())


def test_swimlane_has_a_lane_per_thread_role_and_an_arrow_per_link(
        fixture_run: tuple[Timeline, Analysis], tmp_path: Path) -> None:
    timeline, analysis = fixture_run
    rpc = pick_rpc(analysis)
    assert rpc.peer is not None
    drawn = write_swimlane(build_swimlane(analysis, timeline, rpc), tmp_path)
    chains = rpc.chains + rpc.peer.chains
    assert drawn.lanes == 6
    assert drawn.arrows == sum(len(c.links()) for c in chains) == 35
    assert drawn.cross_arrows == len(cross_process_links(rpc)) == 2
    assert drawn.spans > 0
    # read the pictures back
    svg = drawn.svg.read_text()
    assert len(ids(drawn.svg, "link")) == drawn.arrows
    assert len(ids(drawn.svg, "cross")) == drawn.cross_arrows
    assert len(ids(drawn.svg, "span")) == drawn.spans
    for lane in ("client main", "client core", "client poller", "server main", "server core",
                 "server poller"):
        assert f">{lane}<" in svg
    image = imread(drawn.png)
    height, width = image.shape[:2]
    assert (width, height) == (12 * 110, round((1.6 + 0.75 * 6) * 110))
    assert image[..., :3].std() > 0.05  # not a blank canvas


def test_stage_distributions_have_a_panel_per_measured_stage(
        fixture_run: tuple[Timeline, Analysis], tmp_path: Path) -> None:
    """The layout: one labelled panel per stage that has samples, in the table's order
    (the samples' values are checked against the hand-copied oracle by the tests of the
    stages figure below)."""
    _, analysis = fixture_run
    stats = stage_statistics(analysis)
    samples = stage_samples(analysis)
    drawn = write_stage_distributions(samples, stage_statistics(analysis), tmp_path)
    measured = tuple(s.name for s in stats if s.count)
    assert drawn.stages == measured and "awaiting_call" in measured
    assert ids(drawn.svg, "stage") == [f"stage-{name}" for name in measured]
    svg = drawn.svg.read_text()
    for s in stats:
        if s.count:
            assert f">{s.name} (n={s.count})<" in svg
    height, width = imread(drawn.png).shape[:2]
    assert width == 10 * 110 and height > 300


def test_a_run_without_chains_still_draws(tmp_path: Path) -> None:
    empty = Analysis([], [])
    drawn = write_stage_distributions(stage_samples(empty), stage_statistics(empty), tmp_path)
    assert drawn.stages == () and drawn.png.stat().st_size > 0


def test_without_matplotlib_the_plots_say_so_in_one_line(tmp_path: Path) -> None:
    program = (
        "import sys; sys.modules['matplotlib'] = None\n"
        "from pathlib import Path\n"
        "from toygrpc.analysis.chains import Analysis\n"
        "from toygrpc.analysis.stages import stage_samples, stage_statistics\n"
        "from toygrpc.errors import UsageError\n"
        "from toygrpc.render.plots import write_stage_distributions\n"
        "try:\n"
        "    empty = Analysis([], [])\n"
        f"    write_stage_distributions(stage_samples(empty), stage_statistics(empty), "
        f"Path({str(tmp_path)!r}))\n"
        "except UsageError as e:\n"
        "    print(e)\n"
    )
    result = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("\n") == 1 and "pip install 'toygrpc[plots]'" in result.stdout
    assert not list(tmp_path.iterdir())


def test_a_missing_matplotlib_is_a_usage_error_saying_what_to_install(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """In process (the test above needs a Python without matplotlib): each picture asks
    for the extra in the one line a UsageError prints, and writes nothing."""
    from toygrpc.render import plots

    said = "the plots need matplotlib (No module named 'matplotlib'): pip install 'toygrpc[plots]'"
    monkeypatch.setattr(plots, "MATPLOTLIB_ERROR", said)
    run = Run.load(oracle.FIXTURE_RUN)
    with pytest.raises(UsageError) as raised:
        write_swimlane(run.swimlane(), tmp_path)
    assert str(raised.value) == said
    with pytest.raises(UsageError) as raised:
        write_stage_distributions(run.stage_samples, run.stage_stats, tmp_path)
    assert str(raised.value) == said
    assert not list(tmp_path.iterdir())


# --- against the values read by hand from the raw events (tests/render/oracle.py) -------


def stage_points(svg: str) -> dict[str, list[float]]:
    """The x of each point of each stage's strip (a ``<use>`` per point, in the group
    matplotlib writes for the strip's id, closed at its own indentation)."""
    return {name: [float(x) for x in re.findall(r'<use [^>]*x="([-\d.]+)"', body)]
            for name, body in re.findall(r'<g id="stage-([a-z_]+)">(.*?)\n   </g>', svg, re.S)}


def test_swimlane_picture_of_the_median_client_call(tmp_path: Path) -> None:
    """Each step of the client batch is a marker at its time (µs from the RPC's start) on
    its thread's lane; the title, the lanes and the RPC's start and end are written."""
    from toygrpc.render.plots import _swimlane_figure

    run = Run.load(oracle.FIXTURE_RUN)
    call = oracle.MEDIAN_CLIENT
    figure, counts = _swimlane_figure(run.swimlane())
    assert counts == (6, 5 * 7, 2, 5 * 7)  # lanes, arrows, cross arrows, shaded spans
    ax = figure.axes[0]
    lanes = {label.get_text(): y for label, y in zip(ax.get_yticklabels(), ax.get_yticks(),
                                                     strict=True)}
    assert lanes == {"client main": 5, "client core": 4, "client poller": 3, "server main": 2,
                     "server core": 1, "server poller": 0}
    points = [(numpy.asarray(line.get_xdata()), numpy.asarray(line.get_ydata()),
               line.get_marker()) for line in ax.lines]
    markers = {(round(float(xs[0]), 3), int(ys[0]), marker) for xs, ys, marker in points
               if len(xs) == 1}
    lane_of = {"completed": "client core", "returned": "client poller"}
    for step in call.steps:
        at = round((call.ts(step) - call.start) / 1000, 3)
        assert (at, lanes[lane_of.get(step, "client main")], "o") in markers, step
    assert (0.0, 5, "D") in markers  # the RPC's start
    assert (round(call.latency / 1000, 3), 5, "D") in markers  # its end
    assert ax.get_title() == (f"RPC {call.index}: client /HelloService/Hello OK, "
                              f"{oracle.us(call.latency)} µs — an arrow per chain link")
    drawn = write_swimlane(run.swimlane(), tmp_path)
    svg = drawn.svg.read_text()
    texts = re.findall(r"<text[^>]*>([^<]*)</text>", svg)
    assert [t for t in texts if t in ("RPC start", "call arrived", "handler done", "RPC end")
            ] == ["RPC start", "call arrived", "handler done", "RPC end"]
    assert "µs from the RPC's start" in texts and "client &lt;-&gt; server" in texts
    legend = texts[texts.index(ax.get_title()) + 1:]
    assert legend == [*oracle.STAGE_NAMES[:7], "awaiting_call", "chain link",
                      "client &lt;-&gt; server"]


def test_stage_picture_has_a_point_per_sample(tmp_path: Path) -> None:
    run = Run.load(oracle.FIXTURE_RUN)
    drawn = write_stage_distributions(run.stage_samples, run.stage_stats, tmp_path)
    svg = drawn.svg.read_text()
    batches, requests = oracle.BATCH_STARTS, oracle.REQUEST_CALLS
    expected = {"python_before_core": 3, "core_and_network": batches,
                **dict.fromkeys(oracle.STAGE_NAMES[2:7], batches + requests),
                "python_after_core": 3, "awaiting_call": requests}
    points = stage_points(svg)
    assert {name: len(xs) for name, xs in points.items()} == expected
    # the client calls' points, left to right in the order of their durations
    for name in ("python_before_core", "python_after_core"):
        values = oracle.client_stage_values(name)
        assert sorted(range(3), key=points[name].__getitem__) == sorted(
            range(3), key=values.__getitem__), name
    texts = re.findall(r"<text[^>]*>([^<]*)</text>", svg)
    assert texts == ["µs (symmetric log scale)   ▼ p90  [red] ▼ p99   box: min, median, max",
                     *(f"{name} (n={n})" for name, n in expected.items()),
                     "Stage durations over the run"]
    assert drawn.stages == tuple(oracle.STAGE_NAMES)
    empty = write_stage_distributions({name: [] for name in oracle.STAGE_NAMES}, [],
                                      tmp_path / "empty")
    assert re.findall(r"<text[^>]*>([^<]*)</text>", empty.svg.read_text()) == [
        "no complete chains: no stage durations", "Stage durations over the run"]


def test_the_plot_renderers_write_their_files(run_copy: Path, tmp_path: Path) -> None:
    """Into ``out``; the run read is a copy, so a renderer that ignored ``out`` would write
    beside it, never into the committed fixture."""
    run = Run.load(run_copy)
    out = tmp_path / "pictures"
    lane = SwimlanePlot(out=out, rpc=1)
    assert lane.render(run) == [out / "swimlane.svg", out / "swimlane.png"]
    assert "RPC 1: client" in (out / "swimlane.svg").read_text()
    stages = StagesPlot(out=out)
    assert stages.render(run) == [out / "stages.svg", out / "stages.png"]
    assert stages.drawn.stages == tuple(oracle.STAGE_NAMES)
    assert all(p.stat().st_size > 1000 for p in out.iterdir())
    assert not list(run_copy.glob("s*.*g"))  # no swimlane or stages picture beside the run
    svg = (out / "swimlane.svg").read_text()
    assert 'id="link-1"' in svg and "<dc:date>" not in svg  # no date: the same run, the same file


def test_a_large_run_draws_each_stage_as_its_density_at_a_bounded_size(
        fixture_run: tuple[Timeline, Analysis], tmp_path: Path) -> None:
    """Past MAX_POINTS samples a stage is one band (its density), not a point each: the
    picture of a 20,000-RPC run stays small, and still says how many samples it holds."""
    from toygrpc.render.plots import MAX_POINTS

    _, analysis = fixture_run
    real = stage_samples(analysis)
    copies = MAX_POINTS // min(len(v) for v in real.values() if v) + 1
    samples = {name: values * copies for name, values in real.items()}
    stats = [replace(s, count=s.count * copies) for s in stage_statistics(analysis)]
    drawn = write_stage_distributions(samples, stats, tmp_path)
    measured = tuple(s.name for s in stats if s.count)
    assert drawn.stages == measured
    svg = drawn.svg.read_text()
    assert ids(drawn.svg, "stage") == [f"stage-{name}" for name in measured]
    for s in stats:
        if s.count:
            assert f">{s.name} (n={s.count})<" in svg
            group = svg.split(f'<g id="stage-{s.name}">', 1)[1].split("</g>", 1)[0]
            assert group.count("<path") == 1 and group.count("<use") <= 1  # one band
    assert f"more than {MAX_POINTS:,} samples: their density" in svg
    assert drawn.svg.stat().st_size < 400_000
    image = imread(drawn.png)
    assert image[..., :3].std() > 0.05


# --- the figures as a reader sees them: every mark at its place, in its colour, its size --
#
# The values below are written out here, from the oracle's hand-copied timestamps and from
# the pictures' design (what each mark means, how it must look to stay legible), not read
# from the module under test.

# The stage colours: one a stage, the same in both pictures and in the legend.
STAGE_HEX = {"python_before_core": "#8c564b", "core_and_network": "#1f77b4",
             "core_to_poller": "#ff7f0e", "poller_to_wake": "#2ca02c",
             "wake_to_drain": "#d62728", "drain_to_resolution": "#9467bd",
             "resolution_to_resume": "#e377c2", "python_after_core": "#7f7f7f",
             "awaiting_call": "#bcbd22"}
CLIENT_BLUE, SERVER_PURPLE, GREY = "#1f77b4", "#9467bd", "#808080"
LINK_GREY, CROSS_RED = "#333333", "#d62728"
# The stage that ends at each step of a batch (a request call's "completed" ends
# awaiting_call: the server waited for a call, not for the network).
STAGE_ENDING_AT = {"core_call": "python_before_core", "completed": "core_and_network",
                   "returned": "core_to_poller", "woken": "poller_to_wake",
                   "drained": "wake_to_drain", "resolved": "drain_to_resolution",
                   "resumed": "resolution_to_resume"}
# The swimlane's lanes, top to bottom (y = 5 .. 0), and the lane of each thread.
LANE_Y = {"client main": 5, "client core": 4, "client poller": 3, "server main": 2,
          "server core": 1, "server poller": 0}


def lane_y(side: str, tid: int) -> int:
    main, poller = ((oracle.CLIENT_MAIN, oracle.CLIENT_POLLER) if side == "client"
                    else (oracle.SERVER_MAIN, oracle.SERVER_POLLER))
    kind = "main" if tid == main else "poller" if tid == poller else "core"
    return LANE_Y[f"{side} {kind}"]


def median_chains() -> list[tuple[str, str, list[tuple[str, float, int]]]]:
    """The five chains of the median call's swimlane (side, name, [(step, µs from the
    client's RPC start, lane y)])."""
    start = oracle.MEDIAN_CLIENT.start
    chains = [("client", "batch", oracle.MEDIAN_CLIENT.steps),
              *(("server", name, steps) for name, steps in oracle.MEDIAN_SERVER.chains.items())]
    return [(side, name, [(step, (ts - start) / 1000, lane_y(side, tid))
                          for step, (_, _, ts, tid) in steps.items()])
            for side, name, steps in chains]


def hex_of(colour: Any) -> str:
    """A colour as #rrggbb, whatever form matplotlib keeps it in."""
    return to_hex(colour, keep_alpha=False)


def alpha_of(colour: Any) -> float:
    return float(numpy.asarray(colour, dtype=float).reshape(-1, 4)[0][3])


def points_of(line: Line2D) -> list[tuple[float, float]]:
    """A line's points (x, y), as floats."""
    xs = numpy.asarray(line.get_xdata(), dtype=float)
    ys = numpy.asarray(line.get_ydata(), dtype=float)
    return [(float(x), float(y)) for x, y in zip(xs, ys, strict=True)]


def xs_of(line: Line2D) -> list[float]:
    return [x for x, _ in points_of(line)]


def ys_of(line: Line2D) -> list[float]:
    return [y for _, y in points_of(line)]


def close(a: float, b: float) -> bool:
    return abs(a - b) < 1e-6


@pytest.fixture
def median_figure() -> Figure:
    """Built for each test (not once a module): mutmut ties a test to the functions it
    ran, and only the first test of a shared fixture would run the drawing."""
    from toygrpc.render.plots import _swimlane_figure

    figure, _ = _swimlane_figure(Run.load(oracle.FIXTURE_RUN).swimlane())
    figure.draw_without_rendering()  # lay it out, as saving it does
    return figure


def test_every_marker_of_the_median_call_at_its_time_on_its_lane(median_figure: Figure) -> None:
    """A round marker (4 pt) per step of each of the five chains, a diamond (6 pt) at the
    RPC's start and end and at the server's call arriving and handler done; client marks
    blue, server marks purple, drawn over everything else."""
    ax = median_figure.axes[0]
    call, server = oracle.MEDIAN_CLIENT, oracle.MEDIAN_SERVER
    expected: Counter[tuple[float, int, str, float, str]] = Counter()
    for side, _, steps in median_chains():
        colour = CLIENT_BLUE if side == "client" else SERVER_PURPLE
        expected.update((round(at, 3), y, "o", 4.0, colour) for _, at, y in steps)
    expected.update([(0.0, 5, "D", 6.0, CLIENT_BLUE),
                     (round(call.latency / 1000, 3), 5, "D", 6.0, CLIENT_BLUE),
                     (round((server.arrived[2] - call.start) / 1000, 3), 2, "D", 6.0,
                      SERVER_PURPLE),
                     (round((server.done - call.start) / 1000, 3), 2, "D", 6.0, SERVER_PURPLE)])
    markers = [line for line in ax.lines if len(points_of(line)) == 1]
    drawn = Counter((round(xs_of(line)[0], 3), int(ys_of(line)[0]), line.get_marker(),
                     line.get_markersize(), hex_of(line.get_color())) for line in markers)
    assert drawn == expected
    assert sum(expected.values()) == 5 * 8 + 4
    assert {line.get_linestyle() for line in markers} == {"-"}  # one point: no line to draw
    assert {line.get_zorder() for line in markers} == {4}


def test_each_lane_is_a_line_at_its_y_in_its_process_colour(median_figure: Figure) -> None:
    ax = median_figure.axes[0]
    labels = {label.get_text(): y for label, y in zip(ax.get_yticklabels(), ax.get_yticks(),
                                                      strict=True)}
    assert labels == LANE_Y
    lines = [line for line in ax.lines if xs_of(line) == [0, 1]]
    drawn = sorted((ys_of(line)[0], hex_of(line.get_color()), line.get_linewidth(),
                    line.get_alpha(), line.get_zorder()) for line in lines)
    assert drawn == [(float(y), SERVER_PURPLE if y < 3 else CLIENT_BLUE, 0.8, 0.4, 1)
                     for y in range(6)]
    assert ax.get_ylim() == (-0.7, 5.7)  # the top and bottom lanes' markers not cut
    assert ax.get_xlabel() == "µs from the RPC's start"


def test_each_link_is_an_arrow_from_step_to_step(median_figure: Figure) -> None:
    """A solid dark arrow per link of a chain (arcing above a lane when both steps are on
    it), a dashed red one from the client's batch to the server's call and back."""
    ax = median_figure.axes[0]
    expected: Counter[tuple[object, ...]] = Counter()
    for _, _, steps in median_chains():
        for (_, xa, ya), (_, xb, yb) in itertools.pairwise(steps):
            expected[("link", round(xa, 3), ya, round(xb, 3), yb, LINK_GREY, "-",
                      0.0 if ya != yb else -0.35)] += 1
    chains = {name: steps for _, name, steps in median_chains()}
    client, request, send = chains["batch"], chains["request_call"], chains["SEND_STATUS"]
    for (_, xa, ya), (_, xb, yb) in ((client[1], request[2]), (send[1], client[2])):
        expected[("cross", round(xa, 3), ya, round(xb, 3), yb, CROSS_RED, "--", 0.0)] += 1
    arrows = [p for p in ax.patches if isinstance(p, FancyArrowPatch)]
    drawn: Counter[tuple[object, ...]] = Counter()
    for arrow in arrows:
        (xa, ya), (xb, yb) = arrow._posA_posB  # type: ignore[attr-defined]  # no getter
        drawn[(str(arrow.get_gid()).split("-")[0], round(xa, 3), ya, round(xb, 3), yb,
               hex_of(arrow.get_edgecolor()), arrow.get_linestyle(),
               arrow.get_connectionstyle().rad)] += 1  # type: ignore[attr-defined]
    assert drawn == expected and sum(expected.values()) == 35 + 2
    assert sorted(str(a.get_gid()) for a in arrows) == sorted(
        [f"link-{i}" for i in range(1, 36)] + ["cross-1", "cross-2"])
    for arrow in arrows:  # a small filled head, a thin line that stops short of the marker
        style = arrow.get_arrowstyle()
        assert type(style).__name__ == "CurveFilledB" and arrow.get_mutation_scale() == 9
        assert arrow.get_linewidth() == 0.9 and arrow.get_zorder() == 3
        assert (arrow.shrinkA, arrow.shrinkB) == (2, 2)


def test_each_stage_is_a_shaded_span_in_its_colour(median_figure: Figure) -> None:
    """A link's stage shades the rectangle between its two steps (over both lanes, a
    quarter lane beyond them), in the stage's colour, faint, under everything."""
    ax = median_figure.axes[0]
    expected: Counter[tuple[object, ...]] = Counter()
    for _, name, steps in median_chains():
        for (_, xa, ya), (step, xb, yb) in itertools.pairwise(steps):
            stage = ("awaiting_call" if name == "request_call" and step == "completed"
                     else STAGE_ENDING_AT[step])
            expected[(round(min(xa, xb), 3), min(ya, yb) - 0.25, round(abs(xb - xa), 3),
                      abs(yb - ya) + 0.5, STAGE_HEX[stage])] += 1
    spans = [p for p in ax.patches if isinstance(p, Rectangle) and str(p.get_gid()).startswith(
        "span-")]
    drawn = Counter((round(s.get_x(), 3), s.get_y(), round(s.get_width(), 3), s.get_height(),
                     hex_of(s.get_facecolor())) for s in spans)
    assert drawn == expected and len(spans) == 35
    for span in spans:
        assert alpha_of(span.get_facecolor()) == pytest.approx(0.18)
        assert alpha_of(span.get_edgecolor()) == 0 and span.get_zorder() == 0


def test_the_legend_maps_each_shaded_stage_to_its_colour(median_figure: Figure) -> None:
    """The legend, right of the plot and inside the picture: the stages shaded, in table
    order, each in the colour of its spans, then the two kinds of arrow."""
    ax = median_figure.axes[0]
    legend = ax.get_legend()
    assert legend is not None
    texts = [t.get_text() for t in legend.get_texts()]
    shaded = [s for s in oracle.STAGE_NAMES if s != "python_after_core"]
    assert texts == [*shaded, "chain link", "client <-> server"]
    handles = legend.legend_handles
    for stage, handle in zip(shaded, handles, strict=False):
        assert isinstance(handle, Rectangle)
        assert hex_of(handle.get_facecolor()) == STAGE_HEX[stage], stage
        assert alpha_of(handle.get_facecolor()) == pytest.approx(0.35), stage
    link, cross = handles[-2:]
    assert isinstance(link, Line2D) and isinstance(cross, Line2D)
    assert (hex_of(link.get_color()), link.get_linestyle()) == (LINK_GREY, "-")
    assert (hex_of(cross.get_color()), cross.get_linestyle()) == (CROSS_RED, "--")
    assert {t.get_fontsize() for t in legend.get_texts()} == {7}
    assert len(set(STAGE_HEX.values())) == len(STAGE_HEX)  # no two stages alike
    # where: its top left corner at the axes' top right (a pad apart), all in the figure
    box, axes = legend.get_window_extent(), ax.get_window_extent()
    figure = median_figure.bbox
    assert 0 < box.x0 - axes.x1 < 10 and 0 < axes.y1 - box.y1 < 10
    assert 0 <= figure.x1 - box.x1 < 10 and box.y0 >= figure.y0
    labels = [t.get_window_extent() for t in ax.get_yticklabels()]
    assert 0 <= min(b.x0 for b in labels) < 10  # the lane names neither cut off nor inset


def test_the_calls_start_and_end_are_marked_and_named(median_figure: Figure) -> None:
    """A dotted grey vertical line at the RPC's start and end, the call's arrival and the
    handler's end, each named at the top, small, turned upright, left of its line."""
    ax = median_figure.axes[0]
    call, server = oracle.MEDIAN_CLIENT, oracle.MEDIAN_SERVER
    marks = {"RPC start": 0.0, "call arrived": (server.arrived[2] - call.start) / 1000,
             "handler done": (server.done - call.start) / 1000,
             "RPC end": call.latency / 1000}
    verticals = [line for line in ax.lines if ys_of(line) == [0, 1]]
    assert sorted(round(xs_of(v)[0], 3) for v in verticals) == sorted(
        round(x, 3) for x in marks.values())
    for v in verticals:
        assert (hex_of(v.get_color()), v.get_linewidth(), v.get_linestyle(), v.get_zorder()
                ) == (GREY, 0.6, ":", 1)
    names = {t.get_text(): t for t in ax.texts}
    assert set(names) == set(marks)
    for text, x in marks.items():
        note = names[text]
        assert isinstance(note, Annotation)
        assert (round(note.xy[0], 3), note.xy[1]) == (round(x, 3), 5.55), text
        assert (note.get_fontsize(), note.get_rotation(), note.get_horizontalalignment(),
                note.get_verticalalignment(),
                hex_of(note.get_color())) == (7, 90, "right", "top", GREY)
    assert ax.title.get_fontsize() == 10


def test_the_swimlanes_grid_and_size(median_figure: Figure) -> None:
    ax = median_figure.axes[0]
    xgrid, ygrid = ax.xaxis.get_gridlines(), ax.yaxis.get_gridlines()
    assert all(line.get_visible() for line in xgrid) and not any(
        line.get_visible() for line in ygrid)
    assert {(line.get_linewidth(), line.get_alpha()) for line in xgrid} == {(0.3, 0.5)}
    assert tuple(median_figure.get_size_inches()) == (12, 1.6 + 0.75 * 6)


def test_a_process_the_run_does_not_name_is_drawn_in_grey() -> None:
    """A lane of a process missing from the run's manifest: its line and marks are grey."""
    from toygrpc.render.plots import _swimlane_figure

    model = Run.load(oracle.FIXTURE_RUN).swimlane()
    model.lanes = [replace(lane, process=str(lane.pid)) if lane.process == "server" else lane
                   for lane in model.lanes]
    figure, _ = _swimlane_figure(model)
    ax = figure.axes[0]
    colour_at: dict[int, set[str]] = {}
    for line in ax.lines:
        if xs_of(line) == [0, 1] or len(points_of(line)) == 1:  # the lanes and the markers
            colour_at.setdefault(int(ys_of(line)[0]), set()).add(hex_of(line.get_color()))
    assert colour_at == {y: {GREY if y < 3 else CLIENT_BLUE} for y in range(6)}
    assert [t.get_text() for t in ax.get_yticklabels()][3:] == [
        f"{oracle.SERVER_PID} main", f"{oracle.SERVER_PID} core", f"{oracle.SERVER_PID} poller"]


def test_the_notebooks_picture_is_the_file(tmp_path: Path) -> None:
    """The SVG a notebook shows is the file ``swimlane.svg``, byte for byte, and drawing
    a run twice gives the same files (no date, no random ids: a run diffs cleanly)."""
    from toygrpc.render.plots import swimlane_figure_svg

    run = Run.load(oracle.FIXTURE_RUN)
    drawn = write_swimlane(run.swimlane(), tmp_path / "a" / "b")
    assert swimlane_figure_svg(run.swimlane()) == drawn.svg.read_text()
    again = write_swimlane(run.swimlane(), tmp_path / "again")
    assert again.svg.read_bytes() == drawn.svg.read_bytes()
    assert (drawn.svg.name, drawn.png.name) == ("swimlane.svg", "swimlane.png")
    assert drawn.png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert drawn.svg.read_text().startswith("<?xml")


def stats_for(samples: dict[str, list[int]], p90: dict[str, int] | None = None,
              p99: dict[str, int] | None = None) -> list[StageStats]:
    """The table's rows for hand-made samples: the p90 and p99 given by the test (the
    picture draws the table's percentiles, it does not compute them)."""
    return [StageStats(name, "", len(values), 0, (p90 or {}).get(name, 0),
                       (p99 or {}).get(name, 0), 0) for name, values in samples.items()]


# Three stages measured, the others empty: rows at y = 3, 2, 1, in table order. 30 µs is
# an outlier of the first row (beyond its third quartile by over 1.5 times the spread).
HAND_SAMPLES: dict[str, list[int]] = {name: [] for name in oracle.STAGE_NAMES} | {
    "python_before_core": [1000, 3000, 2000, 30000], "core_and_network": [500, 40000],
    "wake_to_drain": [0, 250]}
HAND_ROWS = {"python_before_core": 3, "core_and_network": 2, "wake_to_drain": 1}


def stages_of(samples: dict[str, list[int]], stats: list[StageStats]) -> Figure:
    from toygrpc.render.plots import _stages_figure

    figure, drawn = _stages_figure(samples, stats)
    assert drawn == tuple(name for name in oracle.STAGE_NAMES if samples[name])
    return figure


def test_each_sample_is_a_point_in_its_stages_row_and_colour() -> None:
    """A point per sample at its µs, jittered at most 0.18 of a row up or down (so equal
    durations do not hide each other), small, half transparent, in the stage's colour;
    the same jitter each time the run is drawn."""
    figure = stages_of(HAND_SAMPLES, stats_for(HAND_SAMPLES))
    ax = figure.axes[0]
    points = {str(c.get_gid()): c for c in ax.collections}
    assert list(points) == [f"stage-{name}" for name in HAND_ROWS]
    again = stages_of(HAND_SAMPLES, stats_for(HAND_SAMPLES)).axes[0].collections
    offsets: list[float] = []
    for (name, row), strip, same in zip(HAND_ROWS.items(), points.values(), again, strict=True):
        xy = numpy.asarray(strip.get_offsets(), dtype=float)
        assert list(xy[:, 0]) == [v / 1000 for v in HAND_SAMPLES[name]], name
        assert all(abs(y - row) <= 0.18 for y in xy[:, 1]), name
        offsets += [y - row for y in xy[:, 1]]
        assert numpy.array_equal(xy, numpy.asarray(same.get_offsets(), dtype=float)), name
        assert [hex_of(c) for c in strip.get_facecolor()] == [STAGE_HEX[name]]
        assert alpha_of(strip.get_facecolor()) == pytest.approx(0.45)
        assert len(strip.get_edgecolor()) == 0  # no outline: overlapping points stay apart
        assert list(strip.get_sizes()) == [6] and strip.get_zorder() == 3  # type: ignore[attr-defined]
    assert len(set(offsets)) == len(offsets) and min(offsets) < 0 < max(offsets)


def test_each_row_has_its_p90_and_p99_above_it() -> None:
    """The table's p90 (dark) and p99 (red) as small down-pointing triangles 0.3 of a row
    above the row's points, over them."""
    p90 = {"python_before_core": 3000, "core_and_network": 500, "wake_to_drain": 0}
    p99 = {"python_before_core": 30000, "core_and_network": 40000, "wake_to_drain": 250}
    ax = stages_of(HAND_SAMPLES, stats_for(HAND_SAMPLES, p90, p99)).axes[0]
    markers = sorted((ys_of(line)[0], hex_of(line.get_color()), xs_of(line)[0],
                      line.get_marker(), line.get_markersize(), line.get_zorder())
                     for line in ax.lines if line.get_marker() == "v")
    assert markers == sorted(
        (row + 0.3, colour, value / 1000, "v", 5, 4) for name, row in HAND_ROWS.items()
        for colour, value in ((LINK_GREY, p90[name]), (CROSS_RED, p99[name])))


def test_each_rows_box_spans_min_to_max_with_the_median_inside() -> None:
    """Whiskers to the smallest and the largest sample (an outlier too: none is set apart),
    the box from the first to the third quartile (linear interpolation), the median in
    black, half a row high, under the points."""
    ax = stages_of(HAND_SAMPLES, stats_for(HAND_SAMPLES)).axes[0]
    # (min, q1, median, q3, max) in µs, worked out by hand from HAND_SAMPLES
    boxes = {3: (1.0, 1.75, 2.5, 9.75, 30.0), 2: (0.5, 10.375, 20.25, 30.125, 40.0),
             1: (0.0, 0.0625, 0.125, 0.1875, 0.25)}
    lines = [(xs_of(line), ys_of(line), hex_of(line.get_color()), line.get_zorder())
             for line in ax.lines if line.get_marker() != "v"]
    expected = []
    for row, (low, q1, median, q3, high) in boxes.items():
        expected += [
            ([q1, q1, q3, q3, q1], [row - 0.25, row + 0.25, row + 0.25, row - 0.25, row - 0.25],
             "#000000", 2),  # the box
            ([q1, low], [row, row], "#000000", 2), ([q3, high], [row, row], "#000000", 2),
            ([low, low], [row - 0.125, row + 0.125], "#000000", 2),  # the caps
            ([high, high], [row - 0.125, row + 0.125], "#000000", 2),
            ([median, median], [row - 0.25, row + 0.25], "#000000", 2.1)]  # the median
    assert sorted(lines) == sorted(expected)
    assert max(line.get_zorder() for line in ax.lines if line.get_marker() != "v") < min(
        c.get_zorder() for c in ax.collections)


def test_the_stage_axis_its_scale_limits_and_labels() -> None:
    """One symmetric-log µs axis from 0 (or twice the smallest value, when negative) to
    twice the largest (at least 2 µs); the rows named with their counts, in table order."""
    ax = stages_of(HAND_SAMPLES, stats_for(HAND_SAMPLES)).axes[0]
    assert ax.get_xscale() == "symlog" and ax.xaxis.get_transform().linthresh == 1.0  # type: ignore[attr-defined]
    assert ax.get_xlim() == (0.0, 80.0)
    assert [(t.get_text(), y, t.get_fontsize()) for t, y in zip(
        ax.get_yticklabels(), ax.get_yticks(), strict=True)] == [
        ("python_before_core (n=4)", 3, 8), ("core_and_network (n=2)", 2, 8),
        ("wake_to_drain (n=2)", 1, 8)]
    assert ax.get_xlabel() == ("µs (symmetric log scale)   ▼ p90  [red] ▼ p99   box: min, "
                               "median, max")
    assert (ax.get_title(), ax.title.get_fontsize()) == ("Stage durations over the run", 10)
    xgrid, ygrid = ax.xaxis.get_gridlines(), ax.yaxis.get_gridlines()
    assert all(line.get_visible() for line in xgrid) and not any(
        line.get_visible() for line in ygrid)
    assert {(line.get_linewidth(), line.get_alpha()) for line in xgrid} == {(0.3, 0.5)}
    tiny: dict[str, list[int]] = {name: [] for name in oracle.STAGE_NAMES} | {
        "core_to_poller": [100, -1500]}
    assert stages_of(tiny, stats_for(tiny)).axes[0].get_xlim() == (-3.0, 2.0)
    small: dict[str, list[int]] = {name: [] for name in oracle.STAGE_NAMES} | {
        "core_to_poller": [100, 1500]}
    assert stages_of(small, stats_for(small)).axes[0].get_xlim() == (0.0, 3.0)


def test_the_stage_pictures_size_and_margins() -> None:
    """10 inches wide, 1.2 + 0.55 a row high; in inches, fixed margins: 2 on the left for
    the row names, 0.3 on the right, 0.5 above for the title, 0.7 below for the axis's
    two-line label."""
    empty: dict[str, list[int]] = {name: [] for name in oracle.STAGE_NAMES}
    for samples, rows in ((HAND_SAMPLES, 3), (empty, 1)):
        figure = stages_of(samples, stats_for(samples))
        width, height = figure.get_size_inches()
        assert (width, height) == (10, pytest.approx(1.2 + 0.55 * rows))
        box = figure.axes[0].get_position()
        assert (box.x0 * width, box.x1 * width) == (pytest.approx(2.0), pytest.approx(9.7))
        assert (height - box.y1 * height, box.y0 * height) == (pytest.approx(0.5),
                                                               pytest.approx(0.7))


def test_a_run_without_stage_durations_says_so_in_the_middle() -> None:
    samples: dict[str, list[int]] = {name: [] for name in oracle.STAGE_NAMES}
    ax = stages_of(samples, []).axes[0]
    (text,) = ax.texts
    assert (text.get_text(), text.get_position(), text.get_horizontalalignment(),
            text.get_verticalalignment()) == (
        "no complete chains: no stage durations", (0.5, 0.5), "center", "center")
    assert text.get_transform() == ax.transAxes and not ax.axison
    assert ax.get_title() == "Stage durations over the run"


def test_past_max_points_a_stage_is_its_density_band() -> None:
    """2,000 samples are still points; 2,001 are a band, even in log10(1 + |µs|) (the
    axis's scale, about): 80 bins, each as high as its count over the fullest bin's
    (0.3 of a row up and down at most), in the stage's colour, half transparent."""
    from toygrpc.render.plots import MAX_POINTS

    assert MAX_POINTS == 2000
    # -9 µs folds to -1 and 99 µs to +2: the bins are 3/80 wide, only the end ones hold any
    dense = [-9000] * 1000 + [99000] * 1001
    samples: dict[str, list[int]] = {name: [] for name in oracle.STAGE_NAMES} | {
        "core_and_network": [1000] * 2000, "wake_to_drain": dense}
    ax = stages_of(samples, stats_for(samples)).axes[0]
    points, band = ax.collections
    assert points.get_gid() == "stage-core_and_network"
    assert len(numpy.asarray(points.get_offsets(), dtype=float)) == 2000
    assert band.get_gid() == "stage-wake_to_drain"
    assert hex_of(numpy.asarray(band.get_facecolor())[0]) == STAGE_HEX["wake_to_drain"]
    assert alpha_of(band.get_facecolor()) == pytest.approx(0.5)
    assert list(band.get_linewidth()) == [0] and band.get_zorder() == 3  # type: ignore[arg-type]
    centres = [-1 + (k + 0.5) * 3 / 80 for k in range(80)]
    xs = [(1 if c > 0 else -1) * (10 ** abs(c) - 1) for c in centres]
    half = [0.3 * 1000 / 1001] + [0.0] * 78 + [0.3]
    row = 1
    vertices = {(round(float(x), 6), round(float(y), 6))
                for x, y in numpy.asarray(band.get_paths()[0].vertices, dtype=float)}
    expected = {(round(x, 6), round(row + h, 6)) for x, h in zip(xs, half, strict=True)} | {
        (round(x, 6), round(row - h, 6)) for x, h in zip(xs, half, strict=True)}
    assert expected <= vertices and {x for x, _ in vertices} == {round(x, 6) for x in xs}
    assert ax.get_xlabel().endswith(f"\nmore than {MAX_POINTS:,} samples: their density, "
                                    "not a point each")
