"""NotifyFanoutFunction: SNS (db-alarm topic) -> email through SES and SMS through SNS.

parse -> plan (severity, route: the routing file's rules, else EMAIL_*/SMS_* as the default route;
quiet state: silences, flapping) -> decide -> render once per channel -> send once per recipient. A
silenced or flapping alarm's messages are held (history keeps it); the flapping notice or the
stabilised summary goes out instead, once per recipient. Every recipient is attempted; failures
are collected, masked, and raised at the end so Lambda retries the invocation; deliveries that
succeeded are remembered per (channel, MessageId, recipient) in the idempotency table and not
repeated on that retry.
"""

from __future__ import annotations

import warnings
from collections import Counter
from collections.abc import Callable
from functools import partial
from typing import Any

from alert_service import config, decide, delivery, parse, plan
from alert_service.alarm import Notification
from alert_service.channels import DeliveriesFailed, is_retryable, report_failure
from alert_service.channels import email as email_channel
from alert_service.channels import sms as sms_channel
from alert_service.redact import mask_email, mask_phone
from alert_service.render import email as email_render
from alert_service.render import sms as sms_render
from alert_service.view import View, build_view
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit, single_metric

logger = Logger()
metrics = Metrics()
# Counts go out per channel through single_metric (below), so the decorator's own flush holds only
# the cold-start metric and Powertools would warn "No application metrics" on every invocation.
warnings.filterwarnings("ignore", message="No application metrics to publish", category=UserWarning)

FANOUT_CHANNELS: tuple[decide.Channel, ...] = ("email", "sms")
MASKS: dict[str, Callable[[str], str]] = {"email": mask_email, "sms": mask_phone}


@metrics.log_metrics(capture_cold_start_metric=True)
@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, int]:
    # Cached per process: the first invocation checks the configuration, and a bad value fails it
    # with ConfigurationError naming the variable and the (masked) entry.
    settings = config.fanout_settings()
    from alert_service.routing import Defaults  # the model only; the file is read on first route

    defaults = Defaults.from_settings(settings)
    table = config.env("HISTORY_TABLE_NAME")
    delivery.register_lambda_context(context)
    display = config.display_settings()
    notifications = parse.notifications(event)  # NotAnSnsEvent fails the invocation
    outcome: Counter[tuple[str, str]] = Counter()
    failures: list[str] = []
    try:
        for notification in notifications:
            logger.set_correlation_id(notification.message_id)
            try:
                planned = plan.plan(
                    notification,
                    channels=FANOUT_CHANNELS,
                    defaults=defaults,
                    display=display,
                    table=table,
                )
            except Exception as error:  # the quiet state unreadable: retry this record only
                reason = report_failure(logger, "Planning failed", error)
                failures.append(f"{notification.message_id}: {reason}")
                outcome["failed", "plan"] += 1
                continue
            try:
                _fan_out(notification, planned, settings, display, outcome, failures)
            except Exception as error:  # a rendering bug must not stop the other records
                logger.exception("Rendering failed")
                failures.append(f"{notification.message_id}: {type(error).__name__}")
                outcome["failed", "render"] += 1
    finally:
        _publish_metrics(outcome)
    if failures:
        refused = sum(n for (kind, _), n in outcome.items() if kind == "refused")
        raise DeliveriesFailed.of(failures, permanent=refused == len(failures))
    return {"delivered": sum(n for (kind, _), n in outcome.items() if kind == "delivered")}


def _fan_out(
    notification: Notification,
    planned: plan.Plan,
    settings: config.FanoutSettings,
    display: config.DisplaySettings,
    outcome: Counter[tuple[str, str]],
    failures: list[str],
) -> None:
    """Render once per channel and message, send once per recipient."""
    if not planned.deliveries:
        logger.info("Nothing to send", extra={"state": notification.state})
        return
    view = build_view(notification, display, severity=planned.severity)
    rendered: dict[tuple[str, str | None], Any] = {}
    for target in planned.deliveries:
        masked = MASKS[target.channel](target.destination)
        if target.held_by:
            logger.info(
                "Held",
                extra={"channel": target.channel, "recipient": masked, "held_by": target.held_by},
            )
            plan.count_held(target, _service_name())
            continue
        what = (target.channel, target.notice.notice_id if target.notice else None)
        if what not in rendered:
            rendered[what] = _render(target, view)
        send = _sender(target, settings, rendered[what])
        _attempt(target, notification, masked, outcome, failures, send)


def _render(target: decide.Delivery, view: View) -> Any:
    """The channel's layout of the notification, or of the quiet notice it stands for."""
    if target.notice is not None:
        if target.channel == "email":
            return email_render.render_quiet(target.notice)
        return sms_render.render_quiet(target.notice)
    return email_render.render(view) if target.channel == "email" else sms_render.render(view)


def _sender(
    target: decide.Delivery, settings: config.FanoutSettings, message: Any
) -> Callable[[], str]:
    if target.channel == "email":
        return partial(email_channel.send, settings.sender, target.destination, message)
    return partial(sms_channel.send, target.destination, message)


def _attempt(
    target: decide.Delivery,
    notification: Notification,
    masked: str,
    outcome: Counter[tuple[str, str]],
    failures: list[str],
    send: Callable[[], object],
) -> None:
    channel = target.channel
    try:
        sent = delivery.deliver_once(
            channel, target.once_only_id(notification), target.once_only_recipient, send
        ).sent
    except Exception as error:  # one recipient's failure must not cost the others their message
        # Not a DeliveryError: the same delivery in progress elsewhere, the idempotency table
        # unreachable, or a bug; a retry of the invocation settles the first two.
        reason = report_failure(logger, "Delivery failed", error, channel=channel, recipient=masked)
        failures.append(f"{notification.message_id} {channel} {masked}: {reason}")
        outcome["failed", channel] += 1
        if not is_retryable(error):
            outcome["refused", channel] += 1
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
    names = {
        "delivered": "NotificationsDelivered",
        "failed": "NotificationsFailed",
        # Failures a retry cannot help (channels/__init__.py): alarm on these to call an operator.
        "refused": "DeliveriesRefused",
    }
    for (kind, channel), count in sorted(outcome.items()):
        with single_metric(
            name=names[kind],
            unit=MetricUnit.Count,
            value=count,
            default_dimensions={"service": _service_name()},
        ) as metric:
            metric.add_dimension(name="channel", value=channel)
