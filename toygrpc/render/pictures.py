"""What the pictures show, as plain data, and a process that draws them beside this one.

``toygrpc trace --plots`` writes the trace and summary.json, and draws ``swimlane`` and
``stages`` (``toygrpc.render.plots``). Drawing is the longest of these, and matplotlib's
import alone takes a good part of it; on a machine with two cores the pictures can be
drawn by a second Python process while this one merges, analyses and writes the trace.
``DrawingProcess`` is that process: started with the command, it imports matplotlib
on the other core while this process imports its own modules and starts the capture's
processes, says when it is ready, and then waits, idle, for what to draw. The capture
lets no RPC start before it is ready (``capture(ready=...)``): nothing it does takes CPU
from the RPCs measured. Nothing here imports matplotlib: the process that sends the
pictures never pays for it.

The pictures travel as plain data (``SwimlanePicture``, the stage samples and
statistics), not as the analysis: a pickled ``SwimlaneModel`` would carry its RPC, its
chains and their events.
"""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, cast

from toygrpc.errors import UsageError

if TYPE_CHECKING:
    from toygrpc.analysis.run import Run
    from toygrpc.analysis.stages import StageStats
    from toygrpc.analysis.swimlane import SwimlaneModel


# A colour per stage, in the table's order (``STAGE_ORDER``): the same in both pictures.
STAGE_PALETTE = ("#8c564b", "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#e377c2",
                 "#7f7f7f", "#bcbd22")


def stage_colours() -> dict[str, str]:
    """Each stage's colour, in the table's order (the analysis is imported only here: the
    drawing process gets the colours with the pictures)."""
    from toygrpc.analysis.chains import STAGE_ORDER

    return dict(zip(STAGE_ORDER, STAGE_PALETTE, strict=True))


@dataclass(frozen=True)
class PictureLane:
    """A lane of the swimlane picture: its label and the process whose colour it takes."""

    label: str
    process: str


@dataclass(frozen=True)
class PictureStep:
    """A marker of the swimlane picture (``SwimStep``'s fields that the picture draws)."""

    offset: int  # ns from the RPC's start
    lane: int  # index into the picture's lanes
    chain: int  # 0 for the RPC's start and end
    step: str
    stage: str  # the stage that ends here ("" if none)


@dataclass(frozen=True)
class SwimlanePicture:
    """What the swimlane picture of one RPC shows, and nothing more."""

    number: int
    title: str  # the RPC: "RPC 7: client /HelloService/Hello OK, 123.4 µs"
    lanes: tuple[PictureLane, ...]
    steps: tuple[PictureStep, ...]
    links: tuple[tuple[int, int, str], ...]  # (source step, target step, label)
    stage_colours: dict[str, str]  # in the table's order: the legend's

    @classmethod
    def of(cls, model: SwimlaneModel) -> SwimlanePicture:
        rpc = model.rpc
        return cls(
            number=model.number,
            title=f"RPC {model.number}: {rpc.side} {rpc.method} {rpc.status}, "
                  f"{rpc.latency / 1000:.1f} µs",
            lanes=tuple(PictureLane(lane.label, lane.process) for lane in model.lanes),
            steps=tuple(PictureStep(s.offset, s.lane, s.chain, s.step, s.stage)
                        for s in model.steps),
            links=tuple(model.links), stage_colours=stage_colours())


@dataclass(frozen=True)
class StageRow:
    """A row of the stage picture: a stage's samples (ns) and the table's numbers."""

    name: str
    colour: str
    samples: list[int]
    count: int
    p90: int
    p99: int


@dataclass(frozen=True)
class StagesPicture:
    """What the stage picture shows: a row per stage with samples, in the table's order."""

    rows: tuple[StageRow, ...]

    @classmethod
    def of(cls, samples: dict[str, list[int]], statistics: list[StageStats]) -> StagesPicture:
        stats = {s.name: s for s in statistics}
        return cls(tuple(
            StageRow(name, colour, samples[name], stats[name].count, stats[name].p90,
                     stats[name].p99)
            for name, colour in stage_colours().items() if samples[name]))


@dataclass(frozen=True)
class PicturesJob:
    """Everything the drawing process needs: where to write, and what to draw."""

    out_dir: Path
    swimlane: SwimlanePicture | None  # None: the run has no RPC to draw
    stages: StagesPicture


class DrawingFailed(Exception):
    """The drawing process ended without saying what it drew (killed, crashed)."""


READY_LINE = b"ready\n"


class DrawingProcess:
    """A Python process that imports matplotlib at once, says it is ready, then draws one
    ``PicturesJob``.

    It ignores Ctrl-C (the launching process owns it and ``cancel``s the drawing) and
    leaves when its input closes without a job."""

    def __init__(self) -> None:
        # its stderr, read back if it dies; closed by result() or cancel()
        self._log: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115
        env = dict(os.environ)  # this very toygrpc, wherever it is imported from
        package_root = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH"))
                                            if p)
        # numpy's BLAS would start a pool of threads that drawing never uses: one thread
        # only, and the fork that draws the second picture copies no pool
        env["OPENBLAS_NUM_THREADS"] = "1"
        self.process: subprocess.Popen[bytes] = subprocess.Popen(
            [sys.executable, "-m", "toygrpc.render.pictures"], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=self._log, env=env)
        self._sender: threading.Thread | None = None
        self._ready = False

    @property
    def sent(self) -> bool:
        """Whether a job was sent (then it draws and leaves on its own)."""
        return self._sender is not None

    def wait_ready(self) -> None:
        """Wait until it has imported what drawing needs and waits for a job (or died: then
        ``result`` says so)."""
        if not self._ready:
            self._ready = True
            assert self.process.stdout is not None
            self.process.stdout.readline()

    def draw(self, job: PicturesJob) -> None:
        """Send the job and return at once (a thread writes it: the process may still be
        importing, and a large run's samples do not fit in a pipe's buffer)."""
        payload = pickle.dumps(job, protocol=pickle.HIGHEST_PROTOCOL)

        def send() -> None:
            stdin = self.process.stdin
            assert stdin is not None
            with contextlib.suppress(OSError):  # it died: result() says so
                stdin.write(payload)
            with contextlib.suppress(OSError):
                stdin.close()

        self._sender = threading.Thread(target=send, name="toygrpc-send-pictures",
                                        daemon=True)
        self._sender.start()

    def result(self) -> list[Path]:
        """Wait for the drawing: the files written; a UsageError or OSError if it could
        not draw (matplotlib missing, a folder not writable); DrawingFailed if it died."""
        assert self.process.stdout is not None
        if self._sender is not None:
            self._sender.join()
        self.wait_ready()
        reply = self.process.stdout.read()
        code = self.process.wait()
        self._log.seek(0)
        said = self._log.read().decode(errors="replace")
        self._log.close()
        try:
            answer = json.loads(reply)
        except ValueError:
            tail = said.strip().splitlines()[-1:]
            raise DrawingFailed(f"the drawing process exited with status {code}"
                                + (f": {tail[0]}" if tail else "")) from None
        sys.stderr.write(said)  # its warnings, as drawing here would have shown them
        if "usage_error" in answer:
            raise UsageError(str(answer["usage_error"]))
        if "os_error" in answer:
            raise OSError(str(answer["os_error"]))
        return [Path(p) for p in answer["paths"]]

    def cancel(self) -> None:
        """Stop it, drawn or not (the run was abandoned)."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        self._log.close()


class Pictures:
    """The swimlane and stage pictures of a run being traced, drawn by a second process
    while this one writes the trace (``DrawingProcess``): started as early as
    possible (``start``: the command starts it first thing), it imports matplotlib while
    the capture starts; ``trace`` lets no RPC start before it is ready, and sends it the
    pictures once the run is analysed; ``write_plots`` waits for the files."""

    def __init__(self, rpc_index: int | None = None) -> None:
        self.rpc_index = rpc_index
        self.process: DrawingProcess | None = None

    @property
    def sent(self) -> bool:
        """Whether the pictures went to a drawing process still in hand."""
        return self.process is not None and self.process.sent

    def start(self) -> Pictures:
        """Start the drawing process, unless started already."""
        if self.process is None:
            with contextlib.suppress(OSError):  # no process: the pictures are drawn here, later
                self.process = DrawingProcess()
        return self

    def ready(self) -> None:
        """Wait until the drawing process is idle (its imports done): called by the
        capture before any RPC starts."""
        if self.process is not None:
            self.process.wait_ready()

    def send(self, run: Run) -> None:
        """Hand the analysed run's pictures to the drawing process."""
        if self.process is None:
            return
        job = plots_job(run, self.rpc_index)
        if job is None:
            self.cancel()  # --rpc out of range: write_plots says so
            return
        self.process.draw(job)

    def wait(self) -> list[Path]:
        """The files drawn; a UsageError or OSError says why there are none, and a
        process that died gives way to drawing here (DrawingFailed)."""
        if self.process is None or not self.process.sent:
            raise DrawingFailed("the pictures were not sent")
        return self.process.result()

    def cancel(self) -> None:
        if self.process is not None:
            self.process.cancel()
            self.process = None


def plots_job(run: Run, rpc_index: int | None) -> PicturesJob | None:
    """What ``write_plots`` draws, as plain data; None if the RPC asked for is not there."""
    try:
        swimlane = (SwimlanePicture.of(run.swimlane(rpc_index))
                    if run.analysis.rpcs or rpc_index is not None else None)
    except UsageError:
        return None
    return PicturesJob(run.run_dir, swimlane,
                       StagesPicture.of(run.stage_samples, run.stage_stats))


def draw_job(job: PicturesJob) -> list[Path]:
    """Draw the job's pictures in this process, swimlane first (as ``write_plots`` does)."""
    from toygrpc.render import plots

    paths: list[Path] = []
    if job.swimlane is not None:
        paths += plots.write_swimlane(job.swimlane, job.out_dir).paths
    paths += plots.write_stages_picture(job.stages, job.out_dir).paths
    return paths


def _answer(draw: Callable[[], list[Path]]) -> dict[str, object]:
    """What the drawing process says: the files drawn, or why there are none."""
    try:
        return {"paths": [str(p) for p in draw()]}
    except UsageError as exc:
        return {"usage_error": str(exc)}
    except OSError as exc:
        return {"os_error": str(exc)}


def draw_both_at_once(job: PicturesJob) -> dict[str, object]:
    """Draw the two pictures side by side: a fork of this process (matplotlib imported
    already: nothing to load again) draws the swimlane while this one draws the stages,
    one picture a core. Drawn one after the other where there is no fork."""
    from toygrpc.render import plots

    swimlane = job.swimlane
    if swimlane is None or not hasattr(os, "fork"):
        return _answer(lambda: draw_job(job))
    read_end, write_end = os.pipe()
    pid = os.fork()  # this process runs no other thread: a fork is safe
    if pid == 0:
        code = 1
        try:
            os.close(read_end)
            answer = _answer(lambda: list(plots.write_swimlane(swimlane, job.out_dir).paths))
            with os.fdopen(write_end, "w") as out:
                out.write(json.dumps(answer))
            code = 0
        finally:
            os._exit(code)  # no interpreter teardown in the fork
    os.close(write_end)
    stages = _answer(lambda: list(plots.write_stages_picture(job.stages, job.out_dir).paths))
    with os.fdopen(read_end) as reply:
        text = reply.read()
    os.waitpid(pid, 0)
    try:
        first: dict[str, object] = json.loads(text)
    except ValueError:
        first = {"os_error": "the process drawing the swimlane died"}
    if "paths" not in first:
        return first
    if "paths" not in stages:
        return stages
    return {"paths": [*cast(list[str], first["paths"]), *cast(list[str], stages["paths"])]}


def main() -> int:
    """The drawing process: import matplotlib, read one job on stdin, draw it, and say
    on stdout (one JSON object) what was written or why nothing was."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from toygrpc.render import plots

    plots.warm_up()
    sys.stdout.buffer.write(READY_LINE)
    sys.stdout.flush()
    data = sys.stdin.buffer.read()
    if not data:
        return 0  # nothing to draw: the run was abandoned
    job: PicturesJob = pickle.loads(data)
    sys.stdout.write(json.dumps(draw_both_at_once(job)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
