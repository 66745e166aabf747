"""Low-level DynamoDB helpers of this package: attribute values, paginated queries, errors.

boto3's serializers are imported on first use (cold start stays lean).
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from functools import cache
from typing import Any


@cache
def _serializer() -> Any:
    from boto3.dynamodb.types import TypeSerializer

    return TypeSerializer()


@cache
def _deserializer() -> Any:
    from boto3.dynamodb.types import TypeDeserializer

    return TypeDeserializer()


def serialize(item: dict[str, Any]) -> dict[str, Any]:
    s = _serializer()
    return {k: s.serialize(v) for k, v in item.items() if v is not None}


def values(**named: Any) -> dict[str, Any]:
    """``ExpressionAttributeValues`` from keyword arguments (``:name``)."""
    s = _serializer()
    return {f":{k}": s.serialize(v) for k, v in named.items()}


def plain(item: dict[str, Any]) -> dict[str, Any]:
    d = _deserializer()
    out = {}
    for key, value in item.items():
        value = d.deserialize(value)
        if isinstance(value, Decimal):
            value = int(value) if value == value.to_integral_value() else float(value)
        out[key] = value
    return out


def key(pk: str, sk: str) -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": sk}}


def query(client: Any, **kwargs: Any) -> Iterator[dict[str, Any]]:
    """Every item of a Query, page after page, as plain dicts."""
    while True:
        page = client.query(**kwargs)
        yield from (plain(item) for item in page.get("Items", []))
        if "LastEvaluatedKey" not in page:
            return
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def count(client: Any, **kwargs: Any) -> int:
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
    response = getattr(error, "response", None) or {}
    if response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
        return None
    return plain(response.get("Item") or {})
