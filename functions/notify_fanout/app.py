"""NotifyFanoutFunction: SNS (db-alarm topic) -> email through SES and SMS through SNS.

parse -> decide (EMAIL_STATES / SMS_STATES) -> render once per channel -> send once per recipient.
Every recipient is attempted; failures are collected, masked, and raised at the end so Lambda
retries the invocation; deliveries that succeeded are remembered per (channel, MessageId,
recipient) in the idempotency table and not repeated on that retry.
"""

from __future__ import annotations

import warnings
from collections import Counter
from collections.abc import Callable
from functools import partial
from typing import Any

from alert_service import config, delivery, parse
from alert_service.alarm import Notification
from alert_service.channels import DeliveriesFailed, DeliveryError
from alert_service.channels import email as email_channel
from alert_service.channels import sms as sms_channel
from alert_service.redact import mask_email, mask_phone
from alert_service.render import email as email_render
from alert_service.render import sms as sms_render
from alert_service.view import build_view
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit, single_metric

logger = Logger()
metrics = Metrics()
# Counts go out per channel through single_metric (below), so the decorator's own flush holds only
# the cold-start metric and Powertools would warn "No application metrics" on every invocation.
warnings.filterwarnings("ignore", message="No application metrics to publish", category=UserWarning)


@metrics.log_metrics(capture_cold_start_metric=True)
@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, int]:
    # Cached per process: the first invocation checks the configuration, and a bad value fails it
    # with ConfigurationError naming the variable and the (masked) entry.
    settings = config.fanout_settings()
    delivery.register_lambda_context(context)
    display = config.display_settings()
    outcome: Counter[tuple[str, str]] = Counter()
    failures: list[str] = []
    try:
        for notification in parse.notifications(event):
            logger.set_correlation_id(notification.message_id)
            try:
                _fan_out(notification, settings, display, outcome, failures)
            except Exception as error:  # a rendering bug must not stop the other records
                logger.exception("Rendering failed")
                failures.append(f"{notification.message_id}: {type(error).__name__}")
                outcome["failed", "render"] += 1
    finally:
        _publish_metrics(outcome)
    if failures:
        raise DeliveriesFailed(failures)
    return {"delivered": sum(n for (kind, _), n in outcome.items() if kind == "delivered")}


def _fan_out(
    notification: Notification,
    settings: config.FanoutSettings,
    display: config.DisplaySettings,
    outcome: Counter[tuple[str, str]],
    failures: list[str],
) -> None:
    """Decide, render once per channel, send once per recipient."""
    emails, numbers = settings.email_to(notification), settings.sms_to(notification)
    if not emails and not numbers:
        logger.info("Nothing to send", extra={"state": notification.state})
        return
    view = build_view(notification, display)
    if emails:
        mail = email_render.render(view)
        for address in emails:
            send = partial(email_channel.send, settings.sender, address, mail)
            _attempt("email", notification, address, mask_email(address), outcome, failures, send)
    if numbers:
        text = sms_render.render(view)
        for number in numbers:
            send = partial(sms_channel.send, number, text)
            _attempt("sms", notification, number, mask_phone(number), outcome, failures, send)


def _attempt(
    channel: str,
    notification: Notification,
    recipient: str,
    masked: str,
    outcome: Counter[tuple[str, str]],
    failures: list[str],
    send: Callable[[], object],
) -> None:
    try:
        sent = delivery.deliver_once(channel, notification.message_id, recipient, send).sent
    except Exception as error:  # one recipient's failure must not cost the others their message
        # Not a DeliveryError: the same delivery in progress elsewhere, the idempotency table
        # unreachable, or a bug; a retry of the invocation settles the first two. Its text is not
        # ours (it may hold the recipient), so only its type is reported.
        reason = str(error) if isinstance(error, DeliveryError) else type(error).__name__
        retryable = getattr(error, "retryable", True)
        logger.warning(
            "Delivery failed",
            extra={
                "channel": channel,
                "recipient": masked,
                "retryable": retryable,
                "error": reason,
            },
        )
        failures.append(f"{notification.message_id} {channel} {masked}: {reason}")
        outcome["failed", channel] += 1
        return
    if sent:
        logger.info("Delivered", extra={"channel": channel, "recipient": masked})
        outcome["delivered", channel] += 1
    else:
        logger.info("Already delivered, skipped", extra={"channel": channel, "recipient": masked})


def _service_name() -> str:
    # Read when emitting, as Powertools resolves POWERTOOLS_SERVICE_NAME for its own metrics.
    return metrics.service or config.env("POWERTOOLS_SERVICE_NAME") or "service_undefined"


def _publish_metrics(outcome: Counter[tuple[str, str]]) -> None:
    """NotificationsDelivered / NotificationsFailed with a ``channel`` dimension (email | sms).

    Powertools' ``Metrics`` applies its dimensions to every metric of a flush, so each channel's
    counts go out as their own EMF record through ``single_metric``, one per channel and outcome.
    """
    names = {"delivered": "NotificationsDelivered", "failed": "NotificationsFailed"}
    for (kind, channel), count in sorted(outcome.items()):
        with single_metric(
            name=names[kind],
            unit=MetricUnit.Count,
            value=count,
            default_dimensions={"service": _service_name()},
        ) as metric:
            metric.add_dimension(name="channel", value=channel)
