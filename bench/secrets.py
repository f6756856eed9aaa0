"""Secrets and rate limits: what sealing, masking, releasing and limiting cost, each as
a ratio to the nearest thing that does less, measured in the same run.

- seal / open: the vault's envelope (fresh data key, AES-GCM, key wrap) against one
  bare AES-GCM encryption / decryption of the same value under a fixed key;
- the redactor over a synthetic build log (compiler lines, commit hashes, npm
  integrity base64, URLs) with 1,000 secrets in every rendering (~6,000 patterns),
  whole and in 16 KB terminal chunks, against pyahocorasick's bare scan of the same
  text with the same patterns; and how many bytes it masked that are not secrets;
- a resolve over HTTP (service token, grant check, `Released` appended, value opened)
  against `GET /health` on the same server: the HTTP round trip's floor;
- a rate-limit check (one GCRA key, through the pool) against `SELECT 1`, alone and
  with 32 callers on one hot key; and the same through reserved units (a busy key, as
  the service checks it: application/limit_budgets.py).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import random
import secrets as random_secrets
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import ahocorasick
import asyncpg
import httpx
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from msgspec import Struct

from application.access import TokenService
from application.limit_budgets import LocalBudgets
from bench.in_process import serving_in_process
from bench.stats import percentile
from domain.limits import LimitCheck, Rate
from infrastructure.limits import PostgresRateLimiter
from infrastructure.secrets.keys import LocalKeyRing
from infrastructure.secrets.redaction import Redactor, renderings
from infrastructure.secrets.vault import Envelope, open_value, seal_value
from infrastructure.settings import Settings
from infrastructure.token_store import PostgresTokenStore


class Measured(Struct, frozen=True):
    """One figure and its baseline, in the same unit (`unit`), lower is better unless
    `higher_is_better`."""

    name: str
    ours: float
    baseline: float
    baseline_name: str
    unit: str
    higher_is_better: bool = False
    note: str = ""


def crypto_costs(count: int) -> list[Measured]:
    ring = LocalKeyRing({1: os.urandom(32)})
    value = random_secrets.token_urlsafe(40).encode()
    secret_id = uuid.uuid4()
    fixed = AESGCM(os.urandom(32))
    nonce = os.urandom(12)

    def seal() -> Envelope:
        return seal_value(ring, secret_id, 1, "bench", value)

    box = seal()

    def open_() -> bytes:
        return open_value(ring, secret_id, 1, "bench", *box)

    bare_sealed = fixed.encrypt(nonce, value, None)
    seal_us = _per_call_us(seal, count)
    open_us = _per_call_us(open_, count)
    bare_seal = _per_call_us(lambda: fixed.encrypt(nonce, value, None), count)
    bare_open = _per_call_us(lambda: fixed.decrypt(nonce, bare_sealed, None), count)
    return [
        Measured("seal a value", seal_us, bare_seal, "one bare AES-GCM encryption", "µs"),
        Measured("open a value", open_us, bare_open, "one bare AES-GCM decryption", "µs"),
    ]


def _per_call_us(call: Callable[[], object], count: int) -> float:
    runs = []
    for _ in range(3):
        began = time.perf_counter()
        for _ in range(count):
            call()
        runs.append((time.perf_counter() - began) / count * 1e6)
    return statistics.median(runs)


def build_log(megabytes: float, rng: random.Random) -> str:
    """Text like a CI log: compiler lines, commit hashes, base64 integrity, URLs."""
    lines: list[str] = []
    size, i = 0, 0
    while size < megabytes * 1_000_000:
        digest = hashlib.sha256(i.to_bytes(8, "big")).digest()
        match i % 4:
            case 0:
                line = f"commit {digest.hex()[:40]} Merge branch 'feature/{i % 89}'\n"
            case 1:
                line = f'  "integrity": "sha512-{base64.b64encode(digest * 2).decode()}",\n'
            case 2:
                took = rng.random()
                line = f"[{i:07d}] compiling src/pkg{i % 97}/mod{i % 13}.ts ... ok ({took:.3f}s)\n"
            case _:
                line = f"GET https://registry.example.com/v1/items?id={digest.hex()[:16]} 200\n"
        lines.append(line)
        size += len(line)
        i += 1
    return "".join(lines)


def redactor_costs(megabytes: float) -> list[Measured]:
    rng = random.Random(42)
    values = {f"secret-{n:04d}": f"sk-{random_secrets.token_urlsafe(30)}" for n in range(1000)}
    redactor = Redactor()
    for name, value in values.items():
        redactor.add(name, value)
    log = build_log(megabytes, rng)
    planted = list(values.items())[:5]
    text = log + "".join(f"leaked: {value}\n" for _, value in planted)
    expected = log + "".join(f"leaked: [REDACTED:{name}]\n" for name, _ in planted)
    redactor.redact("warm up: build the automaton")
    bare = ahocorasick.Automaton()
    for form in {f for v in values.values() for f in renderings(v)}:
        bare.add_word(form, form)
    bare.make_automaton()
    mb = len(text) / 1_000_000
    bare_rate = _best_rate(mb, lambda: sum(1 for _ in bare.iter(text)))
    whole: list[str] = []
    whole_rate = _best_rate(mb, lambda: whole.append(redactor.redact(text)))
    chunks = [text[i : i + 16384] for i in range(0, len(text), 16384)]
    streamed: list[str] = []

    def stream() -> None:
        masked = redactor.stream()
        streamed.append("".join(masked.feed(c) for c in chunks) + masked.close())

    stream_rate = _best_rate(mb, stream)
    wrong = _wrongly_masked(whole[-1], expected) + _wrongly_masked(streamed[-1], expected)
    note = f"{mb:.0f} MB, 1,000 secrets; bytes masked that are not secrets: {wrong}"
    return [
        Measured(
            "redact a build log, whole",
            whole_rate,
            bare_rate,
            "bare automaton scan",
            "MB/s",
            True,
            note,
        ),
        Measured(
            "redact it in 16 KB chunks",
            stream_rate,
            bare_rate,
            "bare automaton scan",
            "MB/s",
            True,
            note,
        ),
    ]


def _best_rate(megabytes: float, work: Callable[[], object]) -> float:
    rates = []
    for _ in range(3):
        began = time.perf_counter()
        work()
        rates.append(megabytes / (time.perf_counter() - began))
    return max(rates)


def _wrongly_masked(got: str, expected: str) -> int:
    """Bytes that differ from the text with only the planted values masked."""
    if got == expected:
        return 0
    return sum(1 for a, b in zip(got, expected, strict=False) if a != b) + abs(
        len(got) - len(expected)
    )


async def resolve_costs(database_url: str, nats_url: str, count: int) -> list[Measured]:
    settings = Settings(
        database_url=database_url,
        nats_url=nats_url,
        nats_prefix=f"bench{uuid.uuid4().hex[:6]}",
        background="off",
        limit_writes=0,
    )
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
    tokens = TokenService(PostgresTokenStore(pool))
    now = datetime.now(UTC)
    owner = await tokens.issue(
        actor="bench-owner", kind="factory", scopes=["write"], name="", now=now
    )
    router = await tokens.issue(
        actor="llm-router", kind="service", scopes=["read"], name="", now=now
    )
    try:
        async with (
            serving_in_process(settings) as base,
            httpx.AsyncClient(base_url=base, timeout=30) as client,
        ):
            as_owner = {"Authorization": f"Bearer {owner.secret}"}
            as_router = {"Authorization": f"Bearer {router.secret}"}
            value = f"sk-{random_secrets.token_urlsafe(30)}"
            await client.post(
                "/secrets", json={"name": "bench-key", "value": value}, headers=as_owner
            )
            grant = {"principal": "llm-router", "purpose": "provider:openai"}
            await client.post("/secrets/bench-key/grants", json=grant, headers=as_owner)

            async def resolve() -> None:
                answer = await client.post(
                    "/secrets/bench-key/resolve",
                    json={"purpose": "provider:openai"},
                    headers=as_router,
                )
                assert answer.status_code == 200, answer.text

            async def health() -> None:
                assert (await client.get("/health")).status_code == 200

            resolved = await _latencies_ms(resolve, count)
            floor = await _latencies_ms(health, count)
    finally:
        await pool.close()
    return [
        Measured(
            "resolve over HTTP, p50",
            percentile(resolved, 0.5),
            percentile(floor, 0.5),
            "GET /health, p50",
            "ms",
        ),
        Measured(
            "resolve over HTTP, p99",
            percentile(resolved, 0.99),
            percentile(floor, 0.99),
            "GET /health, p99",
            "ms",
        ),
    ]


async def _latencies_ms(call: Callable[[], Awaitable[None]], count: int) -> list[float]:
    for _ in range(min(20, count)):
        await call()  # warm up
    times = []
    for _ in range(count):
        began = time.perf_counter()
        await call()
        times.append((time.perf_counter() - began) * 1000)
    return times


async def limit_costs(database_url: str, count: int, seconds: float) -> list[Measured]:
    pool = await asyncpg.create_pool(database_url, min_size=2, max_size=34)
    limiter = PostgresRateLimiter(pool)
    policy = Rate("bench", limit=1e9, per=1.0, burst=1e9)
    hot = [LimitCheck(policy, "hot-key")]

    async def check() -> None:
        await limiter.check(hot)

    async def select_one() -> None:
        await pool.fetchval("SELECT 1")

    budgets = LocalBudgets(limiter)  # as the service checks: busy keys reserve ahead
    busy = [LimitCheck(policy, "busy-key")]

    async def reserved() -> None:
        await budgets.check(busy)

    try:
        checked = await _latencies_ms(check, count)
        floor = await _latencies_ms(select_one, count)
        hot_rate = await _rate(check, 32, seconds)
        floor_rate = await _rate(select_one, 32, seconds)
        local = await _latencies_ms(reserved, count)
        local_rate = await _rate(reserved, 32, seconds)
    finally:
        await pool.close()
    return [
        Measured(
            "check of a busy key (reserved ahead), p50",
            percentile(local, 0.5),
            percentile(floor, 0.5),
            "SELECT 1, p50",
            "ms",
        ),
        Measured(
            "check of a busy key (reserved ahead), p99",
            percentile(local, 0.99),
            percentile(floor, 0.99),
            "SELECT 1, p99",
            "ms",
        ),
        Measured(
            "checks/s, one hot key, 32 callers, reserved ahead",
            local_rate,
            floor_rate,
            "SELECT 1/s, 32 callers",
            "/s",
            True,
        ),
        Measured(
            "rate-limit check, one round trip, p50",
            percentile(checked, 0.5),
            percentile(floor, 0.5),
            "SELECT 1, p50",
            "ms",
        ),
        Measured(
            "rate-limit check, one round trip, p99",
            percentile(checked, 0.99),
            percentile(floor, 0.99),
            "SELECT 1, p99",
            "ms",
        ),
        Measured(
            "checks/s, one hot key, 32 callers, a round trip each",
            hot_rate,
            floor_rate,
            "SELECT 1/s, 32 callers",
            "/s",
            True,
        ),
    ]


async def _rate(call: Callable[[], Awaitable[None]], callers: int, seconds: float) -> float:
    done = 0
    deadline = time.perf_counter() + seconds

    async def caller() -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            await call()
            done += 1

    began = time.perf_counter()
    await asyncio.gather(*(caller() for _ in range(callers)))
    return done / (time.perf_counter() - began)


def costs_table(costs: list[Measured]) -> str:
    rows = [
        "| figure | ours | baseline | ours / baseline | notes |",
        "| --- | --- | --- | --- | --- |",
    ]
    for cost in costs:
        rows.append(
            f"| {cost.name} | {_num(cost.ours)} {cost.unit} | {_num(cost.baseline)} {cost.unit} "
            f"({cost.baseline_name}) | {cost.ours / cost.baseline:.2f}x | {cost.note} |"
        )
    return "\n".join(rows)


def _num(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:.2f}"
