"""``Run``: one capture as every renderer takes it (manifest, timeline, analysis).

In the manner of a profiler session: the manifest and timeline are what was captured
(``save``/``load`` them, so a run re-renders without capturing again); the analysis is
derived on demand, once. It sits at the top of the analysis layer because it carries
the analysis; the model layer below it stays free of analysis code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from toygrpc.analysis.chains import Analysis, analyze
from toygrpc.analysis.hooks import hook_counts
from toygrpc.analysis.http2 import FrameRow, frame_rows
from toygrpc.analysis.stages import (
    StageStats,
    hook_span_statistics,
    stage_samples,
    stage_statistics,
)
from toygrpc.analysis.swimlane import SwimlaneModel, build_swimlane, pick_rpc
from toygrpc.errors import UsageError
from toygrpc.model.layout import RunLayout
from toygrpc.model.manifest import Manifest
from toygrpc.model.timeline import Timeline, collector_paused

# Exceptions a damaged JSON/JSONL file can raise while it is read back.
DAMAGE = (OSError, ValueError, KeyError, TypeError, AttributeError, IndexError, StopIteration,
          ArithmeticError)


# Derived values of a run that ``shareable`` computes in a forked copy of it.
SHAREABLE = ("stage_stats", "hook_counts", "frames")


@dataclass
class Run:
    """A captured run: what renderers, the CLI and the Python API all work on."""

    manifest: Manifest
    timeline: Timeline
    _swimlanes: dict[int, SwimlaneModel] = field(default_factory=dict, repr=False)

    @property
    def run_dir(self) -> Path:
        return self.manifest.run_dir

    @property
    def layout(self) -> RunLayout:
        return self.manifest.layout

    @cached_property
    def analysis(self) -> Analysis:
        """Chains and RPCs, computed the first time they are asked for."""
        with collector_paused():
            return analyze(self.timeline)

    @cached_property
    def stage_stats(self) -> list[StageStats]:
        return stage_statistics(self.analysis)

    @cached_property
    def hook_span_stats(self) -> list[StageStats]:
        return hook_span_statistics(self.analysis)

    @cached_property
    def stage_samples(self) -> dict[str, list[int]]:
        return stage_samples(self.analysis)

    @cached_property
    def hook_counts(self) -> dict[str, dict[str, int]]:
        """Per process role, how many events each hook recorded."""
        return hook_counts(self.timeline)

    @cached_property
    def frames(self) -> list[FrameRow]:
        """The HTTP/2 frames received (``--tracer http``), in time order."""
        return frame_rows(self.timeline)

    def shareable(self) -> dict[str, object]:
        """``SHAREABLE``, computed: small values that take seconds on a large run. A
        forked copy of this run computes them while this process writes the trace, and
        sends them back for ``adopt``."""
        return {name: getattr(self, name) for name in SHAREABLE}

    def adopt(self, values: dict[str, object]) -> None:
        """Take the ``shareable`` values a copy of this run computed, as if computed here."""
        for name in SHAREABLE:
            if name in values:
                self.__dict__[name] = values[name]  # where cached_property keeps it

    def swimlane(self, index: int | None = None) -> SwimlaneModel:
        """The swimlane of the ``index``-th RPC (1-based), or of a typical one."""
        rpc = pick_rpc(self.analysis, index)
        key = id(rpc)
        if key not in self._swimlanes:
            self._swimlanes[key] = build_swimlane(self.analysis, self.timeline, rpc)
        return self._swimlanes[key]

    def save(self) -> None:
        """Write the manifest and the merged timeline into the run directory."""
        self.manifest.save()
        self.timeline.save(self.run_dir)

    @classmethod
    def load(cls, run_dir: Path) -> Run:
        """A saved run: its manifest and ``events.jsonl``. Any problem is one UsageError
        line naming the file (``pipeline.load_run`` also rebuilds from raw inputs)."""
        manifest = Manifest.load(run_dir)
        events = manifest.layout.events
        try:
            timeline = Timeline.load(manifest.run_dir)
        except DAMAGE as exc:
            raise UsageError(f"{events} is damaged ({describe_damage(exc)}); delete it "
                             "to rebuild it from the raw files, or capture the run again"
                             ) from None
        return cls(manifest, timeline)


def describe_damage(exc: BaseException) -> str:
    """An exception as a short clause on one line (an empty file raises StopIteration)."""
    if isinstance(exc, StopIteration):
        return "it is empty"
    text = " ".join(str(exc).split())[:200]
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
