"""summary.json of the committed run against the values read by hand from its raw events
(tests/render/oracle.py), never against the analysis it is written from."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.render.oracle import (
    BATCH_STARTS,
    CLIENT_BATCH_OPS,
    CLIENT_CALLS,
    CLIENT_PID,
    FIXTURE_RUN,
    LINKS,
    REQUEST_CALLS,
    SERVER_CALL_STARTS,
    SERVER_CHAINS_PER_RPC,
    SERVER_PID,
    STAGE_NAMES,
    client_stage_values,
    nearest_rank,
    raw_lines,
)
from toygrpc.analysis.run import Run
from toygrpc.render.summary import SummaryRenderer

# Which hook records each raw event kind (docs/capture.md); glue spans by their name.
HOOK_OF_KIND = {"thread.started": "poller.thread", "poller.socketpair": "poller.socketpair",
                "future.created": "loop.create_future", "future.resolved": "future.resolve",
                "task.resumed": "task.resume", "loop.wake": "loop.wake",
                "poller.drain": "loop.add_reader", "rpc.started": "rpc.client",
                "rpc.finished": "rpc.client"}


@pytest.fixture
def summary(tmp_path: Path) -> dict[str, Any]:
    """summary.json as the renderer writes it, read back from disk (made for each test, so
    that mutation testing sees each test run the renderer)."""
    out = tmp_path
    [path] = SummaryRenderer(out=out).render(Run.load(FIXTURE_RUN))
    assert path == out / "summary.json" and path.read_text().endswith("}\n")
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def test_the_run_in_numbers(summary: dict[str, Any]) -> None:
    assert summary["format"] == 1 and summary["mode"] == "both"
    assert summary["processes"] == {str(SERVER_PID): "server", str(CLIENT_PID): "client"}
    assert summary["rpc_count"] == 6 and summary["complete_rpcs"] == 6
    assert summary["links"] == LINKS
    assert summary["options"]["rpcs"] == 3 and summary["versions"]["grpcio"] == "1.85.3"
    assert summary["capture_mode"] == "hooks + core trace"
    assert summary["partial"] is False and summary["losses"] == {}
    assert summary["stopped"] is None and summary["diagnostics"] == []
    header = raw_lines()[0]
    assert summary["clock"] == header["clock"]
    assert summary["hooks"]["client"]["attached"] == header["hooks"]["client"]["attached"]
    assert summary["hooks"]["server"]["failed"] == {}
    # the server's shutdown notification, and the 9 request calls no client call reached,
    # failed at shutdown (ok false: lines 338-346)
    outside = summary["chains_outside_rpcs"]
    assert [c["kind"] for c in outside].count("notify") == 1 and len(outside) == 10
    waiting = [c for c in outside if c["kind"] == "request_call"]
    assert [c["ok"] for c in waiting] == [False] * 9


@pytest.mark.parametrize("call", CLIENT_CALLS, ids=lambda c: f"rpc{c.index}")
def test_every_client_rpc_and_its_batch(summary: dict[str, Any], call: Any) -> None:
    rpc = summary["rpcs"][call.index - 1]
    assert rpc["index"] == call.index
    assert (rpc["process"], rpc["side"], rpc["method"], rpc["status"]) == (
        "client", "client", "/HelloService/Hello", "OK")
    assert (rpc["start"], rpc["latency"], rpc["link"]) == (call.start, call.latency, call.link)
    assert rpc["complete"] is True and rpc["missing"] is None and rpc["end_reason"] is None
    assert rpc["details"] is None
    assert rpc["stages"] == call.rpc_stages()
    [chain] = rpc["chains"]
    assert chain["kind"] == "batch" and chain["ops"] == CLIENT_BATCH_OPS
    assert chain["tag"] == call.tag and chain["ok"] is True and chain["outcome"] == "ok"
    assert chain["complete"] is True and chain["missing"] is None
    assert chain["shared_wake"] is False and chain["shared_steps"] == []
    assert chain["end_reason"] is None
    assert chain["steps"] == {**{name: [ts, tid] for name, (_, _, ts, tid)
                                 in call.steps.items()}, "cancelled": None}
    expected = call.deltas()
    del expected["python_before_core"]  # a chain's stages count from its core call on
    assert chain["stages"] == expected


@pytest.mark.parametrize("number, start, tid", SERVER_CALL_STARTS)
def test_every_server_rpc_starts_when_its_request_call_completes(
        summary: dict[str, Any], number: int, start: int, tid: int) -> None:
    rpc = summary["rpcs"][number - 1]
    assert (rpc["index"], rpc["process"], rpc["side"], rpc["start"]) == (
        number, "server", "server", start)
    assert rpc["link"] == CLIENT_CALLS[number // 2 - 1].link
    assert [c["kind"] for c in rpc["chains"]] == list(SERVER_CHAINS_PER_RPC)
    assert rpc["chains"][0]["steps"]["completed"] == [start, tid]
    assert rpc["chains"][0]["ops"] == [] and rpc["chains"][1]["ops"] == ["RECV_CLOSE_ON_SERVER"]
    assert "awaiting_call" in rpc["chains"][0]["stages"]
    assert "awaiting_call" not in rpc["chains"][1]["stages"]


def test_stage_rows(summary: dict[str, Any]) -> None:
    rows = {row["name"]: row for row in summary["stages"]}
    assert [row["name"] for row in summary["stages"]] == STAGE_NAMES
    for name in ("python_before_core", "python_after_core"):
        values = client_stage_values(name)
        assert rows[name] | {"definition": ""} == {
            "name": name, "definition": "", "count": 3, "p50": nearest_rank(values, 50),
            "p90": nearest_rank(values, 90), "p99": nearest_rank(values, 99),
            "max": max(values)}
    assert rows["python_before_core"]["p50"] == 273773  # spelled out once
    assert rows["core_and_network"]["count"] == BATCH_STARTS
    assert rows["core_and_network"]["max"] == CLIENT_CALLS[0].deltas()["core_and_network"]
    for name in STAGE_NAMES[2:7]:
        assert rows[name]["count"] == BATCH_STARTS + REQUEST_CALLS, name
    assert rows["awaiting_call"]["count"] == REQUEST_CALLS
    assert rows["core_to_poller"]["p90"] >= CLIENT_CALLS[2].deltas()["core_to_poller"]
    assert "from the batch start to a core thread completing its tag" in rows[
        "core_and_network"]["definition"]
    spans = {row["name"]: row for row in summary["hook_spans"]}
    waiter = [c.ts("resolved") - c.ts("created") for c in CLIENT_CALLS]
    latency = [c.latency for c in CLIENT_CALLS]
    assert (spans["waiter"]["count"], spans["waiter"]["p50"], spans["waiter"]["max"]) == (
        3, nearest_rank(waiter, 50), max(waiter))
    assert spans["latency"]["p50"] == nearest_rank(latency, 50) == CLIENT_CALLS[2].latency


def test_hook_counts_are_the_raw_events_per_hook(summary: dict[str, Any]) -> None:
    lines = raw_lines()
    roles = {int(pid): role for pid, role in lines[0]["processes"].items()}
    expected: dict[str, Counter[str]] = {role: Counter() for role in roles.values()}
    for event in lines[1:]:
        hook = HOOK_OF_KIND.get(event["kind"])
        if event["kind"] == "glue.span":
            hook = "glue.execute_batch" if event["name"] == "execute_batch" else "glue.server"
        if hook:
            expected[roles[event["pid"]]][hook] += 1
    for role, counts in summary["hook_counts"].items():
        assert {k: v for k, v in counts.items() if v} == dict(expected[role]), role
    assert summary["hook_counts"]["client"]["rpc.client"] == 6
    assert summary["hook_counts"]["client"]["glue.client"] == 0


def test_written_into_the_run_directory_by_default(tmp_path: Path) -> None:
    import shutil

    run_dir = Path(shutil.copytree(FIXTURE_RUN, tmp_path / "run"))
    (run_dir / "summary.json").unlink()
    [path] = SummaryRenderer().render(Run.load(run_dir))
    assert path == run_dir / "summary.json"
    assert json.loads(path.read_text())["rpcs"][0]["latency"] == CLIENT_CALLS[0].latency


def test_the_file_is_one_space_indented_json(tmp_path: Path) -> None:
    [path] = SummaryRenderer(out=tmp_path).render(Run.load(FIXTURE_RUN))
    lines = path.read_text().splitlines()
    assert lines[:3] == ["{", ' "format": 1,', ' "mode": "both",']


def test_a_hook_that_failed_to_attach_is_reported() -> None:
    """The hooks' own report, copied: what attached and what failed (this run's hooks all
    attached; a report saying one failed is given to the renderer as the hooks write it)."""
    import dataclasses

    from toygrpc.render.summary import build_summary

    run = Run.load(FIXTURE_RUN)
    hooks = {role: {**report, "failed": {"loop.wake": "no selector to watch"}}
             for role, report in run.timeline.hooks.items()}
    summary = build_summary(Run(run.manifest, dataclasses.replace(run.timeline, hooks=hooks)))
    assert summary["hooks"]["client"] == {"attached": hooks["client"]["attached"],
                                          "failed": {"loop.wake": "no selector to watch"}}


def test_without_the_core_log_a_chain_has_no_tag() -> None:
    """The same run as hooks alone record it (no core events): chains stop before the core
    call, with no tag and no ops."""
    import dataclasses

    from toygrpc.render.summary import build_summary

    run = Run.load(FIXTURE_RUN)
    hooks_only = dataclasses.replace(run.timeline, events=[
        e for e in run.timeline.events if e.category != "core"])
    summary = build_summary(Run(run.manifest, hooks_only))
    chain = summary["rpcs"][0]["chains"][0]
    assert (chain["tag"], chain["ops"], chain["missing"]) == (None, [], "core_call")
    assert chain["steps"]["created"] == [CLIENT_CALLS[0].ts("created"), 22792]
    assert chain["steps"]["core_call"] is None


def test_a_write_cut_short_leaves_no_summary_json(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """summary.json appears whole or not at all: it is written under another name and
    renamed (``trace`` writes it in a child that Ctrl-C kills)."""
    import toygrpc.render.summary as summary_module
    from toygrpc.render.summary import partial_path

    def first_block_then_fail(data: Any, block_bytes: int = 1) -> Any:
        yield b"{\n"
        raise OSError("No space left on device")

    monkeypatch.setattr(summary_module, "indented_json_blocks", first_block_then_fail)
    with pytest.raises(OSError, match="No space left"):
        SummaryRenderer(out=tmp_path).render(Run.load(FIXTURE_RUN))
    assert not (tmp_path / "summary.json").exists()
    assert partial_path(tmp_path / "summary.json").read_bytes() == b"{\n"
