"""`events export` cut short goes on from its last checkpoint, in any of the three file
formats, and the finished file holds what an export in one go holds, byte for byte."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from infrastructure.audit.transfer import export_lines
from infrastructure.embedded.engines import Engines
from infrastructure.event_store.postgres_store import PostgresEventStore
from infrastructure.pool import DbConnection
from interfaces.cli.common import CommandError
from interfaces.cli.compressed import reading
from interfaces.cli.export_file import (
    ExportStopped,
    Lines,
    Options,
    unfinished,
    write_export,
)
from tests.e2e.test_cli_transfer import cli, env_of
from tests.integration.followers import chain_and_sign
from tests.integration.workload import record_workload

pytestmark = pytest.mark.timeout(120)

KEY = Ed25519PrivateKey.generate()
EVERY = 10
WHOLE = Options(stream=None, first=0, to=None)


def _cut_after(events: int) -> Lines:
    """export_lines, with Ctrl-C pressed after it has given `events` event lines."""

    async def lines(conn: DbConnection, **options: Any) -> AsyncGenerator[bytes, None]:
        given = 0
        source = export_lines(conn, **options)
        async with contextlib.aclosing(source):
            async for line in source:
                if line.startswith(b'{"kind":"event"'):
                    if given == events:
                        raise asyncio.CancelledError  # Ctrl-C, as asyncio.run delivers it
                    given += 1
                yield line

    return lines


def _content(path: Path) -> bytes:
    with reading(path) as (lines, _):
        return lines.read()


@pytest.mark.parametrize("suffix", [".jsonl", ".jsonl.gz", ".jsonl.zst"])
async def test_a_cut_export_goes_on_from_its_checkpoint_to_the_same_file(
    suffix: str,
    tmp_path: Path,
    database_url: str,
    pool: asyncpg.Pool,
    store: PostgresEventStore,
) -> None:
    await record_workload(store, pool, rounds=4)
    await chain_and_sign(database_url, store, pool, KEY, every=10)
    conn = await asyncpg.connect(database_url)
    try:
        head = await conn.fetchval("SELECT max(notification_id) FROM vibehq_events")
        events = await conn.fetchval("SELECT count(*) FROM vibehq_events")
        whole = tmp_path / f"whole{suffix}"
        assert await write_export(conn, whole, WHOLE, last=head, resumed=None) == events

        out = tmp_path / f"cut{suffix}"
        with pytest.raises(ExportStopped, match=r"stopped after 20 events \(position \d+\)"):
            await write_export(
                conn, out, WHOLE, last=head, resumed=None, every=EVERY, lines=_cut_after(25)
            )
        assert not out.exists()
        first_cut = unfinished(out, WHOLE)
        assert first_cut is not None
        assert (first_cut.events, first_cut.last) == (20, head)

        # Events are appended meanwhile: the export still ends where it was to end.
        await record_workload(store, pool, rounds=1, seed=11)
        # Cut again while going on: 16 more given, the checkpoint at 30 kept.
        with pytest.raises(ExportStopped, match="stopped after 30 events"):
            await write_export(
                conn, out, WHOLE, last=0, resumed=first_cut, every=EVERY, lines=_cut_after(16)
            )
        second_cut = unfinished(out, WHOLE)
        assert second_cut is not None
        assert second_cut.events == 30
        # A killed process leaves what it wrote after its last checkpoint (here more
        # than the rest of the export holds).
        with out.with_name(out.name + ".partial").open("ab") as partial:
            partial.write(b'{"kind":"event","position":' * 100_000)

        written = await write_export(conn, out, WHOLE, last=0, resumed=second_cut, every=EVERY)

        assert written == events
        assert _content(out) == _content(whole)
        assert not out.with_name(out.name + ".partial").exists()
        assert not out.with_name(out.name + ".resume").exists()
    finally:
        await conn.close()


async def test_a_cut_before_the_first_checkpoint_leaves_nothing_and_other_options_wait(
    tmp_path: Path, database_url: str, pool: asyncpg.Pool, store: PostgresEventStore
) -> None:
    await record_workload(store, pool, rounds=3)
    conn = await asyncpg.connect(database_url)
    try:
        head = await conn.fetchval("SELECT max(notification_id) FROM vibehq_events")
        out = tmp_path / "log.jsonl.zst"
        with pytest.raises(asyncio.CancelledError):
            await write_export(
                conn, out, WHOLE, last=head, resumed=None, every=EVERY, lines=_cut_after(5)
            )
        assert not any(tmp_path.iterdir())  # noqa: ASYNC240

        with pytest.raises(ExportStopped):
            await write_export(
                conn, out, WHOLE, last=head, resumed=None, every=EVERY, lines=_cut_after(15)
            )
        other = Options(stream=None, first=0, to=str(head))
        with pytest.raises(CommandError, match="unfinished export with other options"):
            unfinished(out, other)
        assert unfinished(out, WHOLE) is not None
    finally:
        await conn.close()


async def test_the_same_command_goes_on_and_other_options_get_one_line(
    tmp_path: Path,
    engines: Engines,
    database_url: str,
    pool: asyncpg.Pool,
    store: PostgresEventStore,
) -> None:
    await record_workload(store, pool, rounds=3)
    conn = await asyncpg.connect(database_url)
    try:
        head = await conn.fetchval("SELECT max(notification_id) FROM vibehq_events")
        whole = tmp_path / "whole.jsonl.gz"
        events = await write_export(conn, whole, WHOLE, last=head, resumed=None)
        out = tmp_path / "log.jsonl.gz"
        with pytest.raises(ExportStopped):
            await write_export(
                conn, out, WHOLE, last=head, resumed=None, every=EVERY, lines=_cut_after(15)
            )
    finally:
        await conn.close()
    env = env_of(database_url, engines)

    code, out_text, err = await cli("events", "export", "--out", str(out), "--from", "1", env=env)
    assert (code, out_text) == (2, "")
    assert err.startswith(f"vibehq: {out}.partial holds an unfinished export with other options")
    assert len(err.splitlines()) == 1

    code, out_text, err = await cli("events", "export", "--out", str(out), env=env)
    assert code == 0, err
    assert "going on from the 10 events an earlier run wrote" in err
    assert out_text == f"exported {events} events to {out}\n"
    assert _content(out) == _content(whole)
