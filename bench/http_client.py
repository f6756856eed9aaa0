"""The load client's HTTP: one keep-alive HTTP/1.1 connection, one request at a time.

Why not aiohttp or httpx: on a 2-core machine the client shares the cores with the
server it measures, so every microsecond the client spends is taken from the server's
figure. A general client builds header objects, cookie jars and streams for every
request; a factory of the load needs none of that. Here a request is one pre-built
byte string and `httptools` (the parser uvicorn uses) reads the answer, which cost
less than half of aiohttp's CPU per submission on this machine (see docs/benchmarks.md).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import httptools


class HttpError(ConnectionError):
    """The connection closed or broke before the answer was complete."""


class Connection(asyncio.Protocol):
    """One keep-alive connection; `request` sends and waits for the whole answer."""

    def __init__(self, host: str, headers: Mapping[str, str]) -> None:
        self._common = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        self._host = host
        self._parser = httptools.HttpResponseParser(self)
        self._transport: asyncio.Transport | None = None
        self._body = bytearray()
        self._answer: asyncio.Future[tuple[int, bytes]] | None = None

    @classmethod
    async def open(cls, host: str, port: int, headers: Mapping[str, str]) -> Connection:
        loop = asyncio.get_running_loop()
        _, connection = await loop.create_connection(
            lambda: cls(f"{host}:{port}", headers), host, port
        )
        return connection

    def head(self, method: str, path: str, headers: Mapping[str, str] | None = None) -> bytes:
        """The request line and headers, without Content-Length: build once, reuse."""
        extra = "".join(f"{name}: {value}\r\n" for name, value in (headers or {}).items())
        return f"{method} {path} HTTP/1.1\r\nHost: {self._host}\r\n{self._common}{extra}".encode()

    async def request(self, head: bytes, body: bytes = b"") -> tuple[int, bytes]:
        """Send `head` (from `head()`) with `body`; the answer's status and body."""
        if self._transport is None or self._transport.is_closing():
            raise HttpError("the connection is closed")
        self._body = bytearray()
        self._answer = asyncio.get_running_loop().create_future()
        self._transport.write(b"%sContent-Length: %d\r\n\r\n%s" % (head, len(body), body))
        return await self._answer

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as error:
            self._fail(HttpError(f"unreadable answer: {error}"))
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(HttpError(f"the connection closed: {exc or 'by the server'}"))

    # httptools callbacks
    def on_body(self, body: bytes) -> None:
        self._body += body

    def on_message_complete(self) -> None:
        if self._answer is not None and not self._answer.done():
            self._answer.set_result((self._parser.get_status_code(), bytes(self._body)))

    def _fail(self, error: Exception) -> None:
        if self._answer is not None and not self._answer.done():
            self._answer.set_exception(error)
