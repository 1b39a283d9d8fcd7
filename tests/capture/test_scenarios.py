"""Failing calls, traced live: statuses as gRPC codes on both sides, chains that end where
they really end, and the stage invariants all the same."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from toygrpc.analysis.invariants import violations
from toygrpc.analysis.run import Run
from toygrpc.capture.launch import CaptureOptions
from toygrpc.pipeline import capture_run
from toygrpc.render.summary import SummaryRenderer
from toygrpc.server import ABORT_DETAILS, RAISE_MESSAGE
from toygrpc.workload import SCENARIOS

RPCS = 2


@pytest.fixture(scope="module", params=sorted(SCENARIOS))
def scenario_run(request: pytest.FixtureRequest,
                 tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Run]:
    name = str(request.param)
    out = tmp_path_factory.mktemp("scenario") / name
    return name, capture_run(CaptureOptions(mode="both", out=out, rpcs=RPCS, python_layer=False,
                                            scenario=name))


def test_statuses_are_grpc_codes_on_both_sides(scenario_run: tuple[str, Run]) -> None:
    name, run = scenario_run
    expected = SCENARIOS[name]
    client = [r for r in run.analysis.rpcs if r.side == "client"]
    server = [r for r in run.analysis.rpcs if r.side == "server"]
    assert [r.status for r in client] == [expected.client] * RPCS
    if expected.server is None:
        # no handler ran: nothing listened, or the server died before it could say
        assert server == []
    else:
        assert [r.status for r in server] == [expected.server] * RPCS
        assert all(r.peer is not None and r.peer.status == expected.client for r in server)
    if name == "server-abort":
        assert {r.details for r in client + server} == {ABORT_DETAILS}
    if name == "server-exception":
        assert all(RAISE_MESSAGE in r.details for r in client + server)
    if name == "deadline-exceeded":
        assert all(r.details == "Deadline Exceeded" for r in client)


def test_chains_end_where_they_really_end(scenario_run: tuple[str, Run]) -> None:
    name, run = scenario_run
    assert violations(run.analysis) == []
    client = [r for r in run.analysis.rpcs if r.side == "client"]
    for rpc in client:
        assert rpc.chains and rpc.complete, (rpc.missing, rpc.end_reason)
        outcomes = {c.outcome for c in rpc.chains}
        if name == "client-cancel":
            # the waiter was cancelled before its completion resolved it: not "incomplete"
            (chain,) = rpc.chains
            assert chain.outcome == "cancelled" and chain.missing == ""
            assert chain.steps()[-1].name == "resumed"
            assert "cancelled" in [s.name for s in chain.steps()]
            assert chain.resolved is None and chain.completed is not None  # it did complete
            assert "cancelled" in rpc.end_reason
        else:
            assert outcomes == {"ok"}, outcomes


def test_summary_says_status_details_and_why(scenario_run: tuple[str, Run]) -> None:
    name, run = scenario_run
    (path,) = SummaryRenderer().render(run)
    summary = json.loads(path.read_text())
    for row, rpc in zip(summary["rpcs"], run.analysis.rpcs, strict=True):
        assert row["status"] == rpc.status and row["details"] == (rpc.details or None)
        assert row["stages"] == rpc.stages() and sum(row["stages"].values()) == row["latency"]
        for chain in row["chains"]:
            assert chain["outcome"] in ("ok", "failed", "cancelled", "in_flight", "incomplete")
            assert chain["complete"] or chain["end_reason"]
    assert any(f"scenario {name}:" in line for line in summary["diagnostics"])
    # a killed server wrote no hook events: that is said, and it is not taken for sync grpc
    assert not any("without grpc.aio" in line for line in summary["diagnostics"])
    if SCENARIOS[name].ask != "die":
        # the server stopped with request-calls posted: the core failed them (ok=false),
        # and their chains say so rather than "incomplete": failed where a drain resolved
        # the waiter with the error, cancelled where the stop cancelled its task first
        cut = [c for c in summary["chains_outside_rpcs"] if c["kind"] == "request_call"]
        assert cut and all(c["outcome"] in ("failed", "cancelled") and not c["ok"]
                           for c in cut), cut
        for chain in cut:
            assert chain["end_reason"].startswith(
                "failed: the completion was not ok" if chain["outcome"] == "failed"
                else "cancelled: the waiter was cancelled"), chain


def test_unfinished_call_is_in_flight_when_the_program_stops(tmp_path: Path) -> None:
    """A program that raises with a call in flight: its RPC keeps its chains and latency,
    and the chain says it was still waiting, not that steps went missing."""
    program = tmp_path / "raises.py"
    program.write_text(UNFINISHED_PROGRAM)
    run = capture_run(CaptureOptions(mode="run", out=tmp_path / "run", python_layer=False,
                                     script=(str(program),)))
    assert violations(run.analysis) == []
    client = [r for r in run.analysis.rpcs if r.side == "client"]
    assert len(client) == 1
    rpc = client[0]
    assert rpc.status == "unfinished" and rpc.latency > 0 and rpc.chains
    assert {c.outcome for c in rpc.chains} == {"in_flight"}
    assert "when the program stopped" in rpc.end_reason
    assert rpc.complete  # nothing that should have been observed is missing


UNFINISHED_PROGRAM = '''
import asyncio
import grpc
from toygrpc.generated import hello_pb2, hello_pb2_grpc


class Slow(hello_pb2_grpc.HelloServiceServicer):
    async def Hello(self, request, context):
        await asyncio.sleep(5)
        return hello_pb2.HelloResponse(x="late")


async def main():
    server = grpc.aio.server()
    hello_pb2_grpc.add_HelloServiceServicer_to_server(Slow(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    call = hello_pb2_grpc.HelloServiceStub(channel).Hello(hello_pb2.HelloRequest(x="x"))
    await asyncio.sleep(0.2)
    raise RuntimeError("gave up with a call in flight")


asyncio.run(main())
'''
