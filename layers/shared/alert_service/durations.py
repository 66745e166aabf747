"""Durations as people read them: ``4 h 5 min`` / ``4시간 5분`` (the two largest units)."""

from __future__ import annotations

from datetime import timedelta

_UNITS = {"ko": ("일", "시간", "분", "초"), "en": (" d", " h", " min", " s")}


def format_age(age: timedelta, locale: str, *, seconds: bool = False) -> str:
    """Whole minutes (or seconds under a minute with ``seconds``), never negative."""
    units = _UNITS.get(locale, _UNITS["ko"])
    total = max(0, int(age.total_seconds()))
    if seconds and total < 60:
        return f"{total}{units[3]}"
    minutes = total // 60
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    parts = [(days, units[0]), (hours, units[1]), (mins, units[2])]
    shown = [f"{v}{u}" for v, u in parts if v] or [f"0{units[2]}"]
    return " ".join(shown[:2])
