"""The daily digest (issue 14): what happened in the last 24 hours, for Slack and email.

``collect`` reads (``incidents.queries.HistoryReader``: Query only, cost counted; the flapping
alarms and the silences ending soon from ``silences.reads`` through ``quiet_now``),
``report.build`` computes, ``render`` lays out (Slack Block Kit, HTML email, plain text). The
same report for any period comes from ``alert-incidents digest --since ... --until ...``
(``digest.cli``).

    >>> reader = HistoryReader("alert-service-history")
    >>> flapping, ending = quiet_now(reader, datetime.now(UTC))          # doctest: +SKIP
    >>> digest = collect(reader, until=datetime.now(UTC), flapping=flapping,
    ...                  silences_ending=ending)                         # doctest: +SKIP
    >>> reader.cost.read_units                                           # doctest: +SKIP
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import datetime, timedelta

from alert_service.digest.report import Digest, Flapping, SilenceEnding, build
from alert_service.history import parse_iso
from alert_service.incidents.queries import HistoryReader

DAY = timedelta(days=1)
# Silences shown as "ending soon": those that end before the next daily digest.
SILENCES_ENDING_WITHIN = DAY


def quiet_now(
    reader: HistoryReader, now: datetime, *, within: timedelta = SILENCES_ENDING_WITHIN
) -> tuple[list[Flapping], list[SilenceEnding]]:
    """The alarms flapping at ``now`` (their changes from the window that started the episode to
    ``now``) and the silences in effect that end within ``within``; their Queries are counted in
    ``reader.cost``."""
    from alert_service.silences import reads

    client, table, count = reader.store.client, reader.table, reader.cost.add_page
    flapping = [
        Flapping(
            alarm_name=f.alarm_name,
            changes=f.changes,
            window_minutes=max(1, math.ceil((now - f.first_change).total_seconds() / 60)),
        )
        for f in reads.flapping_now(table, now, client=client, on_page=count)
    ]
    ending = [
        SilenceEnding(
            silence_id=s.id,
            matcher=s.match,
            ends_at=s.ends_at,
            created_by=s.created_by,
            comment=s.comment,
        )
        for s in reads.silences_ending(table, now, within, client=client, on_page=count)
    ]
    return flapping, ending


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

    def within(item: dict, name: str, low: datetime, high: datetime) -> bool:
        value = item.get(name)
        return bool(value) and low <= parse_iso(str(value)) < high

    events = reader.events(before, until)
    open_now = reader.open_incidents()
    resolved_any = reader.resolved_incidents(before, until)
    incidents = {str(i["incident_id"]): i for i in (*resolved_any, *open_now)}.values()
    return build(
        since=since,
        until=until,
        events=[e for e in events if within(e, "event_at", since, until)],
        events_before=sum(1 for e in events if within(e, "event_at", before, since)),
        opened=[i for i in incidents if within(i, "first_seen_at", since, until)],
        opened_before=sum(1 for i in incidents if within(i, "first_seen_at", before, since)),
        resolved=[i for i in resolved_any if within(i, "resolved_at", since, until)],
        resolved_before=sum(1 for i in resolved_any if within(i, "resolved_at", before, since)),
        acknowledged=[i for i in incidents if within(i, "acknowledged_at", since, until)],
        open_now=open_now,
        flapping=flapping,
        silences_ending=silences_ending,
    )


__all__ = ["Digest", "Flapping", "HistoryReader", "SilenceEnding", "collect", "quiet_now"]
