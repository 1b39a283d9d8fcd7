"""The trace of a real `trace both` run, loaded in the real Perfetto UI (headless Chromium)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from toygrpc.analysis.run import Run
from toygrpc.render.perfetto import PerfettoRenderer

if TYPE_CHECKING:
    from toygrpc.testing.perfetto_ui import PerfettoBrowser


@pytest.mark.browser
def test_perfetto_ui_sees_every_link_and_the_named_threads(both_run: Run,
                                                            browser: PerfettoBrowser) -> None:
    analysis = both_run.analysis
    [trace] = PerfettoRenderer().render(both_run)
    with browser.open(trace) as ui:
        assert ui.problems() == {}
        flows = ui.query("select count(*) as n from flow")[0]["n"]
        processes = {r["name"] for r in ui.query("select name from process") if r["name"]}
        threads = {r["name"] for r in ui.query("select name from thread") if r["name"]}
        cross = ui.query("select count(*) as n from flow join slice s on flow.slice_out = s.id "
                         "join thread_track tt on s.track_id = tt.id join thread using(utid) "
                         "join process using(upid) where process.name like 'client%' and "
                         "flow.slice_in in (select s2.id from slice s2 join thread_track t2 on "
                         "s2.track_id = t2.id join thread th2 using(utid) join process p2 "
                         "using(upid) where p2.name like 'server%')")[0]["n"]
    assert flows == analysis.links
    assert {p.split(" ")[0] for p in processes} == {"client", "server"}
    assert {"main", "poller"} <= threads
    assert any(t.startswith("event_engine") for t in threads)
    assert cross == 30  # one client -> server arrow per RPC of the run
