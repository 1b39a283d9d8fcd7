"""The layering rule holds for the package, and the checker catches a broken one."""

from __future__ import annotations

import shutil
from pathlib import Path

import toygrpc
from toygrpc.testing.layers import ALLOWED, unknown_parts, upward_imports

PACKAGE = Path(toygrpc.__file__).resolve().parent


def test_no_module_imports_a_higher_layer() -> None:
    violations = upward_imports(PACKAGE)
    assert not violations, "\n".join(map(str, violations))


def test_every_part_of_the_package_has_a_place_in_the_rule() -> None:
    assert unknown_parts(PACKAGE) == []


def test_parts_import_each_other_without_cycles() -> None:
    """The allowed graph itself is acyclic: no two parts may import each other."""
    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        for nxt in ALLOWED.get(start, frozenset()):
            if nxt == goal or (nxt not in seen and reaches(nxt, goal, seen | {nxt})):
                return True
        return False

    cycles = [part for part in ALLOWED if reaches(part, part, set())]
    assert cycles == []


def test_renderers_never_import_capture() -> None:
    assert "capture" not in ALLOWED["render"] and "capture" not in ALLOWED["analysis"]
    assert ALLOWED["model"] <= {"errors"}


def _copy(tmp_path: Path) -> Path:
    copy = tmp_path / "toygrpc"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__", "generated"))
    (copy / "generated").mkdir()
    (copy / "generated" / "__init__.py").write_text("")
    return copy


def test_a_reintroduced_upward_import_is_caught(tmp_path: Path) -> None:
    copy = _copy(tmp_path)
    summary = copy / "render" / "summary.py"
    late = "\n\ndef _late() -> None:\n    from toygrpc.capture.launch import capture\n"
    summary.write_text(summary.read_text() + late)
    model = copy / "model" / "timeline.py"
    model.write_text(model.read_text() + "\nfrom ..analysis import chains\n")
    found = {(v.module, v.imported) for v in upward_imports(copy)}
    assert ("toygrpc/render/summary.py", "toygrpc.capture.launch") in found
    assert ("toygrpc/model/timeline.py", "toygrpc.analysis") in found


def test_a_new_top_level_part_must_be_placed(tmp_path: Path) -> None:
    copy = _copy(tmp_path)
    (copy / "newpart.py").write_text("")
    assert unknown_parts(copy) == ["newpart"]
