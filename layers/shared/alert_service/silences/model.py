"""The silence: who may be left unnotified, from when to when, by whom and why. Pure, no I/O.

A silence matches an alarm when the alarm name matches its glob (``fnmatch`` rules, case
sensitive: CloudWatch alarm names are) and, when given, the account and the region code equal
the alarm's. It holds notifications whose state change happened in ``[starts_at, ends_at)``:
the alarm's own time, not the arrival time, so a retry or a replay is judged as the first try was.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from fnmatch import fnmatchcase
from typing import Any

from alert_service.alarm import Alarm

MAX_AHEAD = timedelta(days=7)  # a silence ends at most 7 days from its creation
KEEP_AFTER_END = timedelta(days=30)  # ended silences stay listed, then TTL removes them
MAX_COMMENT_CHARS = 1000
MAX_PATTERN_CHARS = 255  # CloudWatch alarm names are at most 255 characters

_DURATION = re.compile(r"^\s*(\d+)\s*([smhd])\s*$", re.IGNORECASE)
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


class SilenceStatus(StrEnum):
    PENDING = "pending"  # starts later
    ACTIVE = "active"
    EXPIRED = "expired"  # ended (by its end time or by `silence expire`)


class SilenceError(ValueError):
    """A silence that cannot be created as asked (the message says why)."""


@dataclass(frozen=True)
class Silence:
    id: str
    match: str  # glob on the alarm name
    starts_at: datetime
    ends_at: datetime
    created_by: str
    comment: str
    created_at: datetime
    account: str | None = None
    region: str | None = None
    hits: int = 0  # notifications it held
    expired_by: str | None = None  # who ended it early

    def matches(self, alarm: Alarm) -> bool:
        if self.account and alarm.account != self.account:
            return False
        if self.region and alarm.region != self.region:
            return False
        return fnmatchcase(alarm.name, self.match)

    def status(self, now: datetime) -> SilenceStatus:
        if now < self.starts_at:
            return SilenceStatus.PENDING
        return SilenceStatus.ACTIVE if now < self.ends_at else SilenceStatus.EXPIRED

    def holds(self, alarm: Alarm, at: datetime) -> bool:
        """True when this silence holds a notification of ``alarm`` that happened at ``at``."""
        return self.starts_at <= at < self.ends_at and self.matches(alarm)

    def expired_now(self, now: datetime, by: str) -> Silence:
        return replace(self, ends_at=max(min(self.ends_at, now), self.starts_at), expired_by=by)


def parse_duration(text: str) -> timedelta:
    """``90s``, ``30m``, ``2h``, ``1d`` -> timedelta."""
    match = _DURATION.match(text or "")
    if not match:
        raise SilenceError(f"duration {text!r}: use a number and s, m, h or d (e.g. 2h)")
    return timedelta(**{_UNITS[match.group(2).lower()]: int(match.group(1))})


def parse_time(text: str) -> datetime:
    """ISO 8601; a time without a zone is UTC."""
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError as error:
        raise SilenceError(f"time {text!r} is not ISO 8601 (2024-01-12T16:30+09:00)") from error
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def new_silence(
    *,
    match: str,
    created_by: str,
    comment: str,
    now: datetime,
    starts_at: datetime | None = None,
    ends_at: datetime | None = None,
    duration: timedelta | None = None,
    account: str | None = None,
    region: str | None = None,
) -> Silence:
    """A checked new silence: exactly one of ``ends_at`` and ``duration``; end within 7 days."""
    match, created_by, comment = match.strip(), created_by.strip(), comment.strip()
    if not match or len(match) > MAX_PATTERN_CHARS:
        raise SilenceError(f"--match must be 1 to {MAX_PATTERN_CHARS} characters")
    if not created_by:
        raise SilenceError("--by is required: who silences")
    if not comment:
        raise SilenceError("--comment is required: why (it is what others read in the list)")
    if len(comment) > MAX_COMMENT_CHARS:
        raise SilenceError(f"--comment is limited to {MAX_COMMENT_CHARS} characters")
    if (ends_at is None) == (duration is None):
        raise SilenceError("give exactly one of --for and --end")
    # A start in the past is now: a silence never reaches back over notifications already sent.
    start = max(starts_at or now, now)
    end = ends_at if ends_at is not None else start + duration  # type: ignore[operator]
    if end <= start:
        raise SilenceError("the silence must end after it starts")
    if end <= now:
        raise SilenceError("the silence would end in the past")
    if end - now > MAX_AHEAD:
        raise SilenceError("a silence ends at most 7 days from now: long silences hide real pages")
    return Silence(
        id=new_id(now),
        match=match,
        starts_at=start,
        ends_at=end,
        created_by=created_by,
        comment=comment,
        created_at=now,
        account=(account or "").strip() or None,
        region=(region or "").strip() or None,
    )


def new_id(now: datetime) -> str:
    """``SIL-<UTC YYYYMMDDHHMMSS>-<6 hex>``: sortable, short enough to type."""
    import secrets  # only the CLI creates silences; the notification path never pays for it

    return f"SIL-{now.astimezone(UTC):%Y%m%d%H%M%S}-{secrets.token_hex(3)}"


def describe(silence: Silence) -> dict[str, Any]:
    """Plain dict for ``--json`` and the incident card."""
    return {
        "id": silence.id,
        "match": silence.match,
        "account": silence.account,
        "region": silence.region,
        "starts_at": silence.starts_at.isoformat(),
        "ends_at": silence.ends_at.isoformat(),
        "created_by": silence.created_by,
        "created_at": silence.created_at.isoformat(),
        "comment": silence.comment,
        "hits": silence.hits,
        "expired_by": silence.expired_by,
    }
