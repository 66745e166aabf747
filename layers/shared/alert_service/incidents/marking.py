"""What the history stores about a notification besides the notification: its ``Marks``.

The one place where the history asks the other concerns (this does I/O; ``transition`` stays pure):

- severity: the alarm's ``severity`` tag (``severity.of_alarm``, cached per alarm), else the routing
  rule's (``routing.route``, in memory), else none;
- silences and flapping: ``silences.gate.check``, the same question every channel's handler asks.
  Flapping is counted once per MessageId whoever asks first (a conditional put keyed by it), and
  an episode's start or end is claimed by one MessageId, so the history reaches the decision the
  channels reached for the same notification without counting it again.

Requests: the silence Query (cached ``SILENCE_CACHE_SECONDS`` per process), the flap change put and
window Query (2, a few more at an episode's start or end), the tag lookup (cached 10 minutes).
"""

from __future__ import annotations

from datetime import datetime

from alert_service.alarm import Notification
from alert_service.history import iso
from alert_service.incidents.transition import Marks


def severity_of(notification: Notification) -> str | None:
    """The tag, else the routing rule's severity, else None (a notice has none)."""
    if notification.alarm is None:
        return None
    from alert_service import routing, severity

    return routing.route(notification, severity.of_alarm(notification.alarm)).severity


def marks_for(notification: Notification, *, table: str, received_at: datetime) -> Marks:
    """Severity, the silences that hold it and its flapping episode. Raises on DynamoDB failures
    (the history handler fails and Lambda retries: nothing is stored without its marks)."""
    if notification.alarm is None:
        return Marks()
    from alert_service.silences import gate
    from alert_service.silences.flapping import FlapKind

    quiet = gate.check(notification, table=table, received_at=received_at)
    flapping = quiet.flap.kind in (FlapKind.STARTED, FlapKind.FLAPPING)
    return Marks(
        severity=severity_of(notification),
        silenced_by=quiet.silence_ids,
        silenced_until=iso(max(s.ends_at for s in quiet.silences)) if quiet.silenced else None,
        flapping_since=quiet.flap.since if flapping else None,
    )
