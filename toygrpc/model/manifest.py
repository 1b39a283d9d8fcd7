"""The manifest of a run directory: what was captured, how, and by which processes.

Like a profiler session, a capture is saved once and re-read any number of times:
analysis and rendering never need the processes again. The files the manifest sits
among are declared in ``toygrpc.model.layout``.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from toygrpc.errors import UsageError
from toygrpc.model.layout import RunLayout
from toygrpc.model.types import Mode

FORMAT_VERSION = 1


def _check_types(obj: object, expect: dict[str, type | tuple[type, ...]]) -> None:
    for name, kind in expect.items():
        value = getattr(obj, name)
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
            raise TypeError(f"{name} is {type(value).__name__}, not "
                            + " or ".join(k.__name__ for k in kinds))


@dataclass
class TracedProcess:
    """One process of the capture; ``role`` names its folder (client, server, program)."""

    role: str
    pid: int = 0
    traced: bool = True
    viztracer: bool = False
    command: list[str] = field(default_factory=list)
    exit_status: int | None = None
    core_log_bytes: int = -1  # its core.log's size when the capture ended (-1: unknown)


@dataclass
class Manifest:
    """``capture.json``: the capture's options, versions and processes."""

    run_dir: Path
    mode: Mode
    started_ns: int = field(default_factory=time.time_ns)
    utc_offset_s: int = field(default_factory=lambda: time.localtime().tm_gmtoff)
    options: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    processes: list[TracedProcess] = field(default_factory=list)
    diagnostics: list[str] = field(default_factory=list)
    finished_ns: int = 0
    stopped: str = ""  # why the capture was stopped early (Ctrl-C, SIGTERM, --timeout)

    @property
    def layout(self) -> RunLayout:
        return RunLayout(self.run_dir)

    @property
    def capture_mode(self) -> str:
        """Which observers were on: "hooks", "hooks + core trace" or "hooks + core trace +
        Python layer". Each observer's cost lands inside the stage times it measures, so a
        stage time is quoted with the mode that produced it (docs/observer-effect.md)."""
        parts = ["hooks"]
        if self.options.get("tracers", ["api"]):
            parts.append("core trace")
        if self.options.get("python_layer", True):
            parts.append("Python layer")
        return " + ".join(parts)

    def process_dir(self, role: str) -> Path:
        return self.layout.process(role).folder

    def save(self) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        data = asdict(self)
        data["run_dir"] = None
        data["format"] = FORMAT_VERSION
        self.layout.manifest.write_text(json.dumps(data, indent=2) + "\n")

    @classmethod
    def load(cls, run_dir: Path) -> Manifest:
        """Read a run directory's manifest; a UsageError says what is wrong with it."""
        path = RunLayout(Path(run_dir)).manifest
        if not Path(run_dir).is_dir():
            raise UsageError(f"{run_dir} is not a directory: pass a run directory made by "
                             "`toygrpc trace`")
        if not path.is_file():
            raise UsageError(f"{run_dir} is not a toygrpc run: it has no {path.name} "
                             "(pass a directory made by `toygrpc trace`)")
        try:
            data = json.loads(path.read_text())
            data.pop("format", None)
            data["processes"] = [TracedProcess(**p) for p in data["processes"]]
            data["run_dir"] = Path(run_dir)
            manifest = cls(**data)
            manifest.check()
            return manifest
        except (KeyError, TypeError, AttributeError, ValueError, OSError) as exc:
            text = " ".join(str(exc).split())[:160]
            raise UsageError(f"{path} is damaged ({type(exc).__name__}: {text}); "
                             "capture the run again") from None

    def check(self) -> None:
        """Raise TypeError/ValueError unless every field read back has its declared type
        (a file is not trusted to hold what it should)."""
        expect: dict[str, type | tuple[type, ...]] = {
            "mode": str, "started_ns": int, "utc_offset_s": int, "options": dict,
            "versions": dict, "processes": list, "diagnostics": list, "finished_ns": int,
            "stopped": str}
        _check_types(self, expect)
        if not all(isinstance(d, str) for d in self.diagnostics):
            raise TypeError("diagnostics are not text")
        for proc in self.processes:
            _check_types(proc, {"role": str, "pid": int, "traced": bool, "viztracer": bool,
                                "command": list, "exit_status": (int, type(None)),
                                "core_log_bytes": int})
            if not proc.role.isidentifier():  # it names a folder inside the run directory
                raise ValueError(f"process role {proc.role!r} is not a name")
