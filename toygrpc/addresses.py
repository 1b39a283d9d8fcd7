"""Parsing of HOST:PORT arguments, so that a malformed one is a clear usage error."""

from __future__ import annotations

from dataclasses import dataclass

from toygrpc.errors import UsageError

LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})


@dataclass(frozen=True)
class HostPort:
    host: str
    port: int

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host and not self.host.startswith("[") else self.host
        return f"{host}:{self.port}"

    @property
    def is_loopback(self) -> bool:
        return self.host in LOOPBACK_HOSTS or self.host.startswith("127.")


def parse_host_port(text: str, *, what: str, allow_port_zero: bool = False) -> HostPort:
    """Parse ``host:port`` or ``[v6]:port``; raise UsageError naming ``what`` when malformed."""
    example = f"expected HOST:PORT such as localhost:8080 or [::1]:8080, got {text!r}"
    if text.startswith("["):
        close = text.find("]")
        if close < 0 or not text[close + 1 :].startswith(":"):
            raise UsageError(f"malformed {what}: {example}")
        host, port_text = text[1:close], text[close + 2 :]
    else:
        host, sep, port_text = text.rpartition(":")
        if not sep or ":" in host:
            raise UsageError(f"malformed {what}: {example}")
    # ASCII digits only: str.isdigit() also accepts "²" (which int() rejects) and "٣".
    if not host or not (port_text.isascii() and port_text.isdigit()):
        raise UsageError(f"malformed {what}: {example}")
    significant = port_text.lstrip("0")
    port = int(significant or "0") if len(significant) <= 5 else 65536  # int() caps digits
    if port > 65535 or (port == 0 and not allow_port_zero):
        raise UsageError(f"malformed {what}: port must be 1-65535, got {port_text}")
    return HostPort(host, port)
