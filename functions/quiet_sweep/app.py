"""QuietSweepFunction: every minute (EventBridge schedule) -> the notices no notification triggers.

The summary of a flapping alarm that has been stable for the window, and "silence ended, alarm
still in ALARM" (issue 12). sweep -> render once per channel -> send once per channel and
recipient (deliver_once keyed by the notice's id, so a notification that already delivered the
same summary, a retry or an overlapping run never sends it twice) -> mark it done only when every
channel has it. A failure fails the invocation; the next run sends what is missing.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from typing import Any

from alert_service import config, delivery, secrets
from alert_service.channels import DeliveriesFailed, DeliveryError
from alert_service.channels import email as email_channel
from alert_service.channels import sms as sms_channel
from alert_service.channels.slack import SlackWebhook
from alert_service.redact import mask_email, mask_phone
from alert_service.render import email as email_render
from alert_service.render import slack as slack_layout
from alert_service.render import sms as sms_render
from alert_service.silences import sweep
from alert_service.silences.notices import QuietView
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
        for channel, recipient, masked, send in _targets(due.view, fanout):
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
    view: QuietView, fanout: config.FanoutSettings
) -> list[tuple[str, str, str, Callable[[], object]]]:
    """(channel, recipient, masked recipient, send) for every channel this notice goes to: the
    webhook when configured; email and SMS as an alarm in the notice's state would go."""
    targets: list[tuple[str, str, str, Callable[[], object]]] = []
    secret_id = config.env("SLACK_WEBHOOK_SECRET_ID")
    if secret_id:
        payload = slack_layout.render_quiet(view)
        targets.append(("slack", "webhook", "webhook", partial(_post, secret_id, payload)))
    state = view.state
    if state is None or state in fanout.email_states:
        mail = email_render.render_quiet(view)
        targets += [
            ("email", a, mask_email(a), partial(email_channel.send, fanout.sender, a, mail))
            for a in fanout.email_recipients
        ]
    if state is not None and state in fanout.sms_states:
        text = sms_render.render_quiet(view)
        targets += [
            ("sms", n, mask_phone(n), partial(sms_channel.send, n, text))
            for n in fanout.sms_recipients
        ]
    return targets


def _post(secret_id: str, payload: dict[str, Any]) -> None:
    webhook.post(secrets.webhook_url(secret_id), payload)  # the Posted result is not JSON
