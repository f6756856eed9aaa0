"""Figures 4, 6 and 7: the service under HTTP load, as it ships.

`vibehq serve` runs as a subprocess with `VIBEHQ_WORKERS` uvicorn worker processes
(each also running the log's followers, one active per follower), on a fresh
database. An asyncio client on loopback (`bench.http_client`, keep-alive) drives `concurrency`
factories, each submitting patches to its own workspace, for a bounded time. Measured:

4. accepted submissions per second (201s) and their latency p50/p99, as the client saw
   it, next to `GET /health` driven the same way (same client, same concurrency) in
   the same run: the ceiling of the HTTP stack and the client on this machine, and
   HTTP stack alone costs;
6. how far the projections and the relay lag behind the log while the load runs
   (sampled every 100 ms: p99 of the age of the oldest unprocessed event), and how fast
   a projection folds the log from scratch afterwards (events per second);
7. the peak resident memory (VmHWM) of the server's processes.

With it, the CPU time each local part (HTTP workers, followers, PostgreSQL, NATS, the
load client) used during the load, per accepted submission: where the cores went.

The client shares the machine's cores with the server and PostgreSQL, so on a 2-core
machine the figures are a floor, not the server's ceiling.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import msgspec

from application.access import TokenService
from bench import processes
from bench.http_client import Connection, HttpError
from infrastructure.event_store.postgres_store import PostgresEventStore
from infrastructure.projections.delivery import DeliveryProjection
from infrastructure.projections.rebuild import rebuild
from infrastructure.token_store import PostgresTokenStore
from interfaces.http.serving import listening_sockets

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class LoadResult:
    seconds: float
    accepted: int
    other: int
    latencies_ms: list[float]
    health_ms: list[float]
    health_rate: float = 0.0
    lag_samples: dict[str, list[float]] = field(default_factory=dict)
    catch_up_rate: float = 0.0
    peak_rss_mb: dict[int, float] = field(default_factory=dict)
    #: CPU seconds each part used during the load window (empty where /proc is absent).
    cpu_seconds: dict[str, float] = field(default_factory=dict)
    workers: int = 1
    concurrency: int = 1

    @property
    def rate(self) -> float:
        return self.accepted / self.seconds


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def http_load(
    database_url: str,
    nats_url: str,
    *,
    seconds: float,
    concurrency: int,
    workers: int,
    progress: bool = True,
    limits: bool = True,
) -> LoadResult:
    """`limits`: the rate-limit checks run on every write (with limits far above the
    load, so none refuses) or are off (`VIBEHQ_LIMIT_*=0`): their cost, on vs off."""
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=4)
    secret = (
        await TokenService(PostgresTokenStore(pool)).issue(
            actor="bench", kind="factory", scopes=["write"], name="bench", now=datetime.now(UTC)
        )
    ).secret
    port = _free_port()
    env = {
        **os.environ,
        "VIBEHQ_DATABASE_URL": database_url,
        "VIBEHQ_NATS_URL": nats_url,
        "VIBEHQ_NATS_PREFIX": f"bench{uuid.uuid4().hex[:6]}",
        "VIBEHQ_WORKERS": str(workers),
        "VIBEHQ_LOG_LEVEL": "warning",
        "VIBEHQ_LIMIT_WRITES": "1000000000" if limits else "0",
        "VIBEHQ_LIMIT_WORKSPACES": "1000000000" if limits else "0",
    }
    server = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "interfaces.cli.main",
        "serve",
        "--port",
        str(port),
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    headers = {"Authorization": f"Bearer {secret}", "Content-Type": "application/json"}
    try:
        client = await _wait_ready(port, headers, server)
        try:
            await _wait_for_workers(port, workers)
            # Each factory is an actor of its own, with its own token and workspace (as in
            # production: its own rate-limit key, not one hot key for all).
            factory_headers = [
                {**headers, "Authorization": f"Bearer {await _token(pool, n)}"}
                for n in range(concurrency)
            ]
            workspaces = [await _own_workspace(port, h, n) for n, h in enumerate(factory_headers)]
            health = await _health_baseline(client)
            health_rate = await _health_load(port, headers, concurrency, seconds=3.0)
            stop = asyncio.Event()
            latencies: list[float] = []
            counts = {"accepted": 0, "other": 0}
            lag = asyncio.create_task(_sample_lags(pool, stop))
            parts = await _parts(pool, nats_url, server.pid, workers)
            cpu_before = {name: processes.cpu_seconds(pids) for name, pids in parts.items()}
            started = time.perf_counter()
            loaders = [
                asyncio.create_task(_factory(port, h, ws, stop, latencies, counts))
                for h, ws in zip(factory_headers, workspaces, strict=True)
            ]
            await asyncio.sleep(seconds)
            stop.set()
            await asyncio.gather(*loaders)
            elapsed = time.perf_counter() - started
            cpu = {
                name: processes.cpu_used(cpu_before[name], processes.cpu_seconds(pids))
                for name, pids in (await _parts(pool, nats_url, server.pid, workers)).items()
            }
            lag_samples = await lag
            peaks = processes.peak_rss_mb(processes.tree(server.pid))
        finally:
            client.close()
    finally:
        server.send_signal(signal.SIGINT)
        try:
            await asyncio.wait_for(server.wait(), 30)
        except TimeoutError:
            server.kill()
            await server.wait()
    store = PostgresEventStore(pool)
    events = await pool.fetchval("SELECT count(*) FROM vibehq_events")
    begun = time.perf_counter()
    await rebuild(dsn=database_url, store=store, projection=DeliveryProjection())
    catch_up = events / (time.perf_counter() - begun)
    await pool.close()
    if progress:
        print(
            f"  http x{concurrency} ({workers} workers): {counts['accepted'] / elapsed:,.0f} "
            f"submissions/s, catch-up {catch_up:,.0f} events/s",
            file=sys.stderr,
        )
    return LoadResult(
        seconds=elapsed,
        accepted=counts["accepted"],
        other=counts["other"],
        latencies_ms=latencies,
        health_ms=health,
        health_rate=health_rate,
        lag_samples=lag_samples,
        catch_up_rate=catch_up,
        peak_rss_mb=peaks,
        cpu_seconds=cpu,
        workers=workers,
        concurrency=concurrency,
    )


async def _parts(
    pool: asyncpg.Pool, nats_url: str, server: int, workers: int
) -> dict[str, list[int]]:
    """The load's processes on this machine, by part (PostgreSQL and NATS if local)."""
    if not processes.available():
        return {}
    everything = processes.tree(server)
    if workers > 1:
        parts = {"HTTP workers": everything[1:], "followers (serve supervisor)": [server]}
    else:
        parts = {"server (HTTP and followers)": everything}
    backend = await pool.fetchval("SELECT pg_backend_pid()")
    postmaster = processes.parent_of(backend)
    if postmaster is not None and postmaster > 1:
        parts["PostgreSQL"] = processes.tree(postmaster)
    nats = processes.nats_server(nats_url)
    if nats is not None:
        parts["NATS"] = [nats]
    parts["load client"] = [os.getpid()]
    return parts


async def _wait_ready(
    port: int, headers: dict[str, str], server: asyncio.subprocess.Process
) -> Connection:
    """A connection to the server once it answers `/ready`."""
    for _ in range(600):
        if server.returncode is not None:
            raise RuntimeError(f"vibehq serve exited with {server.returncode}")
        with contextlib.suppress(OSError):
            client = await Connection.open("127.0.0.1", port, headers)
            status, _ = await client.request(client.head("GET", "/ready"))
            if status == 200:
                return client
            client.close()
        await asyncio.sleep(0.1)
    raise RuntimeError("vibehq serve did not become ready in 60 s")


async def _wait_for_workers(port: int, workers: int) -> None:
    """Until every worker listens (Linux), so the kernel spreads the factories over all."""
    if workers == 1 or sys.platform != "linux":
        return
    for _ in range(600):
        if listening_sockets(port) >= workers:
            return
        await asyncio.sleep(0.1)
    raise RuntimeError(f"only {listening_sockets(port)} of {workers} workers listen after 60 s")


async def _token(pool: asyncpg.Pool, n: int) -> str:
    issued = await TokenService(PostgresTokenStore(pool)).issue(
        actor=f"factory-{n}", kind="factory", scopes=["write"], name="bench", now=datetime.now(UTC)
    )
    return issued.secret


async def _own_workspace(port: int, headers: dict[str, str], n: int) -> tuple[str, list[int]]:
    client = await Connection.open("127.0.0.1", port, headers)
    try:
        return await _workspace(client, n)
    finally:
        client.close()


async def _workspace(client: Connection, n: int) -> tuple[str, list[int]]:
    body = msgspec.json.encode(
        {"name": f"load-{n}", "files": [{"path": "a.txt", "content": "0\n"}]}
    )
    status, answer = await client.request(client.head("POST", "/workspaces"), body)
    if status != 201:
        raise RuntimeError(f"creating a workspace answered {status}: {answer[:300]!r}")
    created = msgspec.json.decode(answer, type=_Created)
    return created.id, [created.version]


async def _health_load(
    port: int, headers: dict[str, str], concurrency: int, *, seconds: float
) -> float:
    """GET /health per second with the load's client shape: the stack's own ceiling."""
    deadline = time.perf_counter() + seconds
    counts = [0] * concurrency

    async def one(n: int) -> None:
        client = await Connection.open("127.0.0.1", port, headers)
        head = client.head("GET", "/health")
        try:
            while time.perf_counter() < deadline:
                await client.request(head)
                counts[n] += 1
        finally:
            client.close()

    started = time.perf_counter()
    await asyncio.gather(*(one(n) for n in range(concurrency)))
    return sum(counts) / (time.perf_counter() - started)


async def _health_baseline(client: Connection, count: int = 200) -> list[float]:
    head = client.head("GET", "/health")
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        await client.request(head)
        samples.append((time.perf_counter() - started) * 1000)
    return samples


async def _factory(
    port: int,
    headers: dict[str, str],
    workspace: tuple[str, list[int]],
    stop: asyncio.Event,
    latencies: list[float],
    counts: dict[str, int],
) -> None:
    """One factory: its own keep-alive connection, an Idempotency-Key on every submit."""
    ws, version = workspace
    n = 0
    client = await Connection.open("127.0.0.1", port, headers)
    head = client.head("POST", f"/workspaces/{ws}/patches")
    try:
        while not stop.is_set():
            n += 1
            body = _ENCODE(
                _Submission(
                    base_version=version[0],
                    operations=[_Write(path="a.txt", content=f"{n}\n")],
                )
            )
            started = time.perf_counter()
            status, answer = await client.request(head + b"Idempotency-Key: load-%d\r\n" % n, body)
            latencies.append((time.perf_counter() - started) * 1000)
            if status == 201:
                counts["accepted"] += 1
                version[0] = _DECODE(answer).version
            else:
                counts["other"] += 1
    except HttpError:
        counts["other"] += 1
    finally:
        client.close()


class _Created(msgspec.Struct):
    id: str
    version: int


class _Write(msgspec.Struct, tag_field="op", tag="write_file"):
    path: str
    content: str


class _Submission(msgspec.Struct):
    base_version: int
    operations: list[_Write]
    task_id: str = "load"


class _Accepted(msgspec.Struct):
    version: int


_ENCODE = msgspec.json.Encoder().encode
_DECODE = msgspec.json.Decoder(_Accepted).decode


async def _sample_lags(pool: asyncpg.Pool, stop: asyncio.Event) -> dict[str, list[float]]:
    samples: dict[str, list[float]] = {}
    while not stop.is_set():
        rows = await pool.fetch(
            "SELECT c.name, coalesce(extract(epoch FROM now() - (SELECT e.recorded_at "
            "FROM vibehq_events e WHERE e.notification_id > c.position "
            "AND e.notification_id < vibehq_watermark() ORDER BY e.notification_id LIMIT 1)), 0) "
            "AS lag FROM vibehq_checkpoints c"
        )
        for row in rows:
            samples.setdefault(row["name"], []).append(float(row["lag"]) * 1000)
        await asyncio.sleep(0.1)
    return samples
