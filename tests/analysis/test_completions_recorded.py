"""toygrpc.analysis.completions on committed real captures, against sites read off their
``events.jsonl`` by hand (tests/analysis/test_completions.py checks live captures).

For each completion (``core.cq_end_op``) of tests/fixtures/runs/both-3, the thread that
logged it and, on the main thread, the core call it lies in: the last ``core.api``,
``core.start_batch`` or ``core.request_call`` the main thread logged before it, read
off the file by walking back from the completion's line (no Python event of the hooks
lies between any of them). Lines are 1-based, line 1 the header;
``test_every_cited_line_holds_its_event`` checks each one."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest

from tests.analysis.recorded import BOTH_3, HOOKS_ONLY_CLIENT, raw, raw_events
from tests.render.oracle import CLIENT_BATCH_OPS
from toygrpc.analysis.chains import analyze
from toygrpc.analysis.completions import (
    STAMP_SLACK_NS,
    CompletionSite,
    completion_sites,
    label,
    tally,
)
from toygrpc.analysis.run import Run
from toygrpc.model.events import Event, FutureCreated, ThreadStarted
from toygrpc.model.timeline import Timeline

SERVER, CLIENT = 22784, 22792
CLIENT_BATCH = "+".join(CLIENT_BATCH_OPS)
SEND_STATUS = "SEND_INITIAL_METADATA+SEND_MESSAGE+SEND_STATUS_FROM_SERVER"
OWN = "inline in its own call"
# (completion line, label of its chain, thread, line of the core call it lies in or
# None, line of the core call of the chain that call belongs to or None, tally's where).
# The chains' labels: their batch's ops at their core.start_batch line, or the kind.
SITES = (
    (104, "request_call", "core", None, None, "core thread"),  # request_call of line 32
    (132, "RECV_MESSAGE", "main", 131, 131, OWN),
    (143, "RECV_CLOSE_ON_SERVER", "main", 142, 142, "inline in " + SEND_STATUS),  # batch 119
    (144, CLIENT_BATCH, "core", None, None, "core thread"),  # client batch of line 85
    (146, SEND_STATUS, "main", 142, 142, OWN),
    (165, "request_call", "core", None, None, "core thread"),  # line 123
    (209, "RECV_MESSAGE", "main", 208, 208, OWN),
    (220, "RECV_CLOSE_ON_SERVER", "main", 219, 219, "inline in " + SEND_STATUS),  # batch 196
    (222, CLIENT_BATCH, "core", None, None, "core thread"),  # line 162
    (224, SEND_STATUS, "main", 219, 219, OWN),
    (256, "request_call", "core", None, None, "core thread"),  # line 200
    (286, "RECV_MESSAGE", "main", 285, 285, OWN),
    (297, "RECV_CLOSE_ON_SERVER", "main", 296, 296, "inline in " + SEND_STATUS),  # batch 273
    (298, SEND_STATUS, "main", 296, 296, OWN),
    (301, CLIENT_BATCH, "core", None, None, "core thread"),  # line 252
    # The nine request calls still posted at shutdown fail (ok false) inside
    # grpc_server_shutdown_and_notify (line 337), the notify chain's own core call.
    *((line, "request_call", "main", 337, 337, "inline in notify") for line in range(338, 347)),
    (355, "notify", "core", None, None, "core thread"),
)
CORE_CALLS = {"core.api", "core.start_batch", "core.request_call"}


def _line_of(run_dir: Path, event: Event | None) -> int | None:
    """The line of ``events.jsonl`` holding ``event`` (by kind, process, thread and time)."""
    if event is None:
        return None
    (line,) = [n for n, e in enumerate(raw_events(run_dir), 2)
               if (e["kind"], e["pid"], e["tid"], e["ts"]) == (event.kind, event.pid, event.tid,
                                                               event.ts)]
    return line


Row = tuple[int | None, str, str, int | None, int | None, str]


def _as_rows(run_dir: Path, sites: list[CompletionSite]) -> list[Row]:
    rows: list[Row] = []
    for site in sites:
        (place,) = tally([site])
        inside_chain = site.inside_chain.core_call if site.inside_chain is not None else None
        rows.append((_line_of(run_dir, site.chain.completed), label(site.chain), site.thread,
                     _line_of(run_dir, site.inside), _line_of(run_dir, inside_chain), place[1]))
    return rows


def test_every_cited_line_holds_its_event() -> None:
    threads = {(pid, tid): role for pid, tid, role in raw(BOTH_3, 1)["threads"]}
    completions = [n for n, e in enumerate(raw_events(BOTH_3), 2) if e["kind"] == "core.cq_end_op"]
    assert completions == [row[0] for row in SITES]
    for line, _, thread, inside, _, _ in SITES:
        done = raw(BOTH_3, line)
        role = threads[(done["pid"], done["tid"])]
        assert {"main": role == "main", "core": role == "event_engine"}[thread], line
        if inside is None:
            continue
        call = raw(BOTH_3, inside)
        assert call["kind"] in CORE_CALLS and (call["pid"], call["tid"]) == (SERVER, SERVER)
        between = [raw(BOTH_3, n) for n in range(inside + 1, line)]
        assert not [e for e in between if e["tid"] == SERVER and e["kind"] in CORE_CALLS]
        assert not [e for e in between if e["tid"] == SERVER and not e["kind"].startswith("core.")]
    for line, ops in ((131, "RECV_MESSAGE"), (142, SEND_STATUS), (119, "RECV_CLOSE_ON_SERVER")):
        assert "+".join(raw(BOTH_3, line)["ops"]) == ops
    assert raw(BOTH_3, 143)["tag"] == raw(BOTH_3, 119)["tag"]  # 142's batch has another tag
    assert raw(BOTH_3, 143)["tag"] != raw(BOTH_3, 142)["tag"] == raw(BOTH_3, 146)["tag"]
    assert raw(BOTH_3, 337)["name"] == "grpc_server_shutdown_and_notify"
    assert all(raw(BOTH_3, n)["ok"] is False for n in range(338, 347))


def test_the_site_of_every_completion(both_3: Run) -> None:
    sites = completion_sites(both_3.timeline, both_3.analysis)
    assert sorted(_as_rows(BOTH_3, sites), key=lambda row: row[0] or 0) == list(SITES)
    # in the chains' order: every chain of this run has its completion
    assert [s.chain for s in sites] == both_3.analysis.chains


def test_inline_and_own_call(both_3: Run) -> None:
    by_line = {_line_of(BOTH_3, s.chain.completed): s for s in
               completion_sites(both_3.timeline, both_3.analysis)}
    assert [(by_line[n].inline, by_line[n].inline_in_own_call) for n in (104, 132, 143, 338)] == [
        (False, False), (True, True), (True, False), (True, False)]


def test_the_tally_of_the_run(both_3: Run) -> None:
    assert tally(completion_sites(both_3.timeline, both_3.analysis)) == Counter({
        (CLIENT_BATCH, "core thread"): 3,
        ("request_call", "core thread"): 3,
        ("notify", "core thread"): 1,
        ("RECV_MESSAGE", OWN): 3,
        ("RECV_CLOSE_ON_SERVER", "inline in " + SEND_STATUS): 3,
        (SEND_STATUS, OWN): 3,
        ("request_call", "inline in notify"): 9,
    })


def test_a_completion_inside_a_core_call_of_no_chain() -> None:
    """traces/samples/failure: the client's batch (line 141) completes (line 186) inside
    ``grpc_call_cancel_with_status`` (line 185), which belongs to no chain."""
    failure = Path(__file__).resolve().parents[2] / "traces" / "samples" / "failure"
    assert raw(failure, 185)["name"] == "grpc_call_cancel_with_status"
    assert (raw(failure, 186)["kind"], raw(failure, 186)["tid"], raw(failure, 186)["tag"]) == (
        "core.cq_end_op", 7795, raw(failure, 141)["tag"])
    run = Run.load(failure)
    (site,) = [s for s in completion_sites(run.timeline, run.analysis)
               if _line_of(failure, s.chain.completed) == 186]
    assert (site.thread, _line_of(failure, site.inside), site.inside_chain) == ("main", 185, None)
    assert _line_of(failure, site.chain.core_call) == 141
    assert (site.inline, site.inline_in_own_call) == (True, False)
    assert tally([site]) == Counter({(CLIENT_BATCH, "inline in grpc_call_cancel_with_status"): 1})


def test_without_the_core_log_no_completion_is_seen() -> None:
    """tests/fixtures/hooks-only/client-3 (hooks alone): no chain has a completion, no
    site; a batch is labelled with the ops the Python glue names."""
    run = Run.load(HOOKS_ONLY_CLIENT)
    assert completion_sites(run.timeline, run.analysis) == []
    assert {label(c) for c in run.analysis.chains} == {
        "SendInitialMetadataOperation+SendMessageOperation+SendCloseFromClientOperation+"
        "ReceiveInitialMetadataOperation+ReceiveMessageOperation+ReceiveStatusOnClientOperation"}
    assert tally([]) == Counter()


def _with(run: Run, *added: Event) -> Run:
    """The run with hand-made events added at their times (after those of the same time)."""
    events = sorted([*run.timeline.events, *added], key=lambda e: e.ts)
    return Run(run.manifest, replace(run.timeline, events=events))


@pytest.mark.parametrize(("after_call_ns", "inside"), [
    (STAMP_SLACK_NS, 131), (STAMP_SLACK_NS + 1, None), (27_000, None)])
def test_a_python_event_between_the_call_and_the_completion(
        both_3: Run, after_call_ns: int, inside: int | None) -> None:
    """A hook event on the main thread between line 131 (batch started, 138859000) and
    its completion (line 132, 28 µs later): the core stamps whole µs, so an event up to
    2 µs after the stamp may have come before the call; later, the completion is not
    inside the call."""
    call_ts = raw(BOTH_3, 131)["ts"]
    assert raw(BOTH_3, 132)["ts"] - call_ts == 28_000
    hook = FutureCreated(ts=call_ts + after_call_ns, pid=SERVER, tid=SERVER, future_id=1,
                         caller="hand-made", in_batch=0, task_id=0)
    run = _with(both_3, hook)
    (site,) = [s for s in completion_sites(run.timeline, run.analysis)
               if _line_of(BOTH_3, s.chain.completed) == 132]
    assert (site.thread, _line_of(BOTH_3, site.inside)) == ("main", inside)
    if inside is None:
        assert site.inside_chain is None and not site.inline
        assert tally([site]) == Counter({("RECV_MESSAGE", "main, outside a core call"): 1})


def test_a_completion_logged_by_the_poller_thread(both_3: Run) -> None:
    """Were the client's EventEngine thread 22795 (it completes the first client batch,
    line 144) the poller, the site would say poller (hand-made thread.started)."""
    assert raw(BOTH_3, 144)["tid"] == 22795
    poller = ThreadStarted(ts=raw(BOTH_3, 2)["ts"], pid=CLIENT, tid=22795,
                           name="Thread-9 (_poll_wrapper)", native_id=22795)
    run = _with(both_3, poller)
    sites = {_line_of(BOTH_3, s.chain.completed): s for s in
             completion_sites(run.timeline, run.analysis)}
    assert (sites[144].thread, sites[144].inside) == ("poller", None)
    assert (sites[222].thread, sites[301].thread) == ("core", "core")
    assert tally([sites[144]]) == Counter({(CLIENT_BATCH, "poller"): 1})
    # A poller of that thread id in the other process makes no thread of this one a poller.
    other = ThreadStarted(ts=raw(BOTH_3, 2)["ts"], pid=SERVER, tid=22789,
                          name="Thread-9 (_poll_wrapper)", native_id=22795)
    run = _with(both_3, other)
    sites = {_line_of(BOTH_3, s.chain.completed): s for s in
             completion_sites(run.timeline, run.analysis)}
    assert (sites[144].thread, sites[104].thread) == ("core", "core")


def test_a_batch_or_request_call_of_no_chain_is_named_by_its_kind(both_3: Run) -> None:
    """A completion inside a core call no chain owns: an api call by its name (above); a
    batch start or request call, which have none, by their event kind (hand-made sites
    on the chains of lines 143 and 104, placed inside the calls of lines 142 and 32)."""
    by_line = {_line_of(BOTH_3, s.chain.completed): s for s in
               completion_sites(both_3.timeline, both_3.analysis)}
    batch, request = by_line[143].inside, by_line[338].chain.core_call
    assert (_line_of(BOTH_3, batch), _line_of(BOTH_3, request)) == (142, 64)
    sites = [CompletionSite(by_line[143].chain, "main", batch),
             CompletionSite(by_line[104].chain, "main", request)]
    assert tally(sites) == Counter({("RECV_CLOSE_ON_SERVER", "inline in CoreBatchStarted"): 1,
                                    ("request_call", "inline in CoreRequestCall"): 1})


# tests/fixtures/chains/inline_completion (cut from a real capture of the server): its
# chains by future (line), their batch or request call, and where each completed. The
# batch of line 44 (tag 0x7fcb19b4d788) has no completion in the cut; the chains after it
# still have theirs.
INLINE_CUT = Path(__file__).resolve().parents[1] / "fixtures" / "chains" / "inline_completion"
INLINE_SITES = (
    # (future line, core call line, completion line, thread, inside line, inside's chain)
    (2, 3, 34, "main", 33, 32),  # RECV_CLOSE_ON_SERVER done inside the status batch's call
    (6, 7, 8, "main", 7, 6),  # the request call done inside its own call
    (15, 16, 17, "main", 16, 15),
    (32, 33, 62, "core", None, None),  # on event_engine 15056
    (47, 48, 49, "main", 48, 47),
    (56, 57, 63, "core", None, None),
)


def test_the_sites_of_a_cut_with_a_chain_never_completed() -> None:
    for future, call, done, _, _, _ in INLINE_SITES:
        assert raw(INLINE_CUT, future)["kind"] == "future.created"
        assert raw(INLINE_CUT, done)["kind"] == "core.cq_end_op"
        assert raw(INLINE_CUT, call)["kind"] in CORE_CALLS
        assert raw(INLINE_CUT, done)["tag"] == raw(INLINE_CUT, call)["tag"]
    assert raw(INLINE_CUT, 44)["tag"] not in {e.get("tag") for e in raw_events(INLINE_CUT)
                                              if e["kind"] == "core.cq_end_op"}
    timeline = Timeline.load(INLINE_CUT)
    analysis = analyze(timeline)
    assert [_line_of(INLINE_CUT, c.future) for c in analysis.chains] == [
        2, 6, 15, 32, 43, 47, 56]
    sites = completion_sites(timeline, analysis)
    assert [(_line_of(INLINE_CUT, s.chain.future), _line_of(INLINE_CUT, s.chain.core_call),
             _line_of(INLINE_CUT, s.chain.completed), s.thread, _line_of(INLINE_CUT, s.inside),
             _line_of(INLINE_CUT, s.inside_chain.future) if s.inside_chain else None)
            for s in sites] == list(INLINE_SITES)
