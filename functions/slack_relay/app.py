"""Slack relay: SNS db-alarm notifications -> one Slack incoming-webhook message each (seed 000).

parse -> decide -> render -> post, once per (SNS MessageId, webhook). Every record is attempted;
the failed ones are named (MessageIds and redacted reasons, never the webhook URL) in the exception
that fails the invocation, so Lambda retries it and the on-failure destination keeps it. Messages
already posted are skipped on the retry (delivery.deliver_once).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from alert_service import decide, delivery, parse, secrets
from alert_service.alarm import Notification
from alert_service.channels import DeliveriesFailed, is_retryable, report_failure
from alert_service.channels.slack import Posted, SlackWebhook, WebhookInvalid
from alert_service.config import display_settings, required
from alert_service.render import slack as slack_layout
from alert_service.view import build_view
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

logger = Logger()
metrics = Metrics()
# One channel per function: a default dimension survives each flush (plain dimensions do not).
metrics.set_default_dimensions(channel="slack")
# Module level: the session (and its TLS connection to Slack) outlives a warm invocation.
webhook = SlackWebhook()


@metrics.log_metrics(capture_cold_start_metric=True)
@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, int]:
    delivery.register_lambda_context(context)
    notifications = parse.notifications(event)  # NotAnSnsEvent fails the invocation
    routing = decide.routing()
    failures: list[str] = []
    refused = delivered = 0
    for notification in notifications:
        logger.set_correlation_id(notification.message_id)
        logger.append_keys(message_id=notification.message_id)
        for target in decide.decide(notification, routing, channels=("slack",)):
            if target.held_by:
                logger.info("slack held", extra={"held_by": target.held_by})
                metrics.add_metric(name="NotificationsHeld", unit=MetricUnit.Count, value=1)
                continue
            try:
                delivered += _deliver(notification, target)
            except Exception as error:  # one bad record must not stop the others
                reason = report_failure(logger, "slack delivery failed", error)
                failures.append(f"{notification.message_id}: {reason}")
                refused += not is_retryable(error)
    logger.set_correlation_id(None)
    if delivered:
        metrics.add_metric(name="NotificationsDelivered", unit=MetricUnit.Count, value=delivered)
    if failures:
        metrics.add_metric(name="NotificationsFailed", unit=MetricUnit.Count, value=len(failures))
        if refused:
            metrics.add_metric(name="DeliveriesRefused", unit=MetricUnit.Count, value=refused)
        raise DeliveriesFailed.of(failures, permanent=refused == len(failures))
    return {"delivered": delivered}


def _deliver(notification: Notification, target: decide.Delivery) -> int:
    """Post one notification unless an earlier invocation did; 1 when posted now."""
    payload = slack_layout.render(build_view(notification, display_settings()))
    done = delivery.deliver_once(
        "slack",
        notification.message_id,
        target.once_only_recipient,
        # Stored as JSON with the once-only record: a plain dict, not the dataclass.
        lambda: asdict(_post(payload)),
    )
    alarm = notification.alarm
    about = {
        "alarm_name": alarm.name if alarm else None,
        "state": alarm.state.value if alarm else None,
        "problem": notification.problem,
    }
    if not done.sent:
        logger.info("slack already delivered", extra=about)
        return 0
    posted = done.result or {}
    logger.info(
        "slack delivered",
        extra={**about, "status": posted.get("status"), "attempts": posted.get("attempts")},
    )
    return 1


def _post(payload: dict[str, Any]) -> Posted:
    secret_id = required("SLACK_WEBHOOK_SECRET_ID")
    url = secrets.webhook_url(secret_id)
    try:
        return webhook.post(url, payload)
    except WebhookInvalid as error:
        # Slack says the webhook is gone. It may have been rotated since we cached it: read the
        # secret once more and try again only if it now holds another URL.
        fresh = secrets.webhook_url(secret_id, refresh=True)
        if fresh == url:
            raise
        logger.warning(
            "slack webhook rejected; retrying with the rotated secret", extra={"error": str(error)}
        )
        return webhook.post(fresh, payload)
