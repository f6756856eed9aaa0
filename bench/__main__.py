"""`python -m bench` (or `bash .ci/dev bench`): measure, print a table, write docs/benchmarks.md.

Every figure is the median of several time-boxed runs with its min-max and its ratio to
a baseline measured in the same run on the same server. `--smoke` runs everything very
briefly so CI can check the benchmark still works; its numbers mean nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import sys
from datetime import UTC, datetime
from pathlib import Path

from bench.adversarial import LINES, adversarial_inputs, adversarial_table
from bench.append import RAW_TABLE, Figure, library, ours, raw
from bench.databases import drop_databases, fresh_database
from bench.engine import engine_table, engine_vs_patch
from bench.engine_http import http_apply, http_apply_table
from bench.fanout import fanout_latencies
from bench.http_load import http_load
from bench.http_report import load_table
from bench.patch_path import patch_latencies
from bench.secrets import costs_table, crypto_costs, limit_costs, redactor_costs, resolve_costs
from infrastructure.embedded.engines import start_engines
from infrastructure.pool import open_pool
from infrastructure.settings import DEFAULT_APPEND_GROUPS

ROOT = Path(__file__).resolve().parent.parent

#: The notes section of docs/benchmarks.md: hand-written, in bench/notes.md, and kept as
#: it is when the benchmark rewrites the page.
NOTES = (Path(__file__).resolve().parent / "notes.md").read_text()


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--seconds", type=float, default=3.0, help="time box per run")
    parser.add_argument("--runs", type=int, default=3, help="runs per figure (median taken)")
    parser.add_argument("--writers", default="1,8,32", help="concurrent writer counts")
    parser.add_argument(
        "--histories", default="1,1000,10000", help="prior patches per workspace (figure 3)"
    )
    parser.add_argument("--patches", type=int, default=300, help="patches timed per workspace")
    parser.add_argument(
        "--fanout", type=int, default=300, help="events timed from commit to subscriber"
    )
    parser.add_argument("--load-seconds", type=float, default=20.0, help="HTTP load duration")
    parser.add_argument(
        "--concurrency",
        default="8,32",
        help="concurrent HTTP factories (comma-separated), --load-runs runs each",
    )
    parser.add_argument(
        "--load-runs", type=int, default=3, help="HTTP load runs per concurrency (median taken)"
    )
    parser.add_argument(
        "--workers", type=int, default=2, help="uvicorn worker processes for the HTTP load"
    )
    parser.add_argument(
        "--redact-mb", type=float, default=100.0, help="size of the log the redactor scans"
    )
    parser.add_argument("--smoke", action="store_true", help="tiny runs, for CI")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks.md")
    return parser.parse_args()


async def _fresh_database(admin_url: str, name: str = "vibehq_bench") -> str:
    return await fresh_database(admin_url, name, setup=[RAW_TABLE])


async def _settle(admin_url: str, *drop: str) -> None:
    """Drop the earlier sections' databases and write out their dirty pages now.

    Otherwise PostgreSQL's checkpointer and autovacuum catch up on them during the next
    HTTP load, and their CPU shows in that load's figures as the server's.
    """
    await drop_databases(admin_url, *drop, checkpoint=True)


def _cell(figure: Figure) -> str:
    return f"{figure.median:,.0f} ({min(figure.samples):,.0f}-{max(figure.samples):,.0f})"


async def main() -> int:
    args = _parse()
    if args.smoke:
        args.seconds, args.runs, args.writers = 0.3, 1, "1,4"
        args.histories, args.patches, args.fanout = "1,30", 10, 10
        args.load_seconds, args.concurrency, args.load_runs = 2.0, "4", 1
        args.redact_mb = 1.0
    writer_counts = [int(w) for w in args.writers.split(",")]
    # CPU alone, before any server runs: the machine is as quiet as it gets.
    engines_vs_patch = engine_vs_patch(1 if args.smoke else max(args.runs, 3))
    adversarial = adversarial_inputs(1 if args.smoke else max(args.runs, 3))
    secret_costs = crypto_costs(200 if args.smoke else 20_000)
    secret_costs += redactor_costs(args.redact_mb)
    engines = start_engines(
        database_url=os.environ.get("VIBEHQ_DATABASE_URL"),
        nats_url=os.environ.get("VIBEHQ_NATS_URL"),
        data_dir=ROOT / ".vibehq" / "bench",
    )
    rows: list[str] = []
    try:
        url = await _fresh_database(engines.database_url)
        # The pool as the service opens it (no per-release reset round trip), shared by
        # ours and the raw baseline alike.
        pool = await open_pool(url, max_size=max(writer_counts) + 2)
        for writers in writer_counts:
            results: dict[str, Figure] = {}
            for name in ("ours", "ours, each alone", "raw asyncpg", "eventsourcing recorder"):
                samples = []
                for _ in range(args.runs):
                    print(
                        f"  append x{writers:<3} {name:24} ...", end="", file=sys.stderr, flush=True
                    )
                    if name == "ours":
                        sample = await ours(pool, writers, args.seconds)
                    elif name == "ours, each alone":
                        sample = await ours(pool, writers, args.seconds, append_groups=0)
                    elif name == "raw asyncpg":
                        sample = await raw(pool, writers, args.seconds)
                    else:
                        sample = await asyncio.to_thread(library, url, writers, args.seconds)
                    samples.append(sample.rate)
                    print(f" {sample.rate:,.0f} events/s", file=sys.stderr)
                results[name] = Figure(name, samples)
            o, r, lib = results["ours"], results["raw asyncpg"], results["eventsourcing recorder"]
            alone = results["ours, each alone"]
            rows.append(
                f"| append, 1 event/command, {writers} writers | {_cell(o)} | {_cell(alone)} | "
                f"{_cell(r)} | {_cell(lib)} | {o.median / r.median:.2f}x "
                f"({alone.median / r.median:.2f}x) | {o.median / lib.median:.1f}x "
                f"({alone.median / lib.median:.1f}x) |"
            )
        batch_ours = Figure(
            "ours", [(await ours(pool, 8, args.seconds, batch=100)).rate for _ in range(args.runs)]
        )
        batch_raw = Figure(
            "raw", [(await raw(pool, 8, args.seconds, batch=100)).rate for _ in range(args.runs)]
        )
        batch_ratio = batch_ours.median / batch_raw.median
        rows.append(
            f"| append, 100 events/transaction, 8 writers | {_cell(batch_ours)} | - | "
            f"{_cell(batch_raw)} (executemany) | - | {batch_ratio:.2f}x | - |"
        )
        latencies = await patch_latencies(
            pool, [int(h) for h in args.histories.split(",")], args.patches
        )
        await pool.close()
        # A log of its own: the followers start at its head, not behind the append figures.
        fanout_url = await _fresh_database(engines.database_url, "vibehq_bench_fanout")
        fanout = await fanout_latencies(fanout_url, engines.nats_url, args.fanout)
        applies_url = await _fresh_database(engines.database_url, "vibehq_bench_apply")
        applies = await http_apply(applies_url, engines.nats_url, 1 if args.smoke else 3)
        secrets_url = await _fresh_database(engines.database_url, "vibehq_bench_secrets")
        calls = 50 if args.smoke else 2000
        secret_costs += await resolve_costs(secrets_url, engines.nats_url, calls)
        secret_costs += await limit_costs(secrets_url, calls, args.seconds)
        loads = []
        await _settle(
            engines.database_url,
            "vibehq_bench",
            "vibehq_bench_fanout",
            "vibehq_bench_apply",
            "vibehq_bench_secrets",
        )
        for concurrency in (int(c) for c in args.concurrency.split(",")):
            for _ in range(args.load_runs):
                load_url = await _fresh_database(engines.database_url, "vibehq_bench_http")
                await _settle(engines.database_url)
                loads.append(
                    await http_load(
                        load_url,
                        engines.nats_url,
                        seconds=args.load_seconds,
                        concurrency=concurrency,
                        workers=args.workers,
                    )
                )
        # Limits on vs off, interleaved at the largest concurrency (the on runs above
        # count too: same settings).
        top = max(int(c) for c in args.concurrency.split(","))
        limit_pairs: list[tuple[float, float]] = []
        for _ in range(args.load_runs):
            rates = []
            for on in (False, True):
                load_url = await _fresh_database(engines.database_url, "vibehq_bench_http")
                await _settle(engines.database_url)
                result = await http_load(
                    load_url,
                    engines.nats_url,
                    seconds=args.load_seconds,
                    concurrency=top,
                    workers=args.workers,
                    limits=on,
                )
                rates.append(result.rate)
            limit_pairs.append((rates[0], rates[1]))
    finally:
        engines.stop()
    first = latencies[0]
    patch_rows = [
        f"| {lat.history:,} | {lat.median_ms:.2f} | {lat.p99_ms:.2f} | "
        f"{lat.median_ms / first.median_ms:.2f}x |"
        for lat in latencies
    ]
    patch_table = "\n".join(
        [
            f"| prior patches | median ms/submit | p99 ms | median vs {first.history:,} |",
            "| --- | --- | --- | --- |",
            *patch_rows,
        ]
    )

    table = "\n".join(
        [
            "| figure (events/s: median (min-max)) | ours | ours, each append alone "
            "| raw asyncpg | eventsourcing recorder | ours / raw (alone) "
            "| ours / recorder (alone) |",
            "| --- | --- | --- | --- | --- | --- | --- |",
            *rows,
        ]
    )
    baseline = fanout[-1]
    fanout_table = "\n".join(
        [
            "| path | p50 ms | p99 ms | p50 vs JetStream alone |",
            "| --- | --- | --- | --- |",
            *(
                f"| {lat.name} | {lat.p50:.1f} | {lat.p99:.1f} | {lat.p50 / baseline.p50:.1f}x |"
                for lat in fanout
            ),
        ]
    )
    loads_table = load_table(loads)
    limits_table = "\n".join(
        [
            "| run | limits off, submissions/s | limits on | on / off |",
            "| --- | --- | --- | --- |",
            *(
                f"| {n} | {off:,.0f} | {on:,.0f} | {on / off:.2f}x |"
                for n, (off, on) in enumerate(limit_pairs, start=1)
            ),
        ]
    )
    engine_figures = engine_table(engines_vs_patch)
    applies_table = http_apply_table(applies)
    adversarial_figures = adversarial_table(adversarial)
    secrets_figures = costs_table(secret_costs)
    print(table)
    print(patch_table)
    print(fanout_table)
    print(engine_figures)
    print(applies_table)
    print(adversarial_figures)
    print(secrets_figures)
    print(loads_table)
    print(limits_table)
    if not args.smoke:
        args.out.write_text(
            "# Benchmarks\n\n"
            "Run with `bash .ci/dev bench` (or `python -m bench --help` for options). "
            "Each figure is the median of "
            f"{args.runs} runs of {args.seconds:g} s each, all against the same embedded "
            "PostgreSQL in the same process run; ratios compare figures of that run only.\n\n"
            f"- date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC\n"
            f"- machine: {platform.machine()}, {os.cpu_count()} cores, "
            f"Python {platform.python_version()}, {platform.platform()}\n\n"
            f"## Appends\n\n"
            "`ours` is the store as shipped: concurrent one-event appends share commits "
            f"(group commit, `VIBEHQ_APPEND_GROUPS={DEFAULT_APPEND_GROUPS}`; docs/event-store.md). "
            "`each append "
            "alone` is the same store with `VIBEHQ_APPEND_GROUPS=0`, one statement and "
            "one commit per append, like the baselines.\n\n"
            f"{table}\n\n"
            "Targets (issue 6): at 8 writers ours/raw >= 0.7 and ours/recorder >= 8; "
            "batched ours/raw >= 0.6.\n\n"
            "## Submitting a patch as history grows\n\n"
            f"{args.patches} sequential submissions (one `write_file` of a 20-line file) to "
            "workspaces of 20 files with the given number of prior patches, through the "
            "PatchManager on PostgreSQL, snapshots every 100 versions, one to each "
            "workspace in turn. No aggregate cache: each submission loads its workspace "
            "(the cold path; the served hot path loads nothing).\n\n"
            f"{patch_table}\n\n"
            "Target (issue 6): the largest history within 1.2x of the smallest.\n\n"
            "## The patch engine on large inputs, next to GNU patch and git apply\n\n"
            "`apply_diff` of a unified diff (made by `difflib`) to one large file, and one "
            "`apply_patch` of a 300-file `git diff`, median of "
            f"{max(args.runs, 3)} runs, in the benchmark's process (not through HTTP): "
            "through the whole engine (parse, locate, apply, hash, count lines) and parse "
            "+ apply alone; GNU `patch -o` on the same files as a process (its time "
            "includes starting it), and `git apply` in a repository.\n\n"
            f"{engine_figures}\n\n"
            "Targets (issues 15 and 25): a ratio, recorded; the 300-file diff well under "
            "a second.\n\n"
            "The same kind of change through HTTP, as a factory sends it: one `POST "
            "/workspaces/{id}/patches` with the whole `git diff` as one `apply_patch`, "
            "on a server in the benchmark's process (PostgreSQL, no followers), median of "
            "3; `git apply` on the same change in a repository.\n\n"
            f"{applies_table}\n\n"
            "## Inputs built to be slow\n\n"
            f"One {LINES:,}-line file replaced whole by `write_file` with content made to "
            "defeat a line diff, through the engine (the lines added and removed are "
            "counted for every change), next to creating a file of the same size, median "
            f"of {max(args.runs, 3)} runs in the benchmark's process "
            "(`bench/adversarial.py`). A quadratic diff took 30 s on the first case.\n\n"
            f"{adversarial_figures}\n\n"
            "Target (issue 16): bounded, near-linear: tens of milliseconds, never seconds; "
            "patches over 64 KiB are decided off the event loop in any case.\n\n"
            "## Secrets and rate limits\n\n"
            "Each next to the nearest thing that does less, in the same run "
            "(`bench/secrets.py`): sealing and opening against one bare AES-GCM call; the "
            f"redactor over a {args.redact_mb:g} MB synthetic build log (compiler lines, "
            "commit hashes, base64 integrity, URLs) holding 1,000 secrets in every "
            "rendering, against pyahocorasick's bare scan with the same patterns; a "
            "resolve over HTTP against `GET /health` on the same server (median p50/p99 "
            "of sequential calls); a rate-limit check against `SELECT 1` through the "
            "same pool, once as a round trip and once through the units a busy key "
            "reserves ahead (`application/limit_budgets.py`).\n\n"
            f"{secrets_figures}\n\n"
            "Targets (issues 18 and 19): redaction >= 100 MB/s with 0 bytes wrongly "
            "masked; a limit check p50 <= 0.1 ms and >= 5,000 checks/s on one hot key.\n\n"
            "## Fan-out: from commit to subscriber\n\n"
            f"{args.fanout} ops events, one at a time (10 ms apart), recorded through the "
            "OpsService of a service running in the benchmark's process (uvicorn, relay "
            "in the background, LISTEN/NOTIFY wake-ups), timed on one clock from the "
            "append's return to receipt by a JetStream subscriber and by a `/ws/ops` "
            "WebSocket client. Baseline: publishing straight to JetStream.\n\n"
            f"{fanout_table}\n\n"
            "Target (issue 6): p99 < 100 ms.\n\n"
            "## Under HTTP load: throughput, latency, lag, memory\n\n"
            f"`vibehq serve` with {args.workers} worker processes, one per core as "
            "`ops/vibehq.env` runs it (each on its "
            "own SO_REUSEPORT socket; the log's followers on their own loop in the "
            "supervisor) on a fresh database; "
            f"{args.concurrency.replace(',', ' or ')} concurrent factories ({args.load_runs} "
            "runs each: the median, with the runs' min-max where it matters) on "
            "loopback (`bench/http_client.py`: one keep-alive connection per factory, "
            "an Idempotency-Key per submission, as a factory should), each submitting "
            "one-file patches to its own "
            f"workspace for {args.load_seconds:g} s. The client shares the cores with the "
            "server and PostgreSQL.\n\n"
            f"{loads_table}\n\n"
            "### Rate limits on vs off\n\n"
            f"The same load at {top} factories with the limit checks on (limits far above "
            "the load: every write is checked, none refused; this is how the loads above "
            "ran) and off (`VIBEHQ_LIMIT_*=0`), interleaved.\n\n"
            f"{limits_table}\n\n"
            "Target (issue 19): on / off >= 0.95.\n\n"
            f"{NOTES}"
        )
        print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["scale"]:
        from bench.scale import main as scale

        raise SystemExit(asyncio.run(scale(sys.argv[2:])))
    raise SystemExit(asyncio.run(main()))
