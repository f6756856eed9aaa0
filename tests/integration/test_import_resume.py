"""`events import` commits checkpoint by checkpoint: a run cut short resumes where its
last checkpoint ended, and the log it leaves is the exported one, byte for byte."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Iterator

import asyncpg
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from infrastructure.audit import importer
from infrastructure.audit.importer import ImportRefused, import_lines, unfinished_import
from infrastructure.audit.keys import public_bytes
from infrastructure.audit.transfer import export_lines
from infrastructure.audit.verify import verify_log
from infrastructure.embedded.common import EngineError
from infrastructure.event_store.postgres_store import PostgresEventStore
from interfaces.command_resources import require_complete_log
from tests.integration.followers import chain_and_sign
from tests.integration.workload import record_workload

pytestmark = pytest.mark.timeout(120)

KEY = Ed25519PrivateKey.generate()
IDENTITY = b"the exported file"


async def _exported(database_url: str, pool: asyncpg.Pool, store: PostgresEventStore) -> bytes:
    await record_workload(store, pool, rounds=3)
    await chain_and_sign(database_url, store, pool, KEY, every=10)
    return await _export(database_url)


async def _export(database_url: str) -> bytes:
    conn = await asyncpg.connect(database_url)
    try:
        last = await conn.fetchval("SELECT max(notification_id) FROM vibehq_events")
        return b"".join(
            [line async for line in export_lines(conn, stream=None, first=0, last=last, full=True)]
        )
    finally:
        await conn.close()


def _numbered(text: bytes, stop_after: int | None = None) -> Iterator[tuple[int, bytes]]:
    for number, line in enumerate(text.splitlines(keepends=True), start=1):
        if number == stop_after:
            raise KeyboardInterrupt  # Ctrl-C in the middle of a checkpoint
        yield number, line


async def test_a_cut_import_keeps_whole_checkpoints_and_the_same_file_resumes(
    database_url: str, empty_database: str, pool: asyncpg.Pool, store: PostgresEventStore
) -> None:
    exported = await _exported(database_url, pool, store)
    total = exported.count(b"\n")
    conn = await asyncpg.connect(empty_database)
    try:
        with pytest.raises(KeyboardInterrupt):
            await import_lines(
                conn, _numbered(exported, stop_after=33), source="log.jsonl",
                identity=IDENTITY, every=7,
            )  # fmt: skip
        found = await unfinished_import(conn)
        assert found is not None
        assert (found.source, found.lines) == ("log.jsonl", 28)
        events_kept = sum(1 for line in exported.splitlines()[:28] if b'"kind":"event"' in line)
        assert await conn.fetchval("SELECT count(*) FROM vibehq_events") == events_kept

        with pytest.raises(EngineError, match="stopped after line 28; run `vibehq events import"):
            await require_complete_log(empty_database)  # serve and worker refuse it
        with pytest.raises(ImportRefused, match="unfinished import of another file"):
            await import_lines(conn, _numbered(exported), source="other", identity=b"other")

        imported = await import_lines(
            conn, _numbered(exported), source="log.jsonl", identity=IDENTITY, every=7
        )
        assert imported.resumed_after == 28
        assert sum(imported.counts.values()) == total - 28
        assert await unfinished_import(conn) is None
        await require_complete_log(empty_database)
        problems, _ = await verify_log(conn, trusted_key=public_bytes(KEY))
        assert problems == []
    finally:
        await conn.close()
    assert await _export(empty_database) == exported


async def test_a_lost_connection_keeps_whole_checkpoints_and_the_run_again_resumes(
    database_url: str, empty_database: str, pool: asyncpg.Pool, store: PostgresEventStore
) -> None:
    exported = await _exported(database_url, pool, store)
    admin = await asyncpg.connect(empty_database)
    conn = await asyncpg.connect(empty_database)
    reached = asyncio.Event()

    def lines() -> Iterator[tuple[int, bytes]]:
        for number, text in _numbered(exported):
            if number == 20:
                reached.set()
            yield number, text

    async def kill_the_connection() -> None:
        await reached.wait()
        await admin.execute("SELECT pg_terminate_backend($1)", conn.get_server_pid())

    killer = asyncio.create_task(kill_the_connection())
    try:
        with pytest.raises(
            (asyncpg.PostgresError, asyncpg.InterfaceError, asyncpg.InternalClientError, OSError)
        ):
            await import_lines(conn, lines(), source="f", identity=IDENTITY, every=5)
        await killer
        found = await unfinished_import(admin)
        assert found is not None
        assert 0 < found.lines <= 20
        assert found.lines % 5 == 0
        again = await asyncpg.connect(empty_database)
        try:
            imported = await import_lines(
                again, _numbered(exported), source="f", identity=IDENTITY, every=5
            )
        finally:
            await again.close()
        assert imported.resumed_after == found.lines
    finally:
        killer.cancel()
        await conn.close()
        await admin.close()
    assert await _export(empty_database) == exported


async def test_streams_whose_heads_are_read_back_must_still_follow_them(
    database_url: str,
    empty_database: str,
    pool: asyncpg.Pool,
    store: PostgresEventStore,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(importer, "_HEADS", 0)  # no head kept: each is read back
    monkeypatch.setattr(importer, "_BATCH", 3)  # ... from a batch before
    exported = await _exported(database_url, pool, store)
    lines = exported.splitlines(keepends=True)
    decoded = [json.loads(line) for line in lines]
    # Without one stream's version 2, the file is refused at its version 3.
    gone = next(
        n for n, line in enumerate(decoded) if line["kind"] == "event" and line["version"] == 2
    )
    stream = decoded[gone]["stream_id"]
    third = next(
        n
        for n, line in enumerate(decoded)
        if line["kind"] == "event" and line["stream_id"] == stream and line["version"] == 3
    )
    broken = b"".join(line for n, line in enumerate(lines) if n != gone)
    conn = await asyncpg.connect(empty_database)
    try:
        with pytest.raises(ImportRefused, match=f"line {third}: .* does not follow version 1 "):
            await import_lines(conn, _numbered(broken), source="b", identity=b"b")
        assert await unfinished_import(conn) is None  # the fault was in the first checkpoint
        imported = await import_lines(conn, _numbered(exported), source="f", identity=IDENTITY)
        assert imported.counts["event"] == sum(1 for line in decoded if line["kind"] == "event")
    finally:
        await conn.close()
    assert await _export(empty_database) == exported


async def test_the_first_fault_is_named_when_a_later_line_cannot_be_read(
    database_url: str,
    empty_database: str,
    pool: asyncpg.Pool,
    store: PostgresEventStore,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(importer, "_BATCH", 1_000_000)  # the whole file in one batch
    lines = (await _exported(database_url, pool, store)).splitlines(keepends=True)
    decoded = [json.loads(line) for line in lines]
    # An event whose payload was changed, then, later in the file, a line that is not JSON.
    changed = next(n for n, line in enumerate(decoded) if line["kind"] == "event")
    decoded[changed]["state"] = base64.b64encode(b'{"changed":true}').decode()
    lines[changed] = json.dumps(decoded[changed], separators=(",", ":")).encode() + b"\n"
    garbled = b"".join(lines) + b"{not json\n"
    conn = await asyncpg.connect(empty_database)
    try:
        with pytest.raises(ImportRefused, match=f"^line {changed + 1}: .* does not match its hash"):
            await import_lines(conn, _numbered(garbled), source="g", identity=b"g")
        assert not await conn.fetchval("SELECT EXISTS (SELECT 1 FROM vibehq_events)")
    finally:
        await conn.close()


async def test_a_line_whose_hex_or_base64_does_not_decode_is_refused_by_its_number(
    database_url: str, empty_database: str, pool: asyncpg.Pool, store: PostgresEventStore
) -> None:
    lines = (await _exported(database_url, pool, store)).splitlines(keepends=True)
    decoded = [json.loads(line) for line in lines]
    event = next(n for n, line in enumerate(decoded) if line["kind"] == "event")
    blob = next(n for n, line in enumerate(decoded) if line["kind"] == "blob")
    conn = await asyncpg.connect(empty_database)
    try:
        for number, field, value in [
            (event, "hash", "zz" * 32),
            (event, "state", "not base64!"),
            (blob, "data", "@@@@"),
        ]:
            damaged = list(lines)
            damaged[number] = json.dumps({**decoded[number], field: value}).encode() + b"\n"
            with pytest.raises(ImportRefused, match=f"^line {number + 1}: "):
                await import_lines(conn, _numbered(b"".join(damaged)), source="d", identity=b"d")
            assert await unfinished_import(conn) is None
    finally:
        await conn.close()


async def test_a_stream_started_twice_is_refused_at_its_second_start(
    database_url: str,
    empty_database: str,
    pool: asyncpg.Pool,
    store: PostgresEventStore,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(importer, "_BATCH", 3)  # its stream's head is kept from a batch before
    lines = (await _exported(database_url, pool, store)).splitlines(keepends=True)
    first = next(line for line in lines if b'"kind":"event"' in line)
    again = b"".join(lines) + first  # the first event once more, at the end
    conn = await asyncpg.connect(empty_database)
    try:
        with pytest.raises(
            ImportRefused, match=rf"^line {len(lines) + 1}: .* does not follow version \d+ "
        ):
            await import_lines(conn, _numbered(again), source="t", identity=b"t")
    finally:
        await conn.close()
