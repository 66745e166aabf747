"""History and incidents in DynamoDB (seed 001: Alert != Incident).

Every notification is stored once per SNS MessageId as an event item with its raw payload; alarm
notifications are grouped into incidents that operators manage (active -> acknowledged -> resolved).
Item shapes and keys are in ``history``.

Writes per notification (each notification's writes are one atomic request):
- not an alarm: one conditional PutItem of the event.
- an alarm: one strongly consistent GetItem of the ``OPEN#<incident_key>`` pointer (the
  incident id is needed to address the incident item), then one TransactWriteItems: the event
  put (condition: the MessageId is new) with the incident put/update (and the pointer put or
  delete). When another delivery opened the incident first, the cancelled transaction returns
  the winner's pointer (ReturnValuesOnConditionCheckFailure), so the retry joins it without
  another read: at most three requests unless the incident changes under one notification
  several times in a row.
- a redelivery: the event put's condition fails, so nothing changes.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from functools import cache
from typing import TYPE_CHECKING, Any

from alert_service import clients, history
from alert_service.alarm import Notification, State
from alert_service.config import ConfigurationError, env, required
from alert_service.history import ACKNOWLEDGED, ACTIVE, OPEN_STATUSES, RESOLVED, STATUSES

if TYPE_CHECKING:  # boto3 itself is imported on first use
    from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

# Each retry follows a change made by another delivery in between (an incident opened or resolved);
# more than a few in a row means something is wrong, and Lambda's own retry takes over.
MAX_ATTEMPTS = 5


class Outcome(StrEnum):
    OPENED = "opened"  # a new incident
    JOINED = "joined"  # counted in the open incident
    RESOLVED = "resolved"  # resolved the open incident
    STORED = "stored"  # stored as an event without an incident
    DUPLICATE = "duplicate"  # this MessageId was stored before: nothing changed


class IncidentConflict(RuntimeError):
    """The open incident kept changing under one notification; Lambda retries the invocation."""


class IncidentNotFound(LookupError):
    pass


class IncidentStateError(ValueError):
    """An operator action that the incident's status does not allow (e.g. ack a resolved one)."""


def table_name() -> str:
    return required("HISTORY_TABLE_NAME")


def retention_days() -> int:
    text = env("HISTORY_RETENTION_DAYS", str(history.DEFAULT_RETENTION_DAYS))
    try:
        days = int(text)
    except ValueError:
        days = 0
    if days < 1:
        raise ConfigurationError(
            f"HISTORY_RETENTION_DAYS must be a whole number >= 1, not {text!r}"
        )
    return days


# --- DynamoDB attribute values ---------------------------------------------------------------
# One (stateless) serializer per process; boto3 is imported on first use, not at import time.
@cache
def _serializer() -> TypeSerializer:
    from boto3.dynamodb.types import TypeSerializer

    return TypeSerializer()


@cache
def _deserializer() -> TypeDeserializer:
    from boto3.dynamodb.types import TypeDeserializer

    return TypeDeserializer()


def _serialize(item: dict[str, Any]) -> dict[str, Any]:
    serializer = _serializer()
    return {k: serializer.serialize(v) for k, v in item.items()}


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | set):
        return [_plain(v) for v in value]
    return value


def _deserialize(item: dict[str, Any]) -> dict[str, Any]:
    deserializer = _deserializer()
    return {k: _plain(deserializer.deserialize(v)) for k, v in item.items()}


def _values(**values: Any) -> dict[str, Any]:
    return _serialize({f":{k}": v for k, v in values.items()})


def _cancellation_reasons(error: Exception) -> list[dict[str, Any]]:
    response = getattr(error, "response", {}) or {}
    return list(response.get("CancellationReasons") or [])


def _error_code(error: Exception) -> str:
    response = getattr(error, "response", {}) or {}
    return str(response.get("Error", {}).get("Code", ""))


# --- request parts ---------------------------------------------------------------------------
def _put_new(table: str, item: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """A transaction Put that only creates: its condition fails when the key exists."""
    return {
        "Put": {
            "TableName": table,
            "Item": _serialize(item),
            "ConditionExpression": "attribute_not_exists(pk)",
            **extra,
        }
    }


def _incident_update(table: str, incident: str, expression: str, **values: Any) -> dict[str, Any]:
    """A transaction Update of an incident that exists and is not resolved (``:resolved``)."""
    return {
        "Update": {
            "TableName": table,
            "Key": _serialize({"pk": history.incident_pk(incident), "sk": history.INCIDENT_SK}),
            "UpdateExpression": expression,
            "ConditionExpression": "attribute_exists(pk) AND #status <> :resolved",
            "ExpressionAttributeNames": {"#status": "status"},
            "ExpressionAttributeValues": _values(**values, resolved=RESOLVED),
        }
    }


def _pointer_delete(table: str, key: str, incident: str) -> dict[str, Any]:
    return {
        "Delete": {
            "TableName": table,
            "Key": _serialize({"pk": history.pointer_pk(key), "sk": history.POINTER_SK}),
            # Absent is fine (nothing to clear); another incident's pointer is not ours to delete.
            "ConditionExpression": "attribute_not_exists(pk) OR incident_id = :id",
            "ExpressionAttributeValues": _values(id=incident),
        }
    }


# --- recording notifications -----------------------------------------------------------------
@dataclass(frozen=True)
class _Pointer:
    incident_id: str
    first_seen_at: str


def record(notification: Notification, *, received_at: datetime | None = None) -> Outcome:
    """Store one notification and update its incident, atomically. Raises on DynamoDB failures."""
    received = received_at or datetime.now(UTC)
    days = retention_days()
    table = table_name()  # the environment is read once per notification
    moment = history.event_time(notification, received)
    at = history.iso(moment)
    alarm = notification.alarm
    key = history.incident_key(alarm) if alarm is not None else None

    def event(incident: str | None = None, action: Outcome | None = None) -> dict[str, Any]:
        return history.event_item(
            notification,
            received_at=received,
            retention_days=days,
            incident=incident,
            action=action.value if action else None,
            key=key,
            event_at=at,
        )

    if alarm is None or key is None:
        return _put_event(table, event())

    pointer = _read_pointer(table, key)
    for _ in range(MAX_ATTEMPTS):
        if pointer is None and alarm.state is not State.ALARM:
            # OK or INSUFFICIENT_DATA with nothing open: a fact for the log, no incident.
            return _put_event(table, event())
        if pointer is not None and alarm.state is State.OK and at < pointer.first_seen_at:
            # A late OK from before this incident began cannot be what ended it.
            return _put_event(table, event())

        # The event put is always first: its condition failing means a redelivery.
        if pointer is None:
            outcome, incident = Outcome.OPENED, history.incident_id(moment, key)
            rest = [
                _put_new(
                    table,
                    history.pointer_item(key=key, incident=incident, first_seen_at=at),
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                ),
                _put_new(
                    table,
                    history.incident_item(
                        alarm, key=key, incident=incident, at=at, message_id=notification.message_id
                    ),
                ),
            ]
        elif alarm.state is State.OK:
            outcome, incident = Outcome.RESOLVED, pointer.incident_id
            rest = [
                _incident_update(
                    table,
                    incident,
                    "SET #status = :resolved, resolved_at = :at, duration_seconds = :duration, "
                    "resolved_by = :by, last_seen_at = :at, last_state = :state, "
                    "last_message_id = :mid, gsi1pk = :gsi1pk ADD alert_count :one",
                    at=at,
                    duration=history.duration_seconds(pointer.first_seen_at, at),
                    by="cloudwatch:OK",
                    state=alarm.state.value,
                    mid=notification.message_id,
                    gsi1pk=history.status_pk(RESOLVED),
                    one=1,
                ),
                _pointer_delete(table, key, incident),
            ]
        else:
            outcome, incident = Outcome.JOINED, pointer.incident_id
            # The incident's own status stands in for the pointer: both change in one transaction,
            # so "not resolved" here means the pointer still names this incident. One item fewer.
            rest = [
                _incident_update(
                    table,
                    incident,
                    "SET last_seen_at = :at, last_state = :state, last_message_id = :mid "
                    "ADD alert_count :one",
                    at=at,
                    state=alarm.state.value,
                    mid=notification.message_id,
                    one=1,
                )
            ]
        try:
            clients.client("dynamodb").transact_write_items(
                TransactItems=[_put_new(table, event(incident, outcome)), *rest]
            )
            return outcome
        except Exception as error:
            if _error_code(error) != "TransactionCanceledException":
                raise
            reasons = _cancellation_reasons(error)
            codes = [r.get("Code") for r in reasons]
            if codes and codes[0] == "ConditionalCheckFailed":
                return Outcome.DUPLICATE  # the event put (always first) found this MessageId
            if (
                outcome is Outcome.OPENED
                and len(codes) > 1
                and codes[1] == "ConditionalCheckFailed"
            ):
                # Another delivery opened the incident first; its pointer came back with the error.
                old = reasons[1].get("Item")
                pointer = _pointer_from(_deserialize(old)) if old else _read_pointer(table, key)
                continue
            if (
                outcome is Outcome.OPENED
                and len(codes) > 2
                and codes[2] == "ConditionalCheckFailed"
            ):
                # The incident this ALARM would open exists and is resolved: a late copy of the
                # transition that opened it (EventBridge and alarm action both, or a redelivery
                # after the OK). Keep the fact; reopening a resolved incident would be wrong.
                return _put_event(table, event())
            if any(code == "TransactionConflict" for code in codes) or any(
                code == "ConditionalCheckFailed" for code in codes
            ):
                # A concurrent transaction on the same items, or the incident was resolved (by an
                # OK or an operator) between our read and our write: read again and redo.
                pointer = _read_pointer(table, key)
                continue
            raise
    raise IncidentConflict(
        f"incident of {alarm.name!r} changed {MAX_ATTEMPTS} times while storing "
        f"{notification.message_id}"
    )


def _put_event(table: str, item: dict[str, Any]) -> Outcome:
    try:
        clients.client("dynamodb").put_item(**_put_new(table, item)["Put"])
    except Exception as error:
        if _error_code(error) == "ConditionalCheckFailedException":
            return Outcome.DUPLICATE
        raise
    return Outcome.STORED


def _read_pointer(table: str, key: str) -> _Pointer | None:
    response = clients.client("dynamodb").get_item(
        TableName=table,
        Key=_serialize({"pk": history.pointer_pk(key), "sk": history.POINTER_SK}),
        ConsistentRead=True,  # a stale "no pointer" would only cost a retry, but why pay it
        ProjectionExpression="incident_id, first_seen_at",
    )
    item = response.get("Item")
    return _pointer_from(_deserialize(item)) if item else None


def _pointer_from(item: dict[str, Any]) -> _Pointer:
    return _Pointer(str(item["incident_id"]), str(item["first_seen_at"]))


# --- reading (Query and GetItem only, never Scan) ---------------------------------------------
def _query(**kwargs: Any) -> Iterator[dict[str, Any]]:
    """All items of a Query, following pages; stops early when ``Limit`` items were yielded."""
    limit = kwargs.get("Limit")
    seen = 0
    while True:
        response = clients.client("dynamodb").query(TableName=table_name(), **kwargs)
        for item in response.get("Items", []):
            yield _deserialize(item)
            seen += 1
            if limit is not None and seen >= limit:
                return
        start = response.get("LastEvaluatedKey")
        if not start:
            return
        kwargs["ExclusiveStartKey"] = start


def get_incident(incident: str) -> dict[str, Any] | None:
    response = clients.client("dynamodb").get_item(
        TableName=table_name(),
        Key=_serialize({"pk": history.incident_pk(incident), "sk": history.INCIDENT_SK}),
        ConsistentRead=True,
    )
    item = response.get("Item")
    return _public(_deserialize(item)) if item else None


def incident_events(incident: str) -> list[dict[str, Any]]:
    """The incident's notifications in time order (gsi2 ``INC#<incident_id>``)."""
    return [
        _public(item)
        for item in _query(
            IndexName="gsi2",
            KeyConditionExpression="gsi2pk = :pk",
            ExpressionAttributeValues=_values(pk=history.incident_pk(incident)),
        )
    ]


def list_incidents(status: str = "open", limit: int | None = None) -> list[dict[str, Any]]:
    """Incidents newest first.

    ``status``: one of STATUSES, ``open`` (active + acknowledged) or ``all``.
    """
    statuses = {"open": OPEN_STATUSES, "all": STATUSES}.get(status, (status,))
    if any(s not in STATUSES for s in statuses):
        raise ValueError(f"unknown status {status!r}")
    found: list[dict[str, Any]] = []
    for each in statuses:
        query: dict[str, Any] = {
            "IndexName": "gsi1",
            "KeyConditionExpression": "gsi1pk = :pk",
            "ExpressionAttributeValues": _values(pk=history.status_pk(each)),
            "ScanIndexForward": False,
        }
        if limit:
            query["Limit"] = limit
        found.extend(_public(item) for item in _query(**query))
    found.sort(key=lambda i: (i["first_seen_at"], i["incident_id"]), reverse=True)
    return found[:limit] if limit else found


def alarm_incidents(key: str) -> list[dict[str, Any]]:
    """All incidents of one alarm (incident_key), oldest first (gsi2 ``ALARM#<incident_key>``)."""
    return [
        _public(item)
        for item in _query(
            IndexName="gsi2",
            KeyConditionExpression="gsi2pk = :pk",
            ExpressionAttributeValues=_values(pk=history.alarm_pk(key)),
        )
    ]


def day_events(day: date) -> list[dict[str, Any]]:
    """Every notification of one UTC day, in time order (gsi1 ``DAY#<YYYY-MM-DD>``)."""
    return [
        _public(item)
        for item in _query(
            IndexName="gsi1",
            KeyConditionExpression="gsi1pk = :pk",
            ExpressionAttributeValues=_values(pk=history.day_pk(day.isoformat())),
        )
    ]


def _public(item: dict[str, Any]) -> dict[str, Any]:
    """Without the key plumbing, which says nothing an operator needs."""
    return {k: v for k, v in item.items() if k not in ("pk", "sk") and not k.startswith("gsi")}


# --- operator actions ------------------------------------------------------------------------
def acknowledge(
    incident: str, *, by: str, note: str | None = None, now: datetime | None = None
) -> dict[str, Any]:
    """active -> acknowledged, recording who and when (and an optional note)."""
    at = history.iso(now or datetime.now(UTC))
    names = {"#status": "status"}
    expression = (
        "SET #status = :ack, acknowledged_by = :by, acknowledged_at = :at, gsi1pk = :gsi1pk"
    )
    values: dict[str, Any] = {
        "ack": ACKNOWLEDGED,
        "by": by,
        "at": at,
        "gsi1pk": history.status_pk(ACKNOWLEDGED),
        "active": ACTIVE,
    }
    if note:
        expression += ", ack_note = :note"
        values["note"] = note
    try:
        response = clients.client("dynamodb").update_item(
            TableName=table_name(),
            Key=_serialize({"pk": history.incident_pk(incident), "sk": history.INCIDENT_SK}),
            UpdateExpression=expression,
            ConditionExpression="#status = :active",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=_values(**values),
            ReturnValues="ALL_NEW",
        )
    except Exception as error:
        if _error_code(error) != "ConditionalCheckFailedException":
            raise
        current = get_incident(incident)
        if current is None:
            raise IncidentNotFound(incident) from None
        by_whom = f" by {current['acknowledged_by']}" if current.get("acknowledged_by") else ""
        raise IncidentStateError(f"{incident} is already {current['status']}{by_whom}") from None
    return _public(_deserialize(response["Attributes"]))


def resolve(
    incident: str, *, by: str, note: str | None = None, now: datetime | None = None
) -> dict[str, Any]:
    """Resolve by hand; also clears the alarm's open pointer, so its next ALARM opens a new one."""
    current = get_incident(incident)
    if current is None:
        raise IncidentNotFound(incident)
    if current["status"] == RESOLVED:
        raise IncidentStateError(f"{incident} is already resolved by {current.get('resolved_by')}")
    at = history.iso(now or datetime.now(UTC))
    expression = (
        "SET #status = :resolved, resolved_at = :at, duration_seconds = :duration, "
        "resolved_by = :by, gsi1pk = :gsi1pk"
    )
    values: dict[str, Any] = {
        "at": at,
        "duration": history.duration_seconds(current["first_seen_at"], at),
        "by": by,
        "gsi1pk": history.status_pk(RESOLVED),
    }
    if note:
        expression += ", resolve_note = :note"
        values["note"] = note
    table = table_name()
    try:
        clients.client("dynamodb").transact_write_items(
            TransactItems=[
                _incident_update(table, incident, expression, **values),
                _pointer_delete(table, current["incident_key"], incident),
            ]
        )
    except Exception as error:
        if _error_code(error) != "TransactionCanceledException":
            raise
        raise IncidentStateError(f"{incident} changed meanwhile (resolved by its OK?)") from None
    resolved = get_incident(incident)
    assert resolved is not None  # noqa: S101 - incidents are never deleted
    return resolved


# --- summary ---------------------------------------------------------------------------------
def percentile(values: list[float], fraction: float) -> float | None:
    """Nearest-rank percentile (p90 of 10 values is the 9th smallest)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def summary(since: date, until: date, *, top: int = 5) -> dict[str, Any]:
    """Incidents opened and notifications received in [since, until] (UTC days, inclusive)."""
    if until < since:
        raise ValueError("--until is before --since")
    if (until - since).days > 366:
        raise ValueError("a summary covers at most 367 days (one Query per day)")
    low, high = since.isoformat(), f"{until.isoformat()}~"  # '~' sorts after any time of that day
    incidents: list[dict[str, Any]] = []
    for status in STATUSES:
        incidents.extend(
            _public(item)
            for item in _query(
                IndexName="gsi1",
                KeyConditionExpression="gsi1pk = :pk AND gsi1sk BETWEEN :low AND :high",
                ExpressionAttributeValues=_values(pk=history.status_pk(status), low=low, high=high),
            )
        )
    events: list[dict[str, Any]] = []
    day = since
    while day <= until:
        events.extend(day_events(day))
        day += timedelta(days=1)

    durations = [float(i["duration_seconds"]) for i in incidents if i["status"] == RESOLVED]
    states = Counter(e.get("state", "unparsed") for e in events)
    per_alarm: Counter[str] = Counter(e["alarm_name"] for e in events if e.get("alarm_name"))
    incidents_per_alarm: Counter[str] = Counter(i["alarm_name"] for i in incidents)
    by_status = Counter(i["status"] for i in incidents)
    return {
        "since": since.isoformat(),
        "until": until.isoformat(),
        "incidents": len(incidents),
        "incidents_by_status": {s: by_status.get(s, 0) for s in STATUSES},
        "notifications": len(events),
        "notifications_by_state": dict(sorted(states.items())),
        "resolved": len(durations),
        "mean_time_to_resolve_seconds": (sum(durations) / len(durations)) if durations else None,
        "p90_time_to_resolve_seconds": percentile(durations, 0.9),
        "noisiest_alarms": [
            {
                "alarm_name": name,
                "notifications": count,
                "incidents": incidents_per_alarm.get(name, 0),
            }
            for name, count in sorted(per_alarm.items(), key=lambda kv: (-kv[1], kv[0]))[:top]
        ],
    }
