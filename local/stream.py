"""A DynamoDB table's stream in moto, read and handed to a function as Lambda's event source does.

moto's ``dynamodbstreams`` answers the low-level shape with ``ApproximateCreationDateTime`` as a
datetime and binary values as bytes (TIPS.md); Lambda's event has epoch seconds, base64 text and
``eventSourceARN``. ``HistoryStream.read()`` returns new records in Lambda's shape;
``deliver(records, invoke, batch_size, max_retries)`` hands them out in batches the way the
event source mapping does with ``ReportBatchItemFailures``: after a partial failure the batch is
sent again from the first failed record (so what succeeded after it comes again too), a failed
invocation sends the whole batch again, and a batch still failing after ``max_retries`` is given up
(Lambda would send it to the on-failure destination).

``HistoryStream(..., filters=...)`` honours the event source mapping's ``FilterCriteria`` as
Lambda does: a record reaches the function when it matches any of the patterns, and the others
are dropped (they cost no invocation). ``matches`` implements the pattern syntax Lambda documents
for event filtering that the template uses: nested objects, lists of exact values, ``prefix``,
``exists`` and ``anything-but``; anything else raises, so a new pattern is not silently ignored.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


def lambda_value(value: Any) -> Any:
    """A low-level attribute value as Lambda's JSON has it (bytes -> base64 text)."""
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(bytes(value)).decode()
    if isinstance(value, dict):
        return {k: lambda_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [lambda_value(v) for v in value]
    return value


def lambda_record(record: Mapping[str, Any], stream_arn: str) -> dict[str, Any]:
    data = dict(record["dynamodb"])
    moment = data.get("ApproximateCreationDateTime")
    if isinstance(moment, datetime):
        data["ApproximateCreationDateTime"] = int(moment.timestamp())
    return {
        "eventID": record.get("eventID"),
        "eventName": record.get("eventName"),
        "eventVersion": record.get("eventVersion", "1.1"),
        "eventSource": "aws:dynamodb",
        "awsRegion": record.get("awsRegion"),
        "dynamodb": lambda_value(data),
        "eventSourceARN": stream_arn,
    }


def matches(record: Mapping[str, Any], pattern: Mapping[str, Any]) -> bool:
    """True when ``record`` (Lambda's shape) matches one filter pattern."""
    for key, expected in pattern.items():
        present = isinstance(record, Mapping) and key in record
        value = record.get(key) if present else None
        if isinstance(expected, Mapping):
            if not present or not matches(value, expected):
                return False
        elif isinstance(expected, list):
            if not any(_matches_value(value, present, rule) for rule in expected):
                return False
        else:
            raise ValueError(f"filter pattern values must be objects or lists, not {expected!r}")
    return True


def _matches_value(value: Any, present: bool, rule: Any) -> bool:
    if not isinstance(rule, Mapping):
        return present and value == rule
    ((kind, operand),) = rule.items()
    if kind == "exists":
        return present is bool(operand)
    if kind == "prefix":
        return present and isinstance(value, str) and value.startswith(operand)
    if kind == "anything-but":
        excluded = operand if isinstance(operand, list) else [operand]
        return present and value not in excluded
    raise ValueError(f"filter rule {kind!r} is not modelled locally (local/stream.py)")


class HistoryStream:
    """The stream of one table, from its start; ``read()`` returns what is new since last time
    (and, with ``filters``, only the records that match one of the patterns)."""

    def __init__(
        self,
        streams_client: Any,
        table_name: str,
        filters: tuple[Mapping[str, Any], ...] = (),
    ) -> None:
        self.filters = filters
        self.client = streams_client
        self.arn = streams_client.list_streams(TableName=table_name)["Streams"][0]["StreamArn"]
        self._iterators: dict[str, str | None] = {}

    def read(self) -> list[dict[str, Any]]:
        shards = self.client.describe_stream(StreamArn=self.arn)["StreamDescription"]["Shards"]
        records: list[dict[str, Any]] = []
        for shard in shards:
            shard_id = shard["ShardId"]
            if shard_id not in self._iterators:
                self._iterators[shard_id] = self.client.get_shard_iterator(
                    StreamArn=self.arn, ShardId=shard_id, ShardIteratorType="TRIM_HORIZON"
                )["ShardIterator"]
            while self._iterators[shard_id]:
                answer = self.client.get_records(ShardIterator=self._iterators[shard_id])
                self._iterators[shard_id] = answer.get("NextShardIterator")
                if not answer["Records"]:
                    break
                records.extend(lambda_record(r, self.arn) for r in answer["Records"])
        if self.filters:
            return [r for r in records if any(matches(r, p) for p in self.filters)]
        return records


@dataclass
class StreamRun:
    """What handing records to the function did."""

    invocations: list[Any] = field(default_factory=list)  # what ``invoke`` asked to keep
    batches: int = 0
    retries: int = 0
    given_up: list[dict[str, Any]] = field(default_factory=list)  # records sent nowhere


def deliver(
    records: list[dict[str, Any]],
    invoke: Callable[[dict[str, Any]], tuple[bool, Any, Any]],
    *,
    batch_size: int,
    max_retries: int = 2,
) -> StreamRun:
    """Hand ``records`` to ``invoke`` in batches.

    ``invoke(event)`` returns (ok, the handler's result, anything to keep in ``invocations``).
    """
    run = StreamRun()
    start = 0
    while start < len(records):
        batch = records[start : start + batch_size]
        attempts = 0
        while True:
            ok, result, keep = invoke({"Records": batch})
            run.invocations.append(keep)
            run.batches += 1
            failed = _first_failure(batch, result) if ok else 0
            if failed is None:
                break
            attempts += 1
            if attempts > max_retries:
                run.given_up.extend(batch[failed:])
                break
            run.retries += 1
            batch = batch[failed:]
        start += batch_size
    return run


def _first_failure(batch: list[dict[str, Any]], result: Any) -> int | None:
    """Index of the first record named in ``batchItemFailures``, or None when all succeeded."""
    failures = (result or {}).get("batchItemFailures") if isinstance(result, dict) else None
    if not failures:
        return None
    failed = {str(f.get("itemIdentifier")) for f in failures}
    for n, record in enumerate(batch):
        if str(record["dynamodb"].get("SequenceNumber")) in failed:
            return n
    return 0  # an identifier that is not in the batch: Lambda retries the whole batch
