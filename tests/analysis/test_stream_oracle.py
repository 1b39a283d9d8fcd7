"""The numbers of one streaming RPC, against values read off its raw events by hand.

The run is ``tests/fixtures/runs/shapes-both`` (a real capture: ``toygrpc trace both
--method all --rpcs 1 --no-python``). The RPC is the client's ``HelloServerStream``: seven
chains, which overlap (the status batch waits the whole call long). Every number below
was read off the raw events of ``events.jsonl`` (``grep`` by future id, tag and drain
id; offsets in ns from the client's ``rpc.started`` at 1795614725404536611), then put
through the rules docs/summary.md states, by hand:

- a step's stage is fixed by the step: ``core_call`` ends python_before_core,
  ``completed`` core_and_network, ``returned`` core_to_poller, ``woken``
  poller_to_wake, ``drained`` wake_to_drain, ``resolved`` drain_to_resolution,
  ``resumed`` resolution_to_resume;
- a wake before the chain's RETURN_EVENT served an earlier completion: it is shared,
  placed at the drain that reached the chain;
- the RPC's latency is divided so that every instant counts once, for the most
  advanced chain under way at that instant.

None of it is recomputed with the code under test.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from toygrpc.analysis.chains import HOOK_SPANS, Analysis, Rpc, analyze, cross_process_links
from toygrpc.analysis.stages import hook_span_statistics, stage_samples
from toygrpc.analysis.swimlane import build_swimlane, lane_kind, pick_rpc, rpc_number
from toygrpc.errors import UsageError
from toygrpc.model.timeline import Timeline

RUN = Path(__file__).resolve().parents[1] / "fixtures" / "runs" / "shapes-both"
T0 = 1795614725404536611  # the client's rpc.started of HelloServerStream

PBC, CAN, C2P = "python_before_core", "core_and_network", "core_to_poller"
P2W, W2D, D2R, R2R = "poller_to_wake", "wake_to_drain", "drain_to_resolution", \
    "resolution_to_resume"

# Per chain, in creation order: (step, when the chain reached it, its stage, its share).
# The first chain's ``created`` counts from the RPC's start (Python before the core);
# the later chains are made while an earlier one (the status batch) is under way.
CHAINS: list[list[tuple[str, int, str, int | None]]] = [
    # 1: SEND_INITIAL_METADATA + SEND_MESSAGE + SEND_CLOSE_FROM_CLIENT (future ...546800);
    # the core completed it inline on the main thread, the poller returned it 3.2 ms later
    [("created", 281_326, PBC, 281_326), ("core_call", 291_389, PBC, 10_063),
     ("completed", 483_389, CAN, 192_000), ("returned", 3_696_389, C2P, 3_213_000),
     ("woken", 3_763_015, P2W, 66_626), ("drained", 3_780_030, W2D, 17_015),
     ("resolved", 3_791_107, D2R, 11_077), ("resumed", 3_810_515, R2R, 19_408)],
    # 2: RECV_STATUS_ON_CLIENT (...547088): made early, completed at the very end
    [("created", 586_739, "", None), ("core_call", 602_389, PBC, 15_650),
     ("completed", 8_550_389, CAN, 7_948_000), ("returned", 8_569_389, C2P, 19_000),
     ("woken", 8_589_676, P2W, 20_287), ("drained", 8_600_062, W2D, 10_386),
     ("resolved", 8_610_988, D2R, 10_926), ("resumed", 8_899_695, R2R, 288_707)],
    # 3: RECV_INITIAL_METADATA (...547376), completed on a core thread
    [("created", 3_849_423, "", None), ("core_call", 3_858_389, PBC, 8_966),
     ("completed", 7_411_389, CAN, 3_553_000), ("returned", 7_464_389, C2P, 53_000),
     ("woken", 7_494_784, P2W, 30_395), ("drained", 7_508_604, W2D, 13_820),
     ("resolved", 7_517_798, D2R, 9_194), ("resumed", 7_536_075, R2R, 18_277)],
    # 4-7: RECV_MESSAGE, one per streamed message
    [("created", 7_597_386, "", None), ("core_call", 7_605_389, PBC, 8_003),
     ("completed", 7_621_389, CAN, 16_000), ("returned", 7_699_389, C2P, 78_000),
     ("woken", 7_876_469, P2W, 177_080), ("drained", 7_886_114, W2D, 9_645),
     ("resolved", 7_892_473, D2R, 6_359), ("resumed", 7_906_274, R2R, 13_801)],
    [("created", 7_947_945, "", None), ("core_call", 7_954_389, PBC, 6_444),
     ("completed", 8_194_389, CAN, 240_000), ("returned", 8_210_389, C2P, 16_000),
     ("woken", 8_245_005, P2W, 34_616), ("drained", 8_252_517, W2D, 7_512),
     ("resolved", 8_257_674, D2R, 5_157), ("resumed", 8_268_250, R2R, 10_576)],
    # 6: resolved in drain 6 together with the status batch (chain 2)
    [("created", 8_298_014, "", None), ("core_call", 8_308_389, PBC, 10_375),
     ("completed", 8_320_389, CAN, 12_000), ("returned", 8_390_389, C2P, 70_000),
     ("woken", 8_589_676, P2W, 199_287), ("drained", 8_600_062, W2D, 10_386),
     ("resolved", 8_604_959, D2R, 4_897), ("resumed", 8_628_904, R2R, 23_945)],
    # 7: the last wake (8_625_099) came before its RETURN_EVENT (8_871_389): shared,
    # served at drain 7 (8_946_745); the wait until then is the poller's handoff
    [("created", 8_663_736, "", None), ("core_call", 8_672_389, PBC, 8_653),
     ("completed", 8_682_389, CAN, 10_000), ("returned", 8_871_389, C2P, 189_000),
     ("woken", 8_946_745, P2W, 75_356), ("drained", 8_946_745, W2D, 0),
     ("resolved", 8_951_963, D2R, 5_218), ("resumed", 8_970_671, R2R, 18_708)],
]
# The RPC's latency (the await returned with the last message's resumption, after the
# hooks' rpc.finished at 8_937_111) divided by the sweep, interval by interval:
#   python_before_core: [0, 281_326] before any chain, and each later chain's
#     created -> core_call while only the status batch waited (8_966 + 8_003 + 6_444
#     + 10_375) and the first's (10_063): 325_177
#   core_and_network: the first batch's 192_000, then the status batch alone waiting
#     between the others' chains (38_908 + 61_311 + 41_671 + 29_764), chain 3 and 2
#     together (3_553_000), chains 4, 5, 6 (16_000 + 240_000 + 12_000): 4_184_654
#   core_to_poller: 3_213_000 + 53_000 + 78_000 + 16_000 + 70_000 = 3_430_000
#     (chain 7's 189_000 and chain 2's 19_000 lie under more advanced stages)
#   poller_to_wake: 66_626 + 30_395 + 177_080 + 34_616 + 199_287 (chain 6's, over chain
#     2's core stages) + 47_050 (chain 7's, once chain 2 resumed) = 555_054
#   wake_to_drain: 17_015 + 13_820 + 9_645 + 7_512 + 10_386 = 58_378
#   drain_to_resolution: 11_077 + 9_194 + 6_359 + 5_157 + 4_897 + 5_218 = 41_902
#   resolution_to_resume: 19_408 + 18_277 + 13_801 + 10_576 + 294_736 (from chain 6's
#     set_result to chain 2's resumption: chain 7 ran under it) + 18_708 = 375_506
#   python_after_core: 0 (the RPC ends at its last chain's resumption)
RPC_STAGES = {
    PBC: 325_177, CAN: 4_184_654, C2P: 3_430_000, P2W: 555_054, W2D: 58_378, D2R: 41_902,
    R2R: 375_506, "python_after_core": 0,
}
LATENCY = 8_970_671


@pytest.fixture(scope="module")
def analysis() -> Analysis:
    return analyze(Timeline.load(RUN))


def server_stream(analysis: Analysis) -> Rpc:
    (rpc,) = [r for r in analysis.rpcs
              if r.side == "client" and r.method.endswith("/HelloServerStream")]
    return rpc


def test_every_step_of_every_chain_has_its_stage_and_share(analysis: Analysis) -> None:
    """Kills "stage labels of completed/returned swapped" (chains.STAGES): each
    ``completed`` step ends core_and_network and each ``returned`` core_to_poller, and
    the shares are the raw events' differences."""
    rpc = server_stream(analysis)
    assert rpc.start == T0 and rpc.latency == LATENCY
    got: list[list[tuple[str, int, str, int | None]]] = [[] for _ in rpc.chains]
    for number, step in rpc.steps():
        got[number - 1].append((step.name, step.at - T0, step.stage, step.delta))
    assert got == CHAINS
    shared = [(number, step.name) for number, step in rpc.steps() if step.shared]
    assert shared == [(7, "woken")]


def test_each_chains_own_stages_are_its_shares_from_the_core_call_on(
        analysis: Analysis) -> None:
    rpc = server_stream(analysis)
    for chain, expected in zip(rpc.chains, CHAINS, strict=True):
        assert chain.outcome == "ok"
        assert chain.stages() == {stage: share for name, _, stage, share in expected
                                  if name not in ("created", "core_call")}


def test_the_rpcs_latency_divides_as_worked_out_by_hand(analysis: Analysis) -> None:
    """The sweep over overlapping chains (``Rpc.stages``) against the hand-made one; the
    hand totals add up to the latency (a check of the arithmetic above, not of the code)."""
    assert sum(RPC_STAGES.values()) == LATENCY
    rpc = server_stream(analysis)
    assert rpc.stages() == RPC_STAGES
    assert rpc.after_core() == 0


def test_the_reply_link_goes_from_the_servers_status_batch_to_the_clients_status_batch(
        analysis: Analysis) -> None:
    """Kills "the reply link of a streaming call to the first chain instead of the last":
    the server's status is sent by its last batch (SEND_STATUS_FROM_SERVER, started at
    8_463_389); it completes the client's RECV_STATUS_ON_CLIENT batch, the client's
    second chain (cq_end_op at 8_550_389). The server's first batch (RECV_CLOSE_ON_SERVER,
    3_375_389) and the client's first completion (483_389) are not it. The request link:
    the client's first batch start (291_389) -> the server's request-call completion
    (465_389)."""
    rpc = server_stream(analysis)
    links = [(label, source.ts - T0, target.ts - T0, source.pid, target.pid)
             for source, target, label in cross_process_links(rpc)]
    client, server = 29951, 29943
    assert links == [("client -> server", 291_389, 465_389, client, server),
                     ("server -> client", 8_463_389, 8_550_389, server, client)]


def test_the_rpcs_samples_are_its_chains_shares_and_its_python_time(
        analysis: Analysis) -> None:
    """The stage table's samples hold one value per complete chain per stage, and each
    complete client RPC's Python before and after the core (not the server's)."""
    samples = stage_samples(analysis)
    for expected in CHAINS:
        for name, _, stage, share in expected[2:]:
            assert share in samples[stage], (name, stage, share)
    assert RPC_STAGES[PBC] in samples[PBC] and 0 in samples["python_after_core"]
    client = [r for r in analysis.rpcs if r.side == "client" and r.complete]
    server = [r for r in analysis.rpcs if r.side == "server" and r.complete]
    assert len(client) == len(server) == 4
    assert sorted(samples["python_after_core"]) == sorted(r.after_core() for r in client)
    # a chain's own stages run from its core call on: Python before the core is the RPC's
    assert len(samples[PBC]) == len(client)
    batches = [c for c in analysis.chains if c.complete and c.kind == "batch"]
    requests = [c for c in analysis.chains if c.complete and c.kind == "request_call"]
    assert len(samples[CAN]) == len(batches) and len(samples["awaiting_call"]) == len(requests)


# The client's unary Hello of the same run, from its rpc.started at 1795614725392849655:
# waiter created 238_023, batch start 251_345, cq_end_op 10_025_345 (a core thread),
# RETURN_EVENT 10_130_345, wake 10_193_403, drain 11_176_399, set_result 11_193_194,
# task resumed 11_240_845, rpc.finished 11_398_969. One chain: no overlap, each stage is
# the difference of two neighbouring events.
UNARY_START = 1795614725392849655
UNARY_STAGES = {
    PBC: 251_345, CAN: 9_774_000, C2P: 105_000, P2W: 63_058, W2D: 982_996, D2R: 16_795,
    R2R: 47_651, "python_after_core": 158_124,
}
UNARY_HOOK_SPANS = {"before_waiter": 238_023, "waiter": 10_955_171,
                    "resolution_to_resume": 47_651, "after_resume": 158_124,
                    "latency": 11_398_969}


def test_a_unary_rpcs_stages_and_hook_spans(analysis: Analysis) -> None:
    (rpc,) = [r for r in analysis.rpcs if r.side == "client" and r.method.endswith("/Hello")]
    assert rpc.start == UNARY_START and rpc.latency == 11_398_969
    assert rpc.stages() == UNARY_STAGES
    assert rpc.after_core() == 158_124
    assert rpc.hook_spans() == UNARY_HOOK_SPANS
    # spans need one chain, resolved and resumed, on the client: the streams have several
    assert server_stream(analysis).hook_spans() is None
    assert all(r.hook_spans() is None for r in analysis.rpcs if r.side == "server")


def test_hook_span_statistics_have_the_one_unary_rpcs_spans(analysis: Analysis) -> None:
    stats = {s.name: s for s in hook_span_statistics(analysis)}
    assert list(stats) == list(HOOK_SPANS)
    for name, value in UNARY_HOOK_SPANS.items():
        s = stats[name]
        assert (s.count, s.p50, s.p90, s.p99, s.max) == (1, value, value, value, value), name
        assert s.definition == HOOK_SPANS[name]


def test_the_swimlanes_rows_carry_the_same_stages_and_shares(analysis: Analysis) -> None:
    """The swimlane (what the terminal, the plots and ``show --json`` draw) of the
    streaming RPC: its client rows hold the hand-made stages and shares, on the lane of
    the thread each event ran on, and the arrows include the reply link."""
    timeline = Timeline.load(RUN)
    rpc = server_stream(analysis)
    model = build_swimlane(analysis, timeline, rpc)
    client_rows = [s for s in model.steps if s.pid == rpc.pid and s.chain]
    expected = sorted((name, at, stage, share) for chain in CHAINS
                      for name, at, stage, share in chain)
    assert sorted((s.step, s.ts - T0, s.stage, s.delta) for s in client_rows) == expected
    assert [s.ts for s in model.steps] == sorted(s.ts for s in model.steps)
    lanes = {(s.step, s.ts - T0): model.lanes[s.lane].kind for s in client_rows}
    assert lanes[("completed", 483_389)] == "main"  # completed inline
    assert lanes[("completed", 7_411_389)] == "core"  # on an event_engine thread
    assert lanes[("returned", 3_696_389)] == "poller"
    assert lanes[("resumed", 8_970_671)] == "main"
    (end,) = [s for s in model.steps if s.step == "RPC end"]
    assert (end.ts - T0, end.stage, end.delta, end.what) == (LATENCY, "python_after_core", 0,
                                                             "OK")
    (start,) = [s for s in model.steps if s.step == "RPC start"]
    assert start.offset == 0 and start.what == "client /HelloService/HelloServerStream"
    arrows = {(label, model.steps[a].ts - T0, model.steps[b].ts - T0)
              for a, b, label in model.links if label != "handoff"}
    assert arrows == {("client -> server", 291_389, 465_389),
                      ("server -> client", 8_463_389, 8_550_389)}
    # one handoff arrow per consecutive pair of unshared steps of each chain
    client_handoffs = [(a, b) for a, b, label in model.links if label == "handoff"
                       and model.steps[a].pid == rpc.pid]
    assert len(client_handoffs) == sum(len(chain) - 1 for chain in CHAINS) - 1  # 7's wake
    assert model.number == 3  # the RPC's place in the run


def test_the_typical_rpc_is_the_median_latency_client_rpc(analysis: Analysis) -> None:
    """Client latencies of the run (ns): ClientStream 4_952_578, ServerStream 8_970_671,
    Bidi 10_137_350, Hello 11_398_969: the lower median is the server stream. Without
    client RPCs, the server's: 4_462_937, 7_913_769, 8_358_334, 10_429_833."""
    assert pick_rpc(analysis) is server_stream(analysis)
    assert pick_rpc(analysis, 1) is analysis.rpcs[0] and pick_rpc(analysis, 8) is analysis.rpcs[7]
    assert rpc_number(analysis, analysis.rpcs[4]) == 5
    servers = Analysis(analysis.chains, [r for r in analysis.rpcs if r.side == "server"])
    assert pick_rpc(servers).latency == 7_913_769
    for index, words in ((0, "--rpc 0 is out of range: this run has 8 RPCs (1-8)"),
                         (9, "--rpc 9 is out of range: this run has 8 RPCs (1-8)")):
        with pytest.raises(UsageError, match=re.escape(words)):
            pick_rpc(analysis, index)
    with pytest.raises(UsageError, match="this run has no RPCs to show"):
        pick_rpc(Analysis([], []))


@pytest.mark.parametrize(("role", "lane"), [
    ("main", "main"), ("poller", "poller"), ("python worker", "other"), ("Thread-3", "other"),
    ("event_engine", "core"), ("grpc_global_tim", "core"), ("core", "core"),
])
def test_lane_kinds(role: str, lane: str) -> None:
    assert lane_kind(role) == lane


def test_a_program_stopped_mid_stream(analysis: Analysis) -> None:
    """The same run cut at 7_450_000 ns into the stream, as if the program had been
    stopped there (its events simply end). The client's last event before the cut is
    chain 3's cq_end_op at 7_411_389: the unfinished RPC ends there. Chain 1 is whole;
    chain 2 (the status batch) waits in core_and_network from its core call on, chain 3
    in core_to_poller from its completion. Dividing [0, 7_411_389] by hand as above:
    python_before_core 281_326 + 10_063 + 8_966, core_and_network 192_000 + 38_908 +
    3_553_000, chain 1's other stages as before."""
    timeline = Timeline.load(RUN)
    timeline.events = [e for e in timeline.events if e.ts <= T0 + 7_450_000]
    cut = analyze(timeline)
    (rpc,) = [r for r in cut.rpcs
              if r.side == "client" and r.method.endswith("/HelloServerStream")]
    assert rpc.status == "unfinished" and rpc.end - T0 == 7_411_389
    assert [c.outcome for c in rpc.chains] == ["ok", "in_flight", "in_flight"]
    assert [c.stopped for c in rpc.chains] == [False, True, True]
    assert [c.next_step for c in rpc.chains] == ["", "completed", "returned"]
    assert [c.pending_stage() for c in rpc.chains] == ["", CAN, C2P]
    assert [c.missing for c in rpc.chains] == ["", "", ""]
    assert rpc.end_reason == (
        "chain 2: in flight: still waiting for its completed when the program stopped; "
        "chain 3: in flight: still waiting for its returned when the program stopped")
    assert rpc.chains[1].pieces()[-1] == (T0 + 602_389, 1 << 62, CAN)
    assert rpc.stages() == {PBC: 300_355, CAN: 3_783_908, C2P: 3_213_000, P2W: 66_626,
                            W2D: 17_015, D2R: 11_077, R2R: 19_408, "python_after_core": 0}
    assert sum(rpc.stages().values()) == 7_411_389  # the hand arithmetic adds up


def test_hook_spans_need_the_resumption(analysis: Analysis) -> None:
    """The unary RPC cut between its set_result (+11_193_194) and its task's resumption
    (+11_240_845): resolved, not resumed, so no hook spans."""
    timeline = Timeline.load(RUN)
    timeline.events = [e for e in timeline.events if e.ts <= UNARY_START + 11_200_000]
    (rpc,) = [r for r in analyze(timeline).rpcs
              if r.side == "client" and r.method.endswith("/Hello")]
    assert rpc.chains[0].resolved is not None and rpc.chains[0].resumed is None
    assert rpc.hook_spans() is None


def test_rpcs_carry_their_link_status_and_details(analysis: Analysis) -> None:
    """Read off the raw events: the client's rpc.started of the stream carries link
    29951-2, which the server's _find_method_handler span names; every status OK, no
    details. The run's arrows: one handoff per pair of consecutive unshared steps."""
    rpc = server_stream(analysis)
    assert rpc.link == "29951-2" and rpc.peer is not None and rpc.peer.link == "29951-2"
    assert rpc.peer.side == "server" and rpc.peer.status == "OK" and rpc.peer.details == ""
    assert sorted(r.link for r in analysis.rpcs) == sorted(
        ["29951-1", "29951-2", "29951-3", "29951-4"] * 2)
    labels = [label for _, _, label in analysis.all_links()]
    assert labels.count("handoff") == sum(len(c.links()) for c in analysis.chains)
    assert labels.count("client -> server") == labels.count("server -> client") == 4
    cut = Timeline.load(RUN)
    cut.events = [e for e in cut.events if e.ts <= T0 + 7_450_000]
    (stopped,) = [r for r in analyze(cut).rpcs
                  if r.side == "client" and r.method.endswith("/HelloServerStream")]
    assert stopped.link == "29951-2" and stopped.status == "unfinished"


def test_a_cancelled_call_keeps_its_status_details() -> None:
    """cancel-both: the client's rpc.finished says CANCELLED with the details
    "Locally cancelled by application!"; the server's handler ended CANCELLED too."""
    cancelled = analyze(Timeline.load(RUN.parent / "cancel-both"))
    client = next(r for r in cancelled.rpcs if r.side == "client")
    server = next(r for r in cancelled.rpcs if r.side == "server")
    assert (client.status, client.details) == ("CANCELLED", "Locally cancelled by application!")
    assert server.status == "CANCELLED"


def test_the_rpcs_steps_keep_each_steps_note(analysis: Analysis) -> None:
    """The notes ride along with the RPC's steps: of the stream's 56 steps only chain 7's
    shared wake has one (its wake came before its RETURN_EVENT); a ``created`` step
    counted from the RPC's start keeps its own empty note."""
    noted = [(number, step.name, step.note) for number, step in server_stream(analysis).steps()
             if step.note != ""]
    assert noted == [(7, "woken", "shared: the loop was already awake for an earlier "
                                  "completion; the wait is until it got to this one")]


def test_a_chain_made_at_the_rpcs_start_counts_zero_python_before_it(
        analysis: Analysis) -> None:
    """The unary Hello's waiter came 238_023 ns after the RPC started; were the RPC to start
    at that very instant, its ``created`` step still ends python_before_core, with 0 ns."""
    (rpc,) = [r for r in analysis.rpcs if r.side == "client" and r.method.endswith("/Hello")]
    at_waiter = dataclasses.replace(rpc, start=rpc.start + 238_023)
    (number, created), *_ = at_waiter.steps()
    assert (number, created.name, created.stage, created.delta) == (1, "created", PBC, 0)


def test_a_program_stopped_between_the_poller_and_the_loop(analysis: Analysis) -> None:
    """The run cut at 7_470_000 ns into the stream: chain 3's RETURN_EVENT (7_464_389) is
    in, its wake (7_494_784) and drain (7_508_604) are not, and no drain of the client ran
    at or after that return: the chain waits in poller_to_wake, with no drain and no wake
    of its own."""
    timeline = Timeline.load(RUN)
    timeline.events = [e for e in timeline.events if e.ts <= T0 + 7_470_000]
    (rpc,) = [r for r in analyze(timeline).rpcs
              if r.side == "client" and r.method.endswith("/HelloServerStream")]
    third = rpc.chains[2]
    assert third.returned is not None and third.returned.ts - T0 == 7_464_389
    assert (third.outcome, third.next_step, third.pending_stage()) == ("in_flight", "woken", P2W)
    assert third.drain is None and third.woken is None
    assert third.pieces()[-1] == (T0 + 7_464_389, 1 << 62, P2W)


@pytest.mark.parametrize(("cut", "end", "outcomes"), [
    (238_023, 238_023, ["in_flight"]),  # line 84, the waiter: its batch not yet started
    (100_000, 60_345, []),  # line 80, grpc_channel_create_registered_call: no waiter yet
])
def test_a_unary_rpc_stopped_before_the_core_is_all_python_before_the_core(
        cut: int, end: int, outcomes: list[str]) -> None:
    """The unary Hello (rpc.started at line 79) cut at its waiter's creation, and before
    it: the client's last event ends the unfinished RPC, and all of its time is Python
    before the core (a chain is still to come, or has just been made and waits for its
    core call), none after it. (The chain made at the very end, and the RPC without a
    chain, were counted as python_after_core before: the rule docs/summary.md states is
    "python_before_core if a chain of the RPC is still to come".)"""
    timeline = Timeline.load(RUN)
    timeline.events = [e for e in timeline.events if e.ts <= UNARY_START + cut]
    (rpc,) = [r for r in analyze(timeline).rpcs if r.side == "client"]
    assert (rpc.status, rpc.latency, [c.outcome for c in rpc.chains]) == (
        "unfinished", end, outcomes)
    assert rpc.timeline() == [(UNARY_START, UNARY_START + end, PBC)]
    assert rpc.stages() == {PBC: end, CAN: 0, C2P: 0, P2W: 0, W2D: 0, D2R: 0, R2R: 0,
                            "python_after_core": 0}


def test_a_unary_rpc_stopped_after_its_chain_is_python_after_the_core() -> None:
    """The unary Hello cut at 11_300_000 ns: its chain is whole (the task resumed at
    11_240_845, line 152), its rpc.finished (line 155, 11_398_969) is not in, so the
    unfinished RPC ends at the client's last event (line 154, grpc_metadata_array_destroy at
    11_278_345). Its stages are the whole RPC's, the last 37_500 ns Python after the core
    (no chain is to come)."""
    timeline = Timeline.load(RUN)
    timeline.events = [e for e in timeline.events if e.ts <= UNARY_START + 11_300_000]
    (rpc,) = [r for r in analyze(timeline).rpcs
              if r.side == "client" and r.method.endswith("/Hello")]
    assert (rpc.status, rpc.latency) == ("unfinished", 11_278_345)
    assert rpc.stages() == {**UNARY_STAGES, "python_after_core": 37_500}
