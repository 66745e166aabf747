"""Deliver a digest: one Slack message and one email per recipient, each once only.

The once-only key is (channel, ``digest#<end of the period>``, recipient): Lambda retries the
invocation (and Scheduler retries the target) with the same scheduled time, so a retry after a
partial failure sends only what is missing. Failures are collected and raised at the end.
"""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

from alert_service import delivery
from alert_service.channels import email as email_channel
from alert_service.config import ConfigurationError, DisplaySettings, FanoutSettings, env
from alert_service.digest import render
from alert_service.digest.report import Digest
from alert_service.history import iso
from alert_service.notices import SlackNotices
from alert_service.redact import mask_email

DEFAULT_DIGEST_TIME = "09:00"
_HH_MM = re.compile(r"^([01]?[0-9]|2[0-3]):([0-5][0-9])$")


def digest_time() -> time:
    text = env("DIGEST_TIME", DEFAULT_DIGEST_TIME) or DEFAULT_DIGEST_TIME
    match = _HH_MM.match(text)
    if not match:
        raise ConfigurationError(f"DIGEST_TIME must be HH:MM (24 h), not {text!r}")
    return time(int(match.group(1)), int(match.group(2)))


def period_end(now: datetime, at: time, zone: ZoneInfo) -> datetime:
    """The latest ``at`` (local time in ``zone``) not after ``now``: the digest's period ends there,
    whenever the invocation (or its retry) actually runs."""
    local = now.astimezone(zone)
    end = datetime.combine(local.date(), at, tzinfo=zone)
    if end > local:
        end = datetime.combine(local.date() - timedelta(days=1), at, tzinfo=zone)
    return end


def deliver(
    digest: Digest,
    display: DisplaySettings,
    *,
    slack: SlackNotices | None,
    fanout: FanoutSettings,
) -> dict[str, Any]:
    attempts = delivery.OnceAttempts(f"digest#{iso(digest.until)}")
    if slack is not None:
        text, blocks = render.slack(digest, display)
        attempts.attempt(
            f"slack-{slack.kind}", "digest", "slack", partial(slack.post, text, blocks)
        )
    if fanout.email_recipients:
        mail = render.email(digest, display)
        for address in fanout.email_recipients:
            send = partial(email_channel.send, fanout.sender, address, mail)
            attempts.attempt("email", address, f"email:{mask_email(address)}", send)
    attempts.raise_failures()
    return {"sent": attempts.sent, "skipped": attempts.skipped}
