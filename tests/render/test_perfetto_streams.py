"""The native writer's own ways agree with the model's: a thread's stack encoded straight
from its events (``_stack_stream``: ``nested`` and ``track_events`` in one pass, a Python
slice as its name's code) gives the events, and the bytes, of the stack made into slices
first. Seeded random stacks: starts at few distinct times, children that end after their
parent, zero and negative lengths (a stream out of time order), instants, arguments and
flows."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from tests.render import oracle
from toygrpc.analysis.run import Run
from toygrpc.model.events import Event, FutureCreated, PythonSlice
from toygrpc.render import perfetto
from toygrpc.render.perfetto import (
    END,
    Links,
    PerfettoRenderer,
    ThreadStack,
    TraceModel,
    Track,
    _stack_stream,
    sort_stack,
    track_events,
    write_proto,
)


def random_stack(rng: random.Random, track: int, count: int, links: Links,
                 flow: list[int]) -> ThreadStack:
    events: list[Event] = []
    linked: set[int] = set()
    for n in range(count):
        ts = 1000 + rng.randrange(30)
        if rng.random() < 0.25:
            event: Event = FutureCreated(ts, 1, track, 0x10 + n, f"f.py:{n % 3}")
        else:
            dur = rng.choice([0, 1, 3, 8, 20, -2 if rng.random() < 0.1 else 5])
            args = {"n": n} if rng.random() < 0.1 else {}
            event = PythonSlice(ts, 1, track, dur, f"s{rng.randrange(5)}", args)
        if rng.random() < 0.1:
            flow[0] += 1
            links[id(event)] = ((flow[0],), (), ())
            if isinstance(event, PythonSlice):
                linked.add(id(event))
        events.append(event)
    sort_stack(events)
    return ThreadStack(track, events, links, 1000, linked)


def stream_events(stack: ThreadStack) -> list[tuple[int, str, str]]:
    """What ``_stack_stream`` writes, as (time, type, name); an end without its name."""
    stream = _stack_stream(stack)
    items = dict(zip(stream.special, stream.items, strict=True))
    got = []
    for at, (ts, code) in enumerate(zip(stream.times, stream.codes, strict=True)):
        if at in items:
            item = items[at]
            if isinstance(item, int):  # a name's first slice
                got.append((ts, "B", stream.names[item]))
            else:
                assert isinstance(item, Event)
                got.append((ts, "B" if isinstance(item, PythonSlice) else "I", item.title()))
        else:
            got.append((ts, "E", "") if code == END else (ts, "B", stream.names[code]))
    return got


def test_a_stack_streams_as_its_slices_would() -> None:
    rng = random.Random(5)
    for trial in range(400):
        stack = random_stack(rng, 2, rng.randrange(0, 25), {}, [0])
        expected = [(ts, kind, "" if kind == "E" else s.name)
                    for ts, kind, s in track_events(stack.slices(), in_order=True)]
        assert stream_events(stack) == expected, trial


def test_stacks_write_the_bytes_of_their_slices(tmp_path: Path) -> None:
    """Two threads' stacks with flows between them: the file is the one written from the
    model with the stacks made into slices (every event encoded on its own)."""
    rng = random.Random(8)
    process = Track(1, "client", 1, is_process=True)
    for trial in range(60):
        links: Links = {}
        flow = [0]
        stacks = {track: random_stack(rng, track, rng.randrange(0, 40), links, flow)
                  for track in (2, 3)}
        for source in range(1, flow[0], 2):  # flows end where they start, on the other stack
            key = next(k for k, v in links.items() if v[0] == (source + 1,))
            links[key] = ((), (source,), (("stage_us", 1.5),))
        tracks = [process, Track(2, "main", 1, tid=2, parent=1),
                  Track(3, "poller", 1, tid=3, parent=1, rank=1)]
        model = TraceModel(tracks, flow_names={f: "stage" for f in range(1, flow[0] + 1)},
                           origin_ns=1000, stacks=stacks)
        write_proto(model, tmp_path / "stacks")
        write_proto(model.expanded(), tmp_path / "slices")
        assert (tmp_path / "stacks").read_bytes() == (tmp_path / "slices").read_bytes(), trial


def test_blocks_and_lookahead_of_any_size_write_the_same_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A stream is encoded a block at a time, as far as the merge (running some stretches
    ahead) has gone: with tiny blocks and lookahead (blocks encoded again from a later
    start, a stretch past its block), the committed run's file is the same."""
    run = Run.load(oracle.FIXTURE_RUN)
    [path] = PerfettoRenderer(out=tmp_path).render(run)
    expected = path.read_bytes()
    for block, ahead in ((1, 1), (3, 2), (7, 50)):
        monkeypatch.setattr(perfetto, "STREAM_BLOCK", block)
        monkeypatch.setattr(perfetto, "MERGED_AHEAD", ahead)
        path.unlink()
        PerfettoRenderer(out=tmp_path).render(run)
        assert path.read_bytes() == expected, (block, ahead)
