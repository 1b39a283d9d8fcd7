"""parse_host_port: the HOST:PORT forms --bind and --target accept, and the ones they refuse."""

from __future__ import annotations

import pytest

from toygrpc.addresses import HostPort, parse_host_port
from toygrpc.errors import UsageError


@pytest.mark.parametrize(("text", "host", "port"), [
    ("localhost:8080", "localhost", 8080),
    ("127.0.0.1:1", "127.0.0.1", 1),
    ("example.com:65535", "example.com", 65535),
    ("[::1]:8080", "::1", 8080),
    ("[::]:443", "::", 443),
    ("[fe80::1%lo]:50051", "fe80::1%lo", 50051),
    ("[2001:db8::42]:80", "2001:db8::42", 80),
    ("host:0080", "host", 80),
])
def test_good_forms(text: str, host: str, port: int) -> None:
    assert parse_host_port(text, what="--target") == HostPort(host, port)


@pytest.mark.parametrize("text", [
    "localhost:8080", "127.0.0.1:50051", "[::1]:8080", "[::]:1", "[fe80::1%lo]:65535",
    "my-host.example:9",
])
def test_str_round_trips(text: str) -> None:
    parsed = parse_host_port(text, what="--target")
    assert str(parsed) == text
    assert parse_host_port(str(parsed), what="--target") == parsed


def test_str_brackets_ipv6_hosts_once() -> None:
    assert str(HostPort("::1", 80)) == "[::1]:80"
    assert str(HostPort("[::1]", 80)) == "[::1]:80"
    assert str(HostPort("localhost", 80)) == "localhost:80"


@pytest.mark.parametrize("text", [
    "",
    ":",
    "foo",                 # no port
    "host:",               # empty port
    ":80",                 # empty host
    "[::1",                # unclosed bracket
    "[::1]",               # bracketed, no port
    "[::1]:",              # bracketed, empty port
    "[::1]80",             # no colon after the bracket
    "[]:80",               # empty bracketed host
    "::1:80",              # IPv6 without brackets: which colon is the port's?
    "host:port",
    "host:8o",
    "host:-1",
    "host:+80",
    "host: 80",
    "host:80 ",
    "host:8080:",
    "host:²",              # isdigit() but not a number int() reads
    "host:٣",              # a digit, but not an ASCII one
])
def test_malformed_forms_are_usage_errors(text: str) -> None:
    with pytest.raises(UsageError) as raised:
        parse_host_port(text, what="--bind")
    message = str(raised.value)
    assert message.startswith("malformed --bind: ")
    assert repr(text) in message
    assert "\n" not in message


@pytest.mark.parametrize("text", [
    "host:65536", "host:99999", "[::1]:70000", "host:0",
    # more digits than int() converts by default: still one usage error, not a ValueError
    pytest.param("host:" + "9" * 5000, id="5000-digits"),
    pytest.param("host:" + "0" * 5000 + "1" * 6, id="zero-padded-6-digits"),
])
def test_ports_out_of_range(text: str) -> None:
    with pytest.raises(UsageError) as raised:
        parse_host_port(text, what="--target")
    assert str(raised.value).startswith("malformed --target: port must be 1-65535, got ")


def test_port_zero_only_when_allowed() -> None:
    assert parse_host_port("localhost:0", what="--bind", allow_port_zero=True).port == 0
    assert parse_host_port("[::1]:000", what="--bind", allow_port_zero=True) == HostPort("::1", 0)
    with pytest.raises(UsageError, match="port must be 1-65535, got 0"):
        parse_host_port("localhost:0", what="--target")
    with pytest.raises(UsageError, match="port must be 1-65535"):
        parse_host_port("localhost:65536", what="--bind", allow_port_zero=True)


def test_the_message_names_the_option() -> None:
    with pytest.raises(UsageError, match=r"^malformed --target: expected HOST:PORT"):
        parse_host_port("foo", what="--target")
    with pytest.raises(UsageError, match=r"^malformed --bind: expected HOST:PORT"):
        parse_host_port("foo", what="--bind")


@pytest.mark.parametrize(("host", "loopback"), [
    ("localhost", True), ("127.0.0.1", True), ("127.8.9.10", True), ("::1", True),
    ("[::1]", True), ("::", False), ("0.0.0.0", False), ("example.com", False),
    ("10.0.0.1", False),
])
def test_is_loopback(host: str, loopback: bool) -> None:
    assert HostPort(host, 80).is_loopback is loopback
