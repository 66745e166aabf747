"""Messages about incidents rather than about one notification: escalations, reminders, the digest.

Two ways out to Slack, behind one small interface (``SlackNotices``):

- ``SlackAppNotices`` (the Slack incident view is configured, ``SLACK_APP_SECRET_ID``): a reply in
  the incident's thread, ``chat.postMessage`` with ``thread_ts`` = the incident's ``slack_ts``
  (kept on the incident item by the incident view). An escalation mentions ``@here``/``@channel``
  and is also broadcast to the channel (``reply_broadcast``): a mention deep in a thread is seen
  only by the thread's followers. Without a root yet (the incident view is behind), a top-level
  message in the app's channel. Written against slack_sdk's ``WebClient`` with ``base_url`` =
  ``SLACK_API_URL``; the incident view's own Web API module replaces ``_web_client`` when merged.
- ``WebhookNotices`` (webhook-only setup, ``SLACK_WEBHOOK_SECRET_ID``): a new message through the
  relay's incoming webhook, since a webhook cannot reply in a thread.

Slack's Web API answers HTTP 200 with ``{"ok": false, "error": ...}`` for most errors; slack_sdk
raises ``SlackApiError`` for them. ``ratelimited`` (429) and 5xx may pass (Lambda retries the
invocation); ``invalid_auth``, ``token_revoked``, ``channel_not_found``, ``not_in_channel`` need a
person. Errors name the secret, never the token.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol
from urllib.parse import urlsplit

from alert_service import secrets
from alert_service.channels import DeliveryError
from alert_service.config import env

DEFAULT_API_URL = "https://slack.com/api/"
# Seconds: the Web API answers in well under a second when healthy; the functions have 30 s.
API_TIMEOUT = 5
_PERMANENT_ERRORS = frozenset(
    {"invalid_auth", "token_revoked", "account_inactive", "channel_not_found", "not_in_channel",
     "is_archived", "missing_scope", "invalid_blocks", "msg_too_long"}
)  # fmt: skip


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
    """Thread replies through the Web API (bot token from ``SLACK_APP_SECRET_ID``)."""

    kind = "app"

    def __init__(self, secret_id: str, api_url: str | None = None) -> None:
        self.secret_id = secret_id
        self.api_url = api_url or env("SLACK_API_URL", DEFAULT_API_URL) or DEFAULT_API_URL
        self._client: Any = None

    def _web_client(self) -> tuple[Any, str]:
        app = secrets.slack_app(self.secret_id)
        if self._client is None:
            _check_api_url(self.api_url)
            # Imported here: slack_sdk costs ~65 ms at import (TIPS.md).
            from slack_sdk import WebClient
            from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

            self._client = WebClient(
                base_url=self.api_url,
                timeout=API_TIMEOUT,
                # One wait on Retry-After inside the call; more is Lambda's retry (billed time).
                retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=1)],
            )
        self._client.token = app.bot_token  # a rotated secret is picked up within its cache age
        return self._client, app.channel

    def _call(self, **message: Any) -> str:
        from slack_sdk.errors import SlackApiError, SlackClientError

        client, default_channel = self._web_client()
        message.setdefault("channel", default_channel)
        try:
            answer = client.chat_postMessage(unfurl_links=False, unfurl_media=False, **message)
        except SlackApiError as error:
            code = str((error.response or {}).get("error") or error.response.status_code)
            raise DeliveryError(
                f"Slack Web API refused chat.postMessage ({code}); check the app secret "
                f"{self.secret_id!r}",
                retryable=code not in _PERMANENT_ERRORS,
            ) from None
        except (SlackClientError, OSError) as error:
            raise DeliveryError(
                f"Slack Web API unreachable ({type(error).__name__})", retryable=True
            ) from None
        return str(answer.get("ts", ""))

    def reply(self, incident: Mapping[str, Any], text: str, mention: str | None) -> str:
        thread = incident.get("slack_ts")
        message: dict[str, Any] = {"text": _with_mention(text, mention)}
        if thread:
            message["thread_ts"] = str(thread)
            message["reply_broadcast"] = bool(mention)
            if incident.get("slack_channel"):
                message["channel"] = str(incident["slack_channel"])
        return self._call(**message)

    def post(self, text: str, blocks: Sequence[Mapping[str, Any]]) -> str:
        return self._call(text=text, blocks=list(blocks))


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


def _check_api_url(url: str) -> None:
    """The Web API on slack.com; a loopback URL only when explicitly allowed (local runs)."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.scheme == "https" and (host == "slack.com" or host.endswith(".slack.com")):
        return
    loopback = host in ("127.0.0.1", "localhost", "::1")
    if loopback and env(secrets.ALLOW_INSECURE_ENV).lower() == "true":
        return
    raise DeliveryError(
        f"SLACK_API_URL must be https://slack.com/api/ (host is {host or 'missing'})"
        + (f"; a loopback URL needs {secrets.ALLOW_INSECURE_ENV}=true" if loopback else ""),
        retryable=False,
    )


def from_env() -> SlackNotices | None:
    """The app when its secret is set, else the webhook, else None (Slack is not configured)."""
    app = env("SLACK_APP_SECRET_ID")
    if app:
        return SlackAppNotices(app)
    webhook = env("SLACK_WEBHOOK_SECRET_ID")
    return WebhookNotices(webhook) if webhook else None
