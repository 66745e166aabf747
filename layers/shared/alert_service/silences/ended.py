""" "A silence ended while its alarm is still in ALARM": the page the silence held back.

Alertmanager users' complaint (#226): a silence ends, the alert keeps firing, nobody is told. Here
the scheduled check (``sweep``) lists silences that ended within ``LOOKBACK`` and were not checked
yet; for each, the open incidents whose alarm it matches and whose last state is ALARM, unless
another silence still holds them. Each becomes one ``StillAlarming`` notice with a once-only id;
after every channel has it, ``checked`` marks the silence so it is not listed again. A silence
ended with no alarm left in ALARM is marked at once.

Reads: one Query of recently ended silences, and only when one is unchecked, two Queries of open
incidents (gsi1 ``STATUS#active`` and ``STATUS#acknowledged``: the history model's own index).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from alert_service import dynamodb
from alert_service.alarm import Alarm, State
from alert_service.history import OPEN_STATUSES, iso, status_pk
from alert_service.silences.model import Silence
from alert_service.silences.store import (
    SILENCE_SK,
    SILENCES_PK,
    SilenceStore,
    from_item,
    silence_pk,
)

LOOKBACK = timedelta(days=1)  # a sweep that failed for longer than this gives up on the notice


@dataclass(frozen=True)
class OpenAlarm:
    name: str
    account: str | None
    region: str | None
    incident_id: str
    first_seen_at: str


@dataclass(frozen=True)
class StillAlarming:
    silence: Silence
    alarms: tuple[OpenAlarm, ...]

    @property
    def notice_id(self) -> str:
        return f"silence-ended#{self.silence.id}"


def _open_alarms(store: SilenceStore) -> list[tuple[OpenAlarm, Alarm]]:
    found = []
    for status in OPEN_STATUSES:
        for item in dynamodb.query(
            store.client,
            TableName=store.table,
            IndexName="gsi1",
            KeyConditionExpression="gsi1pk = :pk",
            ExpressionAttributeValues=dynamodb.values(pk=status_pk(status)),
        ):
            if item.get("last_state") != State.ALARM.value:
                continue
            alarm = Alarm(
                name=item.get("alarm_name", ""),
                state=State.ALARM,
                account=item.get("account") or None,
                region=item.get("region") or None,
            )
            found.append(
                (
                    OpenAlarm(
                        alarm.name,
                        alarm.account,
                        alarm.region,
                        item["incident_id"],
                        item.get("first_seen_at", ""),
                    ),
                    alarm,
                )
            )
    return found


def still_alarming(store: SilenceStore, now: datetime) -> list[StillAlarming]:
    """Notices for silences that ended (by time or ``silence expire``) and are not checked yet."""
    ended: list[Silence] = []
    for item in dynamodb.query(
        store.client,
        TableName=store.table,
        IndexName="gsi1",
        KeyConditionExpression="gsi1pk = :pk AND gsi1sk BETWEEN :from AND :to",
        ExpressionAttributeValues=dynamodb.values(
            pk=SILENCES_PK, **{"from": iso(now - LOOKBACK), "to": iso(now)}
        ),
    ):
        if item.get("type") == "silence" and "ended_checked_at" not in item:
            silence = from_item(item)
            if silence.ends_at <= now:
                ended.append(silence)
    if not ended:
        return []
    alarms = _open_alarms(store)
    others = [s for s in store.recent(now, since=timedelta(0)) if s.starts_at <= now < s.ends_at]
    notices = []
    for silence in ended:
        held = tuple(
            found
            for found, alarm in alarms
            if silence.matches(alarm) and not any(o.holds(alarm, now) for o in others)
        )
        if held:
            notices.append(StillAlarming(silence, held))
        else:
            checked(store, silence, now)
    return notices


def checked(store: SilenceStore, silence: Silence, now: datetime) -> None:
    """The silence's end has been dealt with (its notice delivered, or nothing to say)."""
    store.client.update_item(
        TableName=store.table,
        Key=dynamodb.key(silence_pk(silence.id), SILENCE_SK),
        UpdateExpression="SET ended_checked_at = if_not_exists(ended_checked_at, :now)",
        ConditionExpression="attribute_exists(pk)",
        ExpressionAttributeValues=dynamodb.values(now=iso(now)),
    )
