"""The native trace's bytes, as the protobuf runtime would write them: the hand encoder
(toygrpc/render/protowire.py) must write nothing the ``perfetto`` package's protos read
differently or would write otherwise."""

from __future__ import annotations

from pathlib import Path

import pytest
from perfetto.protos.perfetto.trace.perfetto_trace_pb2 import DebugAnnotation, Trace

from tests.render import oracle
from toygrpc.analysis.run import Run
from toygrpc.render import perfetto
from toygrpc.render.perfetto import PerfettoRenderer


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
        monkeypatch.setattr(perfetto, "WRITE_BLOCK_BYTES", block)
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
