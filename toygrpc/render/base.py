"""What a renderer is: a small object, configured when made, with one ``render(run)``.

Every renderer reads the same ``Run`` (manifest, timeline, analysis) and never the
capture stage. File renderers write into the run directory (or ``out``) and return the
paths they wrote; views print or return their result. ``renderer_for`` picks one by
name (``perfetto``, ``summary``, ``swimlane``, ``stages``) or by a file's name.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from toygrpc.errors import UsageError

if TYPE_CHECKING:  # annotations only: a renderer's module need not import the analysis
    from toygrpc.analysis.run import Run


class Renderer(ABC):
    """Turns a run into one view."""

    name: ClassVar[str]

    @abstractmethod
    def render(self, run: Run) -> Any:
        """Produce the view of ``run``."""


class FileRenderer(Renderer):
    """A renderer that writes files; ``out`` is the folder (default: the run directory)."""

    file_names: ClassVar[tuple[str, ...]]

    def __init__(self, out: Path | None = None) -> None:
        self.out = out

    def folder(self, run: Run) -> Path:
        return self.out if self.out is not None else run.run_dir

    @abstractmethod
    def render(self, run: Run) -> list[Path]:
        """Write the files and return their paths."""


def file_renderers() -> dict[str, type[FileRenderer]]:
    """Every file renderer by name (imported here so that a renderer's heavy imports,
    such as matplotlib, happen only when it is used)."""
    from toygrpc.render.perfetto import PerfettoRenderer
    from toygrpc.render.plots import StagesPlot, SwimlanePlot
    from toygrpc.render.summary import SummaryRenderer

    return {cls.name: cls for cls in (PerfettoRenderer, SummaryRenderer, SwimlanePlot,
                                      StagesPlot)}


def renderer_for(name_or_file: str) -> type[FileRenderer]:
    """The file renderer called ``name_or_file``, or the one that writes that file name."""
    renderers = file_renderers()
    if name_or_file in renderers:
        return renderers[name_or_file]
    file_name = Path(name_or_file).name
    for cls in renderers.values():
        if file_name in cls.file_names:
            return cls
    raise UsageError(f"no renderer named or writing {name_or_file!r}: choose one of "
                     f"{', '.join(renderers)}")
