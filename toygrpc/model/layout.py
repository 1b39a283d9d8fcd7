"""The run directory's layout, declared once: every file's name and what it holds.

A run directory is what ``toygrpc trace`` writes and every later command reads::

    capture.json            the manifest (``model.manifest.Manifest``)
    events.jsonl            the merged timeline (``model.timeline.Timeline``)
    trace.perfetto-trace    the trace for Perfetto (native protobuf, the default)
    trace.json              the same trace as Chrome JSON (``--format json``)
    summary.json            the run in numbers (docs/summary.md)
    swimlane.svg/.png       one RPC as a picture
    stages.svg/.png         every stage's distribution
    server.stderr.txt       the stderr of an untraced Hello server
    <role>/core.log         the core's stderr (GRPC_TRACE) of that process
    <role>/hooks.jsonl      hook events
    <role>/hooks.hooks.json which hooks attached, the pid, thread names
    <role>/viztracer.json   viztracer's output, when the Python layer was traced
    <role>/clock.json       viztracer clock samples
    <role>/stdout.txt       what the program printed

Modules never spell these names: they ask ``RunLayout`` and ``ProcessLayout``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

# name -> what it holds, for the top level and for each process folder.
RUN_FILES: dict[str, str] = {
    "trace.perfetto-trace": "the trace for the Perfetto UI (toygrpc view)",
    "trace.json": "the trace as Chrome JSON",
    "summary.json": "the run in numbers",
    "swimlane.svg": "the swimlane picture (also .png)",
    "stages.svg": "the stage distributions (also .png)",
    "events.jsonl": "the merged timeline",
    "capture.json": "the manifest",
    "server.stderr.txt": "the untraced Hello server's stderr",
}
PROCESS_FILES: dict[str, str] = {
    "core.log": "the core's own trace (GRPC_TRACE), raw",
    "hooks.jsonl": "the hooks' events",
    "hooks.hooks.json": "which hooks attached, the pid and the thread names",
    "viztracer.json": "the Python layer, as viztracer recorded it",
    "clock.json": "viztracer's clock samples",
    "stdout.txt": "what the program printed",
}
PICTURE_STEMS = ("swimlane", "stages")
# Written on the way to a file above and renamed onto it (never left behind on success).
TEMPORARY_SUFFIXES = (".tmp", ".redacting")


@dataclass(frozen=True)
class ProcessLayout:
    """The raw inputs of one traced process, in its own folder."""

    folder: Path

    @property
    def core_log(self) -> Path:
        return self.folder / "core.log"

    @property
    def hooks(self) -> Path:
        return self.folder / "hooks.jsonl"

    @property
    def hook_report(self) -> Path:
        return self.folder / "hooks.hooks.json"

    @property
    def viztracer(self) -> Path:
        return self.folder / "viztracer.json"

    @property
    def clock(self) -> Path:
        return self.folder / "clock.json"

    @property
    def stdout(self) -> Path:
        return self.folder / "stdout.txt"

    @property
    def raw_inputs(self) -> tuple[Path, Path]:
        """What a timeline can be rebuilt from (either is enough to try)."""
        return self.hooks, self.core_log


@dataclass(frozen=True)
class RunLayout:
    """The files of one run directory."""

    root: Path

    def process(self, role: str) -> ProcessLayout:
        return ProcessLayout(self.root / role)

    @property
    def manifest(self) -> Path:
        return self.root / "capture.json"

    @property
    def events(self) -> Path:
        return self.root / "events.jsonl"

    @property
    def trace(self) -> Path:
        """The run's trace for the Perfetto UI: the protobuf (the default), or the Chrome
        JSON when only that was written."""
        if not self.perfetto_trace.is_file() and self.json_trace.is_file():
            return self.json_trace
        return self.perfetto_trace

    @property
    def perfetto_trace(self) -> Path:
        return self.root / "trace.perfetto-trace"

    @property
    def json_trace(self) -> Path:
        return self.root / "trace.json"

    @property
    def summary(self) -> Path:
        return self.root / "summary.json"

    @property
    def server_stderr(self) -> Path:
        return self.root / "server.stderr.txt"

    def picture(self, stem: str, suffix: str) -> Path:
        """``swimlane``/``stages`` as ``.svg`` or ``.png``."""
        return self.root / f"{stem}{suffix}"

    def pictures(self) -> list[Path]:
        return [self.picture(stem, suffix) for stem in PICTURE_STEMS
                for suffix in (".svg", ".png")]

    def existing(self) -> list[tuple[Path, str]]:
        """Every top-level file of the layout that exists, with what it holds."""
        return [(self.root / name, what) for name, what in RUN_FILES.items()
                if (self.root / name).is_file()]

    def files_of_run(self, roles: list[str]) -> tuple[list[Path], list[Path]]:
        """The files under the root that a run with these process roles made, and the
        others: what ``--force`` may delete, and what forbids it (never delete a file the
        tool did not make)."""
        names = {*RUN_FILES, *(p.name for p in self.pictures())}
        ours: list[Path] = []
        foreign: list[Path] = []
        for entry in sorted(self.root.iterdir()):
            if entry.is_dir() and not entry.is_symlink() and entry.name in roles:
                for inner in sorted(entry.iterdir()):
                    stem = inner.name
                    for suffix in TEMPORARY_SUFFIXES:
                        stem = stem.removesuffix(suffix)
                    known = stem in PROCESS_FILES and inner.is_file() and not inner.is_symlink()
                    (ours if known else foreign).append(inner)
                ours.append(entry)
            elif entry.name in names and entry.is_file() and not entry.is_symlink():
                ours.append(entry)
            else:
                foreign.append(entry)
        return ours, foreign
