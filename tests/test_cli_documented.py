"""Every ``toygrpc ...`` command the README and docs/ show exists, through the installed
``toygrpc`` console script (the entry point ``[project.scripts]`` declares), with every
option it is shown with.

Kills the listed mutation "``show`` removed from the ``toygrpc`` command" (the README
documents ``toygrpc show``; applied by hand by dropping ``show`` from the modules
``toygrpc.cli.build_parser`` registers: this test fails, where the old
``python -m toygrpc.render.cli`` fallback kept every test passing)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.commands import run_all, toygrpc_script
from tests.conftest import require

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# Words a page puts where a real argument goes: they are not subcommands.
PLACEHOLDERS = {"<command>", "..."}


def documented_commands() -> list[tuple[str, list[str]]]:
    """(page, the words after ``toygrpc``) of every command in a code block or code span."""
    found: dict[tuple[str, str], None] = {}
    for page in PAGES:
        text = page.read_text()
        for block in re.findall(r"```[^\n]*\n(.*?)```", text, re.S):
            for line in block.splitlines():
                line = line.strip().removeprefix("$ ")
                if line.startswith("toygrpc "):
                    found[(page.name, line)] = None
        for span in re.findall(r"`([^`\n]+)`", re.sub(r"```.*?```", "", text, flags=re.S)):
            span = span.strip().removeprefix("$ ")
            if span.startswith("toygrpc "):
                found[(page.name, span)] = None
    return [(page, line.split()[1:]) for page, line in found]


def subcommands(help_text: str) -> set[str]:
    """The subcommands an argparse help lists under its positional arguments."""
    section = help_text.split("positional arguments:", 1)[-1].split("\noptions:", 1)[0]
    return set(re.findall(r"^    ([a-z][\w-]*)", section, re.M))


@pytest.fixture(scope="module")
def helps() -> dict[tuple[str, ...], str]:
    """``toygrpc [PATH...] --help`` of the top level, every command and every mode."""
    script = toygrpc_script()
    require(script is not None, "the toygrpc console script is not installed")
    assert script is not None

    def ask(paths: list[tuple[str, ...]]) -> dict[tuple[str, ...], str]:
        results = run_all({" ".join(p): [script, *p, "--help"] for p in paths})
        out: dict[tuple[str, ...], str] = {}
        for path in paths:
            result: subprocess.CompletedProcess[str] = results[" ".join(path)]
            assert result.returncode == 0 and not result.stderr, (path, result.stderr)
            out[path] = result.stdout
        return out

    found = ask([()])
    level: list[tuple[str, ...]] = [(name,) for name in sorted(subcommands(found[()]))]
    while level:
        answers = ask(level)
        found.update(answers)
        level = [(*path, name) for path, text in answers.items()
                 for name in sorted(subcommands(text))]
    return found


def test_the_pages_show_commands() -> None:
    commands = {words[0] for _, words in documented_commands() if words}
    assert {"trace", "show", "view", "serve", "call", "gen", "bench"} <= commands


@pytest.mark.parametrize("page, words", documented_commands(),
                         ids=lambda v: " ".join(v) if isinstance(v, list) else v)
def test_a_documented_command_exists_with_its_options(
        helps: dict[tuple[str, ...], str], page: str, words: list[str]) -> None:
    path: tuple[str, ...] = ()
    rest = list(words)
    while rest and rest[0] not in PLACEHOLDERS and not rest[0].startswith("-") \
            and not rest[0].isupper() and not rest[0].startswith("["):
        choices = rest[0].split("|")
        known = subcommands(helps[path])
        if not known:
            break  # a command's own argument (a run directory, a script)
        assert set(choices) <= known, (
            f"{page}: `toygrpc {' '.join(words)}`: {rest[0]!r} is not a subcommand of "
            f"`toygrpc {' '.join(path)}` ({', '.join(sorted(known))})")
        path = (*path, choices[0])
        rest.pop(0)
    assert path or rest[0] in ("--version", "<command>", "..."), words
    # The options shown must be accepted there (after "...", by one of the modes).
    if rest and rest[0] == "...":
        texts = [text for p, text in helps.items() if p[:len(path)] == path and p != path]
    else:
        texts = [helps[path]]
    for word in rest:
        option = word.strip("[]")
        if option.startswith("--"):
            assert any(re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", text)
                       for text in texts), f"{page}: `toygrpc {' '.join(words)}`: {option}"


def test_every_command_is_documented(helps: dict[tuple[str, ...], str]) -> None:
    """The other way round: each command of ``toygrpc --help`` is in the README."""
    readme = (ROOT / "README.md").read_text()
    for name in subcommands(helps[()]):
        assert f"toygrpc {name}" in readme, name
    assert {"show", "trace", "view"} <= subcommands(helps[()])
    assert subcommands(helps[("trace",)]) == {"client", "server", "both", "run"}
