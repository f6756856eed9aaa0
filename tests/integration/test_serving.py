"""The shared listening socket of a multi-worker server gives connections TCP_NODELAY.

Without it every keep-alive response written in two parts waits ~40 ms for a delayed
ACK (see interfaces/http/serving.py); the figure is in docs/benchmarks.md, the property
is checked here.
"""

from __future__ import annotations

import asyncio
import socket

from interfaces.http.serving import tcp_listener


async def nodelay_of_accepted(listener: socket.socket) -> int:
    accepted: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sock = writer.get_extra_info("socket")
        accepted.set_result(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
        writer.close()

    server = await asyncio.start_server(handle, sock=listener)
    port = listener.getsockname()[1]
    _, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        return await asyncio.wait_for(accepted, 5)
    finally:
        writer.close()
        server.close()
        await server.wait_closed()


async def test_connections_accepted_from_our_listener_have_nodelay() -> None:
    assert await nodelay_of_accepted(tcp_listener("127.0.0.1", 0)) != 0


async def test_a_protocol_0_listener_like_uvicorns_would_not() -> None:
    plain = socket.socket(socket.AF_INET, socket.SOCK_STREAM)  # what uvicorn binds
    plain.bind(("127.0.0.1", 0))
    assert await nodelay_of_accepted(plain) == 0
