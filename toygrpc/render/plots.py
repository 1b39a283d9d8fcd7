"""SVG and PNG pictures of a run: one RPC's swimlane, and every stage's distribution.

Pictures go where a terminal cannot: a report, an issue, a slide. They are drawn with
matplotlib's object API on the Agg canvas (no pyplot, so a notebook's or the user's
backend is left alone). Every arrow and stage panel carries an SVG id (``gid``) and
each function returns what it drew, so tests can check a picture against the model.
"""

from __future__ import annotations

import io
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from toygrpc.errors import UsageError
from toygrpc.render.base import FileRenderer
from toygrpc.render.pictures import StagesPicture, SwimlanePicture

if TYPE_CHECKING:  # the drawing process draws pictures without importing the analysis
    from toygrpc.analysis.run import Run
    from toygrpc.analysis.stages import StageStats
    from toygrpc.analysis.swimlane import SwimlaneModel

try:
    from matplotlib import rc_context
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.patches import FancyArrowPatch, Patch, Rectangle
except ImportError as error:  # matplotlib is the optional [plots] extra
    MATPLOTLIB_ERROR: str | None = (f"the plots need matplotlib ({error}): "
                                    "pip install 'toygrpc[plots]'")
else:
    MATPLOTLIB_ERROR = None

# A stage with more samples than this is drawn as a density band, not a point each (the
# picture of a 20,000-RPC run would otherwise weigh over 100 MB as SVG).
MAX_POINTS = 2000
DENSITY_BINS = 80
PROCESS_COLOURS = {"client": "#1f77b4", "server": "#9467bd"}


@dataclass(frozen=True)
class Drawn:
    """What a picture holds, to check it against the model without looking at it."""

    svg: Path
    png: Path
    lanes: int = 0
    arrows: int = 0  # chain links, SVG ids link-1..link-N
    cross_arrows: int = 0  # client <-> server links, SVG ids cross-1..cross-N
    spans: int = 0  # shaded stage spans, SVG ids span-1..span-N
    stages: tuple[str, ...] = field(default=())  # stage panels, SVG ids stage-NAME

    @property
    def paths(self) -> tuple[Path, Path]:
        return self.svg, self.png


def require_matplotlib() -> None:
    """A one-line UsageError instead of an ImportError deep in a render."""
    if MATPLOTLIB_ERROR is not None:
        raise UsageError(MATPLOTLIB_ERROR)


def warm_up() -> None:
    """Load what the first picture of a process needs whatever it shows, before there is
    a picture to draw (``DrawingProcess`` does it before the capture's RPCs start): the
    SVG backend (imported on a first SVG), and the mathtext parser with its fonts (built
    on a first formula: the stage picture's log axis labels are formulas)."""
    if MATPLOTLIB_ERROR is not None:
        return
    import matplotlib.backends.backend_svg  # noqa: F401
    from matplotlib.font_manager import FontProperties
    from matplotlib.mathtext import MathTextParser

    MathTextParser("path").parse(r"$\mathdefault{10^{0}}$", 72, FontProperties())


def _save(figure: Figure, out_dir: Path, stem: str) -> tuple[Path, Path]:
    """Write ``stem.svg`` and ``stem.png`` (their names: ``model.layout.PICTURE_STEMS``)."""
    FigureCanvasAgg(figure)
    out_dir.mkdir(parents=True, exist_ok=True)
    svg, png = out_dir / f"{stem}.svg", out_dir / f"{stem}.png"
    with rc_context({"svg.fonttype": "none", "svg.hashsalt": "toygrpc"}):  # text stays text
        figure.savefig(svg, format="svg", metadata={"Date": None})
    # zlib's fastest level: the same pixels, a tenth bigger, in half the time
    figure.savefig(png, format="png", dpi=110, pil_kwargs={"compress_level": 1})
    return svg, png


def write_swimlane(model: SwimlaneModel | SwimlanePicture, out_dir: Path) -> Drawn:
    """``swimlane.svg``/``.png``: threads as lanes, an arrow per chain link, stages shaded."""
    figure, (lanes, arrows, cross, spans) = _swimlane_figure(model)
    svg, png = _save(figure, out_dir, "swimlane")
    return Drawn(svg, png, lanes=lanes, arrows=arrows, cross_arrows=cross, spans=spans)


def swimlane_figure_svg(model: SwimlaneModel | SwimlanePicture) -> str:
    """The swimlane picture as SVG text, for a notebook (nothing written to disk)."""
    figure, _ = _swimlane_figure(model)
    FigureCanvasAgg(figure)
    out = io.StringIO()
    with rc_context({"svg.fonttype": "none", "svg.hashsalt": "toygrpc"}):
        figure.savefig(out, format="svg", metadata={"Date": None})
    return out.getvalue()


def _swimlane_figure(drawn: SwimlaneModel | SwimlanePicture
                     ) -> tuple[Figure, tuple[int, int, int, int]]:
    """The figure, and how many lanes, chain arrows, cross arrows and spans it holds."""
    require_matplotlib()
    model = drawn if isinstance(drawn, SwimlanePicture) else SwimlanePicture.of(drawn)
    stage_colours = model.stage_colours
    n = len(model.lanes)
    figure = Figure(figsize=(12, 1.6 + 0.75 * n), layout="constrained")
    ax = figure.add_subplot()
    y = {i: n - 1 - i for i in range(n)}  # first lane on top
    for i, lane in enumerate(model.lanes):
        ax.axhline(y[i], color=PROCESS_COLOURS.get(lane.process, "grey"), lw=0.8, alpha=0.4,
                   zorder=1)
    ax.set_yticks([y[i] for i in range(n)], [lane.label for lane in model.lanes])
    ax.set_ylim(-0.7, n - 0.3)

    def x(index: int) -> float:
        return model.steps[index].offset / 1000

    spans = 0
    used_stages: dict[str, None] = {}
    arrows = cross = 0
    for a, b, label in model.links:
        source, target = model.steps[a], model.steps[b]
        ya, yb = y[source.lane], y[target.lane]
        if label == "handoff" and target.stage:
            spans += 1
            colour = stage_colours.get(target.stage, "grey")
            span = Rectangle((min(x(a), x(b)), min(ya, yb) - 0.25), abs(x(b) - x(a)),
                             abs(yb - ya) + 0.5, facecolor=colour, edgecolor="none",
                             alpha=0.18, zorder=0)
            span.set_gid(f"span-{spans}")
            ax.add_patch(span)
            used_stages[target.stage] = None
        if label == "handoff":
            arrows += 1
            gid, style, colour = f"link-{arrows}", "-", "#333333"
        else:
            cross += 1
            gid, style, colour = f"cross-{cross}", "--", "#d62728"
        bend = 0.0 if ya != yb else -0.35  # same lane: arc above it, not along the line
        arrow = FancyArrowPatch((x(a), ya), (x(b), yb), arrowstyle="-|>", mutation_scale=9,
                                linestyle=style, color=colour, lw=0.9, shrinkA=2, shrinkB=2,
                                connectionstyle=f"arc3,rad={bend}", zorder=3)
        arrow.set_gid(gid)
        ax.add_patch(arrow)
    for step in model.steps:
        lane = model.lanes[step.lane]
        colour = PROCESS_COLOURS.get(lane.process, "grey")
        ax.plot([step.offset / 1000], [y[step.lane]], marker="o" if step.chain else "D",
                ms=4 if step.chain else 6, color=colour, zorder=4)
    starts = [s for s in model.steps if not s.chain]
    for step in starts:
        ax.axvline(step.offset / 1000, color="grey", lw=0.6, ls=":", zorder=1)
        ax.annotate(f"{step.step}", (step.offset / 1000, n - 0.45), fontsize=7, rotation=90,
                    ha="right", va="top", color="grey")
    ax.set_xlabel("µs from the RPC's start")
    ax.set_title(f"{model.title} — an arrow per chain link", fontsize=10)
    handles: list[Patch | Line2D] = [Patch(color=colour, alpha=0.35, label=s)
                                     for s, colour in stage_colours.items() if s in used_stages]
    handles.append(Line2D([], [], color="#333333", label="chain link"))
    if cross:
        handles.append(Line2D([], [], color="#d62728", ls="--", label="client <-> server"))
    ax.legend(handles=handles, fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.grid(axis="x", lw=0.3, alpha=0.5)
    return figure, (n, arrows, cross, spans)


def write_stage_distributions(samples: dict[str, list[int]], statistics: list[StageStats],
                              out_dir: Path) -> Drawn:
    """``stages.svg``/``.png``: every stage's durations as a strip of points, one row each.

    One shared axis (symmetric log: tails span decades, shared wakes give 0) makes the
    stages comparable at a glance; the box spans min to max with the median inside, the
    markers are the table's p90 and p99.
    """
    require_matplotlib()
    return write_stages_picture(StagesPicture.of(samples, statistics), out_dir)


def write_stages_picture(picture: StagesPicture, out_dir: Path) -> Drawn:
    """``stages.svg``/``.png`` of a picture made already (``write_stage_distributions``)."""
    figure, drawn = _stages_picture_figure(picture)
    svg, png = _save(figure, out_dir, "stages")
    return Drawn(svg, png, stages=drawn)


def _stages_figure(samples: dict[str, list[int]],
                   statistics: list[StageStats]) -> tuple[Figure, tuple[str, ...]]:
    """The figure, and the stages it has a row for (those with samples, in table order)."""
    require_matplotlib()
    return _stages_picture_figure(StagesPicture.of(samples, statistics))


def _stages_picture_figure(picture: StagesPicture) -> tuple[Figure, tuple[str, ...]]:
    require_matplotlib()
    rows = {row.name: row for row in picture.rows}
    drawn = list(rows)
    height = 1.2 + 0.55 * max(1, len(drawn))  # inches: a row per stage, room for the labels
    figure = Figure(figsize=(10, height))
    figure.subplots_adjust(left=0.2, right=0.97, top=1 - 0.5 / height, bottom=0.7 / height)
    ax = figure.add_subplot()
    jitter = random.Random(0)
    positions = {name: len(drawn) - i for i, name in enumerate(drawn)}
    dense = False
    for name in drawn:
        s = rows[name]
        values = [v / 1000 for v in s.samples]
        y = positions[name]
        if len(values) <= MAX_POINTS:
            points = ax.scatter(values, [y + jitter.uniform(-0.18, 0.18) for _ in values],
                                s=6, alpha=0.45, color=s.colour, edgecolors="none",
                                zorder=3)
            points.set_gid(f"stage-{name}")
        else:
            dense = True
            _density(ax, values, y, s.colour).set_gid(f"stage-{name}")
        ax.plot([s.p90 / 1000], [y + 0.3], marker="v", color="#333333", ms=5, zorder=4)
        ax.plot([s.p99 / 1000], [y + 0.3], marker="v", color="#d62728", ms=5, zorder=4)
    if drawn:
        ax.boxplot([[v / 1000 for v in rows[name].samples] for name in drawn],
                   positions=[positions[name] for name in drawn], orientation="horizontal",
                   widths=0.5, whis=(0, 100), showfliers=False, zorder=2,
                   medianprops={"color": "black"})
        ax.set_yticks([positions[name] for name in drawn],
                      [f"{name} (n={rows[name].count})" for name in drawn], fontsize=8)
        ax.set_xscale("symlog", linthresh=1.0)
        every = [v / 1000 for name in drawn for v in rows[name].samples]
        ax.set_xlim(min(0.0, 2 * min(every)), 2 * max(max(every), 1.0))
        ax.set_xlabel("µs (symmetric log scale)   ▼ p90  [red] ▼ p99   box: min, median, max"
                      + (f"\nmore than {MAX_POINTS:,} samples: their density, not a point "
                         "each" if dense else ""))
    else:
        ax.text(0.5, 0.5, "no complete chains: no stage durations", ha="center", va="center",
                transform=ax.transAxes)
        ax.set_axis_off()
    ax.grid(axis="x", lw=0.3, alpha=0.5)
    ax.set_title("Stage durations over the run", fontsize=10)
    return figure, tuple(drawn)


def _density(ax: Any, values: list[float], y: float, colour: str) -> Any:
    """A stage's durations as a band whose height follows how many fall at each duration
    (bins even on the symmetric log axis): every sample counted, at a size that does not
    grow with the run."""
    import numpy as np

    data = np.asarray(values, dtype=float)
    folded = np.sign(data) * np.log10(1 + np.abs(data))  # the axis's scale, about
    counts, edges = np.histogram(folded, bins=DENSITY_BINS)
    centres = (edges[:-1] + edges[1:]) / 2
    x = np.sign(centres) * (10 ** np.abs(centres) - 1)
    half = 0.3 * counts / max(int(counts.max()), 1)
    return ax.fill_between(x, y - half, y + half, color=colour, alpha=0.5, linewidth=0,
                           zorder=3)


class SwimlanePlot(FileRenderer):
    """``swimlane.svg``/``.png`` of one RPC (``rpc``: 1-based index, default a typical one)."""

    name = "swimlane"
    file_names = ("swimlane.svg", "swimlane.png")

    def __init__(self, out: Path | None = None, rpc: int | None = None) -> None:
        super().__init__(out)
        self.rpc = rpc

    def render(self, run: Run) -> list[Path]:
        self.drawn = write_swimlane(run.swimlane(self.rpc), self.folder(run))
        return list(self.drawn.paths)


class StagesPlot(FileRenderer):
    """``stages.svg``/``.png``: every stage's durations over the run."""

    name = "stages"
    file_names = ("stages.svg", "stages.png")

    def render(self, run: Run) -> list[Path]:
        self.drawn = write_stage_distributions(run.stage_samples, run.stage_stats,
                                               self.folder(run))
        return list(self.drawn.paths)
