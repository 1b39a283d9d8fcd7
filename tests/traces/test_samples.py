"""The sample traces: the committed ones and a fresh set pass the same checks that CI
runs on traces/ci/, and the checks catch a broken sample."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import toygrpc
from toygrpc.testing import samples

COMMITTED = Path(__file__).resolve().parents[2] / "traces" / "samples"


def test_the_readme_lists_every_sample_with_its_command() -> None:
    readme = (COMMITTED.parent / "README.md").read_text()
    for sample in samples.SAMPLES:
        assert f"`samples/{sample.name}/`" in readme
        assert " ".join(sample.trace_args[1:]) in readme, sample.name


@pytest.mark.parametrize("sample", samples.SAMPLES, ids=lambda s: s.name)
def test_committed_sample_passes_the_checks(sample: samples.Sample) -> None:
    assert samples.check(sample, COMMITTED / sample.name) == []


@pytest.mark.parametrize("sample", samples.SAMPLES, ids=lambda s: s.name)
def test_committed_sample_loads_and_agrees_with_its_summary(sample: samples.Sample) -> None:
    trace = toygrpc.load(COMMITTED / sample.name)
    summary = json.loads((COMMITTED / sample.name / "summary.json").read_text())
    assert len(trace.rpcs) == summary["rpc_count"] and trace.run.analysis.links == summary[
        "links"]
    assert "<svg" in trace._repr_mimebundle_()["text/html"]


def test_a_fresh_stream_and_failure_pass_the_same_checks(tmp_path: Path) -> None:
    """The two samples most likely to change with grpcio; .ci/run writes and checks all
    five after the suite (traces/ci/samples)."""
    fresh = ("stream", "failure")
    written = samples.write(tmp_path, fresh)
    assert [p.name for p in written] == list(fresh)
    for sample in (s for s in samples.SAMPLES if s.name in fresh):
        assert samples.check(sample, tmp_path / sample.name) == []


def test_the_checks_catch_a_broken_sample(tmp_path: Path) -> None:
    from perfetto.protos.perfetto.trace.perfetto_trace_pb2 import Trace

    broken = tmp_path / "client"
    shutil.copytree(COMMITTED / "client", broken)
    (trace_file,) = broken.glob("trace.*")
    trace = Trace()
    trace.ParseFromString(trace_file.read_bytes())
    first = next(p for p in trace.packet if p.HasField("track_event")
                 and p.track_event.flow_ids)
    del first.track_event.flow_ids[0]  # one arrow that starts nowhere
    trace_file.write_bytes(trace.SerializeToString())
    client = next(s for s in samples.SAMPLES if s.name == "client")
    assert any("flows started" in p for p in samples.check(client, broken))
    failure = next(s for s in samples.SAMPLES if s.name == "failure")
    assert any("statuses" in p for p in samples.check(failure, broken))
    trace_file.write_bytes(b"")
    assert any("no trace file, or an empty one" in p for p in samples.check(client, broken))
    (broken / "summary.json").unlink()
    assert samples.check(client, broken) == ["client: summary.json is missing or empty"]
    assert samples.main(["check", str(tmp_path / "nowhere")]) == 1
    assert samples.main(["frobnicate"]) == 2


def test_a_chrome_json_trace_is_checked_too(tmp_path: Path) -> None:
    """The first sample (traces/sample-both) is Chrome JSON: the same checks read it."""
    both = next(s for s in samples.SAMPLES if s.name == "both")
    copy = tmp_path / "both"
    shutil.copytree(COMMITTED / "both", copy)
    for native in copy.glob("trace.*"):
        native.unlink()
    shutil.copy(COMMITTED.parent / "sample-both" / "trace.json", copy / "trace.json")
    data = json.loads((copy / "trace.json").read_text())
    problems = samples.check(both, copy)  # another run's trace: its arrows do not match
    assert problems and all("flow starts" in p for p in problems), problems
    events = data["traceEvents"]
    flows = sum(e["ph"] == "s" for e in events)
    summary = json.loads((copy / "summary.json").read_text())
    summary["links"] = flows
    (copy / "summary.json").write_text(json.dumps(summary))
    if sum(e["ph"] == "f" for e in events) == flows:
        assert samples.check(both, copy) == []
