"""The claims of the documents and the live tests that back them.

The convention every page of ``docs/`` and ``docs/learn/`` follows: each claim is a row
of a markdown table whose header row starts with ``| claim | checked by |`` (more columns
may follow); the first cell starts with the claim's number in parentheses, ``(3) ...``,
and the second names one or more tests as `` `tests/<path>.py::test_<name>` ``. A page
that writes ``(N)`` in its text (a diagram's marker, a reference) must have a row for N.

``docs/claims.md`` is generated from those rows (``python -m toygrpc.testing.claims write
docs/claims.md``); ``problems`` lists everything that breaks the convention: a claim with
no test, a test that does not exist or does not capture live, a numbered claim without a
row, a stale ``docs/claims.md``. ``tests/docs/test_claims.py`` fails on any of them.
"""

from __future__ import annotations

import ast
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

CLAIMS_PAGE = Path("docs") / "claims.md"
HEADER_CELLS = ("claim", "checked by")
TEST_REFERENCE = re.compile(r"`(tests/[\w/]+\.py)::(test_\w+)`")
CLAIM_NUMBER = re.compile(r"^\((\d+)\)\s*")
NUMBER_IN_TEXT = re.compile(r"(?<![\w(])\((\d{1,3})\)(?![\w])")
CODE_SPAN = re.compile(r"`[^`]*`")

# What makes a test live: it captures, starts a process or talks to a real server itself,
# or takes a fixture (defined anywhere under tests/) that does.
LIVE_CALLS: frozenset[str] = frozenset({
    "capture_run", "capture", "trace", "trace_client", "trace_server", "trace_both",
    "trace_script", "run", "Popen", "check_output", "start_server", "asyncio_run",
    "run_hello", "bench", "main", "measure",
})
LIVE_MODULES: frozenset[str] = frozenset({"subprocess", "asyncio", "pipeline"})


@dataclass(frozen=True)
class Claim:
    """One row: the page it is on, its number there, its text and the tests named."""

    page: str
    number: int
    text: str
    tests: tuple[str, ...]


def _cells(line: str) -> list[str]:
    """The cells of a markdown table row (``|`` inside backticks does not split)."""
    body = line.strip()
    body = body.removeprefix("|").removesuffix("|")
    cells, current, quoted = [], "", False
    for char in body:
        if char == "`":
            quoted = not quoted
        if char == "|" and not quoted:
            cells.append(current.strip())
            current = ""
        else:
            current += char
    cells.append(current.strip())
    return cells


def _is_header(line: str) -> bool:
    cells = _cells(line)
    return line.lstrip().startswith("|") and tuple(c.lower() for c in cells[:2]) == HEADER_CELLS


def claim_pages(root: Path) -> list[Path]:
    """Every page whose claims count: docs/*.md and docs/learn/*.md, not claims.md."""
    pages = [*root.glob("docs/*.md"), *root.glob("docs/learn/*.md")]
    return sorted(p for p in pages if p.relative_to(root) != CLAIMS_PAGE)


def claims_of(page: Path, root: Path) -> tuple[list[Claim], list[str]]:
    """The page's claim rows, and the problems with rows of its claim tables."""
    name = str(page.relative_to(root))
    claims: list[Claim] = []
    problems: list[str] = []
    in_table = False
    for number, line in enumerate(page.read_text().splitlines(), 1):
        if _is_header(line):
            in_table = True
            continue
        if not line.lstrip().startswith("|"):
            in_table = False
            continue
        cells = _cells(line)
        if not in_table or set(cells[0]) <= set("-: "):
            continue
        found = CLAIM_NUMBER.match(cells[0])
        if found is None:
            problems.append(f"{name}:{number}: a claim row must start with (N): {cells[0]!r}")
            continue
        tests = tuple(f"{path}::{test}" for path, test in
                      TEST_REFERENCE.findall(cells[1] if len(cells) > 1 else ""))
        if not tests:
            problems.append(f"{name}:{number}: claim ({found.group(1)}) names no test "
                            "as `tests/<path>.py::test_<name>`")
        claims.append(Claim(name, int(found.group(1)), cells[0][found.end():], tests))
    return claims, problems


def numbers_in_text(page: Path) -> set[int]:
    """Every ``(N)`` the page writes outside its claim tables' first cells."""
    found: set[int] = set()
    in_table = False
    for line in page.read_text().splitlines():
        if _is_header(line):
            in_table = True
            continue
        if in_table and line.lstrip().startswith("|"):
            text = " ".join(_cells(line)[1:])
        else:
            in_table = False
            text = line
        found |= {int(n) for n in NUMBER_IN_TEXT.findall(CODE_SPAN.sub("", text))}
    return found


def collect(root: Path) -> tuple[list[Claim], list[str]]:
    """Every claim of every page, and the problems of the pages' rows and numbers."""
    claims: list[Claim] = []
    problems: list[str] = []
    for page in claim_pages(root):
        mine, wrong = claims_of(page, root)
        claims += mine
        problems += wrong
        numbers = [c.number for c in mine]
        name = str(page.relative_to(root))
        for duplicate in sorted({n for n in numbers if numbers.count(n) > 1}):
            problems.append(f"{name}: claim ({duplicate}) has more than one row")
        for missing in sorted(numbers_in_text(page) - set(numbers)):
            problems.append(f"{name}: ({missing}) appears in the text but no claim row has it")
    return claims, problems


@dataclass(frozen=True)
class _Function:
    params: tuple[str, ...]
    calls: frozenset[str]
    is_fixture: bool


def _functions(tree: ast.Module) -> dict[str, _Function]:
    """Every function and class of a module (a class counts as one function: making it
    runs its methods' calls), with its parameters and what it calls."""
    found: dict[str, _Function] = {}
    for node in ast.walk(tree):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            continue
        calls: set[str] = set()
        for inner in ast.walk(node):
            if isinstance(inner, ast.Call):
                target = inner.func
                if isinstance(target, ast.Attribute):
                    calls.add(target.attr)
                    if isinstance(target.value, ast.Name):
                        calls.add(target.value.id + ".")
                elif isinstance(target, ast.Name):
                    calls.add(target.id)
        fixture = any("fixture" in ast.unparse(d) for d in node.decorator_list)
        params: tuple[str, ...] = ()
        if not isinstance(node, ast.ClassDef):
            params = tuple(a.arg for a in [*node.args.posonlyargs, *node.args.args,
                                           *node.args.kwonlyargs])
        found[node.name] = _Function(params, frozenset(calls), fixture)
    return found


class TestIndex:
    """Every function of the test suite, parsed (never imported), to resolve references."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.modules: dict[str, dict[str, _Function]] = {}
        for path in sorted((root / "tests").rglob("*.py")):
            self.modules[str(path.relative_to(root))] = _functions(
                ast.parse(path.read_text(), str(path)))
        self.fixtures: dict[str, list[tuple[str, _Function]]] = {}
        for module, functions in self.modules.items():
            for name, function in functions.items():
                if function.is_fixture:
                    self.fixtures.setdefault(name, []).append((module, function))

    def exists(self, reference: str) -> bool:
        path, name = reference.split("::")
        return name in self.modules.get(path, {})

    def _directly_live(self, module: str, function: _Function, seen: set[str]) -> bool:
        """Calls a live function, or a helper of its module that does."""
        calls = function.calls
        if calls & LIVE_CALLS or {c.rstrip(".") for c in calls if c.endswith(".")} & LIVE_MODULES:
            return True
        for helper in calls:
            key = f"{module}::{helper}"
            local = self.modules[module].get(helper)
            if local is not None and key not in seen:
                seen.add(key)
                if self._directly_live(module, local, seen) or self._takes_live(
                        module, local, seen):
                    return True
        return False

    def _takes_live(self, module: str, function: _Function, seen: set[str]) -> bool:
        for param in function.params:
            for fixture_module, fixture in self.fixtures.get(param, []):
                if not self._visible(fixture_module, module):
                    continue
                key = f"{fixture_module}::{param}"
                if key in seen:
                    continue
                seen.add(key)
                if self._directly_live(fixture_module, fixture, seen) or self._takes_live(
                        fixture_module, fixture, seen):
                    return True
        return False

    @staticmethod
    def _visible(fixture_module: str, test_module: str) -> bool:
        """A fixture serves its own module, and a conftest (or the session's plugin
        module) serves the tests below it."""
        if fixture_module == test_module or fixture_module == "tests/real_runs.py":
            return True
        folder = fixture_module.rsplit("/", 1)[0]
        return fixture_module.endswith("conftest.py") and test_module.startswith(folder + "/")

    def is_live(self, reference: str) -> bool:
        """The test captures live, itself or through a fixture it takes."""
        path, name = reference.split("::")
        function = self.modules[path][name]
        return self._directly_live(path, function, set()) or self._takes_live(
            path, function, set())


def problems(root: Path) -> list[str]:
    """Everything that breaks the convention, one line each (empty: all is well)."""
    claims, found = collect(root)
    index = TestIndex(root)
    for claim in claims:
        for reference in claim.tests:
            where = f"{claim.page} claim ({claim.number})"
            if not index.exists(reference):
                found.append(f"{where}: {reference} does not exist")
            elif not index.is_live(reference):
                found.append(f"{where}: {reference} captures nothing live "
                             "(no capture, process or live fixture)")
    page = root / CLAIMS_PAGE
    if not page.is_file() or page.read_text() != render(claims):
        found.append(f"{CLAIMS_PAGE} is not up to date: python -m toygrpc.testing.claims "
                     f"write {CLAIMS_PAGE}")
    return found


HEADER = """\
# Every claim of the documents, and the live test that backs it

Generated from the pages' claim tables by `python -m toygrpc.testing.claims write
docs/claims.md`; do not edit it by hand. `tests/docs/test_claims.py` fails when this page
is stale, when a claim names no test, names a test that does not exist or that captures
nothing live (it must capture, start a real process, or take a fixture that does), and
when a page writes a numbered claim `(N)` in its text that has no row.

## The convention

In every page of `docs/` and `docs/learn/`, each claim is a row of a markdown table whose
header row is `| claim | checked by |` (further columns may follow). The first cell starts
with the claim's number on that page in parentheses, `(3) ...`; the second names one or
more tests, each as `` `tests/<path>.py::test_<name>` `` (always the full path). The same
number may mark the claim in the page's text or diagrams, `(3)`; every such number needs
its row. A test named there must observe the claim on a live capture (a fresh grpc
process), so that it fails when grpcio's behaviour changes.
"""


def render(claims: Sequence[Claim]) -> str:
    """docs/claims.md: the header, then one table per page."""
    lines = [HEADER]
    pages: dict[str, list[Claim]] = {}
    for claim in claims:
        pages.setdefault(claim.page, []).append(claim)
    lines.append(f"{len(claims)} claims on {len(pages)} pages.\n")
    for page, mine in pages.items():
        link = str(Path(page).relative_to("docs"))
        lines.append(f"## [{page}]({link})\n")
        lines.append("| page's claim | checked by |")
        lines.append("|---|---|")
        for claim in mine:
            tests = " ".join(f"`{t}`" for t in claim.tests)
            lines.append(f"| ({claim.number}) {claim.text} | {tests} |")
        lines.append("")
    return "\n".join(lines)


def main(argv: Iterable[str] | None = None) -> int:
    """``write PATH`` regenerates the page; ``check`` prints every problem."""
    args = list(sys.argv[1:] if argv is None else argv)
    root = Path.cwd()
    if args[:1] == ["write"] and len(args) == 2:
        claims, _ = collect(root)
        Path(args[1]).write_text(render(claims))
        print(f"{args[1]}: {len(claims)} claims")
        return 0
    if args == ["check"]:
        found = problems(root)
        for line in found:
            print(line, file=sys.stderr)
        return 1 if found else 0
    print("usage: python -m toygrpc.testing.claims write docs/claims.md | check",
          file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
