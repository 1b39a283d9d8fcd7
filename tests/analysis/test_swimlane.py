"""toygrpc.analysis.swimlane on committed real captures, against values read off their
``events.jsonl`` by hand (the client rows of tests/fixtures/runs/both-3 are in
tests/render/oracle.py; the streaming RPC's in tests/analysis/test_stream_oracle.py).
The renderers' own tests (tests/render/test_terminal.py) check what they print of it."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tests.analysis.recorded import BOTH_3, HOOKS_ONLY_CLIENT, RUNS, raw
from tests.render.oracle import CLIENT_CALLS
from toygrpc.analysis.chains import Analysis
from toygrpc.analysis.run import Run
from toygrpc.analysis.swimlane import SwimlaneModel, build_swimlane, pick_rpc, rpc_number
from toygrpc.errors import UsageError
from toygrpc.model.events import FutureCancelled, FutureResolved

# hooks-only/client-3: no core log, so no RPC is complete. Its three calls' latencies,
# rpc.finished - rpc.started: lines 12 - 5, 20 - 13, 28 - 21.
HOOKS_ONLY_LATENCIES = (454369898 - 448172085, 455442197 - 454561131, 456152489 - 455505801)


def _swimlane(run: Run, index: int) -> SwimlaneModel:
    """Built afresh (``Run.swimlane`` keeps the first one built: a test reading it could
    be handed one another test built, which mutation testing would not see)."""
    return build_swimlane(run.analysis, run.timeline, run.analysis.rpcs[index - 1])


def test_the_hooks_only_latencies_are_the_raw_lines() -> None:
    for latency, (end, start) in zip(HOOKS_ONLY_LATENCIES, ((12, 5), (20, 13), (28, 21)),
                                     strict=True):
        assert (raw(HOOKS_ONLY_CLIENT, end)["kind"], raw(HOOKS_ONLY_CLIENT, start)["kind"]) == (
            "rpc.finished", "rpc.started")
        assert raw(HOOKS_ONLY_CLIENT, end)["ts"] - raw(HOOKS_ONLY_CLIENT, start)["ts"] == latency
    assert HOOKS_ONLY_LATENCIES == (6197813, 881066, 646688)


def test_without_a_complete_rpc_the_median_of_all_of_them(hooks_only: Run) -> None:
    """None of the three is complete: the typical one is still the median latency, the
    second call (881,066 ns; the others 6,197,813 and 646,688)."""
    rpcs = hooks_only.analysis.rpcs
    assert [r.complete for r in rpcs] == [False, False, False]
    assert pick_rpc(hooks_only.analysis) is rpcs[1]
    assert rpc_number(hooks_only.analysis, rpcs[1]) == 2


def test_of_two_rpcs_the_faster_is_the_typical_one(hooks_only: Run) -> None:
    """An even count: the lower median (the first and third calls: 646,688 ns < 6,197,813)."""
    rpcs = hooks_only.analysis.rpcs
    two = Analysis(hooks_only.analysis.chains, [rpcs[0], rpcs[2]])
    assert pick_rpc(two) is rpcs[2]
    assert rpc_number(two, rpcs[2]) == 2 and rpc_number(two, rpcs[0]) == 1


def test_the_words_when_there_is_nothing_to_show(both_3: Run) -> None:
    with pytest.raises(UsageError) as error:
        pick_rpc(Analysis([], []))
    assert str(error.value) == ("this run has no RPCs to show (did the traced program make "
                                "any grpc.aio calls?)")
    for index in (0, 7):
        with pytest.raises(UsageError) as error:
            pick_rpc(both_3.analysis, index)
        assert str(error.value) == f"--rpc {index} is out of range: this run has 6 RPCs (1-6)"


# --- every row of RPC 1's swimlane (tests/fixtures/runs/both-3) --------------------------
# The client's first call (line 79) and its server peer. Each row: its label, the line of
# events.jsonl holding its event (start and end rows: the line their time comes from),
# the lane it is drawn on, the stage that ends there, and the lanes arrows come from (the
# chain's previous step on another thread; the client -> server link from the client's
# batch start to the request call's completion, server -> client from the server's status
# batch to the client's completion). Read off the file by hand: the chains are numbered
# by their future's creation (31, 84, 118, 130, 141); rows sorted by time, start rows
# first on a tie (line 104).
PBC, CAN, C2P = "python_before_core", "core_and_network", "core_to_poller"
P2W, W2D, D2R, R2R = "poller_to_wake", "wake_to_drain", "drain_to_resolution", \
    "resolution_to_resume"
CM, CC, CP, SM, SC, SP = ("client main", "client core", "client poller", "server main",
                          "server core", "server poller")
ROWS: tuple[tuple[str, int, str, str, tuple[str, ...]], ...] = (
    ("#1 created", 31, SM, "", ()),
    ("#1 core_call", 32, SM, PBC, ()),
    ("RPC start", 79, CM, "", ()),
    ("#2 created", 84, CM, PBC, ()),
    ("#2 core_call", 85, CM, PBC, ()),
    ("call arrived", 104, SM, "", ()),
    ("#1 completed", 104, SC, "awaiting_call", (SM, CM)),
    ("#1 returned", 105, SP, C2P, (SC,)),
    ("#1 woken", 107, SM, P2W, (SP,)),
    ("#1 drained", 108, SM, W2D, ()),
    ("#1 resolved", 109, SM, D2R, ()),
    ("#1 resumed", 110, SM, R2R, ()),
    ("#3 created", 118, SM, "", ()),
    ("#3 core_call", 119, SM, PBC, ()),
    ("#4 created", 130, SM, "", ()),
    ("#4 core_call", 131, SM, PBC, ()),
    ("#4 completed", 132, SM, CAN, ()),
    ("#4 returned", 133, SP, C2P, (SM,)),
    ("#4 woken", 135, SM, P2W, (SP,)),
    ("#4 drained", 136, SM, W2D, ()),
    ("#4 resolved", 137, SM, D2R, ()),
    ("#4 resumed", 138, SM, R2R, ()),
    ("#5 created", 141, SM, "", ()),
    ("#5 core_call", 142, SM, PBC, ()),
    ("#3 completed", 143, SM, CAN, ()),
    ("#2 completed", 144, CC, CAN, (CM, SM)),
    ("#2 returned", 145, CP, C2P, (CC,)),
    ("#5 completed", 146, SM, CAN, ()),
    ("#2 woken", 148, CM, P2W, (CP,)),
    ("#2 drained", 149, CM, W2D, ()),
    ("#2 resolved", 150, CM, D2R, ()),
    ("#2 resumed", 151, CM, R2R, ()),
    ("RPC end", 154, CM, "python_after_core", ()),
    ("#3 returned", 166, SP, C2P, (SM,)),
    ("#3 woken", 167, SM, P2W, (SP,)),
    ("#3 drained", 168, SM, W2D, ()),
    ("#3 resolved", 169, SM, D2R, ()),
    ("#3 resumed", 170, SM, R2R, ()),
    ("#5 returned", 172, SP, C2P, (SM,)),
    ("#5 woken", 176, SM, P2W, (SP,)),
    ("#5 drained", 177, SM, W2D, ()),
    ("#5 resolved", 178, SM, D2R, ()),
    ("#5 resumed", 181, SM, R2R, ()),
    ("handler done", 125, SM, "python_after_core", ()),  # the _handle_rpc span's end
)
T0 = 1795573896937263000 + 197596945  # the client's rpc.started (line 79)
# What each step's event is (its title), by step; the request call's core call is the
# server's grpc_server_request_registered_call (line 32).
WHAT = {"created": "loop.create_future", "core_call": "grpc_call_start_batch",
        "completed": "cq_end_op_for_next", "returned": "RETURN_EVENT OP_COMPLETE",
        "woken": "selector woke on the poller fd", "drained": "_handle_events (queue drain)",
        "resolved": "set_result", "resumed": "task resumed"}
EDGE_WHAT = {"RPC start": "client /HelloService/Hello", "call arrived":
             "server /HelloService/Hello", "RPC end": "OK", "handler done": "OK"}
EDGE_STEP_KIND = {"RPC start": "rpc.started", "call arrived": "core.cq_end_op",
                  "RPC end": "rpc.finished", "handler done": "glue.span"}


def _expected_ts(label: str, line: int) -> int:
    event = raw(BOTH_3, line)
    return int(event["ts"] + event["dur"] if label == "handler done" else event["ts"])


def test_the_rows_cite_their_events() -> None:
    roles = {(pid, tid): role for pid, tid, role in raw(BOTH_3, 1)["threads"]}
    lane_of_role = {"main": "main", "poller": "poller", "event_engine": "core"}
    processes = {int(pid): role for pid, role in raw(BOTH_3, 1)["processes"].items()}
    assert raw(BOTH_3, 79)["ts"] == T0
    times = [_expected_ts(label, line) for label, line, *_ in ROWS]
    assert times == sorted(times)
    for label, line, lane, _, _ in ROWS:
        event = raw(BOTH_3, line)
        if label in EDGE_STEP_KIND:
            assert event["kind"] == EDGE_STEP_KIND[label]
            assert lane == f"{processes[event['pid']]} main"
            continue
        role = roles[(event["pid"], event["tid"])]
        assert lane == f"{processes[event['pid']]} {lane_of_role[role]}"
    assert raw(BOTH_3, 125)["name"] == "_handle_rpc"
    created = [line for label, line, *_ in ROWS if label.endswith(" created")]
    assert created == [31, 84, 118, 130, 141]  # #1..#5 by creation time
    assert all(raw(BOTH_3, n)["kind"] == "future.created" for n in created)
    assert [raw(BOTH_3, n)["ts"] for n in created] == sorted(raw(BOTH_3, n)["ts"] for n in created)


def _previous_in_chain(index: int) -> int | None:
    number = ROWS[index][0].split()[0]
    earlier = [i for i in range(index) if ROWS[i][0].split()[0] == number]
    return earlier[-1] if earlier else None


def test_every_row_of_rpc_1(both_3: Run) -> None:
    model = _swimlane(both_3, 1)
    assert (model.number, model.rpc) == (1, both_3.analysis.rpcs[0])
    assert [lane.label for lane in model.lanes] == [CM, CC, CP, SM, SC, SP]
    assert [lane.pid for lane in model.lanes] == [22792] * 3 + [22784] * 3
    assert [(n, r.side, c.kind) for n, r, c in model.chains] == [
        (1, "server", "request_call"), (2, "client", "batch"), (3, "server", "batch"),
        (4, "server", "batch"), (5, "server", "batch")]
    assert len(model.steps) == len(ROWS)
    lanes = [lane.label for lane in model.lanes]
    roles = {(pid, tid): role for pid, tid, role in raw(BOTH_3, 1)["threads"]}
    for index, (step, (label, line, lane, stage, sources)) in enumerate(
            zip(model.steps, ROWS, strict=True)):
        event = raw(BOTH_3, line)
        ts = _expected_ts(label, line)
        assert (step.label, step.ts, step.offset, lanes[step.lane], step.stage,
                sorted(lanes[s] for s in step.sources), step.shared) == (
            label, ts, ts - T0, lane, stage, sorted(sources), False), label
        if label in EDGE_WHAT:
            assert (step.event, step.chain, step.step, step.what, step.thread, step.pid,
                    step.tid) == (None, 0, label, EDGE_WHAT[label], "main", event["pid"],
                                  event["pid"]), label
        else:
            number, name = label.split()
            assert (step.event is not None, step.chain, step.step, step.pid, step.tid,
                    step.thread) == (True, int(number[1:]), name, event["pid"], event["tid"],
                                     roles[(event["pid"], event["tid"])]), label
            assert step.what == ("grpc_server_request_registered_call"
                                 if label == "#1 core_call" else WHAT[name])
        assert step.note == ("a client's call arrived" if label == "#1 completed" else "")
        # The stage's share: from the chain's previous step (the client's first step: from
        # the RPC's start; the end rows: from the last resumed task of that side).
        previous = {"#2 created": 2, "RPC end": 31, "handler done": 42}.get(
            label, _previous_in_chain(index))
        if stage:
            assert previous is not None
            assert step.delta == ts - _expected_ts(*ROWS[previous][:2]), label
        else:
            assert step.delta is None, label


def test_every_arrow_of_rpc_1(both_3: Run) -> None:
    model = _swimlane(both_3, 1)
    arrows = [(model.steps[a].label, model.steps[b].label, kind) for a, b, kind in model.links]
    handoffs = [(ROWS[p][0], ROWS[i][0], "handoff") for i in range(len(ROWS))
                if not ROWS[i][0][0].isalpha() and (p := _previous_in_chain(i)) is not None]
    assert sorted(arrows) == sorted([*handoffs,
                                     ("#2 core_call", "#1 completed", "client -> server"),
                                     ("#5 core_call", "#2 completed", "server -> client")])
    assert len(arrows) == 5 * 7 + 2


def test_the_servers_rpc_shows_the_same_rows(both_3: Run) -> None:
    """RPC 2 is RPC 1's peer: the same rows, offsets from the call's arrival (line 104)."""
    server, client = _swimlane(both_3, 2), _swimlane(both_3, 1)
    arrived = raw(BOTH_3, 104)["ts"]
    assert server.number == 2 and server.rpc is both_3.analysis.rpcs[1]
    assert [(s.label, s.ts, s.offset + arrived - T0) for s in server.steps] == [
        (s.label, s.ts, s.offset) for s in client.steps]
    assert sorted(server.links) == sorted(client.links)


def test_without_the_core_log_only_the_main_lane_has_steps(hooks_only: Run) -> None:
    """hooks-only/client-3: no completion or poller return is seen, all steps are on the
    main thread; the core and poller lanes are drawn all the same, no "other" lane."""
    model = _swimlane(hooks_only, 2)
    assert [lane.label for lane in model.lanes] == [CM, CC, CP]
    assert {model.lanes[s.lane].label for s in model.steps} == {CM}
    assert [s.label for s in model.steps] == [
        "RPC start", "#1 created", "#1 woken", "#1 drained", "#1 resolved", "#1 resumed",
        "RPC end"]
    assert [s.ts for s in model.steps] == [T_HOOKS + ns for ns in (
        454561131, 454696462, 455375508, 455388287, 455398983, 455412152, 455442197)]
    assert all(not s.sources for s in model.steps)  # one thread: no arrow crosses lanes


T_HOOKS = 1795632165000000000  # hooks-only/client-3, lines 13, 15, 16, 17, 18, 19, 20


def test_a_timeline_that_names_no_process(both_3: Run) -> None:
    """Lanes are then labelled with the pid, the lower pid first (no client to put first)."""
    bare = replace(both_3.timeline, processes={})
    model = build_swimlane(both_3.analysis, bare, both_3.analysis.rpcs[0])
    assert [lane.label for lane in model.lanes] == [
        "22784 main", "22784 core", "22784 poller", "22792 main", "22792 core", "22792 poller"]


# Latencies (ns, rpc.finished - rpc.started; a server RPC from its request call's completion
# to its handler's end) of both-3's client calls (oracle.CLIENT_CALLS) and server RPCs:
# RPC 2: line 104 (the request call's completion) to 125 (the _handle_rpc span's end),
# RPC 4: 165 to 202, RPC 6: 256 to 279.
BOTH_3_CLIENT_LATENCIES = (6125038, 2869141, 4759686)
BOTH_3_SERVER_SPANS = ((104, 125), (165, 202), (256, 279))


def test_the_both_3_latencies_are_the_raw_lines() -> None:
    assert tuple(c.latency for c in CLIENT_CALLS) == BOTH_3_CLIENT_LATENCIES
    spans = [raw(BOTH_3, end)["ts"] + raw(BOTH_3, end)["dur"] - raw(BOTH_3, start)["ts"]
             for start, end in BOTH_3_SERVER_SPANS]
    assert spans == [5804359, 2301295, 1050999]


def test_complete_client_rpcs_before_incomplete_ones(both_3: Run, hooks_only: Run) -> None:
    """Both runs' client RPCs together: the typical one is the median of the complete
    ones (both-3's, 4,759,686 ns), not of all six."""
    mixed = Analysis([], [*both_3.analysis.rpcs[::2], *hooks_only.analysis.rpcs])
    assert pick_rpc(mixed) is both_3.analysis.rpcs[4]
    assert pick_rpc(mixed).latency == 4759686


def test_incomplete_client_rpcs_before_server_rpcs(both_3: Run, hooks_only: Run) -> None:
    """No client RPC complete, the server's all complete: still the client side (the
    hooks-only median, 881,066 ns), never a server RPC."""
    mixed = Analysis([], [*hooks_only.analysis.rpcs, *both_3.analysis.rpcs[1::2]])
    assert pick_rpc(mixed) is hooks_only.analysis.rpcs[1]


def test_an_incomplete_server_rpc_is_not_the_typical_one(both_3: Run) -> None:
    """Server RPCs alone, one of them without its chains (hand-made from the fastest,
    1,050,999 ns): the median of the three complete ones, 2,301,295 ns."""
    servers = both_3.analysis.rpcs[1::2]
    stripped = replace(servers[2], chains=[], peer=None)
    assert not stripped.complete
    assert pick_rpc(Analysis([], [*servers, stripped])) is servers[1]


def test_a_shared_wake_is_marked_on_its_row() -> None:
    """shapes-both, RPC 3 (the client's server stream, tests/analysis/test_stream_oracle.py):
    its last chain's wake came before its RETURN_EVENT; the row shows it where it served
    the chain (drain 7, 8,946,745 ns after the RPC's start), marked shared. No other row is."""
    run = Run.load(RUNS / "shapes-both")
    model = _swimlane(run, 3)
    assert [(s.step, s.ts - model.rpc.start) for s in model.steps if s.shared] == [
        ("woken", 8_946_745)]


def test_an_arrow_to_a_step_the_view_does_not_show_is_left_out(both_3: Run) -> None:
    """Hand-made from RPC 1: the client's waiter (future of line 84) cancelled 1 µs before
    the completion the server's status caused (line 144), instead of resolved (line 150).
    That completion came after the cancellation: no step of the chain, so no server ->
    client arrow leads to it; the client -> server arrow stays."""
    future = raw(BOTH_3, 84)["future_id"]
    assert (raw(BOTH_3, 150)["kind"], raw(BOTH_3, 150)["future_id"]) == ("future.resolved",
                                                                         future)
    cancel = FutureCancelled(ts=raw(BOTH_3, 144)["ts"] - 1_000, pid=22792, tid=22792,
                             future_id=future)
    events = sorted([*(e for e in both_3.timeline.events if not (
        isinstance(e, FutureResolved) and e.future_id == future)), cancel], key=lambda e: e.ts)
    timeline = replace(both_3.timeline, events=events)
    analysis = Run(both_3.manifest, timeline).analysis
    model = build_swimlane(analysis, timeline, analysis.rpcs[0])
    assert [s.step for s in model.steps if s.chain == 2] == [
        "created", "core_call", "cancelled", "resumed"]
    assert [(model.steps[a].label, model.steps[b].label, kind) for a, b, kind in model.links
            if kind != "handoff"] == [("#2 core_call", "#1 completed", "client -> server")]
