"""AlarmHistoryFunction: SNS db-alarm notifications -> DynamoDB history and incidents.

Thin by design: parse every record, ask what it is marked with (severity, silences, flapping:
``incidents.marks_for``), hand both to ``alert_service.incidents`` with the history store (made
once per container, on the first invocation). Every notification is stored, silenced or not. A
DynamoDB failure makes the invocation fail after the other records were tried, so Lambda retries
it; the MessageId-keyed event item makes the retry store nothing twice.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from typing import Any

from alert_service import incidents, parse
from alert_service.channels import DeliveriesFailed
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

logger = Logger()
metrics = Metrics()
# One channel per function: a default dimension survives each flush (plain dimensions do not).
metrics.set_default_dimensions(channel="history")


@cache
def store() -> incidents.HistoryStore:
    """HISTORY_TABLE_NAME and HISTORY_RETENTION_DAYS, read once per container."""
    return incidents.HistoryStore.from_environment()


@metrics.log_metrics(capture_cold_start_metric=True)
@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    failures: list[str] = []
    outcomes: dict[str, str] = {}
    for notification in parse.notifications(event):
        logger.set_correlation_id(notification.message_id)
        try:
            received = datetime.now(UTC)
            marks = incidents.marks_for(notification, table=store().table, received_at=received)
            outcome = incidents.record(
                notification, received_at=received, store=store(), marks=marks
            )
        except Exception as error:
            logger.exception("history write failed")
            metrics.add_metric(name="NotificationsFailed", unit=MetricUnit.Count, value=1)
            failures.append(f"{notification.message_id}: {type(error).__name__}")
            continue
        outcomes[notification.message_id] = outcome.value
        logger.info(
            "history stored",
            extra={
                "outcome": outcome.value,
                "alarm": notification.alarm.name if notification.alarm else None,
                "silenced_by": list(marks.silenced_by),
                "flapping_since": marks.flapping_since,
            },
        )
        metrics.add_metric(name="NotificationsDelivered", unit=MetricUnit.Count, value=1)
    if failures:
        raise DeliveriesFailed(failures)
    return {"stored": outcomes}
