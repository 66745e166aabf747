"""DynamoDB request plumbing shared by the history, the silences and the flap state.

Attribute values in and out (``serialize``, ``values``, ``deserialize``), keys, paginated queries
and the two errors the callers decide on (a failed condition, a cancelled transaction). boto3's
serializers are imported on first use, so a cold start that never talks to DynamoDB pays nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from functools import cache
from typing import TYPE_CHECKING, Any

from alert_service import clients

if TYPE_CHECKING:  # boto3 itself is imported on first use
    from boto3.dynamodb.types import TypeDeserializer, TypeSerializer


@cache
def _serializer() -> TypeSerializer:
    from boto3.dynamodb.types import TypeSerializer

    return TypeSerializer()


@cache
def _deserializer() -> TypeDeserializer:
    from boto3.dynamodb.types import TypeDeserializer

    return TypeDeserializer()


def serialize(item: dict[str, Any], *, skip_none: bool = False) -> dict[str, Any]:
    """An item as attribute values; ``skip_none``: attributes whose value is None are left out
    (absent) instead of stored as NULL."""
    serializer = _serializer()
    return {k: serializer.serialize(v) for k, v in item.items() if not (skip_none and v is None)}


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | set):
        return [_plain(v) for v in value]
    return value


def deserialize(item: dict[str, Any]) -> dict[str, Any]:
    """Attribute values as plain Python: whole numbers as int, others float, sets as lists."""
    deserializer = _deserializer()
    return {k: _plain(deserializer.deserialize(v)) for k, v in item.items()}


def values(**named: Any) -> dict[str, Any]:
    """ExpressionAttributeValues: ``values(at=...)`` -> ``{":at": {"S": ...}}``."""
    return serialize({f":{k}": v for k, v in named.items()})


def key(pk: str, sk: str) -> dict[str, Any]:
    """The table's key (``pk``, ``sk``, both strings) as attribute values."""
    return {"pk": {"S": pk}, "sk": {"S": sk}}


def query(client: Any, **kwargs: Any) -> Iterator[dict[str, Any]]:
    """Every item of a Query as plain values, page after page; stops once ``Limit`` items were
    yielded (DynamoDB's Limit is per page)."""
    limit = kwargs.get("Limit")
    seen = 0
    while True:
        response = client.query(**kwargs)
        for item in response.get("Items", []):
            yield deserialize(item)
            seen += 1
            if limit is not None and seen >= limit:
                return
        start = response.get("LastEvaluatedKey")
        if not start:
            return
        kwargs["ExclusiveStartKey"] = start


def count(client: Any, **kwargs: Any) -> int:
    """How many items a Query matches (Select COUNT), over every page."""
    total = 0
    while True:
        page = client.query(Select="COUNT", **kwargs)
        total += int(page.get("Count", 0))
        if "LastEvaluatedKey" not in page:
            return total
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def condition_failed(error: Exception) -> dict[str, Any] | None:
    """The item returned with a failed condition (``ReturnValuesOnConditionCheckFailure``),
    ``{}`` when none came back; None when ``error`` is not a failed condition."""
    if clients.error_code(error) != "ConditionalCheckFailedException":
        return None
    response = getattr(error, "response", None) or {}
    return deserialize(response.get("Item") or {})


def cancellation_reasons(error: Exception) -> list[dict[str, Any]]:
    """A cancelled transaction's reasons, one per item in order (empty for other errors)."""
    if clients.error_code(error) != "TransactionCanceledException":
        return []
    response = getattr(error, "response", {}) or {}
    return list(response.get("CancellationReasons") or [])
