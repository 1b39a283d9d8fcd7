"""The ``toygrpc`` command line: input a user can get wrong is one line and exit 2; a call
that was made and failed is one line and exit 64 + its gRPC status code.

Every failing command runs as its own process (no traceback may leak) and all of them
run side by side, once per module, in ``outcomes``; each test then checks one of them.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator

import pytest

from tests.commands import (
    EXPECTED_ALL,
    free_port,
    module,
    one_line_error,
    one_line_rpc_failure,
    port_of,
    run_all,
    silent_listener,
    toygrpc_script,
)
from tests.conftest import require

# grpc.StatusCode values: `toygrpc call` exits with 64 + the code of a failed RPC.
DEADLINE_EXCEEDED, UNAVAILABLE = 4, 14
MALFORMED = ["foo", "host:", ":80", "host:99999", "[::1", "localhost:²"]
Outcomes = dict[str, subprocess.CompletedProcess[str]]


@pytest.fixture(scope="module")
def toygrpc() -> str:
    script = toygrpc_script()
    require(script is not None, "the toygrpc console script is not installed")
    assert script is not None
    return script


@pytest.fixture(scope="module")
def held_ipv4_port() -> Iterator[int]:
    """A port held by a plain IPv4 listener, not by a toygrpc server."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        yield int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def addresses(hello_server: str, held_ipv4_port: int) -> Iterator[dict[str, str]]:
    with silent_listener() as silent:
        yield {
            "server": hello_server,
            "port": str(port_of(hello_server)),
            "held": str(held_ipv4_port),
            "refused4": f"127.0.0.1:{free_port('127.0.0.1')}",
            "refused6": f"[::1]:{free_port('::1')}",
            "silent": f"127.0.0.1:{silent}",
        }


def commands(toygrpc: str, a: dict[str, str]) -> dict[str, list[str]]:
    cmds = {
        # port in use: by the session's server (both families), or by any IPv4 listener
        "in-use-localhost": [toygrpc, "serve", "--bind", f"localhost:{a['port']}"],
        "in-use-127": [toygrpc, "serve", "--bind", f"127.0.0.1:{a['port']}"],
        "in-use-v6": [toygrpc, "serve", "--bind", f"[::1]:{a['port']}"],
        "in-use-module": module("toygrpc.server", "--bind", f"localhost:{a['port']}"),
        "in-use-plain-socket": [toygrpc, "serve", "--bind", f"localhost:{a['held']}"],
        "bind-not-local": [toygrpc, "serve", "--bind", "192.0.2.1:8080"],
        # the server is not there, or never answers
        "refused4": [toygrpc, "call", "--target", a["refused4"]],
        "refused6": [toygrpc, "call", "--target", a["refused6"]],
        # (against the real server a 1 us deadline is not always missed: on a fast
        # loopback the whole call can finish within grpc's millisecond timer resolution)
        "deadline": [toygrpc, "call", "--target", a["silent"], "--timeout", "0.000001"],
        "deadline-slow": [toygrpc, "call", "--target", a["silent"], "--timeout", "0.3"],
        # bad arguments
        "rpcs-0": [toygrpc, "call", "--rpcs", "0"],
        "rpcs-0-module": module("toygrpc.client", "--rpcs", "0"),
        "rpcs-word": [toygrpc, "call", "--rpcs", "many"],
        "concurrency-0": [toygrpc, "call", "--concurrency", "0"],
        "method-unknown": [toygrpc, "call", "--method", "sideways"],
        "timeout-0": [toygrpc, "call", "--timeout", "0"],
        "timeout-nan": [toygrpc, "call", "--timeout", "nan"],
        "timeout-inf": [toygrpc, "call", "--target", a["server"], "--timeout", "inf"],
        "timeout-1e10": [toygrpc, "call", "--target", a["server"], "--timeout", "1e10"],
        "unknown-subcommand": [toygrpc, "frobnicate"],
        "unknown-subcommand-module": module("toygrpc", "frobnicate"),
        "no-subcommand": [toygrpc],
        "serve-unknown-option": [toygrpc, "serve", "--port", "80"],
        "trace-unknown-option": [toygrpc, "trace", "client", "--bogus"],
        "server-module-unknown-option": module("toygrpc.server", "--port", "80"),
        # these must work
        "help": [toygrpc, "--help"],
        "version": [toygrpc, "--version"],
        "version-module": module("toygrpc", "--version"),
        "help-module": module("toygrpc", "--help"),
        "serve-help": [toygrpc, "serve", "--help"],
        "call-help": [toygrpc, "call", "--help"],
        "gen-help": [toygrpc, "gen", "--help"],
        "call-module": module("toygrpc", "call", "--target", a["server"], "--method", "all"),
        "call-long-timeout": [toygrpc, "call", "--target", a["server"], "--timeout", "31536000"],
    }
    for i, bad in enumerate(MALFORMED):
        cmds[f"malformed-bind-{i}"] = [toygrpc, "serve", "--bind", bad]
        cmds[f"malformed-target-{i}"] = [toygrpc, "call", "--target", bad]
    cmds["malformed-target-module"] = module("toygrpc.client", "--target", "foo")
    return cmds


@pytest.fixture(scope="module")
def outcomes(toygrpc: str, addresses: dict[str, str]) -> Outcomes:
    # A serve that wrongly starts runs until this kills it: then it fails its test.
    return run_all(commands(toygrpc, addresses), timeout=20)


# Port in use, address not local --------------------------------------------------------


@pytest.mark.parametrize("case", ["in-use-localhost", "in-use-127", "in-use-v6",
                                  "in-use-module"])
def test_port_already_in_use(outcomes: Outcomes, addresses: dict[str, str], case: str) -> None:
    line = one_line_error(outcomes[case])
    port = addresses["port"]
    assert line.startswith(f"toygrpc serve: port {port} is already in use on "), line
    assert "--bind" in line


def test_port_held_by_another_program(outcomes: Outcomes, addresses: dict[str, str]) -> None:
    line = one_line_error(outcomes["in-use-plain-socket"])
    assert f"port {addresses['held']} is already in use on localhost" in line


def test_bind_to_an_address_of_another_machine(outcomes: Outcomes) -> None:
    line = one_line_error(outcomes["bind-not-local"])
    assert line.startswith("toygrpc serve: cannot bind 192.0.2.1:8080: ")
    assert "not an address of this machine" in line


# Malformed addresses -----------------------------------------------------------------


@pytest.mark.parametrize("i", range(len(MALFORMED)), ids=MALFORMED)
def test_malformed_bind(outcomes: Outcomes, i: int) -> None:
    line = one_line_error(outcomes[f"malformed-bind-{i}"])
    assert line.startswith("toygrpc serve: malformed --bind: ")
    assert repr(MALFORMED[i]) in line or "port must be 1-65535" in line


@pytest.mark.parametrize("i", range(len(MALFORMED)), ids=MALFORMED)
def test_malformed_target(outcomes: Outcomes, i: int) -> None:
    line = one_line_error(outcomes[f"malformed-target-{i}"])
    assert line.startswith("toygrpc call: malformed --target: ")
    assert repr(MALFORMED[i]) in line or "port must be 1-65535" in line


def test_malformed_target_through_the_module(outcomes: Outcomes) -> None:
    assert "malformed --target" in one_line_error(outcomes["malformed-target-module"])


# The server is not there, or does not answer in time -----------------------------------


@pytest.mark.parametrize("case", ["refused4", "refused6"])
def test_unreachable_server_names_the_address(outcomes: Outcomes, addresses: dict[str, str],
                                              case: str) -> None:
    line = one_line_rpc_failure(outcomes[case], UNAVAILABLE)
    assert line.startswith(f"toygrpc call: cannot reach a server at {addresses[case]}: ")
    assert "toygrpc serve" in line  # what to do about it


def test_deadline_exceeded(outcomes: Outcomes, addresses: dict[str, str]) -> None:
    """A peer that accepts TCP but never speaks HTTP/2: the call can only time out."""
    line = one_line_rpc_failure(outcomes["deadline"], DEADLINE_EXCEEDED)
    assert line == (f"toygrpc call: deadline exceeded after 1e-06s calling {addresses['silent']}; "
                    "raise --timeout or check the server")


def test_deadline_exceeded_after_waiting(outcomes: Outcomes, addresses: dict[str, str]) -> None:
    line = one_line_rpc_failure(outcomes["deadline-slow"], DEADLINE_EXCEEDED)
    assert f"deadline exceeded after 0.3s calling {addresses['silent']}" in line


# Bad arguments -----------------------------------------------------------------------


@pytest.mark.parametrize(("case", "prog", "words"), [
    ("rpcs-0", "toygrpc call", ["--rpcs", "at least 1, got 0"]),
    ("rpcs-0-module", "python -m toygrpc.client", ["--rpcs", "at least 1, got 0"]),
    ("rpcs-word", "toygrpc call", ["--rpcs", "'many'"]),
    ("concurrency-0", "toygrpc call", ["--concurrency", "at least 1"]),
    ("method-unknown", "toygrpc call", ["--method", "sideways"]),
    ("timeout-0", "toygrpc call", ["--timeout", "more than 0"]),
    ("timeout-nan", "toygrpc call", ["--timeout", "more than 0"]),
    ("timeout-inf", "toygrpc call", ["--timeout", "at most 31536000", "got inf"]),
    ("timeout-1e10", "toygrpc call", ["--timeout", "at most 31536000"]),
    ("unknown-subcommand", "toygrpc", ["frobnicate", "invalid choice"]),
    ("unknown-subcommand-module", "toygrpc", ["frobnicate", "invalid choice"]),
    ("no-subcommand", "toygrpc", ["COMMAND"]),
    # the subcommand, not the top-level parser, reports its unknown option
    ("serve-unknown-option", "toygrpc serve", ["unrecognized arguments: --port 80"]),
    ("trace-unknown-option", "toygrpc trace client", ["unrecognized arguments: --bogus"]),
    ("server-module-unknown-option", "python -m toygrpc.server", ["--port"]),
])
def test_bad_arguments(outcomes: Outcomes, case: str, prog: str, words: list[str]) -> None:
    line = one_line_error(outcomes[case])
    assert line.startswith(f"{prog}: "), line
    for word in words:
        assert word in line
    assert line.endswith(f"(see {prog} --help)")


def test_a_long_but_valid_timeout_works(outcomes: Outcomes) -> None:
    result = outcomes["call-long-timeout"]
    assert result.returncode == 0, result.stderr
    assert result.stdout == "Hello, hey!\n"


# Help, and python -m toygrpc ----------------------------------------------------------


def test_help_lists_the_commands(outcomes: Outcomes) -> None:
    result = outcomes["help"]
    assert result.returncode == 0 and result.stderr == ""
    assert result.stdout.startswith("usage: toygrpc ")
    assert "Trace what grpc.aio does inside a real call" in result.stdout
    for command in ("gen", "serve", "call"):
        assert f"\n    {command} " in result.stdout, command


def test_serve_help_explains(outcomes: Outcomes) -> None:
    result = outcomes["serve-help"]
    assert result.returncode == 0 and result.stderr == ""
    assert result.stdout.startswith("usage: toygrpc serve ")
    assert "Serve HelloService" in result.stdout
    assert "--bind HOST:PORT" in result.stdout and "port 0 picks a free port" in result.stdout


def test_call_help_explains(outcomes: Outcomes) -> None:
    result = outcomes["call-help"]
    assert result.returncode == 0 and result.stderr == ""
    assert result.stdout.startswith("usage: toygrpc call ")
    assert "Call HelloService on a running server" in result.stdout
    for option in ("--target HOST:PORT", "--method", "--rpcs N", "--concurrency C",
                   "--timeout SECONDS", "--x X"):
        assert option in result.stdout, option


def test_gen_help(outcomes: Outcomes) -> None:
    result = outcomes["gen-help"]
    assert result.returncode == 0 and result.stdout.startswith("usage: toygrpc gen ")


def test_python_m_toygrpc_is_toygrpc(outcomes: Outcomes) -> None:
    assert outcomes["help-module"].returncode == 0
    assert outcomes["help-module"].stdout == outcomes["help"].stdout
    assert outcomes["unknown-subcommand-module"].stderr == outcomes["unknown-subcommand"].stderr
    call = outcomes["call-module"]
    assert call.returncode == 0, call.stderr
    assert call.stdout.splitlines() == EXPECTED_ALL


def test_version(outcomes: Outcomes) -> None:
    from importlib import metadata

    result = outcomes["version"]
    assert result.returncode == 0 and result.stderr == ""
    assert result.stdout == f"toygrpc {metadata.version('toygrpc')}\n"
    assert outcomes["version-module"].stdout == result.stdout


def test_help_documents_the_exit_statuses(outcomes: Outcomes) -> None:
    text = " ".join(outcomes["help"].stdout.split())
    assert "2 usage error" in text and "64 + the gRPC status code" in text
    call_help = " ".join(outcomes["call-help"].stdout.split())
    assert "78 UNAVAILABLE" in call_help and "--json" in call_help and "--quiet" in call_help


# Shell completion ------------------------------------------------------------------------


def _bash_complete(script: str, words: list[str]) -> list[str]:
    """What bash offers after ``words`` (the last one being completed), with the script."""
    bash = shutil.which("bash")
    require(bash is not None, "bash is not installed")
    assert bash is not None
    line = " ".join(words)
    program = (f"{script}\nCOMP_WORDS=({line}); COMP_CWORD={len(words) - 1}; "
               f"COMP_LINE='{line}'; COMP_POINT=${{#COMP_LINE}}; _shtab_toygrpc; "
               'printf "%s\\n" "${COMPREPLY[@]}"')
    result = subprocess.run([bash, "--norc", "--noprofile", "-c", program], capture_output=True,
                            text=True, timeout=30, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


@pytest.fixture(scope="module")
def bash_completion(toygrpc: str) -> str:
    result = subprocess.run([toygrpc, "completion", "bash"], capture_output=True, text=True,
                            timeout=30, check=False)
    assert result.returncode == 0 and result.stderr == "", result.stderr
    return result.stdout


def test_bash_completes_the_commands(bash_completion: str) -> None:
    assert "complete -o bashdefault -F _shtab_toygrpc toygrpc" in bash_completion
    assert set(_bash_complete(bash_completion, ["toygrpc", ""])) >= {
        "gen", "serve", "call", "trace", "show", "view", "bench", "completion"}
    assert _bash_complete(bash_completion, ["toygrpc", "tr"]) == ["trace"]
    assert set(_bash_complete(bash_completion, ["toygrpc", "trace", ""])) >= {
        "client", "server", "both", "run"}


def test_bash_completes_options_and_choices(bash_completion: str) -> None:
    assert _bash_complete(bash_completion, ["toygrpc", "call", "--ti"]) == ["--timeout"]
    assert set(_bash_complete(bash_completion, ["toygrpc", "call", "--method", ""])) == {
        "unary", "server-stream", "client-stream", "bidi", "all"}
    assert "--json" in _bash_complete(bash_completion, ["toygrpc", "trace", "client", "--"])


@pytest.mark.parametrize("shell", ["zsh", "tcsh"])
def test_other_shells_get_a_script_their_shell_accepts(toygrpc: str, shell: str) -> None:
    result = subprocess.run([toygrpc, "completion", shell], capture_output=True, text=True,
                            timeout=30, check=False)
    assert result.returncode == 0, result.stderr
    assert "client" in result.stdout and "completion" in result.stdout
    if shell == "zsh":  # shtab's tcsh script completes commands only, zsh's options too
        assert "--concurrency" in result.stdout
    executable = shutil.which(shell)
    if executable is not None and shell == "zsh":  # parse it without running it
        check = subprocess.run([executable, "-n", "-c", result.stdout], capture_output=True,
                               text=True, timeout=30, check=False)
        assert check.returncode == 0, check.stderr


def test_completion_of_an_unknown_shell_is_a_usage_error(toygrpc: str) -> None:
    result = subprocess.run([toygrpc, "completion", "cmd.exe"], capture_output=True, text=True,
                            timeout=30, check=False)
    assert "invalid choice" in one_line_error(result)


def test_completion_without_shtab_says_what_to_install() -> None:
    code = ("import sys; sys.modules['shtab'] = None; from toygrpc.cli import main; "
            "sys.exit(main(['completion', 'bash']))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=30, check=False)
    assert one_line_error(result) == ("toygrpc completion: shell completion needs shtab, which "
                                      "is not installed: pip install shtab")


IMPORTS_OF_A_PARSE = """
import sys
from toygrpc.cli import build_parser
build_parser().parse_args(["trace", "client", "--rpcs", "3"])
import toygrpc.pipeline
print(" ".join(sorted({name.split(".")[0] for name in sys.modules})))
"""


def test_toygrpc_itself_imports_no_grpc_until_a_call_is_made() -> None:
    """Building every command's parser and the capture pipeline imports neither grpc nor
    protobuf: the traced processes do, toygrpc's own process need not pay for them."""
    loaded = subprocess.run([sys.executable, "-c", IMPORTS_OF_A_PARSE], capture_output=True,
                            text=True, check=True, timeout=60).stdout.split()
    assert "toygrpc" in loaded and "argparse" in loaded
    assert not {"grpc", "google", "grpc_tools"} & set(loaded), loaded


LAUNCH_IMPORTS = """
import subprocess, sys
started = []
subprocess.Popen.__init__ = lambda self, args, *a, **k: started.append(args)
from toygrpc.cli import build_parser
build_parser().parse_args(["trace", "client", "--rpcs", "3"])
import toygrpc.pipeline, toygrpc.capture.launch
print(" ".join(sorted(sys.modules)))
print(started)
toygrpc.pipeline.import_analysis()
print(" ".join(sorted(sys.modules)))
"""


def test_a_capture_starts_before_the_analysis_is_imported() -> None:
    """What ``trace`` needs to start its processes imports neither the analysis, the
    writers, the event model, rich nor the package metadata, and runs no program (the
    processes start first; ``import_analysis`` runs while they import grpc)."""
    result = subprocess.run([sys.executable, "-c", LAUNCH_IMPORTS], capture_output=True,
                            text=True, check=True, timeout=60)
    before, started, after = result.stdout.splitlines()
    later = {"toygrpc.analysis.run", "toygrpc.capture.merge", "toygrpc.render.perfetto",
             "toygrpc.render.summary", "toygrpc.model.events", "rich.console"}
    assert not (later | {"importlib.metadata", "rich.progress"}) & set(before.split())
    assert started == "[]"  # no ldconfig (find_library), no uname (platform)
    assert later <= set(after.split())


def _python(code: str) -> subprocess.CompletedProcess[str]:
    """``code`` run by a fresh interpreter (what a module imports shows only there)."""
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, timeout=60)


def test_the_command_line_freezes_what_it_made_before_it_exits() -> None:
    """``main()`` from the command line (no argv) freezes the objects it made, as the
    process exits next; called with arguments (tests, scripts) it leaves them be."""
    code = ("import gc, sys\nfrom toygrpc.cli import main\n"
            "sys.argv = ['toygrpc', 'completion', 'bash']\n"
            "main(['completion', 'bash']); given = gc.get_freeze_count()\n"
            "main(); print(given, gc.get_freeze_count(), file=sys.stderr)")
    given, from_command_line = map(int, _python(code).stderr.split())
    assert given == 0 and from_command_line > 0


def test_quiet_and_json_traces_import_no_progress_bar() -> None:
    code = ("import sys\nfrom toygrpc.cli.trace import progress_bar\n"
            "with progress_bar(False) as progress:\n"
            "    progress.status('x'); progress.rpcs(1, 2); progress.step(0, 1, 'y')\n"
            "print('rich.progress' in sys.modules)")
    assert _python(code).stdout.strip() == "False"
