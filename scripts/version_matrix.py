"""Run a capture on several grpcio releases and print which hooks fired on each.

Not part of the test run (it installs packages): ``python scripts/version_matrix.py``.
For each release it makes a virtual environment with that grpcio (and the matching
grpcio-tools, reflection and health packages), copies the toygrpc package next to it,
regenerates the Hello stubs with that release's grpcio-tools (the committed ones need
grpcio >= 1.85.1), runs ``toygrpc trace client --no-python --format json`` (the native
Perfetto trace needs a newer protobuf than old releases allow) and reads ``summary.json``,
then reads the client's ``core.log`` for what changed between releases: which core
functions made the channel and the calls, and which thread completed the tags (the poller
itself, in ``grpc_completion_queue_next``; the main thread, inline; or another thread).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_VERSIONS = ("1.60.2", "1.71.2", "1.85.3")  # Dec 2023, Mar 2025, Nov 2026
HOOKS = ("poller.socketpair", "poller.thread", "loop.add_reader", "loop.wake",
         "loop.create_future", "future.resolve", "task.resume", "glue.execute_batch",
         "rpc.client")


def run(command: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    """Run a command; callers pass ``cwd`` outside the repository so that the copied
    package, not the checkout's, is the one imported."""
    return subprocess.run(command, text=True, capture_output=True, check=False, **kwargs)  # type: ignore[call-overload]


def other_dependencies() -> list[str]:
    """toygrpc's dependencies from pyproject.toml, but grpc's and protobuf: each release
    brings its own (the stubs are generated again with its grpcio-tools)."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    return [spec for spec in project["dependencies"]
            if not re.match(r"(grpcio|protobuf)\b", spec)]


def prepare(version: str, root: Path) -> tuple[Path, Path] | str:
    venv = root / f"venv-{version}"
    python = venv / "bin" / "python"
    # Some grpcio releases have no grpcio-tools (reflection, health) of the same number
    # (1.85.3, 1.81.2): the newest companion of the same minor release, none newer.
    major, minor = version.split(".")[:2]
    tools = f">={major}.{minor}.0,<={version}"
    if not python.exists():
        made = run([sys.executable, "-m", "venv", str(venv)])
        if made.returncode:
            return f"venv failed: {made.stderr.strip()[-200:]}"
    installed = run([str(python), "-m", "pip", "install", "-q", f"grpcio=={version}",
                     f"grpcio-tools{tools}", f"grpcio-reflection{tools}",
                     f"grpcio-health-checking{tools}", *other_dependencies()])
    if installed.returncode:
        return f"install failed: {installed.stderr.strip().splitlines()[-1:]}"
    source = root / f"src-{version}"
    shutil.rmtree(source, ignore_errors=True)
    shutil.copytree(REPO / "toygrpc", source / "toygrpc",
                    ignore=shutil.ignore_patterns("__pycache__"))
    # (the .proto files come with the package: toygrpc/proto/)
    generated = run([str(python), "-c",
                     "from toygrpc.gen import generate_into; "
                     "generate_into(kinds=('python', 'grpc_python'))"],
                    env={**os.environ, "PYTHONPATH": str(source)}, cwd=root)
    if generated.returncode:
        return f"stub generation failed: {generated.stderr.strip()[-300:]}"
    return python, source


CORE_LINE = re.compile(r"^[IWE]\d{4} \S+\s+(\d+) \S+\]\s+(\w+)\(")
CREATION = ("grpc_insecure_channel_create", "grpc_secure_channel_create", "grpc_channel_create",
            "grpc_channel_register_call", "grpc_channel_create_call",
            "grpc_channel_create_registered_call")


def core_facts(core_log: Path) -> dict[str, object]:
    """The channel and call creation functions the api tracer logged (with counts), and
    which thread logged each ``cq_end_op_for_next``: ``poller`` (the thread that calls
    ``grpc_completion_queue_next``), ``main`` (the thread that starts the batches) or
    ``other`` (the core's own threads)."""
    calls: dict[str, int] = {}
    lines: list[tuple[int, str]] = []
    for line in core_log.read_text(errors="replace").splitlines():
        found = CORE_LINE.match(line)
        if found:
            lines.append((int(found.group(1)), found.group(2)))
    poller = {tid for tid, name in lines if name == "grpc_completion_queue_next"}
    main = {tid for tid, name in lines if name == "grpc_call_start_batch"}
    completed: dict[str, int] = {"poller": 0, "main": 0, "other": 0}
    for tid, name in lines:
        if name in CREATION:
            calls[name] = calls.get(name, 0) + 1
        if name == "cq_end_op_for_next":
            where = "poller" if tid in poller else "main" if tid in main else "other"
            completed[where] += 1
    return {"calls": calls, "completed_on": completed}


def capture(version: str, root: Path, rpcs: int) -> dict[str, object]:
    prepared = prepare(version, root)
    if isinstance(prepared, str):
        return {"version": version, "error": prepared}
    python, source = prepared
    out = root / f"run-{version}"
    shutil.rmtree(out, ignore_errors=True)
    # Chrome JSON: the native trace's protos (the perfetto package) need a newer protobuf
    # than the grpcio-tools of old releases pins; the hooks are what is checked here.
    traced = run([str(python), "-m", "toygrpc", "trace", "client", "--rpcs", str(rpcs),
                  "--no-python", "--format", "json", "--out", str(out)],
                 env={**os.environ, "PYTHONPATH": str(source)}, cwd=root, timeout=600)
    summary_path = out / "summary.json"
    if not summary_path.is_file():
        return {"version": version, "error": f"no summary: {traced.stderr.strip()[-300:]}"}
    summary = json.loads(summary_path.read_text())
    return {"version": version, "counts": summary["hook_counts"].get("client", {}),
            "failed": summary["hooks"].get("client", {}).get("failed", {}),
            "complete": f"{summary['complete_rpcs']}/{summary['rpc_count']}",
            **core_facts(out / "client" / "core.log")}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--versions", nargs="+", default=list(DEFAULT_VERSIONS))
    parser.add_argument("--rpcs", type=int, default=20)
    parser.add_argument("--work", type=Path, default=Path("/tmp/toygrpc-version-matrix"))
    options = parser.parse_args()
    options.work.mkdir(parents=True, exist_ok=True)
    print(f"{'grpcio':>8}  complete  " + "  ".join(HOOKS))
    for version in options.versions:
        print(f"{version:>8}  ...", end="\r", flush=True)
        result = capture(version, options.work, options.rpcs)
        if "error" in result:
            print(f"{version:>8}  error: {result['error']}")
            continue
        counts = result["counts"]
        assert isinstance(counts, dict)
        cells = "  ".join(f"{counts.get(h, 0):>{len(h)}}" for h in HOOKS)
        print(f"{version:>8}  {result['complete']:>8}  {cells}")
        for hook, why in dict(result["failed"]).items():  # type: ignore[call-overload]
            print(f"{'':>8}  {hook} did not attach: {why}")
        print(f"{'':>8}  core calls: {result['calls']}; tags completed on: "
              f"{result['completed_on']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
