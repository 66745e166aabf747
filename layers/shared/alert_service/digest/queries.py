"""The digest's reads: Query and GetItem on the history table, never Scan, with their cost counted.

Keys are history.py's (README: History data model). Both GSIs project ALL, so every item a Query
returns is read whole, ``raw_payload`` included: DynamoDB charges a Query by the total size of the
items it read, rounded up to 4 KB, half a read unit per 4 KB when eventually consistent
(docs: "Read consistency" / "Query operation capacity"). ``ProjectionExpression`` trims what
comes back over the wire, not what is charged; neither does ``Select=COUNT``. ``ReadCost`` adds
that up from the items' sizes (DynamoDB's item-size rules), so the digest can say what it read.

A window (``since``..``until``, UTC, half-open) maps to:
- notifications: Query gsi1 ``DAY#<day>`` with ``gsi1sk BETWEEN`` for each UTC day it touches;
- incidents opened: Query gsi1 ``STATUS#<s>`` (each status) with ``gsi1sk`` (first_seen_at) in it;
- incidents resolved: Query gsi1 ``STATUS#resolved`` with first_seen_at from ``since`` minus
  ``RESOLVED_LOOKBACK``, kept when ``resolved_at`` is in the window (an incident resolved after
  more than that long is missed here; it showed among the open ones every day until then);
- open now: Query gsi1 ``STATUS#active`` and ``STATUS#acknowledged``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from alert_service import clients, history
from alert_service.history import OPEN_STATUSES, RESOLVED, STATUSES

RESOLVED_LOOKBACK = timedelta(days=7)
READ_UNIT_BYTES = 4096


@dataclass
class ReadCost:
    """What the reads cost: requests, items, bytes (DynamoDB's size rules) and read units."""

    requests: int = 0
    items: int = 0
    bytes: int = 0
    read_units: float = 0.0

    def add_page(self, items: list[dict[str, Any]]) -> None:
        size = sum(item_size(i) for i in items)
        self.requests += 1
        self.items += len(items)
        self.bytes += size
        # Eventually consistent: 0.5 unit per 4 KB of the page's total, at least 0.5 per request.
        self.read_units += max(1, math.ceil(size / READ_UNIT_BYTES)) * 0.5


def item_size(item: dict[str, Any]) -> int:
    """Approximate DynamoDB item size of a low-level item ({"S": ...} values)."""
    return sum(len(name.encode()) + _value_size(value) for name, value in item.items())


def _value_size(value: dict[str, Any]) -> int:
    ((kind, inner),) = value.items()
    if kind in ("S", "B"):
        return len(inner.encode() if isinstance(inner, str) else inner)
    if kind == "N":
        digits = len(str(inner).lstrip("-").replace(".", "").lstrip("0")) or 1
        return math.ceil(digits / 2) + 1
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "M":
        return 3 + sum(len(k.encode()) + _value_size(v) + 1 for k, v in inner.items())
    if kind == "L":
        return 3 + sum(_value_size(v) + 1 for v in inner)
    if kind in ("SS", "NS", "BS"):
        return sum(len(str(v).encode()) for v in inner)
    return 0


class HistoryReader:
    """Query/GetItem helpers over one history table, counting what they read."""

    def __init__(self, table: str) -> None:
        self.table = table
        self.cost = ReadCost()

    def _query(self, **kwargs: Any) -> Iterator[dict[str, Any]]:
        from boto3.dynamodb.types import TypeDeserializer

        deserializer = TypeDeserializer()
        while True:
            page = clients.client("dynamodb").query(TableName=self.table, **kwargs)
            items = page.get("Items", [])
            self.cost.add_page(items)
            for item in items:
                yield {k: _plain(deserializer.deserialize(v)) for k, v in item.items()}
            start = page.get("LastEvaluatedKey")
            if not start:
                return
            kwargs["ExclusiveStartKey"] = start

    def _gsi1(self, pk: str, low: str | None = None, high: str | None = None) -> Iterator[dict]:
        condition = "gsi1pk = :pk"
        values: dict[str, Any] = {":pk": {"S": pk}}
        if low is not None and high is not None:
            condition += " AND gsi1sk BETWEEN :low AND :high"
            values.update({":low": {"S": low}, ":high": {"S": high}})
        return self._query(
            IndexName="gsi1", KeyConditionExpression=condition, ExpressionAttributeValues=values
        )

    def events(self, since: datetime, until: datetime) -> list[dict[str, Any]]:
        """Every notification with ``since <= event_at < until`` (one Query per UTC day)."""
        low, high = history.iso(since), history.iso(until)
        found = []
        for day in _days(since, until):
            for item in self._gsi1(history.day_pk(day.isoformat()), low, high):
                if item.get("event_at", "") < high:  # BETWEEN includes the end
                    found.append(item)
        return found

    def incidents_opened(self, since: datetime, until: datetime) -> list[dict[str, Any]]:
        low, high = history.iso(since), history.iso(until)
        return [
            item
            for status in STATUSES
            for item in self._gsi1(history.status_pk(status), low, high)
            if item["first_seen_at"] < high
        ]

    def incidents_resolved(self, since: datetime, until: datetime) -> list[dict[str, Any]]:
        low, high = history.iso(since), history.iso(until)
        opened_from = history.iso(since - RESOLVED_LOOKBACK)
        return [
            item
            for item in self._gsi1(history.status_pk(RESOLVED), opened_from, high)
            if item.get("resolved_at") and low <= item["resolved_at"] < high
        ]

    def open_incidents(self) -> list[dict[str, Any]]:
        return [item for s in OPEN_STATUSES for item in self._gsi1(history.status_pk(s))]


def _days(since: datetime, until: datetime) -> Iterator[date]:
    day = history.parse_iso(history.iso(since)).date()
    last = history.parse_iso(history.iso(until - timedelta(microseconds=1))).date()
    while day <= last:
        yield day
        day += timedelta(days=1)


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value
