"""The one way the benchmarks summarise samples (same nearest-rank percentile everywhere)."""

from __future__ import annotations


def percentile(values: list[float], share: float) -> float:
    """The nearest-rank `share` percentile (0.99 for p99); 0 for no samples."""
    ordered = sorted(values) or [0.0]
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))]
