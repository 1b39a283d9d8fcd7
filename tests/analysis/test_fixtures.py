"""The invariants on recorded real captures (tests/fixtures/runs), re-analysed in place.

``shapes-both``: ``toygrpc trace both --method all --rpcs 1 --no-python``;
``cancel-both``: ``toygrpc trace both --scenario client-cancel --method bidi --rpcs 1
--no-python``; ``both-3``: see tests/render/conftest.py. Only ``capture.json`` and
``events.jsonl`` are kept of the first two (the merged timeline the analysis reads).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from toygrpc.analysis.chains import Analysis, analyze, cross_process_links
from toygrpc.analysis.invariants import violations
from toygrpc.model.events import (
    Event,
    FutureCreated,
    GlueSpan,
    RpcFinished,
    RpcStarted,
    TaskFinished,
)
from toygrpc.model.timeline import Timeline

RUNS = Path(__file__).resolve().parents[1] / "fixtures" / "runs"


def analysed(name: str) -> Analysis:
    return analyze(Timeline.load(RUNS / name))


@pytest.mark.parametrize("name", ["both-3", "shapes-both", "cancel-both"])
def test_recorded_runs_hold_the_invariants(name: str) -> None:
    analysis = analysed(name)
    assert analysis.rpcs
    assert violations(analysis) == []


def test_recorded_shapes_are_linked_and_ok() -> None:
    analysis = analysed("shapes-both")
    methods = sorted((r.side, r.method.rsplit("/", 1)[-1]) for r in analysis.rpcs)
    assert len(methods) == 8 and len({m for _, m in methods}) == 4
    for rpc in analysis.rpcs:
        assert rpc.status == "OK" and rpc.complete and rpc.peer is not None


def test_recorded_cancellation_ends_where_it_ends() -> None:
    analysis = analysed("cancel-both")
    client = next(r for r in analysis.rpcs if r.side == "client")
    assert client.status == "CANCELLED" and client.peer is not None
    assert client.peer.status == "CANCELLED"
    cancelled = [c for c in client.chains if c.outcome == "cancelled"]
    assert cancelled and all(c.missing == "" and c.steps()[-1].name in ("cancelled", "resumed")
                             for c in cancelled)
    assert client.complete and "cancelled" in client.end_reason


def test_failed_resolutions_lead_to_the_drain_and_wake_that_served_them() -> None:
    """Kills "set_exception losing its drain id" on the analysis side: the server's
    shutdown failed its 9 posted request-calls with set_exception (``ok: false``,
    ``_RequestCallError``), all inside drain 13 (read off ``both-3/events.jsonl``:
    the drain at ...897182992826, the wake before it at ...897182977928). Each failed
    chain reaches that drain and wake through the resolution's drain id."""
    analysis = analysed("both-3")
    failed = [c for c in analysis.chains if c.outcome == "failed"]
    assert len(failed) == 9
    for chain in failed:
        assert chain.kind == "request_call"
        assert chain.resolved is not None and chain.resolved.error == "_RequestCallError"
        assert chain.drain is not None and chain.drain.drain_id == 13
        assert chain.drain.ts == 1795573897182992826
        assert chain.woken is not None and chain.woken.ts == 1795573897182977928
        assert chain.end_reason == "failed: the completion was not ok (_RequestCallError)"
        assert [s.name for s in chain.steps()][-3:] == ["drained", "resolved", "resumed"]


def test_a_cancelled_waiters_chain_ends_at_its_cancellation() -> None:
    """The client's RECV_INITIAL_METADATA waiter of ``cancel-both`` (future
    140554356534592, created at ...735524444653), read off the raw events: batch start
    +11_347 ns, cq_end_op not ok +89_785_347 (the call was cancelled), RETURN_EVENT
    +90_076_347, future.cancelled +90_483_620, task resumed +90_606_282; the wake
    (+90_592_932) and drain 6 (+90_661_534) came after the cancellation and resolved
    nothing for it. The cancellation ends the stage the chain was in: the wait for the
    wake (poller_to_wake)."""
    analysis = analysed("cancel-both")
    (chain,) = [c for c in analysis.chains if c.outcome == "cancelled"]
    assert (chain.future.future_id, chain.future.ts) == (140554356534592,
                                                         1795614735524444653)
    assert [(s.name, s.at - chain.future.ts, s.stage, s.delta, s.note)
            for s in chain.steps()] == [
        ("created", 0, "", None, ""),
        ("core_call", 11_347, "python_before_core", 11_347, ""),
        ("completed", 89_785_347, "core_and_network", 89_774_000, ""),
        ("returned", 90_076_347, "core_to_poller", 291_000, ""),
        ("cancelled", 90_483_620, "poller_to_wake", 407_273,
         "the waiter was cancelled: nothing resolves it"),
        ("resumed", 90_606_282, "resolution_to_resume", 122_662, ""),
    ]
    assert chain.end_reason == "cancelled: the waiter was cancelled before its completion " \
        "resolved it"
    # its time ends at the resumption: a cancelled chain waits on in no stage
    assert [(b - chain.future.ts, e - chain.future.ts, stage) for b, e, stage in
            chain.pieces()] == [(0, 11_347, "python_before_core"),
                                (11_347, 89_785_347, "core_and_network"),
                                (89_785_347, 90_076_347, "core_to_poller"),
                                (90_076_347, 90_483_620, "poller_to_wake"),
                                (90_483_620, 90_606_282, "resolution_to_resume")]
    assert chain.missing == "" and chain.complete is False and chain.ok is False
    assert chain.completed is not None and chain.completed.ok is False


def test_request_calls_wait_for_a_client_and_say_so() -> None:
    """A request-call's completion is a client's call arriving: awaiting_call, not work."""
    analysis = analysed("both-3")
    served = [c for c in analysis.chains if c.kind == "request_call" and c.outcome == "ok"]
    assert len(served) == 3
    for chain in served:
        (completed,) = [s for s in chain.steps() if s.name == "completed"]
        assert completed.stage == "awaiting_call" and completed.note == "a client's call arrived"
    cut = [c for c in analysis.chains if c.kind == "request_call" and c.outcome == "failed"]
    assert len(cut) == 9  # pending when the server stopped: the core failed them
    for chain in cut:
        (completed,) = [s for s in chain.steps() if s.name == "completed"]
        assert completed.stage == "awaiting_call"
        assert completed.note == "failed: the server stopped before a client's call came"
    (notify,) = [c for c in analysis.chains if c.kind == "notify"]
    assert notify.core_call is not None
    assert notify.core_call.name == "grpc_server_shutdown_and_notify"  # type: ignore[attr-defined]
    (completed,) = [s for s in notify.steps() if s.name == "completed"]
    assert completed.note == "the core sent the notification"


# Runs with a piece missing, as when a hook recorded nothing for it (the capture started
# late, the hooks of an older capture, a program stopped): each test takes a committed
# real run, leaves out or changes the events it names, and states what the analysis
# must then say, read off the raw lines of ``events.jsonl`` (line numbers cited).

SAMPLES = Path(__file__).resolve().parents[2] / "traces" / "samples"


def sample(name: str) -> Timeline:
    return Timeline.load(SAMPLES / name)


def test_a_server_rpcs_status_is_its_own_never_the_next_one_on_the_same_rpcstate() -> None:
    """traces/samples/server (server only, an untraced client): RPCState 139924342901632
    serves RPCs 1, 3 and 5. Its first rpc.finished (line 129) is left out and the second
    (line 247) says UNAVAILABLE "going away": RPC 1 has no status of its own before RPC 3's
    handler starts (line 211), so its status comes from its handler, which raised nothing
    (line 93): OK; RPC 3 keeps its own, with the details. No client was traced: no link,
    no peer."""
    timeline = sample("server")
    first_finished, second_finished = 1795617206777783677, 1795617206780436657
    events: list[Event] = []
    for event in timeline.events:
        if isinstance(event, RpcFinished) and event.ts == first_finished:
            continue
        if isinstance(event, RpcFinished) and event.ts == second_finished:
            event = dataclasses.replace(event, status="UNAVAILABLE",
                                        status_details="going away")
        events.append(event)
    timeline.events = events
    rpcs = analyze(timeline).rpcs
    assert [(r.side, r.call, r.status, r.details, r.link, r.peer) for r in rpcs] == [
        ("server", 139924342901632, "OK", "", "", None),
        ("server", 139924342905232, "OK", "", "", None),
        ("server", 139924342901632, "UNAVAILABLE", "going away", "", None),
        ("server", 139924342905232, "OK", "", "", None),
        ("server", 139924342901632, "OK", "", "", None),
    ]


@pytest.mark.parametrize(("errors", "statuses"), [
    (("CancelledError", "CancelledError"), ["CANCELLED", "CANCELLED"]),
    (("AbortError", "RuntimeError"), ["UNKNOWN", "UNKNOWN"]),
    (("", "CancelledError"), ["OK", "CANCELLED"]),
])
def test_without_the_servers_rpc_finished_the_handlers_exception_gives_the_status(
        errors: tuple[str, str], statuses: list[str]) -> None:
    """traces/samples/failure (a deadline, then a cancel; one process): the server's two
    handlers ended with CancelledError (lines 95, 167), their rpc.finished said
    DEADLINE_EXCEEDED and CANCELLED (lines 121, 230). Without those lines the status is
    the handler's exception's: CancelledError -> CANCELLED, an abort or any other
    exception -> UNKNOWN, none -> OK; the details are unknown (""). The clients keep
    theirs (lines 132, 198)."""
    timeline = sample("failure")
    handlers = iter(errors)
    events: list[Event] = []
    for event in timeline.events:
        if isinstance(event, RpcFinished) and event.side == "server":
            continue
        if isinstance(event, GlueSpan) and event.name == "_handle_rpc":
            event = dataclasses.replace(event, error=next(handlers))
        events.append(event)
    timeline.events = events
    rpcs = analyze(timeline).rpcs
    assert [(r.side, r.status, r.details) for r in rpcs] == [
        ("client", "DEADLINE_EXCEEDED", "Deadline Exceeded"),
        ("server", statuses[0], ""),
        ("client", "CANCELLED", "Locally cancelled by application!"),
        ("server", statuses[1], ""),
    ]


def test_server_rpcs_whose_request_tasks_were_not_recorded() -> None:
    """both-3 without its task.finished lines (111, 186, 263: which request task produced
    which RPCState): no server RPC finds its request-call chain, so each starts at its
    handler (lines 125, 202, 279) and holds the batches made from then on, on its
    RPCState, until its handler's end: RPC 1 the batches of lines 130 and 141 (line 118's,
    made before its handler, belongs to none), RPC 2 those of 207 and 218 (195's is before
    its handler), RPC 3 those of 284 and 295 (272's likewise)."""
    timeline = Timeline.load(RUNS / "both-3")
    timeline.events = [e for e in timeline.events if not isinstance(e, TaskFinished)]
    analysis = analyze(timeline)
    servers = [r for r in analysis.rpcs if r.side == "server"]
    assert [(r.start, r.end) for r in servers] == [
        (1795573897138776601, 1795573897138776601 + 4024758),
        (1795573897143212701, 1795573897143212701 + 716594),
        (1795573897144889345, 1795573897144889345 + 588654),
    ]
    assert [[(c.kind, c.future.ts) for c in r.chains] for r in servers] == [
        [("batch", 1795573897138846983), ("batch", 1795573897139150582)],
        [("batch", 1795573897143258777), ("batch", 1795573897143504277)],
        [("batch", 1795573897144928799), ("batch", 1795573897145142590)],
    ]
    # no request-call chain, no client -> server arrow: only the reply's
    clients = [r for r in analysis.rpcs if r.side == "client"]
    assert [[label for _, _, label in cross_process_links(r)] for r in clients] == [
        ["server -> client"]] * 3


def test_server_rpcs_whose_request_call_waiters_were_not_recorded() -> None:
    """both-3 without the request-call waiters of RPCs 1 and 2 (lines 31 and 122; their
    tasks finish at lines 111 and 186): the task of RPC 1 (140570858581312) is found, but
    the only request-call waiter left of that task id is a later one (line 276, the id
    reused), made after it; RPC 2's task (140570858583040) made no other: neither RPC has
    a request chain, and each starts at its handler. RPC 3's request-call waiter (line
    199, its task finished at line 263) is untouched."""
    timeline = Timeline.load(RUNS / "both-3")
    dropped = {1795573896940294337, 1795573897138732438}
    timeline.events = [e for e in timeline.events
                       if not (isinstance(e, FutureCreated) and e.ts in dropped)]
    servers = [r for r in analyze(timeline).rpcs if r.side == "server"]
    assert [r.start for r in servers[:2]] == [1795573897138776601, 1795573897143212701]
    assert [[c.kind for c in r.chains] for r in servers] == [
        ["batch", "batch"], ["batch", "batch"], ["request_call", "batch", "batch", "batch"]]


def test_client_calls_whose_rpc_started_was_not_recorded() -> None:
    """both-3's client reuses one call object (140391726616864) for its three RPCs. Without
    the first rpc.started (line 79), the first RPC's waiter (line 84) was made before any
    recorded RPC of that call began: it belongs to none, and the server's first RPC (link
    22792-1) has no peer. Without all three, no client chain belongs to an RPC."""
    timeline = Timeline.load(RUNS / "both-3")
    first_started = 1795573897134859945
    timeline.events = [e for e in timeline.events
                       if not (isinstance(e, RpcStarted) and e.ts == first_started)]
    analysis = analyze(timeline)
    clients = [r for r in analysis.rpcs if r.side == "client"]
    assert [(r.link, r.start, [c.future.ts for c in r.chains]) for r in clients] == [
        ("22792-2", 1795573897141083227, [1795573897141338706]),
        ("22792-3", 1795573897144016398, [1795573897144212415]),
    ]
    servers = [r for r in analysis.rpcs if r.side == "server"]
    assert [(r.link, r.peer is not None) for r in servers] == [
        ("22792-1", False), ("22792-2", True), ("22792-3", True)]
    timeline.events = [e for e in timeline.events if not isinstance(e, RpcStarted)]
    analysis = analyze(timeline)
    assert [r.side for r in analysis.rpcs] == ["server"] * 3
    client_pid = 22792
    assert [c.future.ts for c in analysis.chains if c.pid == client_pid] == [
        1795573897135136354, 1795573897141338706, 1795573897144212415]
    assert all(r.peer is None for r in analysis.rpcs)


def test_a_client_rpc_whose_server_had_not_got_the_call_has_no_peer() -> None:
    """shapes-both stopped 300 µs into the client's HelloServerStream (rpc.started at
    1795614725404536611, link 29951-2): the server's handler for it starts later, so the
    client RPC has no peer, and only the first server RPC (link 29951-1) is there."""
    timeline = Timeline.load(RUNS / "shapes-both")
    timeline.events = [e for e in timeline.events if e.ts <= 1795614725404536611 + 300_000]
    rpcs = analyze(timeline).rpcs
    assert [(r.side, r.link, r.status, r.peer.link if r.peer else None) for r in rpcs] == [
        ("client", "29951-1", "OK", "29951-1"),
        ("server", "29951-1", "OK", "29951-1"),
        ("client", "29951-2", "unfinished", None),
    ]


def test_client_rpcs_whose_waiters_were_not_recorded_have_no_arrows() -> None:
    """both-3 without the client's three waiters (lines 84, 161, 251): each client RPC is
    still linked to its server RPC (by the link id), but has no chain, so no arrow joins
    them; the server's own chains are whole."""
    timeline = Timeline.load(RUNS / "both-3")
    client_pid = 22792
    timeline.events = [e for e in timeline.events
                       if not (isinstance(e, FutureCreated) and e.pid == client_pid)]
    analysis = analyze(timeline)
    clients = [r for r in analysis.rpcs if r.side == "client"]
    assert [(r.chains, r.peer is not None, r.missing) for r in clients] == [
        ([], True, "no chains")] * 3
    assert all(cross_process_links(r) == [] for r in clients)
    assert [len(r.peer.chains) for r in clients if r.peer] == [4, 4, 4]
