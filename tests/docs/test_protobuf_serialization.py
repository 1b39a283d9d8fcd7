"""docs/protobuf-serialization.md, claim by claim: on the session's fresh client capture
(Python layer on), on fresh interpreters for each backend, and on a fresh server capture
with the core's HTTP/2 tracer."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import toygrpc
from toygrpc.analysis.run import Run
from toygrpc.generated import hello_pb2
from toygrpc.model.events import CoreBatchStarted, HandlerSerialization, PythonSlice

DOC = Path(__file__).resolve().parents[2] / "docs" / "protobuf-serialization.md"
SERIALIZE = "HelloRequest.SerializeToString"
PARSE = "google._upb._message.MessageMeta.FromString"

PROBE = """
import json
from google.protobuf.internal import api_implementation
from toygrpc.generated import hello_pb2
print(json.dumps({"backend": api_implementation.Type(),
                  "small": hello_pb2.HelloRequest(x="hey").SerializeToString().hex(),
                  "large": hello_pb2.HelloRequest(x="ab" * 40000).SerializeToString().hex()}))
"""


def probe(backend: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION"}
    if backend:
        env["PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION"] = backend
    done = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True,
                          text=True, check=True, timeout=60)
    result: dict[str, str] = json.loads(done.stdout)
    return result


def test_the_page_lists_the_claims_checked_here() -> None:
    text = DOC.read_text()
    tests = " ".join(name for name in globals() if name.startswith("test_claim_"))
    for number in range(1, 7):
        assert f"| ({number}) " in text and f"test_claim_{number}_" in tests


def test_claim_1_the_traced_processes_run_upb(client_run: Run) -> None:
    assert client_run.manifest.versions["protobuf_backend"] == "upb"
    assert probe(None)["backend"] == "upb"


def test_claim_2_c_builtins_around_the_core_on_the_main_thread(client_run: Run) -> None:
    slices = [e for e in client_run.timeline.events if isinstance(e, PythonSlice)]
    serialize = [s for s in slices if s.name == SERIALIZE]
    parse = [s for s in slices if s.name == PARSE]
    for rpc in client_run.analysis.rpcs:
        chain = rpc.chains[0]
        assert chain.core_call is not None and chain.resumed is not None
        mine = [s for s in serialize if rpc.start <= s.ts < chain.core_call.ts]
        theirs = [s for s in parse if chain.resumed.ts <= s.ts <= rpc.end]
        assert mine and theirs
        assert all(s.tid == rpc.pid for s in (*mine, *theirs))
        for call in (mine[0], theirs[-1]):  # nothing of protobuf's Python code inside
            inner = [s for s in slices if s.tid == call.tid and call.ts < s.ts
                     and s.ts + s.dur <= call.ts + call.dur]
            assert not [s for s in inner if "google/protobuf" in s.name], inner


def test_claim_3_the_pure_python_backend_writes_the_same_bytes() -> None:
    upb, pure = probe(None), probe("python")
    assert (upb["backend"], pure["backend"]) == ("upb", "python")
    assert upb["small"] == pure["small"] and upb["large"] == pure["large"]


def test_claim_4_a_hello_request_on_the_wire() -> None:
    assert probe(None)["small"] == "0a03686579"  # a fresh interpreter, the upb backend


@pytest.fixture(scope="module")
def http_server_run(tmp_path_factory: pytest.TempPathFactory) -> toygrpc.Trace:
    out = tmp_path_factory.mktemp("wire") / "server"
    return toygrpc.trace_server(rpcs=2, python_layer=False, tracers=("http",), out=out)


def test_claim_5_grpc_frames_it_in_ten_bytes(http_server_run: toygrpc.Trace) -> None:
    log = (http_server_run.run_dir / "server" / "core.log").read_text()
    frames = [int(n) for n in re.findall(r"INCOMING\[[^]]*\]: DATA[A-Z_:]* len:(\d+)", log)]
    payload = hello_pb2.HelloRequest(x="hey").SerializeToString()
    message = b"\x00" + len(payload).to_bytes(4, "big") + payload
    assert message.hex(" ") in DOC.read_text()
    assert frames.count(len(message)) == len(http_server_run.rpcs) == 2


def test_claim_6_the_server_handler_deserializes_and_serializes_on_main(
        server_run: Run) -> None:
    events = [e for e in server_run.timeline.events if isinstance(e, HandlerSerialization)]
    rpcs = [r for r in server_run.analysis.rpcs if r.side == "server"]
    payload = len(hello_pb2.HelloRequest(x="hey").SerializeToString())
    for rpc in rpcs:
        mine = [e for e in events if e.call == rpc.call and rpc.start <= e.ts <= rpc.end]
        assert [e.name for e in mine] == ["request_deserializer", "response_serializer"]
        parse, write = mine
        assert parse.tid == write.tid == rpc.pid and parse.method == "/HelloService/Hello"
        assert parse.size == payload and write.size > 0
        receive, reply = rpc.chains[2], rpc.chains[3]
        assert isinstance(receive.core_call, CoreBatchStarted)
        assert receive.core_call.ops == ("RECV_MESSAGE",) and receive.resumed is not None
        assert isinstance(reply.core_call, CoreBatchStarted)
        assert receive.resumed.ts <= parse.ts < parse.ts + parse.dur <= write.ts
        assert write.ts + write.dur <= reply.future.ts < reply.core_call.ts
