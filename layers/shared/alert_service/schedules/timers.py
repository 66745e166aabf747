"""EventBridge Scheduler plumbing: one one-time schedule per (incident, step), and the stream side.

Why EventBridge Scheduler (and not Step Functions waits, SQS delays, or a minute-by-minute poll):
one-time ``at(...)`` schedules cost $1 per million, need no state machine and no polling, can be
deleted when the incident is acknowledged, and delete themselves after firing
(``ActionAfterCompletion: DELETE``), so nothing accumulates. SQS delays stop at 15 minutes (a
4-hour reminder cannot wait there); a poll every minute would read the open incidents 1,440 times a
day to act a few times.

Once-only by name: the schedule is named ``<incident_id>-<step>`` (at most 64 characters), so a
redelivered stream record or a retried invocation that creates it again gets ConflictException:
"already scheduled", not a second schedule. Deleting a schedule that is gone (it fired and deleted
itself, or an earlier delivery deleted it) gets ResourceNotFoundException: "already done".

Times: ``at(yyyy-mm-ddThh:mm:ss)`` in UTC with ``ScheduleExpressionTimezone: UTC`` (stated, so the
console shows what the expression means); ``FlexibleTimeWindow: OFF`` (an escalation must not wait
up to N minutes more). A time already past (a stream backlog, a late reminder) is moved to
``MIN_LEAD`` from now: Scheduler does not fire an ``at()`` in the past.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from alert_service import clients
from alert_service.config import env, required
from alert_service.history import INCIDENT_SK
from alert_service.schedules.policy import Settings, Timer, opening_timers, steps_to_cancel

MAX_NAME_CHARS = 64  # EventBridge Scheduler: Name, 1-64 of [0-9a-zA-Z-_.]
MIN_LEAD = timedelta(seconds=60)
# The target is invoked asynchronously; Lambda's own retries (EventInvokeConfig) follow. Scheduler
# retries only when it could not hand the event to Lambda (throttled, unavailable).
TARGET_RETRY_POLICY = {"MaximumRetryAttempts": 10, "MaximumEventAgeInSeconds": 3600}


@dataclass(frozen=True)
class Target:
    """Where schedules go: the escalation function, the role Scheduler assumes, the group."""

    function_arn: str
    role_arn: str
    group: str
    dead_letter_arn: str | None = None

    @classmethod
    def from_env(cls) -> Target:
        return cls(
            function_arn=required("ESCALATION_FUNCTION_ARN"),
            role_arn=required("SCHEDULER_ROLE_ARN"),
            group=required("SCHEDULE_GROUP_NAME"),
            dead_letter_arn=env("SCHEDULE_DLQ_ARN") or None,
        )


def schedule_name(incident_id: str, step: str) -> str:
    name = f"{incident_id}-{step}"
    if len(name) > MAX_NAME_CHARS:
        raise ValueError(f"schedule name longer than {MAX_NAME_CHARS}: {name!r}")
    return name


def at_expression(moment: datetime) -> str:
    """``at(2024-01-12T07:40:00)`` in UTC, rounded up to the next whole second."""
    utc = moment.astimezone(UTC)
    if utc.microsecond:
        utc = utc.replace(microsecond=0) + timedelta(seconds=1)
    return f"at({utc:%Y-%m-%dT%H:%M:%S})"


def parse_at(expression: str) -> datetime:
    """The inverse of ``at_expression`` (local runs fire schedules at their time)."""
    inner = expression.removeprefix("at(").removesuffix(")")
    return datetime.fromisoformat(inner).replace(tzinfo=UTC)


def create(timer: Timer, target: Target, now: datetime) -> bool:
    """Create the one-time schedule of ``timer``; False when it exists already."""
    at = max(timer.at, now + MIN_LEAD)
    request: dict[str, Any] = {
        "Name": schedule_name(timer.incident_id, timer.step),
        "GroupName": target.group,
        "ScheduleExpression": at_expression(at),
        "ScheduleExpressionTimezone": "UTC",
        "FlexibleTimeWindow": {"Mode": "OFF"},
        "ActionAfterCompletion": "DELETE",
        "Description": f"alert-service {timer.step} of {timer.incident_id}",
        "Target": {
            "Arn": target.function_arn,
            "RoleArn": target.role_arn,
            "Input": json.dumps({"incident_id": timer.incident_id, "step": timer.step}),
            "RetryPolicy": TARGET_RETRY_POLICY,
        },
    }
    if target.dead_letter_arn:
        request["Target"]["DeadLetterConfig"] = {"Arn": target.dead_letter_arn}
    try:
        clients.client("scheduler").create_schedule(**request)
    except Exception as error:
        if clients.error_code(error) == "ConflictException":
            return False
        raise
    return True


def delete(incident_id: str, step: str, target: Target) -> bool:
    """Delete the schedule of (incident, step); False when it was gone already."""
    try:
        clients.client("scheduler").delete_schedule(
            Name=schedule_name(incident_id, step), GroupName=target.group
        )
    except Exception as error:
        if clients.error_code(error) == "ResourceNotFoundException":
            return False
        raise
    return True


# --- the history table's stream --------------------------------------------------------------
@dataclass(frozen=True)
class IncidentChange:
    """One stream record of an incident item: its images (plain values) and its position."""

    sequence_number: str
    event_name: str
    old: dict[str, Any] | None
    new: dict[str, Any] | None


def incident_changes(event: Mapping[str, Any]) -> Iterator[IncidentChange]:
    """The records of ``event`` (a DynamoDB stream Lambda event) that are incident items.

    Events and open pointers also flow through the stream (unless the event source mapping's
    filter keeps them out); they are skipped here.
    """
    from boto3.dynamodb.types import TypeDeserializer  # lazily, as boto3 everywhere

    deserializer = TypeDeserializer()

    def plain(image: Mapping[str, Any] | None) -> dict[str, Any] | None:
        if not image:
            return None
        return {k: _plain(deserializer.deserialize(v)) for k, v in image.items()}

    records = event.get("Records")
    if not isinstance(records, list):
        raise ValueError("not a DynamoDB stream event: no Records list")
    for record in records:
        if not isinstance(record, Mapping) or record.get("eventSource") != "aws:dynamodb":
            # An SNS event or a hand-made one: failing is the only honest answer.
            raise ValueError(
                "not a DynamoDB stream event: a record without eventSource aws:dynamodb"
            )
        data = record.get("dynamodb") or {}
        if (data.get("Keys") or {}).get("sk", {}).get("S") != INCIDENT_SK:
            continue
        yield IncidentChange(
            sequence_number=str(data.get("SequenceNumber", "")),
            event_name=str(record.get("eventName", "")),
            old=plain(data.get("OldImage")),
            new=plain(data.get("NewImage")),
        )


def _plain(value: Any) -> Any:
    from decimal import Decimal

    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


def apply(
    change: IncidentChange, settings: Settings, target: Target, now: datetime
) -> Counter[str]:
    """Create or delete the schedules one incident change calls for; counts what happened.

    ``created``/``existed`` (ConflictException) and ``deleted``/``gone`` (ResourceNotFound).
    """
    done: Counter[str] = Counter()
    new = change.new
    if new is None:  # incidents are never deleted; nothing to schedule for a removal
        return done
    if change.event_name == "INSERT":
        for timer in opening_timers(new, settings):
            done["created" if create(timer, target, now) else "existed"] += 1
        return done
    for step in steps_to_cancel(change.old, new, settings, now):
        done["deleted" if delete(str(new["incident_id"]), step, target) else "gone"] += 1
    return done
