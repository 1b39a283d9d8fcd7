"""``summary.json``: the run in numbers, in a stable format that CI jobs and notebooks read.

Format (``format`` = 1; documented in docs/summary.md): versions, hooks and the count
each fired, clock alignment per process, per-RPC chains with stage durations and
completeness, per-stage percentiles. Times are in nanoseconds unless a key says ``_us``.
"""

from __future__ import annotations

import json
import operator
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import orjson

from toygrpc.analysis.chains import STEP_FIELDS, STEPS, Chain, Rpc, stages_of, tag_of
from toygrpc.analysis.run import Run
from toygrpc.analysis.stages import StageStats
from toygrpc.model.timeline import collector_paused
from toygrpc.render.base import FileRenderer

SUMMARY_FORMAT = 1
# The steps summary.json gives each chain, and the chain's events for them.
_STEP_NAMES = (*STEPS, "cancelled")
_STEP_EVENTS = operator.attrgetter(*(STEP_FIELDS[name] for name in _STEP_NAMES))

def _chain(chain: Chain) -> dict[str, Any]:
    steps = chain.steps()
    return {
        "kind": chain.kind, "ops": list(getattr(chain.core_call, "ops", ())),
        "tag": tag_of(chain.core_call) if chain.core_call is not None else None,
        "complete": chain.complete, "missing": chain.missing or None, "ok": chain.ok,
        "shared_wake": chain.shared_wake,
        "outcome": chain.outcome, "end_reason": chain.end_reason or None,
        "steps": {name: [e.ts, e.tid] if e is not None else None
                  for name, e in zip(_STEP_NAMES, _STEP_EVENTS(chain), strict=True)},
        "shared_steps": [s.name for s in steps if s.shared],
        "stages": stages_of(steps),
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
        "hook_counts": run.hook_counts,
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
        """Written under another name, then renamed: a run stopped meanwhile (``trace``
        writes it in a forked child, killed by Ctrl-C) leaves no summary.json cut short
        for a CI job to read as the run's numbers."""
        path = self.folder(run) / self.file_names[0]
        partial = partial_path(path)
        with collector_paused(), partial.open("wb") as out:
            for block in indented_json_blocks(build_summary(run)):
                out.write(block)
        partial.replace(path)
        return [path]


def partial_path(path: Path) -> Path:
    """Where ``SummaryRenderer`` writes ``path`` before renaming it."""
    return path.with_name(path.name + ".partial")


def indented_json(data: Any) -> bytes:
    """``json.dumps(data, indent=1) + "\\n"``, byte for byte (see ``indented_json_blocks``)."""
    return b"".join(indented_json_blocks(data))


def indented_json_blocks(data: Any, block_bytes: int = 1 << 22) -> Iterator[bytes]:
    """``json.dumps(data, indent=1) + "\\n"`` in blocks of whole lines, at orjson's speed
    when it can be (json's indenting encoder is pure Python: minutes for a 100,000-RPC
    summary).

    orjson writes the data compactly and msgspec indents it by one space, in C. Where
    orjson could write other bytes than json (a non-ASCII or DEL character, which json
    escapes; a float json spells otherwise; a non-string key, which orjson refuses), json
    writes it."""
    text = b""
    if _floats_alike(data):
        try:
            text = orjson.dumps(data)
        except TypeError:
            text = b""
        if not text.isascii() or b"\x7f" in text:
            text = b""
    if not text:
        yield (json.dumps(data, indent=1) + "\n").encode()
        return
    text = msgspec.json.format(text, indent=1)
    start = 0
    while start < len(text):
        end = text.find(b"\n", start + block_bytes)
        end = len(text) if end < 0 else end + 1
        yield text[start:end]
        start = end
    yield b"\n"


_SCALARS = frozenset({str, int, bool, type(None)})


def _floats_alike(data: Any) -> bool:
    """No float that orjson and json spell otherwise (one with an exponent, or not finite)."""
    stack: list[Any] = [[data]]
    while stack:
        item = stack.pop()
        for value in item.values() if isinstance(item, dict) else item:
            kind = type(value)
            if kind in _SCALARS:
                continue
            if kind is float:
                if value != value or "e" in repr(value) or "n" in repr(value):
                    return False
            elif isinstance(value, dict | list | tuple):
                stack.append(value)
    return True
