"""Damaged run directories: ``show``, ``view`` and the run loader never lie about them.

A property-based test: a real capture, then one of its files truncated at any byte,
emptied, replaced by random bytes, made non-UTF-8, given values of the wrong types, or
removed (and, half the time, the merged timeline removed too, so that the raw files are
read). Every outcome must be one line and exit 2, or a result that says it is partial;
never a traceback, never fewer RPCs than the undamaged run without saying so.
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from toygrpc.capture.launch import CaptureOptions
from toygrpc.cli import main as toygrpc_main
from toygrpc.errors import UsageError
from toygrpc.pipeline import load_run, trace
from toygrpc.viewer.server import resolve_trace

EXAMPLES = 60


@dataclass(frozen=True)
class Baseline:
    run_dir: Path
    files: tuple[str, ...]  # relative paths of every file of the run
    rpcs: int
    complete: int


def _baseline(root: Path, python_layer: bool) -> Baseline:
    run = trace(CaptureOptions(mode="client", out=root / "run", rpcs=3,
                               python_layer=python_layer))
    files = tuple(sorted(str(p.relative_to(run.run_dir)) for p in run.run_dir.rglob("*")
                         if p.is_file()))
    return Baseline(run.run_dir, files, len(run.analysis.rpcs),
                    sum(r.complete for r in run.analysis.rpcs))


@pytest.fixture(scope="module")
def plain_run(tmp_path_factory: pytest.TempPathFactory) -> Baseline:
    return _baseline(tmp_path_factory.mktemp("plain"), python_layer=False)


@pytest.fixture(scope="module")
def python_run(tmp_path_factory: pytest.TempPathFactory) -> Baseline:
    return _baseline(tmp_path_factory.mktemp("python"), python_layer=True)


def _other_type(original: object, replacement: object) -> object:
    """``replacement``, unless it has the type of ``original`` (then it is a wrong value,
    not a wrong type: no reader can tell it from a true one)."""
    if type(original) is not type(replacement):
        return replacement
    return None if original is not None else "damaged"


def _wrong_types(data: bytes, pick: int, replacement: object) -> bytes:
    """The JSON document (the file, or one of its lines) with one value of another type."""
    def mutate(value: object, depth: int = 0) -> object:
        if isinstance(value, dict) and value:
            keys = sorted(value)
            key = keys[pick % len(keys)]
            value[key] = (_other_type(value[key], replacement) if depth or pick % 3
                          else mutate(value[key], depth + 1))
        elif isinstance(value, list) and value:
            at = pick % len(value)
            value[at] = _other_type(value[at], replacement)
        else:
            return _other_type(value, replacement)
        return value
    text = data.decode(errors="replace")
    try:
        return json.dumps(mutate(json.loads(text))).encode()
    except ValueError:
        lines = text.splitlines()
        if not lines:
            return data
        at = pick % len(lines)
        try:
            lines[at] = json.dumps(mutate(json.loads(lines[at])))
        except ValueError:
            lines[at] = json.dumps(replacement)
        return ("\n".join(lines) + "\n").encode()


WRONG_VALUES = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
                         st.text(max_size=5), st.lists(st.integers(), max_size=2),
                         st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))


Damage = tuple[str, str, Callable[[bytes], bytes | None]]


@st.composite
def damages(draw: st.DrawFn, files: tuple[str, ...]) -> Damage:
    """(file, what was done, how): the damage to apply to one file of the run."""
    name = draw(st.sampled_from(files))
    kind = draw(st.sampled_from(["truncated", "emptied", "random", "non-utf8", "wrong types",
                                 "missing"]))
    if kind == "truncated":
        fraction = draw(st.floats(0, 1, exclude_max=True))
        return name, f"{kind} at {fraction:.4f}", lambda b: b[: int(len(b) * fraction)]
    if kind == "emptied":
        return name, kind, lambda b: b""
    if kind == "random":
        noise = draw(st.binary(min_size=1, max_size=200))
        return name, kind, lambda b: noise
    if kind == "non-utf8":
        fraction = draw(st.floats(0, 1))
        return name, f"{kind} at {fraction:.4f}", lambda b: (
            b[: int(len(b) * fraction)] + b"\xff\xfe\xc3" + b[int(len(b) * fraction):])
    if kind == "wrong types":
        pick, value = draw(st.integers(0, 10**6)), draw(WRONG_VALUES)
        return name, f"{kind}: {value!r}", lambda b: _wrong_types(b, pick, value)
    return name, kind, lambda b: None


def _damaged_copy(base: Baseline, scratch: Path, name: str,
                  how: Callable[[bytes], bytes | None], rebuild: bool) -> Path:
    run_dir = scratch / "damaged"
    shutil.rmtree(run_dir, ignore_errors=True)
    shutil.copytree(base.run_dir, run_dir)
    if rebuild:
        (run_dir / "events.jsonl").unlink()
    target = run_dir / name
    if target.is_file():
        damaged = how(target.read_bytes())
        if damaged is None:
            target.unlink()
        else:
            target.write_bytes(damaged)
    return run_dir


def _run_cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = toygrpc_main(list(argv))
        except SystemExit as exit_:  # argparse
            code = int(exit_.code or 0)
    return code, out.getvalue(), err.getvalue()


def _check(base: Baseline, run_dir: Path, what: str) -> None:
    # the run loader
    try:
        run = load_run(run_dir)
    except UsageError as error:
        assert "\n" not in str(error), what
    else:
        rpcs, complete = len(run.analysis.rpcs), sum(r.complete for r in run.analysis.rpcs)
        if not run.timeline.partial:  # whole, or it must say so
            assert (rpcs, complete) == (base.rpcs, base.complete), (what, run.timeline.losses)
    # show
    code, out, err = _run_cli("show", str(run_dir), "--no-plots", "--width", "100")
    assert "Traceback" not in err, (what, err)
    if code == 2:
        assert len(err.strip().splitlines()) == 1, (what, err)
    else:
        assert code == 0, (what, code, err)
        said = f"{base.complete}/{base.rpcs} RPCs with complete chains"
        assert said in out or "partial run" in err, (what, out[-500:], err)
    # view: the trace it would serve is whole, or it says it is not
    try:
        served = resolve_trace(run_dir)
    except UsageError as error:
        assert "\n" not in str(error), what
    else:
        if served.name.endswith(".json"):
            json.loads(served.read_bytes())
        else:  # the protobuf trace: served only when whole (packet framing checked)
            assert served.stat().st_size > 0, what


@settings(max_examples=EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), rebuild=st.booleans())
def test_a_damaged_run_fails_in_one_line_or_says_it_is_partial(
        plain_run: Baseline, tmp_path: Path, data: st.DataObject, rebuild: bool) -> None:
    name, what, how = data.draw(damages(plain_run.files))
    run_dir = _damaged_copy(plain_run, tmp_path, name, how, rebuild)
    _check(plain_run, run_dir, f"{name} {what}{' (rebuilt)' if rebuild else ''}")


@settings(max_examples=8, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_a_damaged_python_layer_is_counted(python_run: Baseline, tmp_path: Path,
                                           data: st.DataObject) -> None:
    python_files = tuple(f for f in python_run.files if f.endswith(("viztracer.json",
                                                                    "clock.json")))
    name, what, how = data.draw(damages(python_files))
    run_dir = _damaged_copy(python_run, tmp_path, name, how, rebuild=True)
    run = load_run(run_dir)
    whole = json.loads((python_run.run_dir / "events.jsonl").read_text().split("\n", 1)[0])
    if not run.timeline.partial:  # then nothing of the Python layer may be missing
        assert whole["event_count"] == len(run.timeline.events), what
    assert (len(run.analysis.rpcs), sum(r.complete for r in run.analysis.rpcs)) == (
        python_run.rpcs, python_run.complete)
