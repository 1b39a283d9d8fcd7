"""docs/claims.md: every claim of the documents has a live test, and the page is up to
date (``toygrpc.testing.claims``); and the checker itself catches each way a page can
break the convention."""

from __future__ import annotations

from pathlib import Path

import pytest

from toygrpc.testing.claims import CLAIMS_PAGE, collect, main, problems, render

ROOT = Path(__file__).resolve().parents[2]

LIVE_TEST = '''
import subprocess
import pytest

@pytest.fixture
def capture_one():
    return subprocess.run(["true"], check=True)

def test_live(capture_one):
    assert capture_one.returncode == 0

def test_spawns():
    subprocess.run(["true"], check=True)

def test_reads_a_committed_fixture():
    assert open("tests/fixtures/run.json").read()
'''


def test_every_claim_of_the_documents_has_a_live_test() -> None:
    found = problems(ROOT)
    assert not found, "\n".join(found)


def test_the_claims_page_holds_every_page_with_claims() -> None:
    claims, _ = collect(ROOT)
    pages = {c.page for c in claims}
    assert {"docs/server-runtime.md", "docs/client-runtime.md",
            "docs/protobuf-serialization.md", "docs/capture.md"} <= pages
    text = (ROOT / CLAIMS_PAGE).read_text()
    assert all(f"## [{page}]" in text for page in pages)
    assert "| claim | checked by |" in (ROOT / "docs" / "architecture.md").read_text()


def make_root(tmp_path: Path, page: str) -> Path:
    (tmp_path / "docs" / "learn").mkdir(parents=True)
    (tmp_path / "tests" / "docs").mkdir(parents=True)
    (tmp_path / "tests" / "docs" / "test_x.py").write_text(LIVE_TEST)
    (tmp_path / "docs" / "learn" / "01-x.md").write_text(page)
    claims, _ = collect(tmp_path)
    (tmp_path / CLAIMS_PAGE).write_text(render(claims))
    return tmp_path


def test_a_page_that_keeps_the_convention_passes(tmp_path: Path) -> None:
    root = make_root(tmp_path, "Text (1) and (2).\n\n| claim | checked by |\n|---|---|\n"
                     "| (1) one | `tests/docs/test_x.py::test_live` |\n"
                     "| (2) two | `tests/docs/test_x.py::test_spawns` "
                     "`tests/docs/test_x.py::test_live` |\n")
    assert problems(root) == []
    claims, _ = collect(root)
    assert [(c.number, len(c.tests)) for c in claims] == [(1, 1), (2, 2)]


def test_each_broken_rule_is_reported(tmp_path: Path) -> None:
    root = make_root(tmp_path, "See (1), (2), (3), (4) and (5).\n\n"
                     "| claim | checked by |\n|---|---|\n"
                     "| (1) no test named | the suite |\n"
                     "| (2) a short name | `test_live` |\n"
                     "| (3) a missing test | `tests/docs/test_x.py::test_gone` |\n"
                     "| (4) a test that reads a fixture | "
                     "`tests/docs/test_x.py::test_reads_a_committed_fixture` |\n"
                     "| no number | `tests/docs/test_x.py::test_live` |\n")
    found = "\n".join(problems(root))
    assert "claim (1) names no test" in found
    assert "claim (2) names no test" in found
    assert "test_gone does not exist" in found
    assert "test_reads_a_committed_fixture captures nothing live" in found
    assert "(5) appears in the text but no claim row has it" in found
    assert "must start with (N)" in found
    (root / "docs" / "learn" / "01-x.md").write_text(
        "| claim | checked by |\n|---|---|\n| (1) new | `tests/docs/test_x.py::test_live` |\n")
    assert any("not up to date" in line for line in problems(root))


def test_write_regenerates_the_page(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = make_root(tmp_path, "| claim | checked by |\n|---|---|\n"
                     "| (1) one | `tests/docs/test_x.py::test_live` |\n")
    (root / CLAIMS_PAGE).unlink()
    monkeypatch.chdir(root)
    assert main(["write", str(CLAIMS_PAGE)]) == 0
    assert main(["check"]) == 0
    assert main(["bogus"]) == 2
