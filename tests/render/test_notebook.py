"""What a notebook shows for a run (RunView's HTML), checked for the run's own numbers as
read by hand from the committed run's raw events (tests/render/oracle.py)."""

from __future__ import annotations

import html
import io
import re
import sys
from typing import Any

import pytest
from rich.console import Console

from tests.render import oracle
from toygrpc.analysis.chains import Analysis
from toygrpc.analysis.run import Run
from toygrpc.render.notebook import RunView, swimlane_svg


def visible(markup: str) -> str:
    """The text a browser shows, whitespace collapsed."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", markup)).split())


@pytest.fixture(scope="module")
def run() -> Run:
    return Run.load(oracle.FIXTURE_RUN)


def test_the_html_holds_the_runs_numbers(run: Run) -> None:
    """The swimlane picture, its rows with each stage's share, the stage table, the counts,
    the trace and the command that opens it.

    Kills the listed mutation "the Jupyter HTML emptied" (``RunView._repr_html_``
    returning "" or its parts dropped; applied by hand: this test fails): the old test
    only looked for ``<pre``."""
    bundle = RunView(run)._repr_mimebundle_()
    page = bundle["text/html"]
    call = oracle.MEDIAN_CLIENT
    us = oracle.us
    lines = page.split("\n")
    assert lines[0] == (f"<h4>toygrpc run {oracle.FIXTURE_RUN} (both; captured with "
                        "hooks + core trace)</h4>")
    assert lines[-1] == (f"<p>6/6 RPCs with complete chains, {oracle.LINKS} links. Trace: "
                         f"<code>{oracle.FIXTURE_RUN / 'trace.perfetto-trace'}</code>; open it "
                         f"with <code>toygrpc view {oracle.FIXTURE_RUN}</code></p>")
    picture = page.split("<div class='toygrpc-swimlane'>")[1].split("</div>")[0]
    assert "<svg" in picture and picture.rstrip().endswith("</svg>")
    assert f"RPC {call.index}: client /HelloService/Hello OK, {us(call.latency)} µs" in (
        html.unescape(picture))
    text = visible(page)
    rows = re.findall(r"#2 (\w+) (main|event_engine|poller) ([a-z_]+) (\d+\.\d)", text)
    deltas = call.deltas()
    shown = {step: (stage, value) for step, _, stage, value in rows}
    assert shown["completed"] == ("core_and_network", us(deltas["core_and_network"]))
    assert shown["returned"] == ("core_to_poller", us(deltas["core_to_poller"]))  # 3202.0
    assert shown["resumed"] == ("resolution_to_resume", us(deltas["resolution_to_resume"]))
    assert len(shown) == 8  # every step of the batch, "created" included
    before = oracle.client_stage_values("python_before_core")
    assert (f"python_before_core 3 {us(oracle.nearest_rank(before, 50))} "
            f"{us(oracle.nearest_rank(before, 90))}") in text
    after = oracle.client_stage_values("python_after_core")
    assert f"python_after_core 3 {us(oracle.nearest_rank(after, 50))}" in text
    assert f"core_and_network {oracle.BATCH_STARTS} " in text
    assert "Stages over the run (µs, captured with hooks + core trace)" in text
    assert f"6/6 RPCs with complete chains, {oracle.LINKS} links." in text
    assert f"Trace: {oracle.FIXTURE_RUN / 'trace.perfetto-trace'}" in text
    assert f"open it with toygrpc view {oracle.FIXTURE_RUN}" in text
    plain = bundle["text/plain"]
    assert plain.startswith(f"RPC {call.index}: client /HelloService/Hello OK")
    assert "6/6 RPCs with complete chains" in plain and "\x1b[" not in plain


def test_another_rpc_and_the_terminal_view(run: Run) -> None:
    call = oracle.CLIENT_CALLS[0]
    page = RunView(run, call.index)._repr_html_()
    title = f"RPC {call.index}: client /HelloService/Hello OK, {oracle.us(call.latency)} µs"
    picture, rows = page.split("<div class='toygrpc-swimlane'>")[1].split("</div>", 1)
    assert title in html.unescape(picture) and title in visible(rows)
    console = Console(file=io.StringIO(), width=120, record=True)
    console.print(RunView(run, call.index))
    printed = console.export_text()
    assert printed.startswith(f"RPC {call.index}: client") and "6/6 RPCs" in printed


def test_a_run_without_rpcs_says_so(run: Run) -> None:
    empty = Run(run.manifest, run.timeline)
    empty.__dict__["analysis"] = Analysis([], [])
    page = RunView(empty)._repr_html_()
    assert "<p>no RPCs in this run: no swimlane to draw</p>" in page.split("\n")
    assert "<svg" not in page and "0/0 RPCs with complete chains" in visible(page)


def test_no_plots_extra_no_picture_but_the_rows(run: Run,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "toygrpc.render.plots", None)
    assert swimlane_svg(run) == ""
    page = RunView(run)._repr_html_()
    assert "toygrpc-swimlane" not in page and "#2 completed" in visible(page)


def test_a_view_shows_once_printing_nothing(run: Run, capsys: pytest.CaptureFixture[str]) -> None:
    """A notebook displays the bundle a view returns: building it must print nothing (to
    stdout rich would show it a second time, in Jupyter mode as a display object)."""
    from toygrpc.render.terminal import RpcSwimlane, RunReport, StageComparison, StageTable

    views: list[Any] = [RunView(run), RunReport(run), RpcSwimlane(run.swimlane()),
             StageTable(run.stage_stats), StageComparison({"run": run.stage_stats})]
    for view in views:
        bundle = view._repr_mimebundle_()
        assert bundle["text/plain"].strip() and "<pre" in bundle["text/html"]
    assert capsys.readouterr() == ("", "")


def test_the_text_form_is_the_report_of_the_chosen_rpc_120_columns_wide(run: Run) -> None:
    plain = RunView(run, 1)._repr_mimebundle_()["text/plain"]
    assert plain.startswith("RPC 1: client /HelloService/Hello OK")
    assert max(len(line) for line in plain.splitlines()) == 120
