"""`python -m bench scale --events 10000,1000000`: the cost per event as the log grows.

For each size N, on a database of its own and the same engines:

1. A log of N events is built through the store's own write path: one workspace
   with N/10 patches (at most 100,000) through the PatchManager, then copies of a
   real workspace's history (10 events: created, 9 patches; fresh ids in each copy)
   appended by 8 writers until the log holds N events.
2. Append rate: 20,000 more events by 8 writers, timed.
3. Latencies, once every log is built and measured: a patch submitted to a fresh
   workspace and to the big one; reading a file, a diff over 10 versions and a history
   page of the big one. Each is the median of 100 samples, taken in 10 rounds that
   take the logs in turn (`--latency-rounds`), so a slow spell of the machine falls on
   every size alike rather than on one. Each round opens with a checkpoint and counts
   the WAL it writes, per submit (the median of the rounds).
4. Every follower N events behind: catch-up rate of the relay (to NATS), the audit
   chain and the projections, each alone in a worker of its own (`worker --only`),
   one after the other (`--catch-up together`: all in one worker, as `vibehq worker`
   runs them by default, from the first follower's first move).
5. Bytes per event in PostgreSQL: the events table with its indexes and TOAST, the
   global chain, the blobs.
6. The whole-log tools as a user runs them, each in its own process (peak RSS from
   the kernel): `projections rebuild delivery`, `audit verify` (one process and
   `--jobs 2`), `events export --out log.jsonl.zst` and `events import` into an empty
   database.

Between the steps the database is vacuumed and checkpointed, as an operator's is in
steady state: a bulk load sets off autovacuum and the checkpointer, which would
otherwise run inside the timed parts. Flat means each figure at the largest N within
1.2x of the smallest N's. The table
goes to stdout as Markdown, for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import re
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Final

import asyncpg

from application.ports import AppendRequest, NewEvent, RecordedEvent
from bench.catch_up import catch_up_alone, catch_up_together, say
from bench.databases import drop_databases, fresh_database, settle
from bench.patch_path import manager_for, workspace_with_history
from bench.scale_latencies import Log, interleaved_latencies
from domain.ids import new_id
from infrastructure.embedded.engines import start_engines
from infrastructure.event_store.postgres_store import PostgresEventStore
from infrastructure.pool import open_pool

ROOT: Final = Path(__file__).resolve().parent.parent
WRITERS: Final = 8
SEED: Final = base64.b64encode(bytes(range(7, 39))).decode()
_UUID: Final = re.compile(rb"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")

#: Figure name (with its unit) -> value, in the order the table shows them.
Figures = dict[str, float]


def _copy(model: list[RecordedEvent]) -> AppendRequest:
    """The model history under a new stream id, every id inside it fresh too."""
    fresh: dict[bytes, bytes] = {}

    def renamed(found: re.Match[bytes]) -> bytes:
        return fresh.setdefault(found.group(0), str(new_id()).encode())

    return AppendRequest(
        stream_id=uuid.uuid4(),  # as a workspace id: random (domain/ids.py)
        stream_type=model[0].stream_type,
        expected_version=0,
        events=[
            NewEvent(
                new_id(),
                event.event_type,
                event.schema_version,
                event.topic,
                _UUID.sub(renamed, event.state),
            )
            for event in model
        ],
        actor="bench-factory",
        correlation_id=uuid.uuid4(),
    )


async def _append_copies(
    store: PostgresEventStore, model: list[RecordedEvent], events: int
) -> float:
    """Append copies of `model` by WRITERS writers until `events` more are in; events/s."""
    copies = max(1, events // len(model))
    left = copies
    started = time.perf_counter()

    async def writer() -> None:
        nonlocal left
        while left > 0:
            left -= 1
            await store.append(_copy(model))
            if left % 20_000 == 0 and left:
                say(f"{(copies - left) * len(model):,} of {copies * len(model):,} appended")

    await asyncio.gather(*(writer() for _ in range(WRITERS)))
    return copies * len(model) / (time.perf_counter() - started)


async def _build(
    pool: asyncpg.Pool, store: PostgresEventStore, events: int
) -> tuple[uuid.UUID, int]:
    manager = manager_for(pool)
    history = min(100_000, events // 10)
    say(f"a workspace with {history:,} patches")
    big, version = await workspace_with_history(manager, history)
    small, _ = await workspace_with_history(manager, 9)
    model = list(await store.read_stream(small))
    have = await pool.fetchval("SELECT count(*) FROM vibehq_events")
    say(f"copies of a {len(model)}-event history up to {events:,} events")
    await _append_copies(store, model, events - have)
    return big, version


def _env(database_url: str, nats_url: str, data: Path) -> dict[str, str]:
    return {
        **os.environ,
        "VIBEHQ_DATABASE_URL": database_url,
        "VIBEHQ_NATS_URL": nats_url,
        "VIBEHQ_NATS_PREFIX": f"s{uuid.uuid4().hex[:10]}",
        "VIBEHQ_SIGNING_KEY": SEED,
        "VIBEHQ_DATA_DIR": str(data),
        "VIBEHQ_LOG_LEVEL": "warning",
    }


def _tool(env: dict[str, str], *args: str) -> tuple[float, float]:
    """Run `vibehq ARGS` to its end: (seconds, peak RSS in MB)."""
    started = time.perf_counter()
    child = subprocess.Popen(
        [sys.executable, "-m", "interfaces.cli.main", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - started
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        error = child.stderr.read().decode() if child.stderr else ""
        raise RuntimeError(f"vibehq {' '.join(args)} exited {child.returncode}: {error}")
    return seconds, usage.ru_maxrss / 1024  # Linux: KiB


async def _bytes(pool: asyncpg.Pool) -> Figures:
    events = await pool.fetchval("SELECT count(*) FROM vibehq_events")
    sizes = await pool.fetchrow(
        "SELECT sum(pg_table_size(t.oid)) AS heap, sum(pg_indexes_size(t.oid)) AS indexes, "
        "pg_total_relation_size('vibehq_log_chain') AS chain, "
        "pg_total_relation_size('vibehq_blobs') AS blobs, "
        "pg_total_relation_size('vibehq_stream_heads') AS heads, "
        "(SELECT avg(pg_column_size(state)) FROM vibehq_events) AS payload "
        # The table itself when plain, its partitions when partitioned.
        "FROM pg_class t WHERE t.oid = 'vibehq_events'::regclass AND t.relkind = 'r' "
        "OR t.oid IN (SELECT inhrelid FROM pg_inherits "
        "WHERE inhparent = 'vibehq_events'::regclass)"
    )
    assert sizes is not None
    return {
        "events table per event (B)": sizes["heap"] / events,
        "its indexes per event (B)": sizes["indexes"] / events,
        "global chain per event (B)": sizes["chain"] / events,
        "blobs per event (B)": sizes["blobs"] / events,
        "stream heads per event (B)": sizes["heads"] / events,
        "payload as stored (B)": float(sizes["payload"]),
    }


async def measure(
    admin_url: str, nats_url: str, events: int, partition: int = 0, *, alone: bool = True
) -> tuple[Figures, Log]:
    """Every figure but the latencies, and the log for their rounds (its database is
    kept; the caller drops it)."""
    url = await fresh_database(admin_url, _name(events, partition), partition=partition)
    pool = await open_pool(url, max_size=WRITERS + 2)
    store = PostgresEventStore(pool, dsn=url)
    await store.start()
    figures: Figures = {}
    with tempfile.TemporaryDirectory(prefix="vibehq-scale-") as folder:
        data = Path(folder)
        env = _env(url, nats_url, data)
        try:
            big, version = await _build(pool, store, events)
            await settle(pool)
            model = list(await store.read_stream(big, limit=10))
            say("append rate")
            figures["append, 8 writers (events/s)"] = await _append_copies(store, model, 20_000)
            await settle(pool)
            say("followers catching up")
            figures |= await (catch_up_alone if alone else catch_up_together)(pool, env)
            await settle(pool)
            figures |= await _bytes(pool)
            total = await pool.fetchval("SELECT count(*) FROM vibehq_events")
            for label, args in [
                ("rebuild delivery", ("projections", "rebuild", "delivery")),
                ("verify", ("audit", "verify", "--jobs", "1")),
                ("verify --jobs 2", ("audit", "verify", "--jobs", "2")),
                ("export .zst", ("events", "export", "--out", str(data / "log.jsonl.zst"))),
            ]:
                say(label)
                seconds, peak = await asyncio.to_thread(_tool, env, *args)
                figures[f"{label} (events/s)"] = total / seconds
                if label != "verify --jobs 2":
                    figures[f"{label}, peak RSS (MB)"] = peak
            figures["export file per event (B)"] = (data / "log.jsonl.zst").stat().st_size / total
            target = await fresh_database(admin_url, "vibehq_scale_import", partition=partition)
            say("import")
            seconds, peak = await asyncio.to_thread(
                _tool,
                {**env, "VIBEHQ_DATABASE_URL": target},
                "events", "import", str(data / "log.jsonl.zst"),
            )  # fmt: skip
            figures["import (events/s)"] = total / seconds
            figures["import, peak RSS (MB)"] = peak
            await drop_databases(admin_url, "vibehq_scale_import", checkpoint=True)
        except BaseException:  # a long run stopped: keep what it measured
            if figures:
                say(f"stopped; measured so far at {events:,} events:")
                print(table([f"{events:,} events"], [figures]), file=sys.stderr)
            raise
        finally:
            await store.close()
            await pool.close()
    return figures, Log(url, big, version)


def _name(events: int, partition: int) -> str:
    return f"vibehq_scale_{events}" + (f"_p{partition}" if partition else "")


def table(columns: list[str], rows: list[Figures], ratio: str = "largest / smallest") -> str:
    """One column per measured log, and the last one's figure over the first one's."""
    head = "| figure | " + " | ".join(columns) + f" | {ratio} |"
    lines = [head, "|" + " --- |" * (len(columns) + 2)]
    for name in rows[0]:
        values = [row[name] for row in rows]
        over = values[-1] / values[0] if values[0] else float("nan")
        cells = " | ".join(f"{v:,.2f}" if v < 100 else f"{v:,.0f}" for v in values)
        lines.append(f"| {name} | {cells} | {over:.2f}x |")
    return "\n".join(lines)


async def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench scale", description=__doc__)
    parser.add_argument(
        "--events", default="10000,1000000", help="log sizes, comma-separated (smallest first)"
    )
    parser.add_argument(
        "--layout",
        choices=("plain", "partitioned", "both"),
        default="plain",
        help="the log as one table, partitioned by position (vibehq db partition), or "
        "both at each size (the ratio column is then partitioned / plain at the largest)",
    )
    parser.add_argument(
        "--partition-transactions",
        type=int,
        default=1 << 16,
        help="transactions per partition of a partitioned log",
    )
    parser.add_argument(
        "--catch-up",
        choices=("alone", "together"),
        default="alone",
        help="followers catching up each alone in its own worker (worker --only), one "
        "after the other, or all together in one worker",
    )
    parser.add_argument(
        "--latency-rounds",
        type=int,
        default=10,
        help="rounds of latency samples, each taking every log in turn (10 samples of "
        "each operation per log per round); the figure is the median of all",
    )
    args = parser.parse_args(argv)
    sizes = sorted(int(n) for n in args.events.split(","))
    layouts = {"plain": [0], "partitioned": [args.partition_transactions]}.get(
        args.layout, [0, args.partition_transactions]
    )
    runs = [(events, partition) for events in sizes for partition in layouts]
    columns = [
        f"{events:,} events" + (", partitioned" if partition else "") for events, partition in runs
    ]
    ratio = "partitioned / plain" if len(layouts) == 2 else "largest / smallest"
    engines = start_engines(
        database_url=os.environ.get("VIBEHQ_DATABASE_URL"),
        nats_url=os.environ.get("VIBEHQ_NATS_URL"),
        data_dir=ROOT / ".vibehq" / "bench",
    )
    try:
        rows: list[Figures] = []
        logs: list[Log] = []
        try:
            for (events, partition), column in zip(runs, columns, strict=True):
                say(f"--- {column} ---")
                figures, log = await measure(
                    engines.database_url,
                    engines.nats_url,
                    events,
                    partition,
                    alone=args.catch_up == "alone",
                )
                rows.append(figures)
                logs.append(log)
                print(table(columns[: len(rows)], rows), file=sys.stderr)
            say("--- latencies, every log in turn ---")
            latencies = await interleaved_latencies(logs, args.latency_rounds, per_round=10)
            for figures, measured in zip(rows, latencies, strict=True):
                figures |= measured
        finally:
            await drop_databases(engines.database_url, *(_name(*run) for run in runs))
    finally:
        engines.stop()
    if len(layouts) == 2:  # one table per size: the two layouts side by side
        print(
            "\n\n".join(
                table(columns[n : n + 2], rows[n : n + 2], ratio) for n in range(0, len(rows), 2)
            )
        )
    else:
        print(table(columns, rows, ratio))
    return 0
