"""The pictures, drawn from the committed real capture and read back from disk."""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

from matplotlib.image import imread

from toygrpc.analysis.chains import Analysis, cross_process_links
from toygrpc.analysis.stages import stage_samples, stage_statistics
from toygrpc.analysis.swimlane import build_swimlane, pick_rpc
from toygrpc.model.timeline import Timeline
from toygrpc.render.plots import write_stage_distributions, write_swimlane


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
