"""The native trace's bytes, as the protobuf runtime would write them: the hand encoder
(toygrpc/render/protowire.py) must write nothing the ``perfetto`` package's protos read
differently or would write otherwise."""

from __future__ import annotations

from pathlib import Path

from perfetto.protos.perfetto.trace.perfetto_trace_pb2 import Trace

from tests.render import oracle
from toygrpc.analysis.run import Run
from toygrpc.render.perfetto import PerfettoRenderer


def test_the_runtime_writes_the_same_bytes_for_the_decoded_trace(tmp_path: Path) -> None:
    """Decoded and encoded again by the runtime, the committed run's trace is byte for byte
    the file the renderer wrote: every field in its place, every length right."""
    [path] = PerfettoRenderer(out=tmp_path).render(Run.load(oracle.FIXTURE_RUN))
    written = path.read_bytes()
    trace = Trace.FromString(written)
    assert trace.SerializeToString() == written
