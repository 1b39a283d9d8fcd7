"""The package's layering rule, as data and a checker (used by the test suite).

Data flows one way: capture -> model -> analysis -> render, with the pipeline and the
command line on top. Each top-level part of ``toygrpc`` may import only the parts listed
for it here; ``upward_imports`` finds every import (at any depth, also inside
functions) that breaks the rule, so a reintroduced upward import fails a test.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

# part -> the parts it may import (besides itself). A part is a subpackage or a module
# directly under toygrpc/.
LEAVES: frozenset[str] = frozenset({"errors", "cmdline", "addresses", "forked"})
SERVICE: frozenset[str] = frozenset({"generated", "workload", "client", "server", "gen",
                                     "interop"})
ALLOWED: dict[str, frozenset[str]] = {
    "errors": frozenset(),
    "cmdline": frozenset({"errors"}),
    "addresses": frozenset({"errors"}),
    "forked": frozenset(),
    "__init__": frozenset({"api"}),  # the API, imported on first use of an attribute
    "__main__": frozenset({"cli"}),
    "model": frozenset({"errors"}),
    "generated": frozenset(),
    "workload": LEAVES,
    "client": LEAVES | {"generated", "workload"},
    "server": LEAVES | {"generated", "workload"},
    "gen": LEAVES,
    "interop": LEAVES | {"workload"},
    "analysis": LEAVES | {"model"},
    "capture": LEAVES | SERVICE | {"model"},
    "render": LEAVES | {"model", "analysis"},
    "viewer": LEAVES | {"model"},
    "testing": LEAVES | {"model", "viewer"},
    "pipeline": LEAVES | {"model", "analysis", "capture", "render"},
    "bench": LEAVES | SERVICE | {"model", "analysis", "capture", "pipeline"},
    "cli": LEAVES | SERVICE | {"model", "analysis", "capture", "render", "pipeline",
                               "viewer", "bench", "__init__"},
    "api": LEAVES | {"model", "analysis", "capture", "render", "pipeline"},
}


@dataclass(frozen=True)
class Violation:
    """``module`` (a file) imports ``imported``, which its part may not."""

    module: str
    line: int
    imported: str

    def __str__(self) -> str:
        return f"{self.module}:{self.line} imports {self.imported}"


def part_of(module: str) -> str:
    """``toygrpc.render.perfetto`` -> ``render``; ``toygrpc.cli`` -> ``cli``."""
    pieces = module.split(".")
    return pieces[1] if len(pieces) > 1 else "__init__"


def module_name(package_root: Path, path: Path) -> str:
    relative = path.relative_to(package_root.parent).with_suffix("")
    parts = list(relative.parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path, module: str) -> list[tuple[int, str]]:
    """Every project module ``path`` imports, absolute or relative, at any depth."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            if base == "toygrpc":  # from toygrpc import client, server
                found.extend((node.lineno, f"toygrpc.{alias.name}") for alias in node.names)
            else:
                found.append((node.lineno, base))
    return [(line, name) for line, name in found
            if name == "toygrpc" or name.startswith("toygrpc.")]


def upward_imports(package_root: Path) -> list[Violation]:
    """Every import in the package that its layer does not allow."""
    violations = []
    for path in sorted(package_root.rglob("*.py")):
        module = module_name(package_root, path)
        part = part_of(module)
        allowed = ALLOWED.get(part)
        for line, imported in imports_of(path, module):
            target = part_of(imported)
            if target == part:
                continue
            if allowed is None or target not in allowed:
                violations.append(Violation(str(path.relative_to(package_root.parent)), line,
                                            imported))
    return violations


def unknown_parts(package_root: Path) -> list[str]:
    """Top-level parts of the package the rule does not place (a new one must be placed)."""
    names = {p.stem for p in package_root.glob("*.py")}
    names |= {p.name for p in package_root.iterdir()
              if p.is_dir() and (p / "__init__.py").is_file()}
    return sorted(names - set(ALLOWED) - {"py"})
