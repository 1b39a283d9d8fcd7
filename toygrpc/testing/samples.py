"""The sample traces (traces/): how each is made, and the checks every copy must pass.

The committed samples, the fresh set the tests capture and the fresh set CI writes to
``traces/ci/`` are all made by the same commands and judged by the same ``check``::

    python -m toygrpc.testing.samples write traces/ci    # capture the five samples
    python -m toygrpc.testing.samples check traces/ci    # one line per problem; exit 1

Checks read the files a run directory holds (capture.json, summary.json, the trace), so
they judge what a user opens, not the analysis objects behind it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from toygrpc.model.layout import RunLayout

REPO = Path(__file__).resolve().parents[2]
FAILING_PROGRAM = REPO / "examples" / "deadline_and_cancel.py"


@dataclass(frozen=True)
class Sample:
    """One sample: the ``toygrpc trace`` arguments that make it and what it must show."""

    name: str
    what: str
    trace_args: tuple[str, ...]
    mode: str
    statuses: frozenset[str]  # every status its client RPCs must end with, and nothing else
    min_client_chains: int = 1  # the most chains of one client RPC is at least this


SAMPLES = (
    Sample("client", "the Hello client traced: 5 unary calls, each one 6-op batch",
           ("client", "--rpcs", "5", "--no-python"), "client", frozenset({"OK"})),
    Sample("server", "the Hello server traced, an untraced client driving it: request "
           "calls, 3 batches per call, shutdown", ("server", "--rpcs", "5", "--no-python"),
           "server", frozenset()),
    Sample("both", "client and server traced, each call linked across the processes",
           ("both", "--rpcs", "5", "--no-python"), "both", frozenset({"OK"})),
    Sample("stream", "one bidi stream, client and server: a chain per message",
           ("both", "--rpcs", "1", "--method", "bidi", "--no-python"), "both",
           frozenset({"OK"}), min_client_chains=7),
    Sample("failure", "a deadline and a cancel (examples/deadline_and_cancel.py)",
           ("run", "--no-python", str(FAILING_PROGRAM.relative_to(REPO))), "run",
           frozenset({"DEADLINE_EXCEEDED", "CANCELLED"})),
)


def write(out: Path, names: tuple[str, ...] = ()) -> list[Path]:
    """Capture the samples (all, or those named) into ``out/<name>``; return the dirs.
    The commands run in the repository (the failure sample's program is in examples/)."""
    written = []
    for sample in SAMPLES:
        if names and sample.name not in names:
            continue
        run_dir = out.resolve() / sample.name
        mode, *rest = sample.trace_args
        # --plots: the samples keep their pictures (trace draws none by default)
        command = [sys.executable, "-m", "toygrpc", "trace", mode, "--out", str(run_dir),
                   "--force", "--plots", *rest]
        done = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              text=True, timeout=300, cwd=REPO)
        if done.returncode != 0:
            raise RuntimeError(f"{sample.name}: {' '.join(command)} failed:\n{done.stderr}")
        written.append(run_dir)
    return written


def _load(path: Path) -> Any:
    return json.loads(path.read_text())


def check(sample: Sample, run_dir: Path) -> list[str]:
    """What is wrong with ``run_dir`` as the sample ``sample`` (empty: nothing)."""
    layout = RunLayout(run_dir)
    problems: list[str] = []
    for required in (layout.manifest, layout.summary):
        if not required.is_file() or required.stat().st_size == 0:
            return [f"{sample.name}: {required.name} is missing or empty"]
    # The trace under the layout's name, in whatever formats the run holds: Chrome JSON is
    # checked event by event, another format (a native Perfetto trace) for being there.
    traces = [p for p in sorted(run_dir.glob(f"{layout.trace.stem}.*")) if p.is_file()]
    if not traces or any(p.stat().st_size == 0 for p in traces):
        return [f"{sample.name}: no trace file, or an empty one ({layout.trace.stem}.*)"]
    manifest, summary = _load(layout.manifest), _load(layout.summary)
    if manifest["mode"] != sample.mode:
        problems.append(f"{sample.name}: mode {manifest['mode']}, not {sample.mode}")
    rpcs = summary["rpcs"]
    if not rpcs or summary["links"] <= 0:
        problems.append(f"{sample.name}: {len(rpcs)} RPCs, {summary['links']} links")
    clients = [r for r in rpcs if r["side"] == "client"]
    statuses = {r["status"] for r in clients}
    if statuses != set(sample.statuses):
        problems.append(f"{sample.name}: client statuses {sorted(statuses)}, expected "
                        f"{sorted(sample.statuses)}")
    if sample.statuses == {"OK"} and not all(r["complete"] for r in rpcs):
        problems.append(f"{sample.name}: incomplete chains: "
                        f"{[r['missing'] for r in rpcs if not r['complete']]}")
    if not sample.statuses and not all(r["status"] == "OK" and r["complete"] for r in rpcs):
        problems.append(f"{sample.name}: a server RPC failed or is incomplete")
    most = max((len(r["chains"]) for r in clients), default=0)
    if clients and most < sample.min_client_chains:
        problems.append(f"{sample.name}: at most {most} chains per client RPC, expected "
                        f"{sample.min_client_chains}")
    for trace in traces:
        check_format = _check_chrome_json if trace.suffix == ".json" else _check_native
        problems += [f"{sample.name}: {p}" for p in check_format(trace, summary)]
    return problems


def _check_chrome_json(path: Path, summary: dict[str, Any]) -> list[str]:
    """The trace a user opens: every link an arrow, the threads named, slices well formed."""
    data = _load(path)
    events = data["traceEvents"] if isinstance(data, dict) else data
    phases = Counter(e["ph"] for e in events)
    problems = []
    if not phases["s"] == phases["f"] == summary["links"]:
        problems.append(f"{phases['s']} flow starts, {phases['f']} ends, "
                        f"{summary['links']} links")
    threads = {e["args"]["name"] for e in events
               if e["ph"] == "M" and e["name"] == "thread_name"}
    if not {"main", "poller"} <= threads:
        problems.append(f"threads named {sorted(threads)}: no main or poller")
    if any(e["ph"] == "X" and e.get("dur", 0) < 0 for e in events):
        problems.append("a slice with a negative duration")
    return problems


def _check_native(path: Path, summary: dict[str, Any]) -> list[str]:
    """A native Perfetto trace: it parses, every link is a flow that starts and ends, the
    main and poller threads are named (needs the ``perfetto`` package of the test extra)."""
    try:
        from perfetto.protos.perfetto.trace.perfetto_trace_pb2 import Trace
    except ImportError:
        return []  # nothing to read it with: its presence was checked
    trace = Trace()
    trace.ParseFromString(path.read_bytes())
    starts: Counter[int] = Counter()
    ends: Counter[int] = Counter()
    threads = set()
    for packet in trace.packet:
        if packet.HasField("track_descriptor") and packet.track_descriptor.HasField("thread"):
            threads.add(packet.track_descriptor.thread.thread_name)
        if packet.HasField("track_event"):
            starts.update(packet.track_event.flow_ids)
            ends.update(packet.track_event.terminating_flow_ids)
    problems = []
    if not len(starts) == len(ends) == summary["links"] or set(starts) != set(ends):
        problems.append(f"{len(starts)} flows started, {len(ends)} ended, "
                        f"{summary['links']} links")
    if not {"main", "poller"} <= threads:
        problems.append(f"threads named {sorted(threads)}: no main or poller")
    return problems


def check_all(out: Path) -> list[str]:
    """Every sample under ``out`` (each one must be there)."""
    return [problem for sample in SAMPLES for problem in check(sample, out / sample.name)]


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2 or args[0] not in ("write", "check"):
        print("usage: python -m toygrpc.testing.samples write|check DIR", file=sys.stderr)
        return 2
    out = Path(args[1])
    if args[0] == "write":
        write(out)
    problems = check_all(out)
    for problem in problems:
        print(problem, file=sys.stderr)
    print(f"{len(SAMPLES) - len({p.split(':')[0] for p in problems})}/{len(SAMPLES)} "
          f"samples pass the checks in {out}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
