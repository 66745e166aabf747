"""What the operator CLIs print: tables, UTC times, short durations, JSON (one copy for all)."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any, TextIO


def dump(value: Any, out: TextIO) -> int:
    """``--json`` output: sorted keys, UTF-8 as is; returns the exit status 0."""
    print(json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True), file=out)
    return 0


def table(headers: list[str], rows: list[list[str]]) -> str:
    """Left-aligned columns under a dashed rule."""
    widths = [
        max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=False)
    ]

    def line(cells: list[str]) -> str:
        return "  ".join(f"{cell!s:<{w}}" for cell, w in zip(cells, widths, strict=True)).rstrip()

    return "\n".join([line(headers), line(["-" * w for w in widths]), *(line(r) for r in rows)])


def utc(text: str | None) -> str:
    """A history time ``2024-01-12T07:30:00.000Z`` -> ``2024-01-12 07:30:00``; ``-`` when none."""
    return text[:19].replace("T", " ") if text else "-"


def span(delta: timedelta | float | None) -> str:
    """``2d 3h``, ``1h 59m``, ``4m 10s`` (the two largest units); ``-`` when unknown."""
    if delta is None:
        return "-"
    seconds = delta.total_seconds() if isinstance(delta, timedelta) else delta
    total = max(0, round(seconds))
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m {secs:02d}s"
