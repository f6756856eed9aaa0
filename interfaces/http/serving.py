"""Run the HTTP app under uvicorn, in one process or several sharing one socket.

For several workers uvicorn binds the shared socket with protocol 0, and asyncio only
sets TCP_NODELAY on connections accepted from sockets whose protocol is IPPROTO_TCP.
Without it, a response written in two parts (headers, then body) waits for the
client's delayed ACK: about 40 ms on every keep-alive request (measured: 44 ms for
`GET /health` with 2 workers against 1.3 ms with 1). So the multi-worker path binds the
socket itself, as a TCP socket, and hands it to uvicorn's own process supervisor.
"""

from __future__ import annotations

import contextlib
import socket

import uvicorn
from uvicorn.supervisors import Multiprocess

APP = "interfaces.http.app:create_app_from_env"


def tcp_listener(host: str, port: int) -> socket.socket:
    """A bound, inheritable TCP socket (IPPROTO_TCP, so connections get TCP_NODELAY)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


def serve_http(*, host: str, port: int, workers: int, log_level: str) -> None:
    config = uvicorn.Config(
        APP,
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
        ws="websockets-sansio",  # honours backpressure, so slow feeds are detected
    )
    # uvicorn shuts down gracefully on Ctrl-C, then re-raises the signal; as in
    # `uvicorn.run`, that KeyboardInterrupt means a clean stop.
    with contextlib.suppress(KeyboardInterrupt):
        if workers == 1:
            uvicorn.Server(config).run()
        else:
            Multiprocess(config, sockets=[tcp_listener(host, port)]).run()
