"""The native trace's bytes, as the protobuf runtime would write them: the hand encoder
(toygrpc/render/protowire.py) must write nothing the ``perfetto`` package's protos read
differently or would write otherwise."""

from __future__ import annotations

from pathlib import Path

import pytest
from perfetto.protos.perfetto.trace.perfetto_trace_pb2 import DebugAnnotation, Trace

from tests.render import oracle
from tests.render.test_perfetto_decoded import decode
from toygrpc.analysis.run import Run
from toygrpc.render import perfetto
from toygrpc.render.perfetto import (
    PerfettoRenderer,
    Slice,
    TraceModel,
    Track,
    write_json,
    write_proto,
)


def test_the_runtime_writes_the_same_bytes_for_the_decoded_trace(tmp_path: Path) -> None:
    """Decoded and encoded again by the runtime, the committed run's trace is byte for byte
    the file the renderer wrote: every field in its place, every length right."""
    [path] = PerfettoRenderer(out=tmp_path).render(Run.load(oracle.FIXTURE_RUN))
    written = path.read_bytes()
    trace = Trace.FromString(written)
    assert trace.SerializeToString() == written


def test_written_in_blocks_or_at_once_the_file_is_the_same(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A large trace is written a block at a time (each block whole packets): with blocks of
    a few packets, or of one, the file holds every packet once, in order."""
    run = Run.load(oracle.FIXTURE_RUN)
    [path] = PerfettoRenderer(out=tmp_path).render(run)
    expected = path.read_bytes()
    for block in (1, 1000):
        monkeypatch.setattr(perfetto, "WRITE_BLOCK_PACKETS", block)
        path.unlink()
        PerfettoRenderer(out=tmp_path).render(run)
        assert path.read_bytes() == expected, block


def test_an_integer_past_int64_is_refused_as_the_runtime_refuses_it() -> None:
    """A debug annotation's int is an int64: the runtime raises ValueError past it, and so
    does the writer (with the runtime's words), at both ends."""
    interner = perfetto._Interner()
    for value in (2**63, -(2**63) - 1):
        with pytest.raises(ValueError) as refused:
            interner.value(value)
        assert str(refused.value) == f"Value out of range: {value}"
        with pytest.raises(ValueError):
            DebugAnnotation(int_value=value)
    for value in (2**63 - 1, -(2**63)):
        assert interner.value(value) == DebugAnnotation(int_value=value).SerializeToString()


def test_events_alike_but_for_their_flows_keep_their_own_flows(tmp_path: Path) -> None:
    """Events of one name on one track, without arguments, are encoded once and the bytes
    reused; one with a flow is not such an event: each keeps its own flow ids."""
    process = Track(1, "client", 9, is_process=True)
    thread = Track(2, "main", 9, tid=5, parent=1)
    other = Track(3, "poller", 9, tid=6, parent=1, rank=1)
    items = [Slice(2, 10, None, "tick", "hook", flows_out=[1]),
             Slice(2, 20, None, "tick", "hook", flows_out=[2]),
             Slice(3, 30, None, "tock", "hook", flows_in=[1]),
             Slice(3, 40, None, "tock", "hook", flows_in=[2]),
             Slice(2, 50, None, "tick", "hook"), Slice(3, 60, None, "tick", "hook"),
             Slice(2, 70, 80, "tick", "hook"), Slice(3, 90, 95, "span", "glue")]
    path = tmp_path / "trace.perfetto-trace"
    write_proto(TraceModel([process, thread, other], items, {1: "a", 2: "b"}), path)
    decoded = decode(path)
    got = [(i.track, i.ts, i.end, i.name, i.category, i.flows_out, i.flows_in)
           for i in decoded.items]
    assert got == [(2, 10, None, "tick", "hook", [1], []), (2, 20, None, "tick", "hook", [2], []),
                   (3, 30, None, "tock", "hook", [], [1]), (3, 40, None, "tock", "hook", [], [2]),
                   (2, 50, None, "tick", "hook", [], []), (3, 60, None, "tick", "hook", [], []),
                   (2, 70, 80, "tick", "hook", [], []), (3, 90, 95, "span", "glue", [], [])]


def test_a_run_with_nothing_to_show_still_gets_its_trace_files(tmp_path: Path) -> None:
    """No track, no event: an empty trace (zero packets), and Chrome JSON with no events."""
    write_proto(TraceModel(), tmp_path / "trace.perfetto-trace")
    assert (tmp_path / "trace.perfetto-trace").read_bytes() == b""
    write_json(TraceModel(), tmp_path / "trace.json")
    assert (tmp_path / "trace.json").read_text() == '{"traceEvents":[],"displayTimeUnit":"ns"}'
