"""toygrpc as a user installs it: a wheel, in a fresh virtual environment, used from elsewhere.

The wheel is built from a copy of the sources and installed, alone, into a new virtual
environment. Its dependencies (grpcio, protobuf, viztracer...) are not downloaded again:
a ``.pth`` file appends the site-packages of the interpreter running the tests after the
venv's own (``--system-site-packages`` would give the base interpreter's, not those of a
venv the tests may run in). So the venv imports toygrpc from the wheel, never from the
clone (no PYTHONPATH, and the commands run from a directory outside it); the wheel's
declared dependencies are checked against what the venv sees; the module takes seconds.
pip installs with ``--ignore-installed --no-deps``: it never touches the test interpreter's
own installation of toygrpc.
"""

from __future__ import annotations

import email.parser
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.commands import RUN_TIMEOUT_S
from toygrpc import gen
from toygrpc.workload import READY_PREFIX

REPO = Path(__file__).resolve().parent.parent
NOT_SOURCES = shutil.ignore_patterns(".git", "build", "dist", "*.egg-info", "__pycache__",
                                     "node_modules", "runs", ".venv", ".*_cache", "ci")


@dataclass(frozen=True)
class Installed:
    wheel: Path
    venv: Path
    bin: Path
    elsewhere: Path  # a directory outside the clone to run the commands from
    env: dict[str, str]

    def toygrpc(self, *args: str, timeout: float = RUN_TIMEOUT_S
                ) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(self.bin / "toygrpc"), *args], cwd=self.elsewhere,
                              env=self.env, capture_output=True, text=True, timeout=timeout,
                              check=False)


def _site_dirs() -> list[str]:
    paths = sysconfig.get_paths()
    return sorted({paths["purelib"], paths["platlib"]})


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installed]:
    root = tmp_path_factory.mktemp("install")
    sources = root / "src"
    shutil.copytree(REPO, sources, symlinks=True, ignore=NOT_SOURCES)
    dist = root / "dist"
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "--no-index", "-q", "-w", str(dist), str(sources)],
        capture_output=True, text=True, timeout=300, check=False)
    assert build.returncode == 0, build.stderr
    (wheel,) = dist.glob("toygrpc-*.whl")

    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True,
                   timeout=120)
    python = venv / "bin" / "python"
    venv_site = subprocess.run([str(python), "-c", "import sysconfig; "
                                "print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip()
    # The test interpreter's packages, after the venv's own: dependencies without a download.
    (Path(venv_site) / "_test_interpreter_site.pth").write_text("\n".join(_site_dirs()) + "\n")
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env["PATH"] = os.pathsep.join([str(venv / "bin"), env.get("PATH", "")])
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "--no-index", "--no-cache-dir", "-q",
         "--ignore-installed", "--no-deps", "--disable-pip-version-check", str(wheel)],
        capture_output=True, text=True, env=env, timeout=300, check=False)
    assert install.returncode == 0, install.stderr
    elsewhere = root / "elsewhere"
    elsewhere.mkdir()
    yield Installed(wheel, venv, venv / "bin", elsewhere, env)


def test_the_venv_imports_toygrpc_from_the_wheel(installed: Installed) -> None:
    result = subprocess.run([str(installed.bin / "python"), "-c",
                             "import toygrpc, toygrpc.generated.hello_pb2 as m; "
                             "print(toygrpc.__file__); print(m.__file__)"],
                            cwd=installed.elsewhere, env=installed.env, capture_output=True,
                            text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    for line in result.stdout.splitlines():
        assert line.startswith(str(installed.venv)), line


def test_the_wheel_ships_the_proto_and_the_license(installed: Installed) -> None:
    with zipfile.ZipFile(installed.wheel) as wheel:
        names = set(wheel.namelist())
        assert wheel.read("toygrpc/proto/hello.proto") == (gen.PROTO_DIR / "hello.proto"
                                                           ).read_bytes()
        (metadata_name,) = [n for n in names if n.endswith(".dist-info/METADATA")]
        metadata = email.parser.Parser().parsestr(wheel.read(metadata_name).decode())
    assert {"toygrpc/py.typed", "toygrpc/generated/hello_pb2.pyi"} <= names
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    assert not [n for n in names if n.startswith(("proto/", "interop/", "tests/"))]
    assert metadata["License-Expression"] == "Apache-2.0"
    assert "Programming Language :: Python :: 3.11" in metadata.get_all("Classifier", [])
    requires = metadata.get_all("Requires-Dist", [])
    unconditional = {r.split(";")[0].split(">")[0].split("=")[0].split("<")[0].strip()
                     for r in requires if "extra ==" not in r}
    # What only `gen` and the plots need is not installed for the main job.
    assert not unconditional & {"grpcio-tools", "mypy-protobuf", "matplotlib"}
    assert {"grpcio", "protobuf", "viztracer", "rich"} <= unconditional
    assert {"gen", "plots", "test"} <= set(metadata.get_all("Provides-Extra", []))


def test_the_declared_dependencies_are_what_runs_the_tests(installed: Installed) -> None:
    """Every requirement of the main job is met by the packages the venv imports."""
    from importlib import metadata

    from packaging.requirements import Requirement

    with zipfile.ZipFile(installed.wheel) as wheel:
        (name,) = [n for n in wheel.namelist() if n.endswith(".dist-info/METADATA")]
        parsed = email.parser.Parser().parsestr(wheel.read(name).decode())
    for line in parsed.get_all("Requires-Dist", []):
        requirement = Requirement(line)
        if requirement.marker is not None:  # an extra's
            continue
        version = metadata.version(requirement.name)
        assert requirement.specifier.contains(version, prereleases=True), (line, version)


def test_version(installed: Installed) -> None:
    result = installed.toygrpc("--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "toygrpc 0.1.0\n"


def test_gen_writes_the_committed_stubs_from_the_shipped_proto(installed: Installed) -> None:
    out = installed.elsewhere / "stubs"
    result = installed.toygrpc("gen", "--out", str(out), timeout=120)
    assert result.returncode == 0, result.stderr
    written = sorted(p.name for p in out.iterdir())
    assert written == ["hello_pb2.py", "hello_pb2.pyi", "hello_pb2_grpc.py", "hello_pb2_grpc.pyi"]
    for name in written:
        assert (out / name).read_bytes() == (gen.GENERATED_DIR / name).read_bytes(), name
    assert result.stdout.splitlines() == [f"wrote stubs/{name}" for name in written]


def test_gen_with_a_proto_path(installed: Installed) -> None:
    proto = installed.elsewhere / "myproto"
    proto.mkdir()
    (proto / "hello.proto").write_bytes((gen.PROTO_DIR / "hello.proto").read_bytes())
    result = installed.toygrpc("gen", "--proto-path", "myproto", "--out", "stubs2",
                               timeout=120)
    assert result.returncode == 0, result.stderr
    assert ((installed.elsewhere / "stubs2" / "hello_pb2.py").read_bytes()
            == (gen.GENERATED_DIR / "hello_pb2.py").read_bytes())


def test_gen_never_writes_into_the_installed_package(installed: Installed) -> None:
    result = installed.toygrpc("gen")
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert "not a source checkout: pass --out DIR" in result.stderr


def test_serve_and_call(installed: Installed) -> None:
    server = subprocess.Popen([str(installed.bin / "toygrpc"), "serve", "--bind", "localhost:0"],
                              cwd=installed.elsewhere, env=installed.env, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert server.stdout is not None
        line = server.stdout.readline()
        assert line.startswith(READY_PREFIX), line
        address = line[len(READY_PREFIX):].strip()
        result = installed.toygrpc("call", "--target", address, "--method", "all", "--json")
        assert result.returncode == 0, result.stderr
        report = json.loads(result.stdout)
        assert report["ok"] and len(report["replies"]) == 4
        assert report["replies"][0] == ["Hello, hey!"]
    finally:
        server.terminate()
        server.wait(timeout=20)
    assert server.returncode == 0


def test_trace_client(installed: Installed) -> None:
    result = installed.toygrpc("trace", "client", "--rpcs", "3", "--out", "run",
                               timeout=300)
    assert result.returncode == 0, result.stderr
    run = installed.elsewhere / "run"
    summary = json.loads((run / "summary.json").read_text())
    assert summary["rpc_count"] == summary["complete_rpcs"] == 3
    manifest = json.loads((run / "capture.json").read_text())
    assert manifest["versions"]["executable"] == str(installed.bin / "python")
    assert (run / "trace.perfetto-trace").is_file()
    assert (run / "client" / "viztracer.json").is_file()
    assert "Hello" in result.stdout  # the report on the terminal


def test_completion_script_from_the_installed_command(installed: Installed) -> None:
    result = installed.toygrpc("completion", "bash")
    assert result.returncode == 0, result.stderr
    assert "complete " in result.stdout and "_shtab_toygrpc" in result.stdout


def test_a_wheel_built_from_the_sdist_ships_the_proto_too(
        tmp_path_factory: pytest.TempPathFactory) -> None:
    """Where no wheel fits, pip builds one from the sdist: the proto and LICENSE are in it."""
    root = tmp_path_factory.mktemp("sdist")
    sources = root / "src"
    shutil.copytree(REPO, sources, symlinks=True, ignore=NOT_SOURCES)
    built = subprocess.run(
        [sys.executable, "-c", "import setuptools.build_meta as backend; "
         "print(backend.build_sdist('dist'))"],
        cwd=sources, capture_output=True, text=True, timeout=300, check=False)
    assert built.returncode == 0, built.stderr
    sdist = sources / "dist" / built.stdout.strip().splitlines()[-1]
    wheel = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "--no-index", "-q", "-w", str(root / "wheels"), str(sdist)],
        capture_output=True, text=True, timeout=300, check=False)
    assert wheel.returncode == 0, wheel.stderr
    (path,) = (root / "wheels").glob("toygrpc-*.whl")
    with zipfile.ZipFile(path) as archive:
        assert archive.read("toygrpc/proto/hello.proto") == (gen.PROTO_DIR / "hello.proto"
                                                             ).read_bytes()
        assert any(n.endswith(".dist-info/licenses/LICENSE") for n in archive.namelist())
