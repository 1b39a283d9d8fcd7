"""toygrpc.analysis.completions on live captures: every observed completion has exactly
one site, and the sites agree with the threads the hooks named."""

from __future__ import annotations

from toygrpc.analysis.completions import completion_sites, label, tally
from toygrpc.analysis.run import Run
from toygrpc.model.events import ThreadStarted


def test_every_completion_has_one_site(both_run: Run, server_run: Run) -> None:
    for run in (both_run, server_run):
        sites = completion_sites(run.timeline, run.analysis)
        completed = [c for c in run.analysis.chains if c.completed is not None]
        assert [id(s.chain) for s in sites] == [id(c) for c in completed]
        assert sum(tally(sites).values()) == len(sites)
        pollers = {e.native_id for e in run.timeline.of(ThreadStarted)
                   if e.name.endswith("(_poll_wrapper)")}
        for site in sites:
            done = site.chain.completed
            assert done is not None
            assert (site.thread == "main") == (done.tid == done.pid)
            assert (site.thread == "poller") == (done.tid in pollers)
            if site.inline:  # inside a core call logged on the same thread, before it
                assert site.inside is not None and site.inside.tid == done.tid
                assert site.inside.ts <= done.ts


def test_labels_name_the_batch_ops_or_the_chain_kind(server_run: Run) -> None:
    labels = {label(c) for c in server_run.analysis.chains}
    assert {"request_call", "RECV_CLOSE_ON_SERVER", "RECV_MESSAGE",
            "SEND_INITIAL_METADATA+SEND_MESSAGE+SEND_STATUS_FROM_SERVER"} <= labels
