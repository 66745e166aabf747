"""An alarm's severity, from its ``severity`` tag (cloudwatch:ListTagsForResource), cached per ARN.

Operators tag alarms (``severity=critical``) where they create them; the routing file's rule gives
a fallback (``alert_service.routing``). Looking the tag up never fails a delivery: an alarm of
another account (no access), a denied call or CloudWatch being unreachable gives ``None`` with one
log line, and the caller falls back to the rule's severity, else none.

Cached per alarm ARN for ``TTL_SECONDS`` in the process, failures included, so an alarm storm costs
one lookup per alarm, not one per notification (``stats()`` counts them for the storm bench).

    >>> from alert_service import severity
    >>> severity.of_alarm(notification.alarm)  # doctest: +SKIP
    'critical'
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from alert_service import clients

if TYPE_CHECKING:
    from alert_service.alarm import Alarm

TAG_KEY = "severity"
# A re-tagged alarm is seen within ten minutes; a storm of one alarm makes one call per ten minutes.
TTL_SECONDS = 600.0
# The same limit as routing's severity values, so a tag can be matched by a rule.
MAX_CHARS = 32

logger = logging.getLogger(__name__)


@dataclass
class Stats:
    lookups: int = 0  # ListTagsForResource calls made
    cache_hits: int = 0
    failures: int = 0  # lookups that fell back (denied, another account, unreachable)


_cache: dict[str, tuple[float, str | None]] = {}
_stats = Stats()


def of_alarm(alarm: Alarm | None, *, now: float | None = None) -> str | None:
    """The lower-cased ``severity`` tag of ``alarm``, or None (no ARN, no tag, no access)."""
    if alarm is None or not alarm.arn:
        return None
    moment = time.monotonic() if now is None else now
    cached = _cache.get(alarm.arn)
    if cached is not None and cached[0] > moment:
        _stats.cache_hits += 1
        return cached[1]
    value = _lookup(alarm.arn)
    _cache[alarm.arn] = (moment + TTL_SECONDS, value)
    return value


def _lookup(arn: str) -> str | None:
    _stats.lookups += 1
    try:
        response = clients.client("cloudwatch").list_tags_for_resource(ResourceARN=arn)
    except Exception as error:  # never fail a delivery over a label: fall back, say so once
        _stats.failures += 1
        logger.warning(
            "severity tag lookup failed; using the routing rule's severity",
            extra={"alarm_arn": arn, "error": clients.error_code(error) or type(error).__name__},
        )
        return None
    for tag in response.get("Tags", []):
        if tag.get("Key") == TAG_KEY:
            return normalise(tag.get("Value"))
    return None


def normalise(value: object) -> str | None:
    """``" Critical "`` -> ``"critical"``; empty or over-long values are no severity."""
    if not isinstance(value, str):
        return None
    value = value.strip().lower()
    return value if 0 < len(value) <= MAX_CHARS else None


def stats() -> Stats:
    """Counts since the process started (or ``reset()``): lookups, cache hits, failures."""
    return Stats(_stats.lookups, _stats.cache_hits, _stats.failures)


def reset() -> None:
    """Forget cached severities and counts (tests; a new endpoint)."""
    _cache.clear()
    _stats.lookups = _stats.cache_hits = _stats.failures = 0
