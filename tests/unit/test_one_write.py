"""A response's writes leave the process as one, in order, and closing loses none.

The inner transport here records what reaches it; the HTTP and WebSocket suites
(tests/integration) run the real app through `CoalescingHttpToolsProtocol` on real
sockets.
"""

from __future__ import annotations

import asyncio

from interfaces.http.one_write import CoalescingTransport


class _Recorder(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.sent: list[bytes] = []
        self.events: list[str] = []
        self.closing = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.sent.append(bytes(data))
        self.events.append("write")

    def write_eof(self) -> None:
        self.events.append("eof")

    def close(self) -> None:
        self.closing = True
        self.events.append("close")

    def is_closing(self) -> bool:
        return self.closing

    def get_extra_info(self, name: str, default: object = None) -> object:
        return {"peername": ("127.0.0.1", 1234)}.get(name, default)


async def _next_turn() -> None:
    await asyncio.sleep(0)


async def test_writes_in_one_turn_reach_the_socket_as_one() -> None:
    inner = _Recorder()
    transport = CoalescingTransport(inner, asyncio.get_running_loop())

    transport.write(b"HTTP/1.1 201 Created\r\ncontent-length: 2\r\n\r\n")
    transport.write(b"{}")
    assert inner.sent == []  # held until the loop's next turn
    await _next_turn()

    assert inner.sent == [b"HTTP/1.1 201 Created\r\ncontent-length: 2\r\n\r\n{}"]


async def test_writes_in_later_turns_go_out_in_order() -> None:
    inner = _Recorder()
    transport = CoalescingTransport(inner, asyncio.get_running_loop())

    transport.write(b"a")
    await _next_turn()
    transport.writelines([b"b", b"c"])
    transport.write(bytearray(b"d"))
    await _next_turn()

    assert inner.sent == [b"a", b"bcd"]


async def test_closing_sends_what_is_held_first() -> None:
    inner = _Recorder()
    transport = CoalescingTransport(inner, asyncio.get_running_loop())

    transport.write(b"last answer")
    transport.close()
    await _next_turn()

    assert inner.sent == [b"last answer"]
    assert inner.events == ["write", "close"]


async def test_half_closing_sends_what_is_held_first() -> None:
    inner = _Recorder()
    transport = CoalescingTransport(inner, asyncio.get_running_loop())

    transport.write(b"bye")
    transport.write_eof()

    assert inner.events == ["write", "eof"]


async def test_nothing_is_written_to_a_transport_already_closing() -> None:
    inner = _Recorder()
    transport = CoalescingTransport(inner, asyncio.get_running_loop())

    transport.write(b"too late")
    inner.closing = True  # the peer went away before the loop's next turn
    await _next_turn()

    assert inner.sent == []


async def test_everything_else_is_the_real_transports() -> None:
    inner = _Recorder()
    transport = CoalescingTransport(inner, asyncio.get_running_loop())

    assert transport.get_extra_info("peername") == ("127.0.0.1", 1234)
    assert transport.is_closing() is False
