"""Reading incidents and history (Query and GetItem only, never Scan)."""

from __future__ import annotations

from datetime import date
from typing import Any

from alert_service import history
from alert_service.history import OPEN_STATUSES, STATUSES
from alert_service.incidents.store import HistoryStore, public, values


def _store(store: HistoryStore | None) -> HistoryStore:
    return store or HistoryStore.from_environment()


def get_incident(incident: str, *, store: HistoryStore | None = None) -> dict[str, Any] | None:
    item = _store(store).get(history.incident_pk(incident), history.INCIDENT_SK)
    return public(item) if item else None


def _by_key(store: HistoryStore | None, index: str, pk: str, **extra: Any) -> list[dict[str, Any]]:
    return [
        public(item)
        for item in _store(store).query(
            IndexName=index,
            KeyConditionExpression=f"{index}pk = :pk",
            ExpressionAttributeValues=values(pk=pk),
            **extra,
        )
    ]


def incident_events(incident: str, *, store: HistoryStore | None = None) -> list[dict[str, Any]]:
    """The incident's notifications in time order (gsi2 ``INC#<incident_id>``)."""
    return _by_key(store, "gsi2", history.incident_pk(incident))


def alarm_incidents(key: str, *, store: HistoryStore | None = None) -> list[dict[str, Any]]:
    """All incidents of one alarm (incident_key), oldest first (gsi2 ``ALARM#<incident_key>``)."""
    return _by_key(store, "gsi2", history.alarm_pk(key))


def day_events(day: date, *, store: HistoryStore | None = None) -> list[dict[str, Any]]:
    """Every notification of one UTC day, whole, in time order (gsi1 ``DAY#<YYYY-MM-DD>``)."""
    return _by_key(store, "gsi1", history.day_pk(day.isoformat()))


def list_incidents(
    status: str = "open",
    limit: int | None = None,
    *,
    severity: str | None = None,
    store: HistoryStore | None = None,
) -> list[dict[str, Any]]:
    """Incidents newest first.

    ``status``: one of STATUSES, ``open`` (active + acknowledged) or ``all``; ``severity``: only
    those of that severity (filtered after the Query: a FilterExpression would read as much).
    """
    statuses = {"open": OPEN_STATUSES, "all": STATUSES}.get(status, (status,))
    if any(s not in STATUSES for s in statuses):
        raise ValueError(f"unknown status {status!r}")
    found: list[dict[str, Any]] = []
    for each in statuses:
        extra: dict[str, Any] = {"ScanIndexForward": False}
        if limit and not severity:
            extra["Limit"] = limit
        found.extend(_by_key(store, "gsi1", history.status_pk(each), **extra))
    if severity:
        found = [i for i in found if i.get("severity") == severity]
    found.sort(key=lambda i: (i["first_seen_at"], i["incident_id"]), reverse=True)
    return found[:limit] if limit else found


# --- counted reads for reports (the daily digest, ``alert-incidents digest``) -------------------
# Kept together at the end of this module (imports included) so they merge as one block.
#
# Both GSIs project ALL, so every item a Query returns is read whole, ``raw_payload`` included:
# DynamoDB charges a Query by the total size of the items it read, rounded up to 4 KB, half a read
# unit per 4 KB when eventually consistent (docs: "Read consistency" / "Query operation
# capacity"). ``ProjectionExpression`` trims what comes back over the wire, not what is charged;
# neither does ``Select=COUNT``. ``ReadCost`` adds that up from the items' sizes (DynamoDB's
# item-size rules), so a report can say what it read.
#
# A report of a period and the period before it (together [before, until), UTC) reads:
# - notifications: Query gsi1 ``DAY#<day>`` with ``gsi1sk BETWEEN`` for each UTC day it touches;
# - open incidents: Query gsi1 ``STATUS#active`` and ``STATUS#acknowledged`` (whole partitions:
#   what is open now, whenever it opened);
# - resolved incidents: Query gsi1 ``STATUS#resolved`` with first_seen_at from ``before`` minus
#   ``RESOLVED_LOOKBACK``; an incident resolved in the period after being open longer than that is
#   missed there (it showed among the open ones every day until then).
# Incidents opened in either period are among the open and resolved ones: four Queries for all the
# incident figures, plus one per day of notifications (3 for the daily digest).
import math  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from datetime import datetime, timedelta  # noqa: E402

from alert_service.history import RESOLVED  # noqa: E402
from alert_service.incidents.store import deserialize  # noqa: E402

RESOLVED_LOOKBACK = timedelta(days=7)
READ_UNIT_BYTES = 4096


@dataclass
class ReadCost:
    """What the reads cost: requests, items, bytes (DynamoDB's size rules) and read units."""

    requests: int = 0
    items: int = 0
    bytes: int = 0
    read_units: float = 0.0

    def add_page(self, items: list[dict[str, Any]]) -> None:
        """One Query page of low-level items (``{"S": ...}`` values)."""
        size = sum(item_size(i) for i in items)
        self.requests += 1
        self.items += len(items)
        self.bytes += size
        # Eventually consistent: 0.5 unit per 4 KB of the page's total, at least 0.5 per request.
        self.read_units += max(1, math.ceil(size / READ_UNIT_BYTES)) * 0.5


def item_size(item: dict[str, Any]) -> int:
    """Approximate DynamoDB item size of a low-level item ({"S": ...} values)."""
    return sum(len(name.encode()) + _value_size(value) for name, value in item.items())


def _value_size(value: dict[str, Any]) -> int:
    ((kind, inner),) = value.items()
    if kind in ("S", "B"):
        return len(inner.encode() if isinstance(inner, str) else inner)
    if kind == "N":
        digits = len(str(inner).lstrip("-").replace(".", "").lstrip("0")) or 1
        return math.ceil(digits / 2) + 1
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "M":
        return 3 + sum(len(k.encode()) + _value_size(v) + 1 for k, v in inner.items())
    if kind == "L":
        return 3 + sum(_value_size(v) + 1 for v in inner)
    if kind in ("SS", "NS", "BS"):
        return sum(len(str(v).encode()) for v in inner)
    return 0


class HistoryReader:
    """Query-only reads of one history table for a report, counting what they cost (``cost``).

    >>> reader = HistoryReader(HistoryStore("alert-service-history"))
    >>> reader.events(since, until); reader.cost.read_units   # doctest: +SKIP
    """

    def __init__(self, store: HistoryStore | str) -> None:
        self.store = HistoryStore(store) if isinstance(store, str) else store
        self.cost = ReadCost()

    @property
    def table(self) -> str:
        return self.store.table

    def _query(self, **kwargs: Any) -> Iterator[dict[str, Any]]:
        client = self.store.client
        while True:
            page = client.query(TableName=self.store.table, **kwargs)
            items = page.get("Items", [])
            self.cost.add_page(items)
            yield from (deserialize(item) for item in items)
            start = page.get("LastEvaluatedKey")
            if not start:
                return
            kwargs["ExclusiveStartKey"] = start

    def _gsi1(self, pk: str, low: str | None = None, high: str | None = None) -> Iterator[dict]:
        condition = "gsi1pk = :pk"
        bounds: dict[str, Any] = {"pk": pk}
        if low is not None and high is not None:
            condition += " AND gsi1sk BETWEEN :low AND :high"
            bounds.update(low=low, high=high)
        return self._query(
            IndexName="gsi1",
            KeyConditionExpression=condition,
            ExpressionAttributeValues=values(**bounds),
        )

    def events(self, since: datetime, until: datetime) -> list[dict[str, Any]]:
        """Every notification with ``since <= event_at < until`` (one Query per UTC day)."""
        low, high = history.iso(since), history.iso(until)
        found = []
        for day in _days(since, until):
            for item in self._gsi1(history.day_pk(day.isoformat()), low, high):
                if item.get("event_at", "") < high:  # BETWEEN includes the end
                    found.append(item)
        return found

    def open_incidents(self) -> list[dict[str, Any]]:
        """Every incident open now (whole ``STATUS#active`` and ``STATUS#acknowledged``)."""
        return [item for s in OPEN_STATUSES for item in self._gsi1(history.status_pk(s))]

    def resolved_incidents(self, since: datetime, until: datetime) -> list[dict[str, Any]]:
        """Resolved incidents that opened in [since - RESOLVED_LOOKBACK, until): every one opened
        in [since, until), and every one resolved then unless it was open longer than the
        lookback. One Query."""
        low, high = history.iso(since - RESOLVED_LOOKBACK), history.iso(until)
        return [
            item
            for item in self._gsi1(history.status_pk(RESOLVED), low, high)
            if item["first_seen_at"] < high
        ]


def _days(since: datetime, until: datetime) -> Iterator[date]:
    day = history.parse_iso(history.iso(since)).date()
    last = history.parse_iso(history.iso(until - timedelta(microseconds=1))).date()
    while day <= last:
        yield day
        day += timedelta(days=1)
