"""Messages about incidents rather than about one notification: escalations, reminders, the digest.

Two ways out to Slack, behind one small interface (``SlackNotices``):

- ``SlackAppNotices`` (the Slack incident view is configured, ``SLACK_APP_SECRET_ID``): a reply in
  the incident's thread, ``chat.postMessage`` with ``thread_ts`` = the incident's ``slack_ts``
  (kept on the incident item by the incident view). An escalation mentions ``@here``/``@channel``
  and is also shown in the channel with ``reply_broadcast`` (one message, in the thread and in the
  channel): a mention deep in a thread is seen only by the thread's followers. A reminder stays in
  the thread. Without a root yet (the incident view is behind), a top-level message in the app's
  channel. The calls go through the incident view's own client (``slack_app.web_api.WebApi``):
  one Web API client, one error mapping (rate limits waited for within a budget, auth and channel
  errors naming the secret, never the token; a rotated token is read again once).
- ``WebhookNotices`` (webhook-only setup, ``SLACK_WEBHOOK_SECRET_ID``): a new message through the
  relay's incoming webhook, since a webhook cannot reply in a thread.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from alert_service import secrets
from alert_service.config import env
from alert_service.slack_app.web_api import WebApi


class SlackNotices(Protocol):
    """Where escalations, reminders and the digest go in Slack."""

    def reply(self, incident: Mapping[str, Any], text: str, mention: str | None) -> str:
        """Say ``text`` about ``incident``, mentioning None, ``here`` or ``channel``."""
        ...

    def post(self, text: str, blocks: Sequence[Mapping[str, Any]]) -> str:
        """A top-level message (the digest); ``text`` is the notification and fallback text."""
        ...

    @property
    def kind(self) -> str:
        """``app`` or ``webhook``: part of the once-only delivery key."""
        ...


def _with_mention(text: str, mention: str | None) -> str:
    return f"<!{mention}> {text}" if mention else text


class SlackAppNotices:
    """Thread replies through the Web API (bot token and channel from ``SLACK_APP_SECRET_ID``)."""

    kind = "app"

    def __init__(self, secret_id: str) -> None:
        self.api = WebApi(secret_id)

    def _post(self, message: dict[str, Any]) -> str:
        """``chat.postMessage``; failures raise ``SlackApiFailed`` (a retryable or not
        ``DeliveryError``) from ``WebApi``. The message's ``ts``."""
        message.setdefault("channel", self.api.app().channel)
        answer = self.api.call(
            "chat.postMessage", {**message, "unfurl_links": False, "unfurl_media": False}
        )
        return str(answer.get("ts", ""))

    def reply(self, incident: Mapping[str, Any], text: str, mention: str | None) -> str:
        thread = incident.get("slack_ts")
        message: dict[str, Any] = {"text": _with_mention(text, mention)}
        if thread:
            message["thread_ts"] = str(thread)
            message["reply_broadcast"] = bool(mention)
            if incident.get("slack_channel"):
                message["channel"] = str(incident["slack_channel"])
        return self._post(message)

    def post(self, text: str, blocks: Sequence[Mapping[str, Any]]) -> str:
        return self._post({"text": text, "blocks": list(blocks)})


class WebhookNotices:
    """New messages through the relay's incoming webhook (``SLACK_WEBHOOK_SECRET_ID``)."""

    kind = "webhook"

    def __init__(self, secret_id: str) -> None:
        self.secret_id = secret_id
        self._webhook: Any = None

    def _post(self, payload: dict[str, Any]) -> str:
        from alert_service.channels.slack import SlackWebhook, WebhookInvalid

        if self._webhook is None:
            self._webhook = SlackWebhook()
        try:
            self._webhook.post(secrets.webhook_url(self.secret_id), payload)
        except WebhookInvalid:  # rotated since cached? read the secret again, once
            self._webhook.post(secrets.webhook_url(self.secret_id, refresh=True), payload)
        return ""

    def reply(self, incident: Mapping[str, Any], text: str, mention: str | None) -> str:
        return self._post({"text": _with_mention(text, mention)})

    def post(self, text: str, blocks: Sequence[Mapping[str, Any]]) -> str:
        return self._post({"text": text, "blocks": list(blocks)})


def from_env() -> SlackNotices | None:
    """The app when its secret is set, else the webhook, else None (Slack is not configured)."""
    app = env("SLACK_APP_SECRET_ID")
    if app:
        return SlackAppNotices(app)
    webhook = env("SLACK_WEBHOOK_SECRET_ID")
    return WebhookNotices(webhook) if webhook else None
