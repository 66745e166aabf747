"""The history table as an object: its name, its DynamoDB client, and the request plumbing.

Everything that talks to DynamoDB about incidents takes a ``HistoryStore``; the environment is read
once, where one is made (``HistoryStore.from_environment()``), not on every call.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from alert_service import clients, dynamodb, history
from alert_service.config import ConfigurationError, env, required

# The attribute-value helpers live in alert_service.dynamodb; these names are what the incident
# modules import from here.
from alert_service.dynamodb import (  # noqa: F401 - re-exported
    cancellation_reasons,
    deserialize,
    serialize,
    values,
)


def retention_days() -> int:
    text = env("HISTORY_RETENTION_DAYS", str(history.DEFAULT_RETENTION_DAYS))
    try:
        days = int(text)
    except ValueError:
        days = 0
    if days < 1:
        raise ConfigurationError(
            f"HISTORY_RETENTION_DAYS must be a whole number >= 1, not {text!r}"
        )
    return days


@dataclass(frozen=True)
class HistoryStore:
    """The history table ``table``, reached through ``client`` (default: the process's client)."""

    table: str
    retention_days: int = history.DEFAULT_RETENTION_DAYS
    client_: Any = field(default=None, repr=False, compare=False)

    @classmethod
    def from_environment(cls, table: str | None = None) -> HistoryStore:
        """HISTORY_TABLE_NAME (or ``table``) and HISTORY_RETENTION_DAYS, read now, once."""
        return cls(table or required("HISTORY_TABLE_NAME"), retention_days())

    @property
    def client(self) -> Any:
        # Made on first use, not with the store: a store made at cold start costs nothing.
        return self.client_ or clients.client("dynamodb")

    def key(self, pk: str, sk: str) -> dict[str, Any]:
        return serialize({"pk": pk, "sk": sk})

    def get(self, pk: str, sk: str, *, projection: str | None = None) -> dict[str, Any] | None:
        """One item, strongly consistent (decisions are made from it), plain Python values."""
        request: dict[str, Any] = {
            "TableName": self.table,
            "Key": self.key(pk, sk),
            "ConsistentRead": True,
        }
        if projection:
            request["ProjectionExpression"] = projection
        item = self.client.get_item(**request).get("Item")
        return deserialize(item) if item else None

    def query(self, **kwargs: Any) -> Iterator[dict[str, Any]]:
        """All items of a Query, following pages; stops early when ``Limit`` items were yielded."""
        return dynamodb.query(self.client, TableName=self.table, **kwargs)

    def put_new(self, item: dict[str, Any]) -> bool:
        """Create ``item``; False when its key exists already (nothing written)."""
        try:
            self.client.put_item(**put_new(self.table, item)["Put"])
        except Exception as error:
            if clients.error_code(error) == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def transact(self, items: list[dict[str, Any]]) -> None:
        self.client.transact_write_items(TransactItems=items)


def public(item: dict[str, Any]) -> dict[str, Any]:
    """Without the key plumbing, which says nothing an operator needs."""
    return {k: v for k, v in item.items() if k not in ("pk", "sk") and not k.startswith("gsi")}


# --- request parts ---------------------------------------------------------------------------
def put_new(table: str, item: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """A transaction Put that only creates: its condition fails when the key exists."""
    return {
        "Put": {
            "TableName": table,
            "Item": serialize(item),
            "ConditionExpression": "attribute_not_exists(pk)",
            **extra,
        }
    }
