"""What the renderers must show for the committed run (tests/fixtures/runs/both-3), read by
hand from its raw events, independently of the analysis the renderers draw.

Each timestamp below was copied from a line of ``events.jsonl`` (the line number is given,
1-based; line 1 is the header); ``test_oracle.py`` checks that each line still says so,
by reading the file as plain JSON. The expected stage durations are differences of these
timestamps, written out here as the stage definitions say (docs/summary.md), not
recomputed by the code under test.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FIXTURE_RUN = Path(__file__).resolve().parents[1] / "fixtures" / "runs" / "both-3"
CLIENT_PID, SERVER_PID = 22792, 22784
CLIENT_MAIN, CLIENT_POLLER = 22792, 22794
# The first event that is not a core log line (line 4, the server's grpc_init): the
# Perfetto trace counts its times from there.
ORIGIN_NS = 1795573896937263000
ORIGIN_LINE = 4


@dataclass(frozen=True)
class ClientCall:
    """One unary client call: its RPC start and end and the eight steps of its one batch
    (each: line in events.jsonl, event kind, timestamp, thread id)."""

    index: int  # its number in the run (summary.json's ``index``, ``show --rpc N``)
    link: str
    tag: str  # the batch's completion-queue tag
    started: tuple[int, str, int, int]
    steps: dict[str, tuple[int, str, int, int]]
    finished: tuple[int, str, int, int]

    def ts(self, step: str) -> int:
        return self.steps[step][2]

    @property
    def start(self) -> int:
        return self.started[2]

    @property
    def latency(self) -> int:
        return self.finished[2] - self.started[2]

    def deltas(self) -> dict[str, int]:
        """The stage that ends at each step and its duration: the previous step to it."""
        return {
            "python_before_core": self.ts("core_call") - self.ts("created"),
            "core_and_network": self.ts("completed") - self.ts("core_call"),
            "core_to_poller": self.ts("returned") - self.ts("completed"),
            "poller_to_wake": self.ts("woken") - self.ts("returned"),
            "wake_to_drain": self.ts("drained") - self.ts("woken"),
            "drain_to_resolution": self.ts("resolved") - self.ts("drained"),
            "resolution_to_resume": self.ts("resumed") - self.ts("resolved"),
        }

    def rpc_stages(self) -> dict[str, int]:
        """The RPC's latency divided: before its batch is handed to the core (from the RPC's
        start), the batch's stages, and after the task resumed (to the RPC's end)."""
        deltas = self.deltas()
        return {
            "python_before_core": self.ts("core_call") - self.start,
            **{k: v for k, v in deltas.items() if k != "python_before_core"},
            "python_after_core": self.finished[2] - self.ts("resumed"),
        }


def _steps(*rows: tuple[int, str, int, int]) -> dict[str, tuple[int, str, int, int]]:
    names = ("created", "core_call", "completed", "returned", "woken", "drained", "resolved",
             "resumed")
    return dict(zip(names, rows, strict=True))


CLIENT_CALLS = (
    ClientCall(1, "22792-1", "0x7faf7efbb778",
               (79, "rpc.started", 1795573897134859945, CLIENT_MAIN),
               _steps((84, "future.created", 1795573897135136354, CLIENT_MAIN),
                      (85, "core.start_batch", 1795573897135159000, CLIENT_MAIN),
                      (144, "core.cq_end_op", 1795573897139363000, 22795),
                      (145, "core.return_event", 1795573897139423000, CLIENT_POLLER),
                      (148, "loop.wake", 1795573897139639499, CLIENT_MAIN),
                      (149, "poller.drain", 1795573897140782763, CLIENT_MAIN),
                      (150, "future.resolved", 1795573897140798062, CLIENT_MAIN),
                      (151, "task.resumed", 1795573897140857844, CLIENT_MAIN)),
               (154, "rpc.finished", 1795573897140984983, CLIENT_MAIN)),
    ClientCall(3, "22792-2", "0x7faf7efbb858",
               (156, "rpc.started", 1795573897141083227, CLIENT_MAIN),
               _steps((161, "future.created", 1795573897141338706, CLIENT_MAIN),
                      (162, "core.start_batch", 1795573897141357000, CLIENT_MAIN),
                      (222, "core.cq_end_op", 1795573897143736000, 22798),
                      (226, "core.return_event", 1795573897143773000, CLIENT_POLLER),
                      (228, "loop.wake", 1795573897143805532, CLIENT_MAIN),
                      (230, "poller.drain", 1795573897143830399, CLIENT_MAIN),
                      (232, "future.resolved", 1795573897143839977, CLIENT_MAIN),
                      (236, "task.resumed", 1795573897143871155, CLIENT_MAIN)),
               (242, "rpc.finished", 1795573897143952368, CLIENT_MAIN)),
    ClientCall(5, "22792-3", "0x7faf7efbb8c8",
               (246, "rpc.started", 1795573897144016398, CLIENT_MAIN),
               _steps((251, "future.created", 1795573897144212415, CLIENT_MAIN),
                      (252, "core.start_batch", 1795573897144228000, CLIENT_MAIN),
                      (301, "core.cq_end_op", 1795573897145331000, 22797),
                      (314, "core.return_event", 1795573897148533000, CLIENT_POLLER),
                      (316, "loop.wake", 1795573897148615032, CLIENT_MAIN),
                      (317, "poller.drain", 1795573897148645009, CLIENT_MAIN),
                      (318, "future.resolved", 1795573897148658324, CLIENT_MAIN),
                      (319, "task.resumed", 1795573897148692387, CLIENT_MAIN)),
               (322, "rpc.finished", 1795573897148776084, CLIENT_MAIN)),
)
# The client's ops of every batch, as the core names them (line 85).
CLIENT_BATCH_OPS = ["SEND_INITIAL_METADATA", "SEND_MESSAGE", "SEND_CLOSE_FROM_CLIENT",
                    "RECV_INITIAL_METADATA", "RECV_MESSAGE", "RECV_STATUS_ON_CLIENT"]
# The server's calls start when a request-call completes with ok (lines 104, 165, 256):
# each RPC's number, and the completion's timestamp and thread.
SERVER_CALL_STARTS = ((2, 1795573897136997000, 22789), (4, 1795573897141628000, 22787),
                      (6, 1795573897144427000, 22789))
# Every server RPC has its request call and three batches (RECV_CLOSE_ON_SERVER,
# RECV_MESSAGE, SEND_INITIAL_METADATA+SEND_MESSAGE+SEND_STATUS: lines 119, 131, 142).
SERVER_CHAINS_PER_RPC = ("request_call", "batch", "batch", "batch")
# The run's counts: 12 batch starts (3 client, 9 server), 12 request calls posted.
BATCH_STARTS, REQUEST_CALLS = 12, 12
# Chains and links: 24 chains of 8 steps (7 links each), the server's shutdown
# notification (7 steps, 6 links), one client -> server and one server -> client arrow
# per RPC pair.
LINKS = 24 * 7 + 6 + 3 * 2
# Every stage row, in the order the tables list them.
STAGE_NAMES = ["python_before_core", "core_and_network", "core_to_poller", "poller_to_wake",
               "wake_to_drain", "drain_to_resolution", "resolution_to_resume",
               "python_after_core", "awaiting_call"]
# The default RPC of the views: the client call of median latency.
MEDIAN_CLIENT = CLIENT_CALLS[2]


@dataclass(frozen=True)
class ServerCall:
    """The server's side of one call: when the call arrived (its request call completed),
    when the handler was done (the end of the ``_handle_rpc`` glue span: its ts + dur),
    and each chain's eight steps (line, kind, timestamp, thread), in the order the
    chains' futures were created."""

    index: int
    arrived: tuple[int, str, int, int]
    handler: tuple[int, str, int, int, int]  # line, kind, ts, tid, dur
    chains: dict[str, dict[str, tuple[int, str, int, int]]]

    @property
    def done(self) -> int:
        return self.handler[2] + self.handler[4]


SERVER_MAIN, SERVER_POLLER = 22784, 22786
# The server call that answered MEDIAN_CLIENT (RPC 6). Its request call was posted while
# the previous call was being served (line 199), before the client's RPC started; the
# RECV_CLOSE_ON_SERVER and SEND_STATUS completions are served by one wake and one drain
# (lines 304, 305). The completions on thread 22784 ran inline, on the server's main thread.
MEDIAN_SERVER = ServerCall(
    6,
    (256, "core.cq_end_op", 1795573897144427000, 22789),
    (279, "glue.span", 1795573897144889345, SERVER_MAIN, 588654),
    {
        "request_call": _steps(
            (199, "future.created", 1795573897143172876, SERVER_MAIN),
            (200, "core.request_call", 1795573897143183000, SERVER_MAIN),
            (256, "core.cq_end_op", 1795573897144427000, 22789),
            (257, "core.return_event", 1795573897144468000, SERVER_POLLER),
            (259, "loop.wake", 1795573897144519662, SERVER_MAIN),
            (260, "poller.drain", 1795573897144535351, SERVER_MAIN),
            (261, "future.resolved", 1795573897144543526, SERVER_MAIN),
            (262, "task.resumed", 1795573897144584694, SERVER_MAIN)),
        "RECV_CLOSE_ON_SERVER": _steps(
            (272, "future.created", 1795573897144788646, SERVER_MAIN),
            (273, "core.start_batch", 1795573897144799000, SERVER_MAIN),
            (297, "core.cq_end_op", 1795573897145257000, SERVER_MAIN),
            (299, "core.return_event", 1795573897145315000, SERVER_POLLER),
            (304, "loop.wake", 1795573897145368143, SERVER_MAIN),
            (305, "poller.drain", 1795573897145383372, SERVER_MAIN),
            (306, "future.resolved", 1795573897145391938, SERVER_MAIN),
            (309, "task.resumed", 1795573897145427384, SERVER_MAIN)),
        "RECV_MESSAGE": _steps(
            (284, "future.created", 1795573897144928799, SERVER_MAIN),
            (285, "core.start_batch", 1795573897144939000, SERVER_MAIN),
            (286, "core.cq_end_op", 1795573897144963000, SERVER_MAIN),
            (287, "core.return_event", 1795573897145002000, SERVER_POLLER),
            (289, "loop.wake", 1795573897145032704, SERVER_MAIN),
            (290, "poller.drain", 1795573897145045107, SERVER_MAIN),
            (291, "future.resolved", 1795573897145051609, SERVER_MAIN),
            (292, "task.resumed", 1795573897145072088, SERVER_MAIN)),
        "SEND_STATUS": _steps(
            (295, "future.created", 1795573897145142590, SERVER_MAIN),
            (296, "core.start_batch", 1795573897145155000, SERVER_MAIN),
            (298, "core.cq_end_op", 1795573897145276000, SERVER_MAIN),
            (302, "core.return_event", 1795573897145334000, SERVER_POLLER),
            (304, "loop.wake", 1795573897145368143, SERVER_MAIN),
            (305, "poller.drain", 1795573897145383372, SERVER_MAIN),
            (307, "future.resolved", 1795573897145401966, SERVER_MAIN),
            (310, "task.resumed", 1795573897145453493, SERVER_MAIN)),
    },
)
# The tag each of the server's chains completes with (lines 200, 273, 285, 296): the
# request call's tag is reused by the RECV_CLOSE_ON_SERVER batch once it completed.
MEDIAN_SERVER_TAGS = {"request_call": "0x7fd933d352b8", "RECV_CLOSE_ON_SERVER": "0x7fd933d352b8",
                      "RECV_MESSAGE": "0x7fd933d35948", "SEND_STATUS": "0x7fd933d35a28"}


def nearest_rank(values: list[int], percent: int) -> int:
    """A percentile by the nearest-rank definition, spelled out: the smallest value with at
    least ``percent``% of the values at or below it."""
    ordered = sorted(values)
    rank = -(-percent * len(ordered) // 100)  # ceil
    return ordered[max(rank, 1) - 1]


def client_stage_values(stage: str) -> list[int]:
    """A stage's samples over the client calls (python_before_core and python_after_core
    have no others in this run: the server's calls are not measured from an RPC start)."""
    return [call.rpc_stages()[stage] for call in CLIENT_CALLS]


def us(ns: int) -> str:
    """A duration as the terminal and the notebook print it (µs, one decimal)."""
    return f"{ns / 1000:.1f}"


def raw_lines() -> list[dict[str, Any]]:
    """events.jsonl as plain JSON, line by line (index 0 is line 1, the header)."""
    return [json.loads(line) for line in (FIXTURE_RUN / "events.jsonl").read_text()
            .splitlines()]
