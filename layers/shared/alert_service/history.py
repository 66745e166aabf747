"""Item shapes of the history table (AlarmHistoryTable): keys, formulas, and nothing that does I/O.

One table, keys ``pk``/``sk``; GSIs ``gsi1`` (``gsi1pk``/``gsi1sk``) and ``gsi2`` (``gsi2pk``/``gsi2sk``)
project ALL; ``gsi1slim`` has gsi1's keys and projects only ``state`` and ``alarm_name`` (what the
summary counts, without reading each event's ``raw_payload``). TTL ``expires_at`` on event items only.

| item | pk | sk | gsi1pk / gsi1sk | gsi2pk / gsi2sk |
|---|---|---|---|---|
| event (one per SNS MessageId) | ``MSG#<message_id>`` | ``EVENT`` | ``DAY#<YYYY-MM-DD>`` / ``<event_at>#<message_id>`` | ``INC#<incident_id>`` / ``<event_at>#<message_id>`` (only when it belongs to an incident) |
| incident | ``INC#<incident_id>`` | ``META`` | ``STATUS#<status>`` / ``<first_seen_at>#<incident_id>`` | ``ALARM#<incident_key>`` / ``<first_seen_at>`` |
| alarm state (one per alarm) | ``ALARM#<incident_key>`` | ``STATE`` | - | - |
| open pointer (legacy, read only) | ``OPEN#<incident_key>`` | ``OPEN`` | - | - |

The event item is keyed by the MessageId alone, so it is its own redelivery marker: a put with
``attribute_not_exists(pk)`` stores a notification once, and an incident update in the same
transaction cannot be counted twice.

The alarm state item (``type`` ``alarm_state``) is what the incident state machine
(``incidents.transition``) decides from: the open incident (``open_incident_id``,
``open_first_seen_at``, ``open_last_alarm_at``, ``open_last_seen_at``) while there is one, and
``closed_through``, the latest recovery (an OK's StateChangeTime, or the last ALARM of an incident
resolved by hand): an ALARM stamped at or before it opens nothing. It outlives its incidents, so a
late ALARM after the OK cannot open a new one. It is written (a conditional Put that expects what
was read) in the same transaction as the incident, so two open incidents for one alarm are
impossible whatever runs concurrently. Readers of the table's stream (the Slack incident view)
ignore it, like every item whose ``sk`` is neither ``EVENT`` nor ``META``.

Ordering rule: incidents follow the alarm's ``StateChangeTime``, not arrival (times compare as the
``iso`` strings below). The open pointer of earlier versions is read when an alarm has no state
item yet, and deleted by the first transaction that writes one.
"""  # noqa: E501 - the table is easier to read unwrapped

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from alert_service.alarm import Alarm, Notification

EVENT_SK = "EVENT"
INCIDENT_SK = "META"
POINTER_SK = "OPEN"
ALARM_STATE_SK = "STATE"

ACTIVE, ACKNOWLEDGED, RESOLVED = "active", "acknowledged", "resolved"
STATUSES = (ACTIVE, ACKNOWLEDGED, RESOLVED)
OPEN_STATUSES = (ACTIVE, ACKNOWLEDGED)

DEFAULT_RETENTION_DAYS = 90


def incident_key(alarm: Alarm) -> str:
    """CONTRACT: first 16 hex digits of SHA-256 of ``<account>|<region code>|<AlarmName>``.

    A missing account or region (a message whose ARNs were stripped) counts as empty, so such an
    alarm still groups with itself.
    """
    text = f"{alarm.account or ''}|{alarm.region or ''}|{alarm.name}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def incident_id(first_alarm_at: datetime, key: str) -> str:
    """CONTRACT: ``INC-<UTC time of the first ALARM, YYYYMMDDHHMMSS>-<incident_key>``."""
    return f"INC-{first_alarm_at.astimezone(UTC):%Y%m%d%H%M%S}-{key}"


def iso(moment: datetime) -> str:
    """UTC, millisecond precision, lexically sortable: ``2024-01-12T07:30:00.000Z``."""
    moment = moment.astimezone(UTC)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond // 1000:03d}Z"


def parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def event_time(notification: Notification, received_at: datetime) -> datetime:
    """When it happened: the alarm's state change, else the SNS publish time, else receipt."""
    alarm = notification.alarm
    if alarm is not None and alarm.state_changed_at is not None:
        return alarm.state_changed_at
    return notification.published_at or received_at


def _prefixed(prefix: str) -> Callable[[str], str]:
    def pk(value: str) -> str:
        return f"{prefix}#{value}"

    return pk


# Partition keys of the table above, one prefix per kind of item or index partition.
event_pk = _prefixed("MSG")  # MSG#<message_id>
incident_pk = _prefixed("INC")  # INC#<incident_id>
pointer_pk = _prefixed("OPEN")  # OPEN#<incident_key> (legacy)
day_pk = _prefixed("DAY")  # DAY#<YYYY-MM-DD>
status_pk = _prefixed("STATUS")  # STATUS#<status>
alarm_pk = _prefixed("ALARM")  # ALARM#<incident_key> (alarm state item; gsi2 of incidents)


def event_item(
    notification: Notification,
    *,
    received_at: datetime,
    retention_days: int,
    incident: str | None = None,
    action: str | None = None,
    key: str | None = None,
    event_at: str | None = None,
    severity: str | None = None,
    silenced_by: tuple[str, ...] = (),
) -> dict[str, Any]:
    """The stored notification. ``raw_payload`` is the SNS Message exactly as delivered.

    ``event_at``: ``iso(event_time(notification, received_at))`` when the caller has it already.
    ``severity``: the alarm's (tag, else routing rule); ``silenced_by``: the silences that held it
    (stored all the same: nothing is lost).
    """
    at = event_at or iso(event_time(notification, received_at))
    mid = notification.message_id
    item: dict[str, Any] = {
        "pk": event_pk(mid),
        "sk": EVENT_SK,
        "type": "event",
        "message_id": mid,
        "raw_payload": notification.raw_message,
        "received_at": iso(received_at),
        "event_at": at,
        "gsi1pk": day_pk(at[:10]),
        "gsi1sk": f"{at}#{mid}",
        # Event items expire; incidents (the managed record) are kept.
        "expires_at": int((received_at + timedelta(days=retention_days)).timestamp()),
    }
    optional = {
        "subject": notification.subject,
        "topic_arn": notification.topic_arn,
        "problem": notification.problem,
        "severity": severity,
        "silenced_by": list(silenced_by) or None,
    }
    alarm = notification.alarm
    if alarm is not None:
        optional.update(
            alarm_name=alarm.name,
            state=alarm.state.value,
            previous_state=alarm.previous_state.value if alarm.previous_state else None,
            reason=alarm.reason or None,
            account=alarm.account,
            region=alarm.region,
            incident_key=key or incident_key(alarm),
        )
    if incident is not None:
        optional.update(incident_id=incident, incident_action=action)
        item["gsi2pk"] = incident_pk(incident)
        item["gsi2sk"] = f"{at}#{mid}"
    # DynamoDB rejects empty strings in key attributes only, but absent reads better than "".
    item.update({k: v for k, v in optional.items() if v not in (None, "")})
    return item


def incident_item(
    alarm: Alarm,
    *,
    key: str,
    incident: str,
    at: str,
    message_id: str,
    marks: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A new incident; ``marks``: severity, silenced_by/silenced_until, flapping_since (if any)."""
    return {
        **(marks or {}),
        "pk": incident_pk(incident),
        "sk": INCIDENT_SK,
        "type": "incident",
        "incident_id": incident,
        "incident_key": key,
        "alarm_name": alarm.name,
        "account": alarm.account or "",
        "region": alarm.region or "",
        "status": ACTIVE,
        "alert_count": 1,
        "first_seen_at": at,
        "last_seen_at": at,
        # Present from the start (NULL until resolved): every incident item carries the contract's
        # attributes, so readers need no "is it there" check.
        "resolved_at": None,
        "last_state": alarm.state.value,
        "opened_by_message_id": message_id,
        "gsi1pk": status_pk(ACTIVE),
        "gsi1sk": f"{at}#{incident}",
        "gsi2pk": alarm_pk(key),
        "gsi2sk": at,
    }


def pointer_item(*, key: str, incident: str, first_seen_at: str) -> dict[str, Any]:
    return {
        "pk": pointer_pk(key),
        "sk": POINTER_SK,
        "type": "open_pointer",
        "incident_key": key,
        "incident_id": incident,
        "first_seen_at": first_seen_at,
    }


# The alarm state item's attributes besides its keys (all ``iso`` times; absent when unknown).
ALARM_STATE_FIELDS = (
    "closed_through",
    "open_incident_id",
    "open_first_seen_at",
    "open_last_alarm_at",
    "open_last_seen_at",
)


def alarm_state_item(*, key: str, **fields: str | None) -> dict[str, Any]:
    """The alarm state item; ``fields`` are ALARM_STATE_FIELDS, ``None`` ones are left out."""
    unknown = set(fields) - set(ALARM_STATE_FIELDS)
    if unknown:
        raise ValueError(f"not alarm state fields: {sorted(unknown)}")
    item: dict[str, Any] = {
        "pk": alarm_pk(key),
        "sk": ALARM_STATE_SK,
        "type": "alarm_state",
        "incident_key": key,
    }
    item.update({k: v for k, v in fields.items() if v is not None})
    return item


def duration_seconds(first_seen_at: str, resolved_at: str) -> int:
    # Never negative: an OK stamped before the first ALARM (clock skew between regions) is 0 s.
    seconds = (parse_iso(resolved_at) - parse_iso(first_seen_at)).total_seconds()
    return max(0, round(seconds))
