"""Operator actions on incidents: acknowledge (active only) and resolve (active or acknowledged).

Both are conditional writes, so an action racing an OK or another operator changes the incident
once and the loser is told why (IncidentStateError).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from alert_service import history
from alert_service.clients import error_code
from alert_service.history import ACKNOWLEDGED, ACTIVE, RESOLVED
from alert_service.incidents.queries import get_incident
from alert_service.incidents.recording import (
    incident_update,
    pointer_delete,
    read_state,
    resolved_sets,
    state_write,
)
from alert_service.incidents.store import (
    HistoryStore,
    cancellation_reasons,
    deserialize,
    public,
    values,
)
from alert_service.incidents.transition import Check, Guard, resolved_by_hand


class IncidentNotFound(LookupError):
    pass


class IncidentStateError(ValueError):
    """An operator action that the incident's status does not allow (e.g. ack a resolved one)."""


def acknowledge(
    incident: str,
    *,
    by: str,
    note: str | None = None,
    now: datetime | None = None,
    store: HistoryStore | None = None,
) -> dict[str, Any]:
    """active -> acknowledged, recording who and when (and an optional note)."""
    store = store or HistoryStore.from_environment()
    at = history.iso(now or datetime.now(UTC))
    expression = (
        "SET #status = :ack, acknowledged_by = :by, acknowledged_at = :at, gsi1pk = :gsi1pk"
    )
    named: dict[str, Any] = {
        "ack": ACKNOWLEDGED,
        "by": by,
        "at": at,
        "gsi1pk": history.status_pk(ACKNOWLEDGED),
        "active": ACTIVE,
    }
    if note:
        expression += ", ack_note = :note"
        named["note"] = note
    try:
        response = store.client.update_item(
            TableName=store.table,
            Key=store.key(history.incident_pk(incident), history.INCIDENT_SK),
            UpdateExpression=expression,
            ConditionExpression="#status = :active",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues=values(**named),
            ReturnValues="ALL_NEW",
        )
    except Exception as error:
        if error_code(error) != "ConditionalCheckFailedException":
            raise
        current = get_incident(incident, store=store)
        if current is None:
            raise IncidentNotFound(incident) from None
        by_whom = f" by {current['acknowledged_by']}" if current.get("acknowledged_by") else ""
        raise IncidentStateError(f"{incident} is already {current['status']}{by_whom}") from None
    return public(deserialize(response["Attributes"]))


def resolve(
    incident: str,
    *,
    by: str,
    note: str | None = None,
    now: datetime | None = None,
    store: HistoryStore | None = None,
) -> dict[str, Any]:
    """Resolve by hand; the alarm's state no longer names it, so its next ALARM opens a new one
    (and a late copy of one of its ALARMs opens nothing)."""
    store = store or HistoryStore.from_environment()
    current = get_incident(incident, store=store)
    if current is None:
        raise IncidentNotFound(incident)
    if current["status"] == RESOLVED:
        raise IncidentStateError(f"{incident} is already resolved by {current.get('resolved_by')}")
    at = history.iso(now or datetime.now(UTC))
    sets = resolved_sets()
    named: dict[str, Any] = {
        "at": at,
        "duration": history.duration_seconds(current["first_seen_at"], at),
        "by": by,
        "gsi1pk": history.status_pk(RESOLVED),
    }
    if note:
        sets.append("resolve_note = :note")
        named["note"] = note
    key = current["incident_key"]
    snapshot = read_state(store, key)
    parts = [incident_update(store, incident, sets, add_one=False, **named)]
    after = resolved_by_hand(snapshot.state, incident, current["last_seen_at"])
    if after != snapshot.state:
        # Exactly as read: a notification changing the alarm meanwhile makes the operator retry.
        guards = [Guard(f, Check.IS, v) for f, v in snapshot.state.as_fields().items()]
        parts.append(state_write(store, key, snapshot, after, guards))
    if snapshot.legacy_pointer == incident:
        parts.append(pointer_delete(store, key, incident))
    try:
        store.transact(parts)
    except Exception as error:
        if not cancellation_reasons(error):
            raise
        raise IncidentStateError(f"{incident} changed meanwhile (resolved by its OK?)") from None
    resolved = get_incident(incident, store=store)
    assert resolved is not None  # noqa: S101 - incidents are never deleted
    return resolved
