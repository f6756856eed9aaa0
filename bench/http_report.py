"""The HTTP load's section of docs/benchmarks.md: medians over runs, their spread, and
where the CPU went per submission."""

from __future__ import annotations

import os
import statistics

from bench.http_load import LoadResult
from bench.stats import percentile


def _spread(values: list[float], fmt: str) -> str:
    """The median, and the min-max when there were several runs."""
    median = fmt.format(statistics.median(values))
    if len(values) == 1:
        return median
    return f"{median} ({fmt.format(min(values))}-{fmt.format(max(values))})"


def _cpu_per_submission(result: LoadResult) -> dict[str, float]:
    if not result.accepted:
        return {}
    return {name: 1000 * used / result.accepted for name, used in result.cpu_seconds.items()}


def _cells(runs: list[LoadResult]) -> list[tuple[str, str, str]]:
    """(figure, measured, target) over the runs of one concurrency: each figure is the
    median over the runs, with their min-max where a spread says something."""
    p = percentile
    median = statistics.median
    # The run with the median rate stands for the rows that are not spread over runs.
    typical = sorted(runs, key=lambda run: run.rate)[(len(runs) - 1) // 2]
    health = typical.health_ms
    cells = [
        (
            f"submissions/s ({typical.workers} workers, client on loopback)",
            _spread([run.rate for run in runs], "{:,.0f}"),
            ">= 1,500",
        ),
        (
            "submit latency p50 / p99 (ms)",
            f"{median([median(run.latencies_ms) for run in runs]):.1f} / "
            + _spread([p(run.latencies_ms, 0.99) for run in runs], "{:.1f}"),
            "p99 < 50",
        ),
        (
            "baseline: GET /health p50 / p99 (ms), same server, idle",
            f"{median(health):.2f} / {p(health, 0.99):.2f}",
            "-",
        ),
        (
            "baseline: GET /health per second, same client and concurrency",
            _spread([run.health_rate for run in runs], "{:,.0f}"),
            "-",
        ),
        ("non-201 answers during the load", f"{sum(run.other for run in runs)}", "0"),
    ]
    for name in sorted(typical.lag_samples):
        lags = [run.lag_samples.get(name, [0.0]) for run in runs]
        cells.append(
            (
                f"lag of `{name}` under the load, p50 / p99 (ms)",
                f"{median([median(samples) for samples in lags]):.0f} / "
                + _spread([p(samples, 0.99) for samples in lags], "{:.0f}"),
                "p99 < 200",
            )
        )
    cells.append(
        (
            "delivery projection catch-up from scratch (events/s)",
            _spread([run.catch_up_rate for run in runs], "{:,.0f}"),
            "-",
        )
    )
    per_run = [per for per in map(_cpu_per_submission, runs) if per]
    if per_run:
        per = {name: median([cpu[name] for cpu in per_run]) for name in per_run[0]}
        cells.append(
            (
                f"CPU per submission (ms): {' / '.join(per)}",
                " / ".join(f"{ms:.2f}" for ms in per.values()),
                "-",
            )
        )
        server = sum(ms for name, ms in per.items() if name != "load client")
        cores = os.cpu_count() or 1
        cells.append(
            (
                f"CPU per submission without the load client (ms) -> submissions/s "
                f"if the server had the {cores} cores to itself (estimate)",
                f"{server:.2f} -> {1000 * cores / server:,.0f}",
                "-",
            )
        )
    peaks = max(runs, key=lambda run: sum(run.peak_rss_mb.values())).peak_rss_mb
    cells.append(
        (
            f"peak RSS of the server: all {len(peaks)} processes / largest (MB)",
            f"{sum(peaks.values()):,.0f} / {max(peaks.values(), default=0.0):,.0f}",
            "-",
        )
    )
    return cells


def load_table(results: list[LoadResult]) -> str:
    """A column per concurrency (the median of its runs), a row per figure."""
    by_concurrency: dict[int, list[LoadResult]] = {}
    for result in results:
        by_concurrency.setdefault(result.concurrency, []).append(result)
    columns = [_cells(runs) for runs in by_concurrency.values()]
    header = " | ".join(f"{concurrency} factories" for concurrency in by_concurrency)
    lines = [
        f"| figure | {header} | target |",
        "| --- |" + " --- |" * len(columns) + " --- |",
    ]
    for row, (figure, _, target) in enumerate(columns[0]):
        values = " | ".join(column[row][1] for column in columns)
        lines.append(f"| {figure} | {values} | {target} |")
    return "\n".join(lines)
