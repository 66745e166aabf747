"""Silences in AlarmHistoryTable: create, list, expire, match, count hits (see package docstring).

>>> store = SilenceStore("alert-service-history")
>>> store.add(new_silence(match="OTT-DB-*", created_by="kim", comment="failover test",
...                       now=now, duration=timedelta(hours=2)))
>>> store.matching(notification.alarm, at=alarm_time)   # one Query, reused for a few seconds
"""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from alert_service import clients, dynamodb
from alert_service.alarm import Alarm
from alert_service.history import iso, parse_iso
from alert_service.silences.model import KEEP_AFTER_END, Silence, SilenceError
from alert_service.silences.settings import silence_cache_seconds

SILENCE_SK = "SILENCE"
SILENCES_PK = "SILENCES"  # gsi1 partition of every silence, sorted by end time
# The notification path reads silences that ended at most this long ago, so a Lambda retry (up to
# 6 hours later) is judged against the silence as it was at the alarm's time.
LOOKBACK = timedelta(days=1)

# table -> (monotonic time read, silences ending after the read's lookback); one per process.
_cache: dict[str, tuple[float, tuple[Silence, ...]]] = {}


def silence_pk(silence_id: str) -> str:
    return f"SILENCE#{silence_id}"


def item(silence: Silence) -> dict[str, Any]:
    ends = iso(silence.ends_at)
    return {
        "pk": silence_pk(silence.id),
        "sk": SILENCE_SK,
        "type": "silence",
        "silence_id": silence.id,
        "match": silence.match,
        "account": silence.account,
        "region": silence.region,
        "starts_at": iso(silence.starts_at),
        "ends_at": ends,
        "created_by": silence.created_by,
        "created_at": iso(silence.created_at),
        "comment": silence.comment,
        "hits": silence.hits,
        "expired_by": silence.expired_by,
        "gsi1pk": SILENCES_PK,
        "gsi1sk": f"{ends}#{silence.id}",
        "expires_at": int((silence.ends_at + KEEP_AFTER_END).timestamp()),
    }


def from_item(data: dict[str, Any]) -> Silence:
    return Silence(
        id=data["silence_id"],
        match=data["match"],
        starts_at=parse_iso(data["starts_at"]),
        ends_at=parse_iso(data["ends_at"]),
        created_by=data["created_by"],
        comment=data.get("comment", ""),
        created_at=parse_iso(data["created_at"]),
        account=data.get("account") or None,
        region=data.get("region") or None,
        hits=int(data.get("hits", 0)),
        expired_by=data.get("expired_by") or None,
    )


def reset() -> None:
    """Forget cached silences (tests)."""
    _cache.clear()


class SilenceStore:
    """Silences of one table; ``client`` defaults to the process's DynamoDB client."""

    def __init__(self, table: str, client: Any = None) -> None:
        self.table = table
        self._client = client

    @property
    def client(self) -> Any:
        return self._client or clients.client("dynamodb")

    # --- operators -----------------------------------------------------------------------
    def add(self, silence: Silence) -> Silence:
        self.client.put_item(
            TableName=self.table,
            Item=dynamodb.serialize(item(silence), skip_none=True),
            ConditionExpression="attribute_not_exists(pk)",
        )
        _cache.pop(self.table, None)
        return silence

    def get(self, silence_id: str) -> Silence | None:
        found = self.client.get_item(
            TableName=self.table,
            Key=dynamodb.key(silence_pk(silence_id), SILENCE_SK),
            ConsistentRead=True,
        )
        return from_item(dynamodb.deserialize(found["Item"])) if "Item" in found else None

    def expire(self, silence_id: str, *, by: str, now: datetime) -> Silence:
        """End a silence now (a pending one never starts). Raises SilenceError when there is no
        such silence or it has ended already."""
        current = self.get(silence_id)
        if current is None:
            raise SilenceError(f"no silence {silence_id}")
        if current.ends_at <= now:
            raise SilenceError(f"silence {silence_id} has already ended")
        ended = current.expired_now(now, by)
        if ended.starts_at > now:  # pending: it ends before it starts, i.e. never holds anything
            ended = replace(ended, starts_at=now, ends_at=now)
        ends = iso(ended.ends_at)
        try:
            self.client.update_item(
                TableName=self.table,
                Key=dynamodb.key(silence_pk(silence_id), SILENCE_SK),
                UpdateExpression=(
                    "SET starts_at = :starts, ends_at = :ends, gsi1sk = :sk, expired_by = :by,"
                    " expires_at = :ttl"
                ),
                # Not ended in between by someone else (their end time stands).
                ConditionExpression="attribute_exists(pk) AND ends_at > :ends",
                ExpressionAttributeValues=dynamodb.values(
                    starts=iso(ended.starts_at),
                    ends=ends,
                    sk=f"{ends}#{silence_id}",
                    by=by,
                    ttl=int((ended.ends_at + KEEP_AFTER_END).timestamp()),
                ),
            )
        except Exception as error:
            if dynamodb.condition_failed(error) is None:
                raise
            raise SilenceError(f"silence {silence_id} has already ended") from error
        _cache.pop(self.table, None)
        return ended

    def recent(self, now: datetime, *, since: timedelta = KEEP_AFTER_END) -> list[Silence]:
        """Pending, active and those ended within ``since``, by end time."""
        return [
            from_item(data)
            for data in dynamodb.query(
                self.client,
                TableName=self.table,
                IndexName="gsi1",
                KeyConditionExpression="gsi1pk = :pk AND gsi1sk >= :from",
                ExpressionAttributeValues=dynamodb.values(
                    pk=SILENCES_PK, **{"from": iso(now - since)}
                ),
            )
            if data.get("type") == "silence"
        ]

    # --- the notification path -----------------------------------------------------------
    def _current(self) -> tuple[Silence, ...]:
        """Silences not ended before LOOKBACK ago: one Query, reused SILENCE_CACHE_SECONDS."""
        cached = _cache.get(self.table)
        if cached is not None and time.monotonic() - cached[0] < silence_cache_seconds():
            return cached[1]
        silences = tuple(self.recent(datetime.now(UTC), since=LOOKBACK))
        _cache[self.table] = (time.monotonic(), silences)
        return silences

    def matching(self, alarm: Alarm, at: datetime) -> list[Silence]:
        """Silences holding a notification of ``alarm`` whose state changed at ``at``.

        A silence added or expired in another process is seen within SILENCE_CACHE_SECONDS (plus
        the GSI's usual sub-second lag).
        """
        return [s for s in self._current() if s.holds(alarm, at)]

    def record_hit(self, silence_id: str) -> None:
        """Count one notification held (``silence list`` flags silences that held nothing).

        Call it where the notification is stored once (the history handler, after its event
        put succeeded), or put ``hit_update`` in the history transaction, so a redelivery does not
        count twice.
        """
        self.client.update_item(**self.hit_update(silence_id))

    def hit_update(self, silence_id: str, *, now: datetime | None = None) -> dict[str, Any]:
        """The UpdateItem that counts one hit (after the notification's own write, never inside
        its transaction: see incidents/recording.py).

        Unconditional: if TTL removed the silence meanwhile, it leaves a typed stub with no index
        keys (never listed) that expires.
        """
        ttl = int(((now or datetime.now(UTC)) + KEEP_AFTER_END).timestamp())
        return {
            "TableName": self.table,
            "Key": dynamodb.key(silence_pk(silence_id), SILENCE_SK),
            "UpdateExpression": (
                "ADD hits :one SET #type = if_not_exists(#type, :type),"
                " expires_at = if_not_exists(expires_at, :ttl)"
            ),
            "ExpressionAttributeNames": {"#type": "type"},
            "ExpressionAttributeValues": dynamodb.values(one=1, type="silence", ttl=ttl),
        }
