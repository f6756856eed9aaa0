"""The benchmark's load client speaks HTTP/1.1 correctly enough to trust its counts.

A miscounted answer or a hang would turn into a wrong figure in docs/benchmarks.md,
so the client is checked against a real socket server that records what it received.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from bench.http_client import Connection, HttpError

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def _read_request(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    return head, await reader.readexactly(length)


async def _serve(handler: Handler) -> AsyncIterator[int]:
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


@pytest.fixture
async def echo() -> AsyncIterator[tuple[int, list[tuple[bytes, bytes]], list[int]]]:
    """A server answering each request with its body; it records requests and connections."""
    received: list[tuple[bytes, bytes]] = []
    connections: list[int] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        try:
            while True:
                head, body = await _read_request(reader)
                received.append((head, body))
                if b"/chunked" in head:
                    writer.write(
                        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                        b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
                    )
                else:
                    writer.write(b"HTTP/1.1 201 Created\r\nContent-Length: %d\r\n\r\n" % len(body))
                    writer.write(body)
                await writer.drain()
        except asyncio.IncompleteReadError:
            writer.close()

    async for port in _serve(handle):
        yield port, received, connections


async def test_requests_share_one_keep_alive_connection_and_carry_their_headers(
    echo: tuple[int, list[tuple[bytes, bytes]], list[int]],
) -> None:
    port, received, connections = echo
    client = await Connection.open("127.0.0.1", port, {"Authorization": "Bearer t"})
    try:
        head = client.head("POST", "/things", {"X-Kind": "test"})
        first = await client.request(head + b"Idempotency-Key: k1\r\n", b'{"n":1}')
        second = await client.request(head, b'{"n":22}')
        empty = await client.request(client.head("GET", "/health"))
    finally:
        client.close()

    assert first == (201, b'{"n":1}')
    assert second == (201, b'{"n":22}')
    assert empty == (201, b"")
    assert len(connections) == 1
    first_head = received[0][0].decode()
    assert first_head.startswith("POST /things HTTP/1.1\r\n")
    assert f"Host: 127.0.0.1:{port}\r\n" in first_head
    assert "Authorization: Bearer t\r\n" in first_head
    assert "X-Kind: test\r\n" in first_head
    assert "Idempotency-Key: k1\r\n" in first_head
    assert "Idempotency-Key" not in received[1][0].decode()
    assert received[2][0].startswith(b"GET /health HTTP/1.1\r\n")


async def test_a_chunked_answer_is_read_whole(
    echo: tuple[int, list[tuple[bytes, bytes]], list[int]],
) -> None:
    port, _, _ = echo
    client = await Connection.open("127.0.0.1", port, {})
    try:
        assert await client.request(client.head("GET", "/chunked")) == (200, b"abcde")
        assert await client.request(client.head("POST", "/after"), b"x") == (201, b"x")
    finally:
        client.close()


async def test_a_server_closing_mid_answer_is_an_error_not_a_hang() -> None:
    async def half_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(b"HTTP/1.1 201 Created\r\nContent-Length: 100\r\n\r\nonly part")
        await writer.drain()
        writer.close()

    async for port in _serve(half_answer):
        client = await Connection.open("127.0.0.1", port, {})
        with pytest.raises(HttpError, match="closed"):
            await asyncio.wait_for(client.request(client.head("GET", "/")), 5)
        with pytest.raises(HttpError, match="closed"):
            await client.request(client.head("GET", "/"))


async def test_an_unreadable_answer_is_an_error() -> None:
    async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(b"NOT HTTP AT ALL\r\n\r\n")
        await writer.drain()
        await reader.read()  # until the client gives up on the connection
        writer.close()

    async for port in _serve(garbage):
        client = await Connection.open("127.0.0.1", port, {})
        with pytest.raises(HttpError, match="unreadable"):
            await asyncio.wait_for(client.request(client.head("GET", "/")), 5)
