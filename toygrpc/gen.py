"""Regenerate the Python code for hello.proto (``toygrpc gen`` or ``python -m toygrpc.gen``).

The .proto files ship inside the package (``toygrpc/proto/``; the clone's top-level
``proto/`` links to them), so generation works the same from a clone and from an
installed wheel. The proto file is mapped onto the virtual path
``toygrpc/generated/hello.proto`` so that protoc itself writes package-absolute imports
(``from toygrpc.generated import hello_pb2``): the generated modules import from the
package with no symlinks and no PYTHONPATH.

protoc and its plugins come from grpcio-tools and mypy-protobuf, the ``[gen]`` extra:
only this command needs them. The mypy plugins run through the interpreter running this
module, so an unactivated virtual environment works as well as one on PATH.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import stat
import sys
import tempfile
from pathlib import Path

from toygrpc.cmdline import OneLineParser, run_guarded
from toygrpc.errors import UsageError

PACKAGE_DIR = Path(__file__).resolve().parent
PROTO_DIR = PACKAGE_DIR / "proto"
GENERATED_DIR = PACKAGE_DIR / "generated"
VIRTUAL_PACKAGE = "toygrpc/generated"
PROTO_FILES = ("hello.proto",)
OUTPUT_KINDS = ("python", "grpc_python", "mypy", "mypy_grpc")
GENERATED_SUFFIXES = ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py", "_pb2_grpc.pyi")
GEN_TOOLS = {"grpc_tools": "grpcio-tools", "mypy_protobuf": "mypy-protobuf"}
INSTALL_HINT = "pip install 'toygrpc[gen]'"
# The mypy plugins of protoc, as mypy-protobuf's console scripts define them.
MYPY_PLUGINS = {"mypy": "main", "mypy_grpc": "grpc"}


def missing_tools(kinds: tuple[str, ...] = OUTPUT_KINDS) -> list[str]:
    """The distributions (of the ``[gen]`` extra) that generation needs and cannot import."""
    needed = ["grpc_tools"] + (["mypy_protobuf"] if set(kinds) & set(MYPY_PLUGINS) else [])
    missing = []
    for name in needed:
        try:
            found = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):  # a module set to None in sys.modules, or broken
            found = False
        if not found:
            missing.append(GEN_TOOLS[name])
    return missing


def require_tools(kinds: tuple[str, ...] = OUTPUT_KINDS) -> None:
    missing = missing_tools(kinds)
    if missing:
        raise UsageError(f"generating the stubs needs {' and '.join(missing)}, which "
                         f"{'is' if len(missing) == 1 else 'are'} not installed: {INSTALL_HINT}")


def _write_plugin(directory: Path, kind: str) -> Path:
    """An executable that runs mypy-protobuf's plugin with this interpreter."""
    path = directory / f"protoc-gen-{kind}"
    path.write_text(f"#!{sys.executable}\nimport sys\n"
                    f"from mypy_protobuf.main import {MYPY_PLUGINS[kind]}\n"
                    f"sys.exit({MYPY_PLUGINS[kind]}())\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


def generate(out_root: Path, proto_dir: Path = PROTO_DIR,
             kinds: tuple[str, ...] = OUTPUT_KINDS) -> list[Path]:
    """Run protoc (from grpcio-tools) and return the generated files under ``out_root``."""
    require_tools(kinds)
    from grpc_tools import protoc  # imported late: only generation needs grpcio-tools

    missing = [name for name in PROTO_FILES if not (proto_dir / name).is_file()]
    if missing:
        raise UsageError(f"no {', '.join(missing)} in {proto_dir}: pass the directory that "
                         "holds it with --proto-path")
    out_root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as plugins:
        args = ["grpc_tools.protoc", f"--proto_path={VIRTUAL_PACKAGE}={proto_dir}"]
        args += [f"--plugin=protoc-gen-{kind}={_write_plugin(Path(plugins), kind)}"
                 for kind in kinds if kind in MYPY_PLUGINS]
        args += [f"--{kind}_out={out_root}" for kind in kinds]
        args += [str(proto_dir / name) for name in PROTO_FILES]
        status = protoc.main(args)
    if status != 0:
        raise UsageError(f"protoc failed with status {status} on {proto_dir} (its message "
                         "is above)")
    return sorted((out_root / VIRTUAL_PACKAGE).glob("*_pb2*.py*"))


def generate_into(target_dir: Path = GENERATED_DIR, proto_dir: Path = PROTO_DIR,
                  kinds: tuple[str, ...] = OUTPUT_KINDS) -> list[Path]:
    """Generate into a scratch directory, then replace the generated files of ``target_dir``."""
    with tempfile.TemporaryDirectory() as scratch:
        produced = generate(Path(scratch), proto_dir, kinds)
        target_dir.mkdir(parents=True, exist_ok=True)
        for old in target_dir.iterdir():
            if old.name.endswith(GENERATED_SUFFIXES):
                old.unlink()
        written = []
        for path in produced:
            dest = target_dir / path.name
            shutil.copyfile(path, dest)
            written.append(dest)
    return written


def is_source_checkout() -> bool:
    """Whether this package is the ``toygrpc/`` of a clone (pip install -e, or PYTHONPATH)."""
    pyproject = PACKAGE_DIR.parent / "pyproject.toml"
    try:
        return 'name = "toygrpc"' in pyproject.read_text()
    except OSError:
        return False


def default_out() -> Path:
    """Where ``toygrpc gen`` writes without --out: the package's own stubs, in a clone only."""
    if not is_source_checkout():
        raise UsageError(f"this toygrpc is installed ({PACKAGE_DIR}), not a source checkout: "
                         "pass --out DIR to write the stubs there")
    return GENERATED_DIR


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    parser = parser or OneLineParser(prog="python -m toygrpc.gen")
    parser.description = (
        "Generate the Python stubs of hello.proto with grpcio-tools (python, grpc_python, "
        "mypy and mypy_grpc outputs). From a clone it rewrites toygrpc/generated/; from an "
        f"installed package pass --out. Needs the [gen] extra: {INSTALL_HINT}.")
    parser.add_argument("--proto-path", type=Path, default=PROTO_DIR, metavar="DIR",
                        help="the directory that holds hello.proto (default: the copy shipped "
                        f"in the package, {PROTO_DIR})")
    parser.add_argument("--out", type=Path, metavar="DIR",
                        help="write the stubs into DIR (default, in a clone only: "
                        "toygrpc/generated/)")
    return parser


def _shown(path: Path) -> str:
    try:
        return os.path.relpath(path)
    except ValueError:  # another drive (Windows)
        return str(path)


def run(args: argparse.Namespace) -> int:
    proto_dir: Path = args.proto_path
    if not proto_dir.is_dir():
        raise UsageError(f"--proto-path {proto_dir} is not a directory")
    out: Path = args.out if args.out is not None else default_out()
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file, not a directory")
    for path in generate_into(out, proto_dir):
        print(f"wrote {_shown(path)}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_guarded("toygrpc gen", lambda: run(args))


if __name__ == "__main__":
    sys.exit(main())
