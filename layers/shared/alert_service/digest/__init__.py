"""The daily digest (issue 14): what happened in the last 24 hours, for Slack and email.

``collect`` reads (``queries``: Query and GetItem only, cost counted), ``report.build`` computes,
``render`` lays out (Slack Block Kit, HTML email, plain text). The same report for any period comes
from ``alert-incidents digest --since ... --until ...`` (``digest.cli``).

    >>> reader = HistoryReader("alert-service-history")
    >>> digest = collect(reader, until=datetime.now(UTC))   # doctest: +SKIP
    >>> reader.cost.read_units                              # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from alert_service.digest.queries import HistoryReader
from alert_service.digest.report import Digest, Flapping, SilenceEnding, build
from alert_service.history import parse_iso

DAY = timedelta(days=1)


def collect(
    reader: HistoryReader,
    *,
    until: datetime,
    since: datetime | None = None,
    flapping: Iterable[Flapping] = (),
    silences_ending: Iterable[SilenceEnding] = (),
) -> Digest:
    """The report for [since, until) (default: the 24 hours before ``until``), compared with the
    period of the same length just before it."""
    since = since or until - DAY
    if until <= since:
        raise ValueError("the period ends before it starts")
    before = since - (until - since)
    opened = reader.incidents_opened(since, until)
    resolved = reader.incidents_resolved(since, until)
    open_now = reader.open_incidents()
    seen: dict[str, dict] = {}
    for item in (*opened, *resolved, *open_now):
        seen[str(item["incident_id"])] = dict(item)
    acknowledged = [
        i
        for i in seen.values()
        if i.get("acknowledged_at") and since <= parse_iso(str(i["acknowledged_at"])) < until
    ]
    return build(
        since=since,
        until=until,
        events=reader.events(since, until),
        events_before=len(reader.events(before, since)),
        opened=opened,
        opened_before=len(reader.incidents_opened(before, since)),
        resolved=resolved,
        resolved_before=len(reader.incidents_resolved(before, since)),
        acknowledged=acknowledged,
        open_now=open_now,
        flapping=flapping,
        silences_ending=silences_ending,
    )


__all__ = ["Digest", "Flapping", "HistoryReader", "SilenceEnding", "collect"]
