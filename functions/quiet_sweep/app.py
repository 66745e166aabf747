"""QuietSweepFunction: every minute (EventBridge schedule) -> the notices no notification triggers.

The summary of a flapping alarm that has been stable for the window, and "silence ended, alarm
still in ALARM" (issue 12). sweep -> route (where the alarm's messages go: the routing rules,
else the template parameters) -> render -> send once per channel and destination (deliver_once
keyed by the notice's id, so a notification that already delivered the same summary, a retry or an
overlapping run never sends it twice) -> mark it done only when every destination has it. A
failure fails the invocation; the next run sends what is missing.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from typing import Any

from alert_service import config, decide, delivery
from alert_service.alarm import Notification
from alert_service.channels import DeliveriesFailed, DeliveryError
from alert_service.channels import email as email_channel
from alert_service.channels import sms as sms_channel
from alert_service.channels.slack import SlackWebhook
from alert_service.redact import mask_email, mask_phone
from alert_service.render import email as email_render
from alert_service.render import slack as slack_layout
from alert_service.render import sms as sms_render
from alert_service.routing import Defaults, route
from alert_service.silences import sweep
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

logger = Logger()
metrics = Metrics()
metrics.set_default_dimensions(channel="sweep")
webhook = SlackWebhook()
# Most minutes have nothing to say: no metric then, and that is not worth a warning.
warnings.filterwarnings("ignore", message="No application metrics to publish", category=UserWarning)


@metrics.log_metrics(capture_cold_start_metric=True)
@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, int]:
    delivery.register_lambda_context(context)
    display, fanout = config.display_settings(), config.fanout_settings()
    table = config.required("HISTORY_TABLE_NAME")
    failures: list[str] = []
    sent = 0
    for due in sweep.due(table, datetime.now(UTC), display):
        logger.append_keys(notice_id=due.view.notice_id)
        before = len(failures)
        for channel, recipient, masked, send in _targets(due, fanout):
            try:
                sent += delivery.deliver_once(channel, due.view.notice_id, recipient, send).sent
            except Exception as error:  # the others still get theirs
                reason = str(error) if isinstance(error, DeliveryError) else type(error).__name__
                logger.warning("notice failed", extra={"channel": channel, "error": reason})
                failures.append(f"{due.view.notice_id} {channel} {masked}: {reason}")
        if len(failures) == before:
            due.done()
            logger.info("notice delivered", extra={"kind": due.view.kind})
    if sent:
        metrics.add_metric(name="NoticesDelivered", unit=MetricUnit.Count, value=sent)
    if failures:
        metrics.add_metric(name="NoticesFailed", unit=MetricUnit.Count, value=len(failures))
        raise DeliveriesFailed(failures)
    return {"sent": sent}


def _targets(
    due: sweep.Due, fanout: config.FanoutSettings
) -> list[tuple[str, str, str, Callable[[], object]]]:
    """(channel, once-only recipient, masked recipient, send) for every destination the notice
    goes to: where its alarms' messages go (the routing file's rules, else the default route of
    the template parameters), the webhook only when the function has the webhook secret."""
    view = due.view
    defaults = Defaults.from_settings(fanout)
    chosen: dict[tuple[str, str], decide.Delivery] = {}
    for alarm in due.alarms or (None,):
        about = Notification(message_id=view.notice_id, raw_message="", alarm=alarm)
        for target in decide.decide(
            about, decide.from_route(route(about, None, defaults=defaults)), notices=[view]
        ):
            if target.notice is not None:
                chosen.setdefault((target.channel, target.destination), target)
    secret_id = config.env("SLACK_WEBHOOK_SECRET_ID")
    targets: list[tuple[str, str, str, Callable[[], object]]] = []
    for target in chosen.values():
        if target.channel == "slack" and secret_id:
            payload = slack_layout.render_quiet(view)
            send: Callable[[], object] = partial(_post, secret_id, target.destination, payload)
            masked = target.once_only_recipient
        elif target.channel == "email":
            mail = email_render.render_quiet(view)
            send = partial(email_channel.send, fanout.sender, target.destination, mail)
            masked = mask_email(target.destination)
        elif target.channel == "sms":
            text = sms_render.render_quiet(view)
            send = partial(sms_channel.send, target.destination, text)
            masked = mask_phone(target.destination)
        else:
            continue
        targets.append((target.channel, target.once_only_recipient, masked, send))
    return targets


def _post(secret_id: str, name: str, payload: dict[str, Any]) -> None:
    webhook.post_named(secret_id, name, payload)  # the Posted result is not JSON
