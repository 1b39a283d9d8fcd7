"""``show --json`` (ShowJson) on the committed run, against the values read by hand from its
raw events (tests/render/oracle.py): the chosen RPC, every step of its client batch, the
stage rows."""

from __future__ import annotations

from typing import Any

import pytest

from tests.render.oracle import (
    CLIENT_CALLS,
    CLIENT_MAIN,
    FIXTURE_RUN,
    MEDIAN_CLIENT,
    SERVER_CALL_STARTS,
    STAGE_NAMES,
    ClientCall,
    client_stage_values,
    nearest_rank,
)
from toygrpc.analysis.run import Run
from toygrpc.render.show_json import ShowJson

LANES = ["client main", "client core", "client poller", "server main", "server core",
         "server poller"]
# What each step of a client batch is, and the lane of the thread it happens on.
CLIENT_STEPS = {
    "created": ("loop.create_future", "client main", "main"),
    "core_call": ("grpc_call_start_batch", "client main", "main"),
    "completed": ("cq_end_op_for_next", "client core", "event_engine"),
    "returned": ("RETURN_EVENT OP_COMPLETE", "client poller", "poller"),
    "woken": ("selector woke on the poller fd", "client main", "main"),
    "drained": ("_handle_events (queue drain)", "client main", "main"),
    "resolved": ("set_result", "client main", "main"),
    "resumed": ("task resumed", "client main", "main"),
}
STAGE_AT = {"core_call": "python_before_core", "completed": "core_and_network",
            "returned": "core_to_poller", "woken": "poller_to_wake", "drained": "wake_to_drain",
            "resolved": "drain_to_resolution", "resumed": "resolution_to_resume"}


@pytest.fixture(scope="module")
def run() -> Run:
    return Run.load(FIXTURE_RUN)


def client_rows(data: dict[str, Any]) -> list[dict[str, Any]]:
    rpc = data["rpc"]
    [number] = [c["chain"] for c in rpc["chains"] if c["side"] == "client"]
    return [s for s in rpc["steps"] if s["chain"] == number]


def test_the_default_rpc_is_the_median_client_call(run: Run) -> None:
    data = ShowJson().render(run)
    assert data["rpc"]["index"] == MEDIAN_CLIENT.index == 5
    assert (data["format"], data["mode"], data["rpc_count"], data["complete_rpcs"]) == (
        1, "both", 6, 6)
    assert data["run_dir"] == str(FIXTURE_RUN)
    assert data["view_command"] == f"toygrpc view {FIXTURE_RUN}"
    assert data["files"] == [str(FIXTURE_RUN / name) for name in (
        "summary.json", "events.jsonl", "capture.json")]
    assert data["diagnostics"] == [] and data["partial"] is False and data["losses"] == {}


@pytest.mark.parametrize("call", CLIENT_CALLS, ids=lambda c: f"rpc{c.index}")
def test_a_client_rpc_step_by_step(run: Run, call: ClientCall) -> None:
    data = ShowJson(call.index).render(run)
    rpc = data["rpc"]
    assert (rpc["index"], rpc["side"], rpc["method"], rpc["status"]) == (
        call.index, "client", "/HelloService/Hello", "OK")
    assert (rpc["start"], rpc["latency"], rpc["stages"]) == (
        call.start, call.latency, call.rpc_stages())
    assert rpc["complete"] is True and rpc["missing"] is None and rpc["details"] is None
    assert rpc["end_reason"] is None
    assert rpc["peer_index"] == call.index + 1 and rpc["lanes"] == LANES
    assert [(c["chain"], c["side"], c["kind"]) for c in rpc["chains"]] == [
        (1, "server", "request_call"), (2, "client", "batch"), (3, "server", "batch"),
        (4, "server", "batch"), (5, "server", "batch")]
    assert all(set(c) == {"chain", "side", "kind", "ops", "complete", "missing",
                          "shared_wake", "outcome"} for c in rpc["chains"])
    assert [c["shared_wake"] for c in rpc["chains"]] == [False] * 5
    batch = rpc["chains"][1]
    assert batch["ops"][0] == "SendInitialMetadataOperation" and len(batch["ops"]) == 6
    assert batch["complete"] is True and batch["outcome"] == "ok" and batch["missing"] is None
    rows = client_rows(data)
    assert [r["step"] for r in rows] == list(CLIENT_STEPS)
    deltas = call.deltas()
    for row in rows:
        _, _, ts, tid = call.steps[row["step"]]
        event, lane, thread = CLIENT_STEPS[row["step"]]
        assert (row["ts"], row["tid"], row["pid"], row["offset_ns"]) == (
            ts, tid, 22792, ts - call.start), row
        assert (row["event"], row["lane"], row["thread"], row["process"]) == (
            event, lane, thread, "client"), row
        assert row["shared"] is False
        if row["step"] == "created":  # the RPC's own time before its batch
            assert (row["stage"], row["stage_ns"]) == (
                "python_before_core", call.ts("created") - call.start)
        else:
            stage = STAGE_AT[row["step"]]
            assert (row["stage"], row["stage_ns"]) == (stage, deltas[stage]), row
    by_step = {r["step"]: r for r in rows}
    # its own core call, and the server's reply batch (the server -> client arrow)
    assert sorted(by_step["completed"]["from_lanes"]) == ["client main", "server main"]
    assert by_step["returned"]["from_lanes"] == ["client core"]
    assert by_step["woken"]["from_lanes"] == ["client poller"]
    [start] = [s for s in rpc["steps"] if s["step"] == "RPC start"]
    [end] = [s for s in rpc["steps"] if s["step"] == "RPC end"]
    assert (start["ts"], start["offset_ns"], start["chain"], start["tid"]) == (
        call.start, 0, None, CLIENT_MAIN)
    assert (end["ts"], end["stage"], end["stage_ns"]) == (
        call.finished[2], "python_after_core", call.rpc_stages()["python_after_core"])
    [arrived] = [s for s in rpc["steps"] if s["step"] == "call arrived"]
    assert arrived["ts"] == SERVER_CALL_STARTS[call.index // 2][1]
    request = [s for s in rpc["steps"] if s["chain"] == 1 and s["step"] == "completed"]
    assert request[0]["stage"] == "awaiting_call"
    assert sorted(request[0]["from_lanes"]) == ["client main", "server main"]
    labels = [link["label"] for link in rpc["links"]]
    assert labels.count("handoff") == 5 * 7
    assert sorted(set(labels) - {"handoff"}) == ["client -> server", "server -> client"]
    steps = rpc["steps"]
    for link in rpc["links"]:
        assert steps[link["from"]]["ts"] <= steps[link["to"]]["ts"]


def test_a_server_rpc(run: Run) -> None:
    number, start, tid = SERVER_CALL_STARTS[0]
    rpc = ShowJson(number).render(run)["rpc"]
    assert (rpc["index"], rpc["side"], rpc["start"], rpc["peer_index"]) == (
        number, "server", start, 1)
    [completed] = [s for s in rpc["steps"] if s["chain"] == 1 and s["step"] == "completed"]
    assert (completed["ts"], completed["tid"], completed["lane"]) == (start, tid, "server core")


def test_stage_rows(run: Run) -> None:
    rows = ShowJson().render(run)["stages"]
    assert [row["name"] for row in rows] == STAGE_NAMES
    after = client_stage_values("python_after_core")
    assert {k: rows[7][k] for k in ("count", "p50", "p90", "p99", "max")} == {
        "count": 3, "p50": nearest_rank(after, 50), "p90": nearest_rank(after, 90),
        "p99": nearest_rank(after, 99), "max": max(after)}
    assert rows[7]["definition"].startswith("Python after the core")


def test_a_run_without_rpcs_has_no_rpc(run: Run) -> None:
    from toygrpc.analysis.chains import Analysis

    empty = Run(run.manifest, run.timeline)
    empty.__dict__["analysis"] = Analysis([], [])
    data = ShowJson().render(empty)
    assert data["rpc"] is None and data["rpc_count"] == 0 and data["complete_rpcs"] == 0


def test_a_client_only_run_has_no_peer() -> None:
    """traces/samples/client: only the client traced, so no RPC has another side."""
    sample = Run.load(FIXTURE_RUN.parents[3] / "traces" / "samples" / "client")
    rpc = ShowJson(1).render(sample)["rpc"]
    assert rpc["side"] == "client" and rpc["peer_index"] is None
    assert rpc["lanes"] == ["client main", "client core", "client poller"]
