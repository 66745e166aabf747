"""Order statistics for small samples (cold starts) and latency lists (warm events)."""

from __future__ import annotations

import math
import statistics


def median(values: list[float]) -> float:
    return statistics.median(values)


def iqr(values: list[float]) -> tuple[float, float]:
    """First and third quartiles (inclusive method: stays inside the data for n = 15)."""
    if len(values) < 2:
        return values[0], values[0]
    q1, _, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return q1, q3


def percentile(values: list[float], fraction: float) -> float:
    """Nearest rank: p95 of 1,000 values is the 950th smallest."""
    ordered = sorted(values)
    return ordered[max(1, math.ceil(fraction * len(ordered))) - 1]


def summary(values: list[float]) -> dict[str, float]:
    q1, q3 = iqr(values)
    return {
        "n": len(values),
        "median": median(values),
        "q1": q1,
        "q3": q3,
        "iqr": q3 - q1,
        "min": min(values),
        "max": max(values),
    }


def latency(values: list[float]) -> dict[str, float]:
    return {
        "n": len(values),
        "p50": percentile(values, 0.50),
        "p95": percentile(values, 0.95),
        "p99": percentile(values, 0.99),
        "mean": statistics.fmean(values),
        "max": max(values),
    }


def paired_ratio(values: list[float], bases: list[float]) -> float:
    """Median of the per-round ratios ``values[i] / bases[i]``.

    Each cold round runs every program once, back to back: a busy moment of a shared machine
    slows both sides of a round's pair, while a ratio of the two medians mixes rounds taken at
    different loads (seen here: 1.34x for a pair whose per-round ratios had a median of 1.19x).
    """
    return statistics.median(v / b for v, b in zip(values, bases, strict=True))
