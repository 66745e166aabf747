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
