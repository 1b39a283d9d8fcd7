"""``summary.json``: the run in numbers, in a stable format that CI jobs and notebooks read.

Format (``format`` = 1; documented in docs/summary.md): versions, hooks and the count
each fired, clock alignment per process, per-RPC chains with stage durations and
completeness, per-stage percentiles. Times are in nanoseconds unless a key says ``_us``.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from toygrpc.analysis.chains import STEPS, Chain, Rpc, tag_of
from toygrpc.analysis.run import Run
from toygrpc.analysis.stages import StageStats
from toygrpc.model.events import HOOK_NAMES
from toygrpc.model.timeline import Timeline
from toygrpc.render.base import FileRenderer

SUMMARY_FORMAT = 1

def hook_counts(timeline: Timeline) -> dict[str, dict[str, int]]:
    """Per process role: how many events each hook produced."""
    counts: dict[str, Counter[str]] = {role: Counter() for role in timeline.processes.values()}
    for event in timeline.events:
        role = timeline.processes.get(event.pid)
        if role is not None:
            counts[role][event.hook_name()] += 1
    return {role: {hook: c[hook] for hook in HOOK_NAMES} for role, c in counts.items()}


def _chain(chain: Chain) -> dict[str, Any]:
    return {
        "kind": chain.kind, "ops": list(getattr(chain.core_call, "ops", ())),
        "tag": tag_of(chain.core_call) if chain.core_call is not None else None,
        "complete": chain.complete, "missing": chain.missing or None, "ok": chain.ok,
        "shared_wake": chain.shared_wake,
        "outcome": chain.outcome, "end_reason": chain.end_reason or None,
        "steps": {name: [e.ts, e.tid] if e is not None else None
                  for name in (*STEPS, "cancelled")
                  for e in [chain.step(name)]},
        "shared_steps": [s.name for s in chain.steps() if s.shared],
        "stages": chain.stages(),
    }


def _rpc(index: int, rpc: Rpc, processes: dict[int, str]) -> dict[str, Any]:
    return {
        "index": index, "process": processes.get(rpc.pid, str(rpc.pid)), "side": rpc.side,
        "method": rpc.method, "status": rpc.status, "details": rpc.details or None,
        "start": rpc.start, "latency": rpc.latency,
        "complete": rpc.complete, "missing": rpc.missing or None, "link": rpc.link or None,
        "end_reason": rpc.end_reason or None,
        "stages": rpc.stages(),
        "chains": [_chain(c) for c in rpc.chains],
    }


def stage_rows(stats: list[StageStats]) -> list[dict[str, Any]]:
    """The stage table as JSON rows (summary.json and ``show --json`` share it)."""
    return [{"name": s.name, "definition": s.definition, "count": s.count,
             "p50": s.p50, "p90": s.p90, "p99": s.p99, "max": s.max} for s in stats]


def build_summary(run: Run) -> dict[str, Any]:
    cap, timeline, analysis = run.manifest, run.timeline, run.analysis
    in_rpcs = {id(c) for r in analysis.rpcs for c in r.chains}
    return {
        "format": SUMMARY_FORMAT,
        "mode": cap.mode,
        "options": cap.options,
        "versions": cap.versions,
        "processes": {str(pid): role for pid, role in timeline.processes.items()},
        "hooks": {role: {"attached": report.get("attached", {}),
                         "failed": report.get("failed", {})}
                  for role, report in timeline.hooks.items()},
        "hook_counts": hook_counts(timeline),
        "clock": timeline.clock,
        "diagnostics": timeline.diagnostics,
        # Loss is never silent: partial says whether anything was lost, losses what and
        # how much (docs/summary.md).
        "partial": timeline.partial,
        "losses": timeline.losses,
        "stopped": cap.stopped or None,
        "links": analysis.links,
        "rpc_count": len(analysis.rpcs),
        "complete_rpcs": sum(r.complete for r in analysis.rpcs),
        "chains_outside_rpcs": [_chain(c) for c in analysis.chains if id(c) not in in_rpcs],
        "capture_mode": cap.capture_mode,  # the observers whose cost is inside the stages
        "stages": stage_rows(run.stage_stats),
        "hook_spans": stage_rows(run.hook_span_stats),
        "rpcs": [_rpc(i, r, timeline.processes) for i, r in enumerate(analysis.rpcs, 1)],
    }


class SummaryRenderer(FileRenderer):
    """Writes ``summary.json``."""

    name = "summary"
    file_names = ("summary.json",)

    def render(self, run: Run) -> list[Path]:
        path = self.folder(run) / self.file_names[0]
        with path.open("wb") as out:
            for block in indented_json_blocks(build_summary(run)):
                out.write(block)
        return [path]


def indented_json(data: Any) -> bytes:
    """``json.dumps(data, indent=1) + "\\n"``, byte for byte (see ``indented_json_blocks``)."""
    return b"".join(indented_json_blocks(data))


def indented_json_blocks(data: Any, block_bytes: int = 1 << 22) -> Iterator[bytes]:
    """``json.dumps(data, indent=1) + "\\n"`` in blocks, at orjson's speed when it can be
    (json's indenting encoder is pure Python: minutes for a 100,000-RPC summary).

    orjson indents by two spaces: each line's indent is halved (a JSON line never starts
    inside a string), a block of lines at a time. Where orjson could write other bytes than
    json (a non-ASCII or DEL character, which json escapes; a float json spells otherwise;
    a non-string key), json writes it."""
    text = b""
    if _plain(data):
        try:
            text = orjson.dumps(data, option=orjson.OPT_INDENT_2)
        except TypeError:
            text = b""
        if not text.isascii() or b"\x7f" in text:
            text = b""
    if not text:
        yield (json.dumps(data, indent=1) + "\n").encode()
        return
    start = 0
    while start < len(text):
        end = text.find(b"\n", start + block_bytes)
        end = len(text) if end < 0 else end + 1
        yield b"".join(line[(len(line) - len(line.lstrip(b" "))) // 2:]
                       for line in text[start:end].splitlines(keepends=True))
        start = end
    yield b"\n"


def _plain(data: Any) -> bool:
    """Only str keys, and floats that orjson and json spell alike (no exponent, finite)."""
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if not all(type(k) is str for k in item):
                return False
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)
        elif type(item) is float and (item != item or "e" in repr(item) or "n" in repr(item)):
            return False
    return True
