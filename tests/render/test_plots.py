"""The pictures, drawn from the committed real capture and read back from disk."""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy
from matplotlib.image import imread

from tests.render import oracle
from toygrpc.analysis.chains import Analysis, cross_process_links
from toygrpc.analysis.run import Run
from toygrpc.analysis.stages import stage_samples, stage_statistics
from toygrpc.analysis.swimlane import build_swimlane, pick_rpc
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
    _, analysis = fixture_run
    stats = stage_statistics(analysis)
    samples = stage_samples(analysis)
    assert {s.name: s.count for s in stats} == {k: len(v) for k, v in samples.items()}
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


def test_the_plot_renderers_write_their_files(tmp_path: Path) -> None:
    run = Run.load(oracle.FIXTURE_RUN)
    lane = SwimlanePlot(out=tmp_path, rpc=1)
    assert lane.render(run) == [tmp_path / "swimlane.svg", tmp_path / "swimlane.png"]
    assert "RPC 1: client" in (tmp_path / "swimlane.svg").read_text()
    stages = StagesPlot(out=tmp_path)
    assert stages.render(run) == [tmp_path / "stages.svg", tmp_path / "stages.png"]
    assert stages.drawn.stages == tuple(oracle.STAGE_NAMES)
    assert all(p.stat().st_size > 1000 for p in tmp_path.iterdir())
    svg = (tmp_path / "swimlane.svg").read_text()
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
