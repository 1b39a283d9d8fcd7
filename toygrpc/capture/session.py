"""One capture on disk: the raw inputs of every traced process plus a manifest.

Like a profiler session, a ``Capture`` is saved once and re-read any number of times:
analysis and rendering never need the processes again. Layout of a run directory::

    capture.json          the manifest (this class)
    <role>/core.log       the core's stderr (GRPC_TRACE) of that process
    <role>/hooks.jsonl    hook events; <role>/hooks.hooks.json: which hooks attached
    <role>/viztracer.json viztracer's output, when the Python layer was traced
    <role>/clock.json     viztracer clock samples
    <role>/stdout.txt     what the program printed
    events.jsonl          the merged model (rebuilt on demand from the above)
"""

from __future__ import annotations

import json
import platform
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from toygrpc.errors import UsageError

MANIFEST = "capture.json"
FORMAT_VERSION = 1


@dataclass
class TracedProcess:
    """One process of the capture; ``role`` names its folder (client, server, program)."""

    role: str
    pid: int = 0
    traced: bool = True
    viztracer: bool = False
    command: list[str] = field(default_factory=list)
    exit_status: int | None = None


@dataclass
class Capture:
    """The manifest of a run directory and the entry point to its events."""

    run_dir: Path
    mode: str
    started_ns: int = field(default_factory=time.time_ns)
    utc_offset_s: int = field(default_factory=lambda: time.localtime().tm_gmtoff)
    options: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    processes: list[TracedProcess] = field(default_factory=list)
    diagnostics: list[str] = field(default_factory=list)
    finished_ns: int = 0

    def process_dir(self, role: str) -> Path:
        return self.run_dir / role

    def save(self) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        data = asdict(self)
        data["run_dir"] = None
        data["format"] = FORMAT_VERSION
        (self.run_dir / MANIFEST).write_text(json.dumps(data, indent=2) + "\n")

    @classmethod
    def load(cls, run_dir: Path) -> Capture:
        """Read a run directory's manifest; a UsageError says what is wrong with it."""
        path = Path(run_dir) / MANIFEST
        if not Path(run_dir).is_dir():
            raise UsageError(f"{run_dir} is not a directory: pass a run directory made by "
                             "`toygrpc trace`")
        if not path.is_file():
            raise UsageError(f"{run_dir} is not a toygrpc run: it has no {MANIFEST} "
                             "(pass a directory made by `toygrpc trace`)")
        try:
            data = json.loads(path.read_text())
            data.pop("format", None)
            data["processes"] = [TracedProcess(**p) for p in data["processes"]]
            data["run_dir"] = Path(run_dir)
            return cls(**data)
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise UsageError(f"{path} is damaged ({type(exc).__name__}: {exc}); "
                             "capture the run again") from None


def current_versions() -> dict[str, str]:
    """The versions a capture depends on, recorded with it."""
    from importlib import metadata

    versions = {"python": platform.python_version(), "platform": platform.platform()}
    for package in ("grpcio", "protobuf", "viztracer", "grpcio-tools"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    try:
        from google.protobuf.internal import api_implementation

        versions["protobuf_backend"] = api_implementation.Type()
    except ImportError:
        versions["protobuf_backend"] = "unknown"
    versions["executable"] = sys.executable
    return versions
