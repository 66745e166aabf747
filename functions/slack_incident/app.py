"""SlackIncidentFunction: AlarmHistoryTable's stream -> the Slack incident view (Web API).

Thin by design: the stream records go to ``alert_service.slack_app.projection``, which turns them
into changes and each change into its Slack calls, once. Records that failed are reported in
``batchItemFailures`` (ReportBatchItemFailures), so Lambda retries from the first of them and not
the whole batch; what was already sent is skipped on the retry.
"""

from __future__ import annotations

from typing import Any

from alert_service import delivery
from alert_service.config import display_settings, required
from alert_service.slack_app.projection import Projector, stream_records
from alert_service.slack_app.web_api import WebApi
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

logger = Logger()
metrics = Metrics()
# One channel per function: a default dimension survives each flush (plain dimensions do not).
metrics.set_default_dimensions(channel="slack-app")
_api: WebApi | None = None  # module level: the HTTP client outlives a warm invocation


@metrics.log_metrics(capture_cold_start_metric=True)
@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    global _api
    delivery.register_lambda_context(context)
    records = stream_records(event)
    if _api is None:
        _api = WebApi(required("SLACK_APP_SECRET_ID"))
    outcome = Projector(_api, display_settings(), required("HISTORY_TABLE_NAME")).project(records)
    for error in outcome.errors:
        logger.error("slack incident view change failed", extra={"error": error})
    logger.info(
        "slack incident view projected",
        extra={
            "records": len(records),
            "posts": outcome.posts,
            "replies": outcome.replies,
            "updates": outcome.updates,
            "skipped": outcome.skipped,
            "failed": len(outcome.failed),
        },
    )
    sent = outcome.posts + outcome.replies + outcome.updates
    if sent:
        metrics.add_metric(name="NotificationsDelivered", unit=MetricUnit.Count, value=sent)
    if outcome.failed:
        metrics.add_metric(
            name="NotificationsFailed", unit=MetricUnit.Count, value=len(outcome.failed)
        )
    return {"batchItemFailures": [{"itemIdentifier": s} for s in outcome.failed]}
