"""toygrpc.gen: the committed stubs are exactly what the shipped proto and the pinned
grpcio-tools make.

A change to proto/hello.proto without ``toygrpc gen``, or a grpcio-tools (or mypy-protobuf)
that writes different code, fails here.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from toygrpc import gen

GENERATED_NAMES = {"hello_pb2.py", "hello_pb2.pyi", "hello_pb2_grpc.py", "hello_pb2_grpc.pyi"}
METHODS = ["Hello", "HelloServerStream", "HelloClientStream", "HelloBidiStream"]


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """One regeneration from proto/ into a scratch directory: file name -> contents."""
    out = tmp_path_factory.mktemp("generated")
    written = gen.generate_into(out)
    assert all(path.parent == out for path in written)
    return {path.name: path.read_bytes() for path in written}


def test_generation_writes_the_four_outputs(fresh: dict[str, bytes]) -> None:
    assert set(fresh) == GENERATED_NAMES
    committed = {p.name for p in gen.GENERATED_DIR.iterdir() if p.name.endswith(
        gen.GENERATED_SUFFIXES)}
    assert committed == GENERATED_NAMES


@pytest.mark.parametrize("name", sorted(GENERATED_NAMES))
def test_committed_file_is_byte_identical(fresh: dict[str, bytes], name: str) -> None:
    committed = (gen.GENERATED_DIR / name).read_bytes()
    assert committed == fresh[name], (
        f"toygrpc/generated/{name} differs from a fresh generation: run `toygrpc gen`")


def test_a_proto_change_changes_the_output(tmp_path: Path, fresh: dict[str, bytes]) -> None:
    """The comparison above can fail: an edited proto gives different stubs."""
    proto_dir = tmp_path / "proto"
    shutil.copytree(gen.PROTO_DIR, proto_dir)
    proto = proto_dir / "hello.proto"
    proto.write_text(proto.read_text().replace(
        "message HelloResponse {\n  string x = 1;\n}",
        "message HelloResponse {\n  string x = 1;\n  int32 n = 2;\n}"))
    changed = {p.name: p.read_bytes() for p in gen.generate_into(tmp_path / "out", proto_dir)}
    assert changed["hello_pb2.py"] != fresh["hello_pb2.py"]
    assert changed["hello_pb2.pyi"] != fresh["hello_pb2.pyi"]


def test_generate_into_replaces_only_generated_files(tmp_path: Path) -> None:
    (tmp_path / "stale_pb2.py").write_text("stale = True\n")
    (tmp_path / "stale_pb2_grpc.pyi").write_text("")
    (tmp_path / "__init__.py").write_text("# kept\n")
    (tmp_path / "notes.txt").write_text("kept\n")
    gen.generate_into(tmp_path)
    assert {p.name for p in tmp_path.iterdir()} == GENERATED_NAMES | {"__init__.py", "notes.txt"}
    assert (tmp_path / "__init__.py").read_text() == "# kept\n"


def test_generation_does_not_depend_on_the_working_directory(
        tmp_path: Path, fresh: dict[str, bytes]) -> None:
    out = tmp_path / "out"
    code = f"import pathlib, toygrpc.gen; toygrpc.gen.generate_into(pathlib.Path({str(out)!r}))"
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                            text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert {p.name: p.read_bytes() for p in out.iterdir()} == fresh


def test_stubs_import_from_the_package(fresh: dict[str, bytes]) -> None:
    line = b"from toygrpc.generated import hello_pb2 as"
    assert line in fresh["hello_pb2_grpc.py"]
    assert b"from toygrpc.generated import hello_pb2 as" in fresh["hello_pb2_grpc.pyi"]
    assert b"\nimport hello_pb2" not in fresh["hello_pb2_grpc.py"]


def test_stubs_import_with_no_path_tricks(tmp_path: Path) -> None:
    """In a fresh interpreter, away from the checkout and with no PYTHONPATH."""
    code = (
        "import sys\n"
        "from toygrpc.generated import hello_pb2_grpc\n"
        "print(hello_pb2_grpc.toygrpc_dot_generated_dot_hello__pb2.__name__)\n"
        "print(hello_pb2_grpc.HelloServiceStub.__module__)\n"
        "print(sorted(m for m in sys.modules if m.startswith('hello')))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "toygrpc.generated.hello_pb2", "toygrpc.generated.hello_pb2_grpc", "[]"]


def test_service_full_name_has_no_proto_package() -> None:
    from toygrpc.generated import hello_pb2, hello_pb2_grpc

    assert hello_pb2.DESCRIPTOR.package == ""
    service = hello_pb2.DESCRIPTOR.services_by_name["HelloService"]
    assert service.full_name == "HelloService"
    assert [m.name for m in service.methods] == METHODS
    assert [m.full_name for m in service.methods] == [f"HelloService.{m}" for m in METHODS]
    assert hello_pb2.HelloRequest.DESCRIPTOR.full_name == "HelloRequest"
    # The stub calls the plain path, as grpcurl's 'HelloService/Hello' does.
    assert b"'/HelloService/Hello'" in Path(hello_pb2_grpc.__file__).read_bytes()


def test_method_shapes() -> None:
    from toygrpc.generated import hello_pb2

    methods = hello_pb2.DESCRIPTOR.services_by_name["HelloService"].methods_by_name
    shapes = {name: (m.client_streaming, m.server_streaming) for name, m in methods.items()}
    assert shapes == {
        "Hello": (False, False),
        "HelloServerStream": (False, True),
        "HelloClientStream": (True, False),
        "HelloBidiStream": (True, True),
    }


def test_the_top_level_proto_is_the_shipped_one(repo_root: Path) -> None:
    """proto/ (the layout the README promises) and toygrpc/proto/ (what the wheel ships)
    cannot drift: the top-level file is a link to the package's."""
    top = repo_root / "proto" / "hello.proto"
    assert top.read_bytes() == (gen.PROTO_DIR / "hello.proto").read_bytes()
    assert top.resolve() == (gen.PROTO_DIR / "hello.proto").resolve()
    assert repo_root / "toygrpc" / "proto" == gen.PROTO_DIR


def _gen(*args: str, cwd: Path, prelude: str = "") -> subprocess.CompletedProcess[str]:
    code = f"{prelude}import sys; from toygrpc.gen import main; sys.exit(main({list(args)!r}))"
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True,
                          timeout=120, check=False)


def test_gen_command_with_proto_path_and_out(tmp_path: Path, fresh: dict[str, bytes]) -> None:
    shutil.copytree(gen.PROTO_DIR, tmp_path / "protos")
    result = _gen("--proto-path", "protos", "--out", "stubs", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert {p.name: p.read_bytes() for p in (tmp_path / "stubs").iterdir()} == fresh
    assert result.stdout.splitlines() == [f"wrote stubs/{name}" for name in sorted(fresh)]


@pytest.mark.parametrize("args, words", [
    (["--proto-path", "nowhere", "--out", "x"], ["--proto-path nowhere is not a directory"]),
    (["--proto-path", ".", "--out", "x"], ["no hello.proto in", "--proto-path"]),
    (["--bogus"], ["unrecognized arguments: --bogus"]),
])
def test_gen_bad_input_is_one_line(tmp_path: Path, args: list[str], words: list[str]) -> None:
    result = _gen(*args, cwd=tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and result.stderr.count("\n") == 1, result.stderr
    for word in words:
        assert word in result.stderr
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("module, distribution", [("grpc_tools", "grpcio-tools"),
                                                  ("mypy_protobuf", "mypy-protobuf")])
def test_without_the_gen_extra_says_what_to_install(tmp_path: Path, module: str,
                                                    distribution: str) -> None:
    """As if the [gen] extra were not installed: the import of its module fails."""
    result = _gen("--out", "stubs", cwd=tmp_path,
                  prelude=f"import sys; sys.modules[{module!r}] = None; ")
    assert result.returncode == 2
    assert result.stderr == (f"toygrpc gen: generating the stubs needs {distribution}, which is "
                             "not installed: pip install 'toygrpc[gen]'\n")
    assert not (tmp_path / "stubs").exists()
