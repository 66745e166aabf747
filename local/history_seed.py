"""History for trying the digest: notifications built from the sample events, and storm-like days.

Two ways in:
- ``alarm(...)`` / ``notice(...)``: a ``Notification`` parsed from ``events/cpu_alarm.json`` (or
  ``plain_text.json``) with another alarm name, state, time and MessageId, for
  ``incidents.record`` (the real write path: exact, ~2 requests per notification);
- ``storm_items(...)``: the items ``incidents.record`` would leave for a storm-like day (20 alarms
  flapping, 1,000 notifications), built with ``history.event_item``/``incident_item`` and written by
  ``BatchWriteItem`` (25 a request): fast enough to seed 30 days, shaped exactly like the real ones
  (same functions), without the write path's transactions.
"""

from __future__ import annotations

import copy
import json
import random
from collections.abc import Iterator
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from local import EVENTS_DIR


@cache
def _sample(name: str) -> dict[str, Any]:
    return json.loads((EVENTS_DIR / name).read_text(encoding="utf-8"))


def alarm_event(name: str, state: str, at: datetime, message_id: str) -> dict[str, Any]:
    """The CPU sample as another alarm's notification (SNS Lambda event, one record)."""
    event = copy.deepcopy(_sample("cpu_alarm.json"))
    sns = event["Records"][0]["Sns"]
    body = json.loads(sns["Message"])
    body.update(
        AlarmName=name,
        NewStateValue=state,
        OldStateValue="OK" if state == "ALARM" else "ALARM",
        StateChangeTime=at.strftime("%Y-%m-%dT%H:%M:%S.000+0000"),
        AlarmArn=f"arn:aws:cloudwatch:ap-northeast-2:123456789012:alarm:{name}",
    )
    sns.update(
        MessageId=message_id,
        Subject=f'{state}: "{name}" in Asia Pacific (Seoul)',
        Message=json.dumps(body, ensure_ascii=False),
        Timestamp=at.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
    )
    return event


def alarm(name: str, state: str, at: datetime, message_id: str) -> Any:
    from alert_service import parse

    (notification,) = parse.notifications(alarm_event(name, state, at, message_id))
    return notification


def notice(at: datetime, message_id: str) -> Any:
    """The plain-text sample (not an alarm), published at ``at``."""
    from alert_service import parse

    event = copy.deepcopy(_sample("plain_text.json"))
    event["Records"][0]["Sns"].update(
        MessageId=message_id, Timestamp=at.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    )
    (notification,) = parse.notifications(event)
    return notification


def storm_items(
    start: datetime, days: int = 1, *, per_day: int = 1000, alarms: int = 20, seed: int = 0
) -> Iterator[dict[str, Any]]:
    """The event and incident items of ``days`` storm-like days from ``start``.

    Each alarm flaps: ALARM, then joins (ALARM/INSUFFICIENT_DATA), then OK, again and again, as
    incidents.record would group them (one open incident per alarm at a time); one incident in
    three is acknowledged by a person a few minutes after it opened; what is open at the end
    stays open.
    """
    from alert_service import history

    rng = random.Random(f"{seed}-{start.date()}")
    per_alarm = per_day // alarms
    for a in range(alarms):
        name = f"OTT-DB-Storm-{a:02d}"
        times = sorted(
            start + timedelta(seconds=rng.randrange(0, 86_400 * days))
            for _ in range(per_alarm * days)
        )
        incident: dict[str, Any] | None = None
        for n, moment in enumerate(times):
            mid = f"storm-{start:%Y%m%d}-{a:02d}-{n:06d}"
            state = (
                "ALARM"
                if incident is None
                else rng.choice(["ALARM", "OK", "OK", "INSUFFICIENT_DATA"])
            )
            note = alarm(name, state, moment, mid)
            key = history.incident_key(note.alarm)
            at = history.iso(moment)
            action = None
            if incident is None and state == "ALARM":
                incident = history.incident_item(
                    note.alarm,
                    key=key,
                    incident=history.incident_id(moment, key),
                    at=at,
                    message_id=mid,
                )
                action = "opened"
                if rng.random() < 1 / 3:
                    acked = moment + timedelta(seconds=rng.randrange(30, 1200))
                    incident.update(
                        status="acknowledged",
                        acknowledged_by="slack:U0STORM",
                        acknowledged_at=history.iso(acked),
                        gsi1pk=history.status_pk("acknowledged"),
                    )
            elif incident is not None:
                incident["alert_count"] += 1
                incident["last_seen_at"] = at
                incident["last_state"] = state
                action = "joined"
                if state == "OK":
                    incident.update(
                        status="resolved",
                        resolved_at=at,
                        resolved_by="cloudwatch:OK",
                        duration_seconds=history.duration_seconds(incident["first_seen_at"], at),
                        gsi1pk=history.status_pk("resolved"),
                    )
                    action = "resolved"
            yield history.event_item(
                note,
                received_at=moment,
                retention_days=90,
                incident=incident["incident_id"] if incident else None,
                action=action,
                key=key,
                event_at=at,
            )
            if incident is not None and incident["status"] == "resolved":
                yield incident
                incident = None
        if incident is not None:
            yield incident


def batch_write(client: Any, table: str, items: Iterator[dict[str, Any]]) -> int:
    """``BatchWriteItem`` in 25s, retrying what comes back unprocessed; returns items written."""
    from boto3.dynamodb.types import TypeSerializer

    serializer = TypeSerializer()
    written = 0
    batch: list[dict[str, Any]] = []

    def flush() -> None:
        nonlocal batch, written
        requests = {table: [{"PutRequest": {"Item": i}} for i in batch]}
        while requests:
            requests = client.batch_write_item(RequestItems=requests).get("UnprocessedItems") or {}
        written += len(batch)
        batch = []

    for item in items:
        batch.append({k: serializer.serialize(v) for k, v in item.items()})
        if len(batch) == 25:
            flush()
    if batch:
        flush()
    return written
