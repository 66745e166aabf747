"""Recording notifications: ``transition.decide`` applied to DynamoDB, atomically.

Requests per notification (each notification's writes are one atomic request):
- not an alarm: one conditional PutItem of the event.
- an alarm: one strongly consistent GetItem of its state item (``ALARM#<incident_key>``/``STATE``),
  then either one conditional PutItem (an event only, nothing else changes) or one
  TransactWriteItems: the event put (condition: the MessageId is new), the alarm state put
  (condition: the state item is still what was read) when the state changes, and the incident put
  or update (condition: not resolved). An older notification joining the open incident leaves the
  state item alone, so most joins race only on the incident's counter.
- a redelivery: the event put's condition fails, so nothing changes.
- a silenced notification: each silence that held it gets its hit counted (``hits``) by one plain
  UpdateItem after the notification's write succeeded, so a redelivery, whose event put fails,
  counts nothing twice. Not inside the transaction: one silence (a maintenance window over many
  alarms) would be an item in every alarm's transaction, and DynamoDB cancels concurrent
  transactions on one item (TransactionConflict), failing notifications over a counter. A crash
  between the two writes loses that one hit (the retry is a duplicate): a count, not an alert.
Severity, silences and flapping (``Marks``, decided by the caller) are stored on the event item
and ride on the incident write the change makes anyway (``transition.incident_marks``).
When the state item changed under us, the cancelled transaction returns it
(ReturnValuesOnConditionCheckFailure), so the retry decides again without another read. A
``TransactionConflict`` (another transaction on the same items, in flight) is retried after a
jittered exponential backoff, at most ``MAX_ATTEMPTS`` times in all; then Lambda's retry takes over.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from alert_service import history
from alert_service.alarm import Notification
from alert_service.history import RESOLVED
from alert_service.incidents.store import (
    HistoryStore,
    cancellation_reasons,
    deserialize,
    put_new,
    values,
)
from alert_service.incidents.transition import (
    AlarmState,
    Change,
    Check,
    Guard,
    IncidentWrite,
    Marks,
    Outcome,
    decide,
    incident_marks,
    state_diff,
)

# Each retry follows a change made by another delivery in between; more than a few in a row means
# something is wrong, and Lambda's own retry (with its own delay) takes over.
MAX_ATTEMPTS = 8
# Full jitter (AWS Architecture Blog, "Exponential Backoff And Jitter"): sleep a random time in
# [0, min(CAP, BASE * 2**attempt)]. Worst case over all attempts: about 2 s of a 30 s function.
BACKOFF_BASE_SECONDS = 0.02
BACKOFF_CAP_SECONDS = 0.5


class IncidentConflict(RuntimeError):
    """The alarm's state kept changing under one notification; Lambda retries the invocation."""


def backoff_seconds(attempt: int, *, draw: Callable[[], float] = random.random) -> float:
    """How long to wait before retry number ``attempt`` (0-based) after a TransactionConflict."""
    return draw() * min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2**attempt)


@dataclass(frozen=True)
class Snapshot:
    """An alarm state as read, with what its conditional put must expect."""

    state: AlarmState
    item: dict[str, Any] | None  # the state item as read (None: absent)
    legacy_pointer: str | None = None  # an open pointer of earlier versions, to delete on write


def record(
    notification: Notification,
    *,
    received_at: datetime | None = None,
    store: HistoryStore | None = None,
    marks: Marks | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> Outcome:
    """Store one notification and update its incident, atomically. Raises on DynamoDB failures.

    ``marks``: its severity, the silences that held it and its flapping episode (default: none).
    """
    store = store or HistoryStore.from_environment()
    marks = marks or Marks()
    received = received_at or datetime.now(UTC)
    at = history.iso(history.event_time(notification, received))
    alarm = notification.alarm
    key = history.incident_key(alarm) if alarm is not None else None

    def event(change: Change | None = None) -> dict[str, Any]:
        joined = change is not None and change.incident is not None
        return history.event_item(
            notification,
            received_at=received,
            retention_days=store.retention_days,
            incident=change.incident_id if joined else None,
            action=change.outcome.value if joined else None,
            key=key,
            event_at=at,
            severity=marks.severity,
            silenced_by=marks.silenced_by,
        )

    def stored(outcome: Outcome) -> Outcome:
        """The notification is written (not a redelivery): count its silences' hits now."""
        for update in silence_hits(store, marks):
            store.client.update_item(**update)
        return outcome

    def event_only() -> Outcome:
        return stored(Outcome.STORED) if store.put_new(event()) else Outcome.DUPLICATE

    if alarm is None or key is None:
        return event_only()

    snapshot = read_state(store, key)
    for attempt in range(MAX_ATTEMPTS):
        change = decide(snapshot.state, alarm.state, at, key)
        if change.incident is None and change.state is None:
            return event_only()
        parts = [put_new(store.table, event(change))]
        state_at = incident_at = None
        if change.state is not None:
            state_at = len(parts)
            parts.append(state_write(store, key, snapshot, change.state, change.guards))
            if snapshot.legacy_pointer:
                parts.append(pointer_delete(store, key, snapshot.legacy_pointer))
        if change.incident is not None:
            incident_at = len(parts)
            parts.append(_incident_part(store, change, notification, key, at, marks))
        try:
            store.transact(parts)
            return stored(change.outcome)
        except Exception as error:
            reasons = cancellation_reasons(error)
            if not reasons:
                raise
            cancelled = error
        codes = [r.get("Code") for r in reasons]
        failed = {i for i, code in enumerate(codes) if code == "ConditionalCheckFailed"}
        if 0 in failed:
            return Outcome.DUPLICATE  # the event put (always first) found this MessageId
        if state_at in failed:
            # Another notification changed the alarm's state first; it came back with the error.
            old = reasons[state_at].get("Item")
            snapshot = _snapshot(store, key, deserialize(old)) if old else read_state(store, key)
            continue
        if incident_at in failed and change.incident is IncidentWrite.OPEN:
            # The incident this ALARM would open exists (resolved, opened in the same second):
            # keep the fact; reopening a resolved incident would be wrong.
            return event_only()
        if failed:
            # The incident was resolved by hand, or the legacy pointer changed: read again.
            snapshot = read_state(store, key)
            continue
        if "TransactionConflict" in codes:
            # Another transaction on the same items was in flight: wait a little (not after the
            # last attempt), then read again.
            if attempt + 1 < MAX_ATTEMPTS:
                sleep(backoff_seconds(attempt))
                snapshot = read_state(store, key)
            continue
        raise cancelled  # cancelled for another reason (throttling, validation)
    raise IncidentConflict(
        f"the state of alarm {alarm.name!r} changed {MAX_ATTEMPTS} times while storing "
        f"{notification.message_id}"
    )


def _snapshot(store: HistoryStore, key: str, item: dict[str, Any] | None) -> Snapshot:
    if item is not None:
        return Snapshot(AlarmState.from_item(item), item)
    # No state item yet: an alarm never seen, or one whose incident was opened by an earlier
    # version (its open pointer). Read once per alarm at most, until the state item exists.
    pointer = store.get(
        history.pointer_pk(key), history.POINTER_SK, projection="incident_id, first_seen_at"
    )
    if pointer is None:
        return Snapshot(AlarmState(), None)
    # Its latest ALARM and notification are unknown: any OK resolves it, as it did then.
    state = AlarmState(
        open_incident_id=str(pointer["incident_id"]),
        open_first_seen_at=str(pointer["first_seen_at"]),
    )
    return Snapshot(state, None, legacy_pointer=state.open_incident_id)


def read_state(store: HistoryStore, key: str) -> Snapshot:
    return _snapshot(store, key, store.get(history.alarm_pk(key), history.ALARM_STATE_SK))


def state_write(
    store: HistoryStore,
    key: str,
    snapshot: Snapshot,
    new: AlarmState,
    guards: tuple[Guard, ...] | list[Guard] = (),
) -> dict[str, Any]:
    """A transaction write of the alarm state decided from ``snapshot``.

    The first write of an alarm is a Put that only creates. Later ones are an Update of the fields
    that differ from the snapshot, on condition that every guard still holds: a concurrent change
    that does not touch what the decision rests on (e.g. two ALARMs in order) does not cancel it.
    """
    if snapshot.item is None:
        return {
            "Put": {
                **put_new(store.table, history.alarm_state_item(key=key, **new.as_fields()))["Put"],
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            }
        }
    names: dict[str, str] = {}
    named: dict[str, Any] = {}

    def name(field_name: str) -> str:
        alias = f"#{history.ALARM_STATE_FIELDS.index(field_name)}"
        names[alias] = field_name
        return alias

    def value(v: str) -> str:
        alias = f":v{len(named)}"
        named[alias[1:]] = v
        return alias

    sets, removes = [], []
    for field_name, v in state_diff(snapshot.state, new).items():
        if v is None:
            removes.append(name(field_name))
        else:
            sets.append(f"{name(field_name)} = {value(v)}")
    terms = ["attribute_exists(pk)"]
    for guard in guards:
        n = name(guard.field)
        if guard.check is Check.IS:
            absent = guard.value is None
            terms.append(f"attribute_not_exists({n})" if absent else f"{n} = {value(guard.value)}")
        elif guard.check is Check.AFTER:
            terms.append(f"{n} > {value(guard.value or '')}")
        else:
            op = "<" if guard.check is Check.BEFORE else "<="
            terms.append(f"(attribute_not_exists({n}) OR {n} {op} {value(guard.value or '')})")
    expression = " ".join(
        part
        for part in (
            f"SET {', '.join(sets)}" if sets else "",
            f"REMOVE {', '.join(removes)}" if removes else "",
        )
        if part
    )
    update: dict[str, Any] = {
        "TableName": store.table,
        "Key": store.key(history.alarm_pk(key), history.ALARM_STATE_SK),
        "UpdateExpression": expression,
        "ConditionExpression": " AND ".join(terms),
        "ExpressionAttributeNames": names,
        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
    }
    if named:
        update["ExpressionAttributeValues"] = values(**named)
    return {"Update": update}


def pointer_delete(store: HistoryStore, key: str, incident: str) -> dict[str, Any]:
    return {
        "Delete": {
            "TableName": store.table,
            "Key": store.key(history.pointer_pk(key), history.POINTER_SK),
            # Absent is fine (nothing to clear); another incident's pointer is not ours to delete.
            "ConditionExpression": "attribute_not_exists(pk) OR incident_id = :id",
            "ExpressionAttributeValues": values(id=incident),
        }
    }


def incident_update(
    store: HistoryStore,
    incident: str,
    sets: list[str],
    *,
    add_one: bool,
    removes: tuple[str, ...] = (),
    **named: Any,
) -> dict[str, Any]:
    """A transaction Update of an incident that exists and is not resolved."""
    expression = f"SET {', '.join(sets)}" if sets else ""
    if removes:
        expression = f"{expression} REMOVE {', '.join(removes)}".strip()
    if add_one:
        expression = f"{expression} ADD alert_count :one".strip()
        named["one"] = 1
    return {
        "Update": {
            "TableName": store.table,
            "Key": store.key(history.incident_pk(incident), history.INCIDENT_SK),
            "UpdateExpression": expression,
            "ConditionExpression": "attribute_exists(pk) AND #status <> :resolved",
            "ExpressionAttributeNames": {"#status": "status"},
            "ExpressionAttributeValues": values(**named, resolved=RESOLVED),
        }
    }


def resolved_sets() -> list[str]:
    return [
        "#status = :resolved",
        "resolved_at = :at",
        "duration_seconds = :duration",
        "resolved_by = :by",
        "gsi1pk = :gsi1pk",
    ]


def silence_hits(store: HistoryStore, marks: Marks) -> list[dict[str, Any]]:
    """One hit-counting UpdateItem per silence that held the notification (none when not
    silenced)."""
    if not marks.silenced_by:
        return []
    from alert_service.silences.store import SilenceStore

    silences = SilenceStore(store.table, store.client)
    return [silences.hit_update(silence_id) for silence_id in marks.silenced_by]


def _incident_part(
    store: HistoryStore,
    change: Change,
    notification: Notification,
    key: str,
    at: str,
    marks: Marks,
) -> dict[str, Any]:
    alarm = notification.alarm
    assert alarm is not None  # noqa: S101 - only alarms reach an incident
    incident = change.incident_id
    assert incident is not None  # noqa: S101
    marked, unmarked = incident_marks(change, marks)
    if change.incident is IncidentWrite.OPEN:
        return put_new(
            store.table,
            history.incident_item(
                alarm,
                key=key,
                incident=incident,
                at=at,
                message_id=notification.message_id,
                marks=marked,
            ),
        )
    sets: list[str] = [f"{name} = :{name}" for name in marked]
    named: dict[str, Any] = dict(marked)
    if change.incident is IncidentWrite.RESOLVE:
        sets += resolved_sets()
        named.update(
            at=at,
            duration=history.duration_seconds(change.first_seen_at or at, at),
            by="cloudwatch:OK",
            gsi1pk=history.status_pk(RESOLVED),
        )
    if change.moves_last:
        # Only a notification newer than every other of the incident moves these.
        sets += ["last_seen_at = :at", "last_state = :state", "last_message_id = :mid"]
        named.update(at=at, state=alarm.state.value, mid=notification.message_id)
    return incident_update(store, incident, sets, add_one=True, removes=unmarked, **named)
