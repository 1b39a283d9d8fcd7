"""The pictures drawn by a second process: the same files as drawn here, and every way it
can fail said or made up for."""

from __future__ import annotations

import io
from dataclasses import replace
from pathlib import Path

import pytest
from rich.console import Console

from toygrpc.analysis.run import Run
from toygrpc.errors import UsageError
from toygrpc.pipeline import write_plots
from toygrpc.render.pictures import (
    DrawingFailed,
    DrawingProcess,
    Pictures,
    PicturesJob,
    draw_job,
    plots_job,
)

NAMES = ["swimlane.svg", "swimlane.png", "stages.svg", "stages.png"]


def job_for(run_copy: Path, out: Path) -> PicturesJob:
    job = plots_job(Run.load(run_copy), None)
    assert job is not None and job.swimlane is not None
    return replace(job, out_dir=out)


def test_the_drawing_process_writes_the_files_drawing_here_writes(run_copy: Path,
                                                                  tmp_path: Path) -> None:
    process = DrawingProcess()
    process.draw(job_for(run_copy, tmp_path / "there"))
    there = process.result()
    here = draw_job(job_for(run_copy, tmp_path / "here"))
    assert [p.name for p in there] == [p.name for p in here] == NAMES
    for a, b in zip(there, here, strict=True):
        assert a.parent == tmp_path / "there"
        assert a.read_bytes() == b.read_bytes(), a.name  # the very same pictures


def test_a_folder_it_cannot_write_is_an_os_error(run_copy: Path, tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("")
    process = DrawingProcess()
    process.draw(job_for(run_copy, tmp_path / "a-file" / "pictures"))
    with pytest.raises(OSError, match="a-file"):
        process.result()


def test_a_process_that_died_says_so(run_copy: Path, tmp_path: Path) -> None:
    process = DrawingProcess()
    process.process.kill()
    process.draw(job_for(run_copy, tmp_path / "out"))
    with pytest.raises(DrawingFailed, match="exited with status -9"):
        process.result()
    assert not (tmp_path / "out").exists()


def test_without_matplotlib_it_says_what_to_install(run_copy: Path, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """matplotlib refused in the drawing process (a ``sitecustomize`` that hides it): the
    plots' own one-line UsageError comes back."""
    hide = tmp_path / "hide"
    hide.mkdir()
    (hide / "sitecustomize.py").write_text("import sys\nsys.modules['matplotlib'] = None\n")
    monkeypatch.setenv("PYTHONPATH", str(hide))
    process = DrawingProcess()
    process.draw(job_for(run_copy, tmp_path / "out"))
    with pytest.raises(UsageError, match=r"pip install 'toygrpc\[plots\]'"):
        process.result()
    assert not (tmp_path / "out").exists()


def test_write_plots_waits_for_the_pictures_or_draws_them_itself(run_copy: Path) -> None:
    run = Run.load(run_copy)
    console = Console(file=io.StringIO())
    pictures = Pictures()
    pictures.start()
    pictures.send(run)
    assert write_plots(run, None, console, pictures) == [run_copy / n for n in NAMES]
    for name in NAMES:
        (run_copy / name).unlink()
    died = Pictures()
    died.start()
    assert died.process is not None
    died.process.process.kill()
    died.send(run)
    assert write_plots(run, None, console, died) == [run_copy / n for n in NAMES]
    assert all((run_copy / n).stat().st_size > 0 for n in NAMES)
    assert console.file.getvalue() == ""  # type: ignore[attr-defined]
