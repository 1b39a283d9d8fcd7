"""Regenerate the Python code for proto/hello.proto (python -m toygrpc.gen).

The seed ran protoc with python, grpc_python, mypy and mypy_grpc outputs into a
directory reached through a symlink. Here the proto file is mapped onto the
virtual path ``toygrpc/generated/hello.proto`` so that protoc itself writes
package-absolute imports (``from toygrpc.generated import hello_pb2``): the
generated modules import from the package with no symlinks and no PYTHONPATH.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
PROTO_DIR = REPO_ROOT / "proto"
GENERATED_DIR = Path(__file__).resolve().parent / "generated"
VIRTUAL_PACKAGE = "toygrpc/generated"
PROTO_FILES = ("hello.proto",)
OUTPUT_KINDS = ("python", "grpc_python", "mypy", "mypy_grpc")
GENERATED_SUFFIXES = ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py", "_pb2_grpc.pyi")


def generate(out_root: Path, proto_dir: Path = PROTO_DIR,
             kinds: tuple[str, ...] = OUTPUT_KINDS) -> list[Path]:
    """Run protoc (from grpcio-tools) and return the generated files under ``out_root``."""
    from grpc_tools import protoc  # imported late: only generation needs grpcio-tools

    out_root.mkdir(parents=True, exist_ok=True)
    args = ["grpc_tools.protoc", f"--proto_path={VIRTUAL_PACKAGE}={proto_dir}"]
    args += [f"--{kind}_out={out_root}" for kind in kinds]
    args += [str(proto_dir / name) for name in PROTO_FILES]
    status = protoc.main(args)
    if status != 0:
        raise RuntimeError(f"protoc failed with status {status}: {' '.join(args)}")
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="toygrpc gen",
        description="Regenerate toygrpc/generated/ from proto/*.proto with grpcio-tools "
        "(python, grpc_python, mypy and mypy_grpc outputs).",
    )
    parser.parse_args(argv)
    if not PROTO_DIR.is_dir():
        print(f"toygrpc gen: no proto directory at {PROTO_DIR}: run it from a source checkout",
              file=sys.stderr)
        return 2
    for path in generate_into():
        print(f"wrote {path.relative_to(REPO_ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
