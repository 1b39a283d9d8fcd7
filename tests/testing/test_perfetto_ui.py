"""The trace of a real `trace both` run, loaded in the real Perfetto UI (headless Chromium)."""

from __future__ import annotations

import shutil

import pytest

from tests.conftest import require
from toygrpc.analysis.run import Run
from toygrpc.render.perfetto import PerfettoRenderer


@pytest.mark.browser
def test_perfetto_ui_sees_every_link_and_the_named_threads(both_run: Run) -> None:
    require(shutil.which("chromium") is not None, "Chromium is not installed (apt-get install "
            "chromium)")
    try:
        import playwright  # noqa: F401
    except ImportError:
        require(False, "Playwright is not installed (pip install -e '.[test]')")
    from toygrpc.testing.perfetto_ui import PerfettoUI

    cap, _timeline, analysis = both_run.manifest, both_run.timeline, both_run.analysis
    [trace] = PerfettoRenderer().render(both_run)
    with PerfettoUI(trace) as ui:
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
