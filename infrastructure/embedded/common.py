"""What both embedded engines need: a free loopback port, a liveness probe, one error type."""

from __future__ import annotations

import socket


class EngineError(RuntimeError):
    """An embedded engine could not be started; the message says what to do."""


def free_port() -> int:
    """A TCP port on loopback nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def port_is_open(port: int) -> bool:
    """True when something accepts TCP connections on loopback `port`."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0
