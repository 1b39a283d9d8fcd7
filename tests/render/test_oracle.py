"""The hand-read oracle (tests/render/oracle.py) still says what the fixture's raw events
say: every line it cites holds that event, at that time, on that thread."""

from __future__ import annotations

from collections import Counter

from tests.render.oracle import (
    BATCH_STARTS,
    CLIENT_CALLS,
    CLIENT_PID,
    MEDIAN_CLIENT,
    MEDIAN_SERVER,
    MEDIAN_SERVER_TAGS,
    ORIGIN_LINE,
    ORIGIN_NS,
    REQUEST_CALLS,
    SERVER_CALL_STARTS,
    SERVER_PID,
    raw_lines,
)


def test_every_cited_line_holds_its_event() -> None:
    lines = raw_lines()
    for call in CLIENT_CALLS:
        for line, kind, ts, tid in (call.started, *call.steps.values(), call.finished):
            event = lines[line - 1]
            assert (event["kind"], event["ts"], event["tid"], event["pid"]) == (
                kind, ts, tid, CLIENT_PID), (call.index, line)
        assert lines[call.started[0] - 1]["link"] == call.link
        for name in ("core_call", "completed", "returned"):
            assert lines[call.steps[name][0] - 1]["tag"] == call.tag
        assert lines[call.steps["resolved"][0] - 1]["ok"] is True


def test_origin_and_counts_are_the_raw_files() -> None:
    lines = raw_lines()
    events = lines[1:]
    first = next(i for i, e in enumerate(lines) if i and e["kind"] != "core.line")
    assert first + 1 == ORIGIN_LINE and lines[first]["ts"] == ORIGIN_NS
    assert min(e["ts"] for e in events if e["kind"] != "core.line") == ORIGIN_NS
    kinds = Counter(e["kind"] for e in events)
    assert kinds["core.start_batch"] == BATCH_STARTS
    assert kinds["core.request_call"] == REQUEST_CALLS
    posted = {e["tag"] for e in events if e["kind"] == "core.request_call"}
    accepted = [(e["ts"], e["tid"]) for e in events if e["kind"] == "core.cq_end_op"
                and e["pid"] == SERVER_PID and e["ok"] and e["tag"] in posted]
    # the first completion of each accepted request call (tags are reused afterwards)
    assert accepted[:3] == [(ts, tid) for _, ts, tid in SERVER_CALL_STARTS]
    assert lines[0]["processes"] == {str(SERVER_PID): "server", str(CLIENT_PID): "client"}


def test_the_server_side_of_the_median_call_is_the_raw_lines() -> None:
    lines = raw_lines()
    call = MEDIAN_SERVER
    for name, steps in call.chains.items():
        for line, kind, ts, tid in steps.values():
            event = lines[line - 1]
            assert (event["kind"], event["ts"], event["tid"], event["pid"]) == (
                kind, ts, tid, SERVER_PID), (name, line)
        for step in ("core_call", "completed", "returned"):
            assert lines[steps[step][0] - 1]["tag"] == MEDIAN_SERVER_TAGS[name], (name, step)
        created, resolved = lines[steps["created"][0] - 1], lines[steps["resolved"][0] - 1]
        assert resolved["future_id"] == created["future_id"] and resolved["ok"] is True
        assert lines[steps["resumed"][0] - 1]["future_id"] == created["future_id"]
    line, kind, ts, tid = call.arrived
    assert (lines[line - 1]["kind"], lines[line - 1]["ts"], lines[line - 1]["tid"]) == (
        kind, ts, tid)
    assert (call.index, ts, tid) == SERVER_CALL_STARTS[2]
    line, kind, ts, tid, dur = call.handler
    handler = lines[line - 1]
    assert (handler["kind"], handler["name"], handler["ts"], handler["tid"], handler["dur"]) == (
        kind, "_handle_rpc", ts, tid, dur)
    # the handler served the median client call: its method lookup names the client's link
    lookup = next(e for e in lines[line:] if e.get("name") == "_find_method_handler")
    assert lookup["call"] == handler["call"] and lookup["detail"] == MEDIAN_CLIENT.link
