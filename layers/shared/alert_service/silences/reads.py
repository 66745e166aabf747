"""Reads for reports about silences and flapping (the daily digest): Query only, never Scan.

- ``flapping_now``: the alarms whose flapping episode is on (gsi1 ``FLAPPING``), each with its
  changes from the window that started the episode until now (one Query of its ``FLAP#<key>``
  partition);
- ``silences_ending``: silences in effect now that end within a horizon (gsi1 ``SILENCES``,
  ``gsi1sk`` between now and the horizon: only those, not every future silence);
- ``incident_alarm``: the alarm of an incident item, as silences match it.

``on_page`` is told every page's raw items (``{"S": ...}`` values), so a caller can count what
the reads cost (the digest's ``ReadCost.add_page``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from alert_service import clients, dynamodb
from alert_service.alarm import Alarm, State
from alert_service.history import iso, parse_iso
from alert_service.silences.flapping import CHANGE_PREFIX, FLAPPING_PK, change_sk, flap_pk
from alert_service.silences.model import Silence, SilenceStatus
from alert_service.silences.settings import flap_settings
from alert_service.silences.store import SILENCES_PK, from_item

OnPage = Callable[[list[dict[str, Any]]], None]
_AFTER_ANY_ID = "~"  # sorts after "#<id>" and "#<message id>": an upper bound that includes them


@dataclass(frozen=True)
class FlappingAlarm:
    """``changes`` state changes from ``first_change`` to the read; the episode was declared at
    ``since`` (the change that reached the threshold within the window)."""

    alarm_name: str
    account: str | None
    region: str | None
    since: datetime
    changes: int
    first_change: datetime


def incident_alarm(incident: Mapping[str, Any]) -> Alarm:
    """The alarm an incident item is about (name, account, region), in ALARM."""
    return Alarm(
        name=str(incident.get("alarm_name") or ""),
        state=State.ALARM,
        account=incident.get("account") or None,
        region=incident.get("region") or None,
    )


def _query(client: Any, on_page: OnPage | None, **kwargs: Any) -> Iterator[dict[str, Any]]:
    while True:
        page = client.query(**kwargs)
        items = page.get("Items", [])
        if on_page is not None:
            on_page(items)
        yield from (dynamodb.deserialize(item) for item in items)
        if "LastEvaluatedKey" not in page:
            return
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def flapping_now(
    table: str,
    now: datetime,
    *,
    window: timedelta | None = None,
    client: Any = None,
    on_page: OnPage | None = None,
) -> list[FlappingAlarm]:
    """Alarms flapping at the read (the quiet sweep ends an episode within a minute of a whole
    window without changes), most changes first. 1 + one Query per flapping alarm.

    ``window``: FLAP_WINDOW_MINUTES (``flap_settings``) unless given."""
    client = client or clients.client("dynamodb")
    window = window or flap_settings().window
    found = []
    for state in _query(
        client,
        on_page,
        TableName=table,
        IndexName="gsi1",
        KeyConditionExpression="gsi1pk = :pk",
        ExpressionAttributeValues=dynamodb.values(pk=FLAPPING_PK),
    ):
        since = state.get("since")
        if state.get("type") != "flap_state" or not since:
            continue
        key = str(state["pk"]).split("#", 1)[1]
        # The changes that made it flap (the window before ``since``) and every one since.
        times = [
            str(item["sk"])[len(CHANGE_PREFIX) :].split("#", 1)[0]
            for item in _query(
                client,
                on_page,
                TableName=table,
                KeyConditionExpression="pk = :pk AND sk BETWEEN :from AND :to",
                ExpressionAttributeValues=dynamodb.values(
                    pk=flap_pk(key),
                    to=change_sk(iso(now)) + _AFTER_ANY_ID,
                    **{"from": change_sk(iso(parse_iso(str(since)) - window))},
                ),
            )
        ]
        found.append(
            FlappingAlarm(
                alarm_name=str(state.get("alarm_name", "")),
                account=state.get("account") or None,
                region=state.get("region") or None,
                since=parse_iso(str(since)),
                changes=len(times),
                first_change=parse_iso(min(times, default=str(since))),
            )
        )
    return sorted(found, key=lambda f: (-f.changes, f.alarm_name))


def silences_ending(
    table: str,
    now: datetime,
    within: timedelta,
    *,
    client: Any = None,
    on_page: OnPage | None = None,
) -> list[Silence]:
    """Silences in effect at ``now`` whose end is within ``within``, soonest first. One Query."""
    client = client or clients.client("dynamodb")
    items = _query(
        client,
        on_page,
        TableName=table,
        IndexName="gsi1",
        KeyConditionExpression="gsi1pk = :pk AND gsi1sk BETWEEN :from AND :to",
        ExpressionAttributeValues=dynamodb.values(
            pk=SILENCES_PK, to=iso(now + within) + _AFTER_ANY_ID, **{"from": iso(now)}
        ),
    )
    silences = [from_item(item) for item in items if item.get("type") == "silence"]
    return sorted(
        (s for s in silences if s.status(now) is SilenceStatus.ACTIVE),
        key=lambda s: (s.ends_at, s.id),
    )
