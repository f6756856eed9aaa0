"""Tampering with the stored log by SQL, each way an attacker might: verify names it.

Every case starts from a workload that the `audit` follower has chained and signed;
the tampering disables the append-only triggers, as someone with the database's
owner rights could.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Awaitable, Callable

import asyncpg
import pytest
import pytest_asyncio
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from application.audit import first_of_each_kind
from infrastructure.audit.keys import public_bytes
from infrastructure.audit.parallel import slices, verify_in_parallel
from infrastructure.audit.verify import verify_log, verify_range
from infrastructure.event_store.postgres_store import PostgresEventStore
from tests.integration.followers import chain_and_sign
from tests.integration.workload import record_workload

pytestmark = pytest.mark.timeout(60)

KEY = Ed25519PrivateKey.generate()


@pytest_asyncio.fixture
async def signed_log(
    database_url: str, pool: asyncpg.Pool, store: PostgresEventStore
) -> AsyncIterator[asyncpg.Connection]:
    """A chained and signed workload, and a connection allowed to tamper with it."""
    await record_workload(store, pool, rounds=4)
    await chain_and_sign(database_url, store, pool, KEY, every=25, batch_size=20)
    conn = await asyncpg.connect(database_url)
    yield conn
    await conn.close()


async def problems_of(
    conn: asyncpg.Connection, database_url: str = "", jobs: int = 1
) -> dict[str, tuple[int, int]]:
    if jobs == 1:
        problems, _ = await verify_log(conn, trusted_key=public_bytes(KEY))
    else:
        head = await conn.fetchval("SELECT max(position) FROM vibehq_log_chain")
        found = await verify_in_parallel(
            database_url, trusted_key=public_bytes(KEY), first=0, last=head, jobs=jobs
        )
        problems = found.problems
    return dict(first_of_each_kind(problems))


async def tamper(conn: asyncpg.Connection, *statements: str) -> None:
    await conn.execute("ALTER TABLE vibehq_events DISABLE TRIGGER USER")
    await conn.execute("ALTER TABLE vibehq_log_checkpoints DISABLE TRIGGER USER")
    for statement in statements:
        await conn.execute(statement)
    await conn.execute("ALTER TABLE vibehq_events ENABLE TRIGGER USER")
    await conn.execute("ALTER TABLE vibehq_log_checkpoints ENABLE TRIGGER USER")


async def middle_event(conn: asyncpg.Connection) -> asyncpg.Record:
    """An event in the middle of a stream of three or more, well inside the log."""
    row = await conn.fetchrow(
        "SELECT notification_id, originator_id, originator_version FROM vibehq_events e "
        "WHERE originator_version = 2 AND EXISTS (SELECT 1 FROM vibehq_events n "
        "WHERE n.originator_id = e.originator_id AND n.originator_version = 3) "
        "ORDER BY notification_id LIMIT 1 OFFSET 1"
    )
    assert row is not None
    return row


async def test_an_untouched_log_verifies_clean_whole_and_per_stream(
    signed_log: asyncpg.Connection,
) -> None:
    problems, events = await verify_log(signed_log, trusted_key=public_bytes(KEY))
    assert problems == []
    assert events > 30
    target = await middle_event(signed_log)
    problems, events = await verify_log(
        signed_log, trusted_key=public_bytes(KEY), stream=target["originator_id"]
    )
    assert problems == []
    assert events >= 3
    assert await signed_log.fetchval("SELECT count(*) FROM vibehq_log_checkpoints") > 1


async def test_processes_over_disjoint_ranges_vouch_for_what_one_pass_does(
    signed_log: asyncpg.Connection, database_url: str
) -> None:
    head = await signed_log.fetchval("SELECT max(position) FROM vibehq_log_chain")
    one = await verify_range(signed_log, trusted_key=public_bytes(KEY), last=head)
    three = await verify_in_parallel(
        database_url, trusted_key=public_bytes(KEY), first=0, last=head, jobs=3
    )
    assert (three.problems, three.events) == ([], one.events)
    assert three.vouched == one.vouched is not None
    # Each slice holds about a third of the events, and together they cover the range.
    cuts = await slices(signed_log, 0, head, 3)
    assert len(cuts) == 3
    assert cuts[0][0] == 0
    assert cuts[-1][1] == head
    assert all(end + 1 == start for (_, end), (start, _) in itertools.pairwise(cuts))
    sizes = [
        await signed_log.fetchval(
            "SELECT count(*) FROM vibehq_events WHERE notification_id BETWEEN $1 AND $2", *cut
        )
        for cut in cuts
    ]
    assert max(sizes) - min(sizes) <= 2, sizes


Tampering = Callable[[asyncpg.Connection, asyncpg.Record], Awaitable[int]]


async def change_payload(conn: asyncpg.Connection, target: asyncpg.Record) -> int:
    await tamper(
        conn,
        f"UPDATE vibehq_events SET state = convert_to('{{}}', 'UTF8') "
        f"WHERE notification_id = {target['notification_id']}",
    )
    return int(target["notification_id"])


async def change_actor(conn: asyncpg.Connection, target: asyncpg.Record) -> int:
    await tamper(
        conn,
        "UPDATE vibehq_events SET actor = 'mallory' "
        f"WHERE notification_id = {target['notification_id']}",
    )
    return int(target["notification_id"])


async def change_and_rehash(conn: asyncpg.Connection, target: asyncpg.Record) -> int:
    """The attacker also recomputes the changed event's own hash."""
    await tamper(
        conn,
        "UPDATE vibehq_events SET actor = 'mallory', hash = sha256(prev_hash || "
        "vibehq_event_digest(event_id, originator_id, originator_version, stream_type, "
        "event_type, schema_version, recorded_at, correlation_id, causation_id, 'mallory', "
        "traceparent, tracestate, topic, state, token_id)) "
        f"WHERE notification_id = {target['notification_id']}",
    )
    return int(target["notification_id"])


async def delete_event(conn: asyncpg.Connection, target: asyncpg.Record) -> int:
    await tamper(
        conn, f"DELETE FROM vibehq_events WHERE notification_id = {target['notification_id']}"
    )
    return int(target["notification_id"])


async def insert_event(conn: asyncpg.Connection, target: asyncpg.Record) -> int:
    """A forged event of a new stream, correctly hashed, slipped between two others."""
    position = int(target["notification_id"]) + 1
    assert not await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM vibehq_events WHERE notification_id = $1)", position
    )
    await tamper(
        conn,
        "INSERT INTO vibehq_events (originator_id, originator_version, topic, state, "
        "notification_id, event_id, stream_type, event_type, schema_version, recorded_at, "
        "correlation_id, actor, prev_hash, hash) "
        f"SELECT id, 1, 't', '\\x7b7d', {position}, id, 'Forged', 'Forged.Made', 1, now(), id, "
        "'mallory', decode(repeat('00', 32), 'hex'), sha256(decode(repeat('00', 32), 'hex') || "
        "vibehq_event_digest(id, id, 1, 'Forged', 'Forged.Made', 1, now(), id, NULL, "
        "'mallory', NULL, NULL, 't', '\\x7b7d', NULL)) FROM gen_random_uuid() AS id",
    )
    return position


async def swap_events(conn: asyncpg.Connection, target: asyncpg.Record) -> int:
    first = int(target["notification_id"])
    second = await conn.fetchval(
        "SELECT min(notification_id) FROM vibehq_events WHERE notification_id > $1", first
    )
    await tamper(
        conn,
        f"UPDATE vibehq_events SET notification_id = -1 WHERE notification_id = {first}",
        f"UPDATE vibehq_events SET notification_id = {first} WHERE notification_id = {second}",
        f"UPDATE vibehq_events SET notification_id = {second} WHERE notification_id = -1",
    )
    return first


async def forge_signature(conn: asyncpg.Connection, target: asyncpg.Record) -> int:
    """Flips every bit of the signature's first byte: it always changes (an overwrite
    with a fixed byte left one signature in 256 as it was)."""
    position: int = await conn.fetchval("SELECT min(to_position) FROM vibehq_log_checkpoints")
    await tamper(
        conn,
        "UPDATE vibehq_log_checkpoints SET signature = "
        f"set_byte(signature, 0, get_byte(signature, 0) # 255) WHERE to_position = {position}",
    )
    return position


@pytest.mark.parametrize(
    ("tampering", "kind"),
    [
        (change_payload, "payload or metadata changed"),
        (change_actor, "payload or metadata changed"),
        (change_and_rehash, "payload or metadata changed"),
        (delete_event, "event deleted"),
        (insert_event, "event inserted"),
        (swap_events, "events reordered"),
        (forge_signature, "checkpoint signature invalid"),
    ],
)
@pytest.mark.parametrize("jobs", [1, 3])
async def test_each_kind_of_tampering_is_found_at_its_first_position(
    signed_log: asyncpg.Connection, database_url: str, tampering: Tampering, kind: str, jobs: int
) -> None:
    position = await tampering(signed_log, await middle_event(signed_log))
    found = await problems_of(signed_log, database_url, jobs)
    assert kind in found, found
    assert found[kind][0] == position, found
