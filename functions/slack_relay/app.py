"""Slack relay: SNS db-alarm notifications -> one Slack incoming-webhook message each (seed 000).

parse -> plan (severity, route, quiet state) -> decide -> render -> post, once per (SNS MessageId,
webhook): each webhook the route names (the routing file's rules, else the ``default`` one), the
severity as an extra field; a silenced or flapping alarm's message held (history keeps it), the
flapping notice or stabilised summary posted instead, once per webhook. Every record is attempted;
the failed ones are named (MessageIds and redacted reasons, never the webhook URL) in the exception
that fails the invocation, so Lambda retries it and the on-failure destination keeps it. Messages
already posted are skipped on the retry (delivery.deliver_once).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from alert_service import config, decide, delivery, parse, plan
from alert_service.alarm import Notification
from alert_service.channels import DeliveriesFailed, is_retryable, report_failure
from alert_service.channels.slack import Posted, SlackWebhook
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
    from alert_service.routing import Defaults  # the model only; the file is read on first route

    display = display_settings()
    table = config.env("HISTORY_TABLE_NAME")
    failures: list[str] = []
    refused = delivered = 0
    for notification in notifications:
        logger.set_correlation_id(notification.message_id)
        logger.append_keys(message_id=notification.message_id)
        try:
            planned = plan.plan(
                notification, channels=("slack",), defaults=Defaults(), display=display, table=table
            )
        except Exception as error:  # the quiet state unreadable: retry this record, not the rest
            reason = report_failure(logger, "slack delivery failed", error)
            failures.append(f"{notification.message_id}: {reason}")
            continue
        for target in planned.deliveries:
            if target.held_by:
                _count_held(target)
                continue
            try:
                delivered += _deliver(notification, target, planned.severity)
            except Exception as error:  # one bad record or webhook must not stop the others
                reason = report_failure(logger, "slack delivery failed", error)
                # The default webhook's failures read as they always have; others name theirs.
                named = "" if target.once_only_recipient == "webhook" else f" {target.destination}"
                failures.append(f"{notification.message_id}{named}: {reason}")
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


def _count_held(target: decide.Delivery) -> None:
    """A held message: logged and counted with its reason (silence, flapping)."""
    logger.info("slack held", extra={"webhook": target.destination, "held_by": target.held_by})
    plan.count_held(target, metrics.service or "service_undefined")


def _deliver(notification: Notification, target: decide.Delivery, severity: str | None) -> int:
    """Post one message (the notification, or a quiet notice) to one webhook unless an earlier
    invocation did; 1 when posted now."""
    if target.notice is not None:
        payload = slack_layout.render_quiet(target.notice)
    else:
        view = build_view(notification, display_settings(), severity=severity)
        payload = slack_layout.render(view)
    done = delivery.deliver_once(
        "slack",
        target.once_only_id(notification),
        target.once_only_recipient,
        # Stored as JSON with the once-only record: a plain dict, not the dataclass.
        lambda: asdict(_post(payload, target.destination)),
    )
    alarm = notification.alarm
    about = {
        "alarm_name": alarm.name if alarm else None,
        "state": alarm.state.value if alarm else None,
        "problem": notification.problem,
        "webhook": target.destination,
        "notice": target.notice.kind if target.notice else None,
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


def _post(payload: dict[str, Any], name: str = decide.DEFAULT_WEBHOOK) -> Posted:
    """Post to webhook ``name`` of the secret (rotation handled by ``post_named``)."""
    return webhook.post_named(required("SLACK_WEBHOOK_SECRET_ID"), name, payload)
