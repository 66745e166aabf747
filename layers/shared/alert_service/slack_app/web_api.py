"""Slack Web API calls of the incident view (``chat.postMessage``, ``chat.update``) via slack_sdk.

One ``WebClient`` per process, made on first use (``import slack_sdk`` costs ~65 ms, TIPS.md), its
base URL from ``SLACK_API_URL`` (``https://slack.com/api/``). A loopback URL is refused unless
``SLACK_ALLOW_INSECURE_WEBHOOK=true`` (local runs), so a deployed function cannot be pointed at
anything that is not https.

Slack's answers (api.slack.com/web#responses): HTTP 200 with ``{"ok": true, ...}`` or
``{"ok": false, "error": "<code>"}``; rate limits are HTTP 429 ``ratelimited`` with ``Retry-After``
(``chat.update`` is tier 3, ~50 a minute; ``chat.postMessage`` about one a second per channel).
Handled here:

- 429 / ``ratelimited``: waited for and retried, each wait capped at ``MAX_RETRY_AFTER_SECONDS``
  and all of them within ``RETRY_BUDGET_SECONDS`` (Lambda bills the sleep); then the call fails
  as retryable and the stream retries the record.
- ``invalid_auth``, ``token_revoked``, ``account_inactive``, ``not_authed``: the token in the
  secret does not work. The secret is read once more (it may have been rotated since it was
  cached), then the call fails naming the secret id, never the token.
- ``channel_not_found``, ``not_in_channel``, ``is_archived``: the secret's channel is wrong or the
  bot is not in it: fails naming the secret id.
- anything else ``ok: false`` fails with Slack's error code (a retry sends the same request).
- no answer (connection refused, timeout): retryable.

    >>> api = WebApi("ott/slack/app")
    >>> api.call("chat.postMessage", {"channel": api.app().channel, "text": "hi"})  # doctest: +SKIP
    {'ok': True, 'channel': 'C0123456789', 'ts': '1700000000.000100', ...}
"""

from __future__ import annotations

import logging
import time
from typing import Any
from urllib.parse import urlsplit

from alert_service import secrets
from alert_service.channels import DeliveryError
from alert_service.config import env

DEFAULT_API_URL = "https://slack.com/api/"
API_URL_ENV = "SLACK_API_URL"
# Seconds: Slack answers chat.* in well under a second when healthy; a stuck call must leave room
# for the rest of the batch inside the function's timeout.
TIMEOUT_SECONDS = 10
MAX_RETRY_AFTER_SECONDS = 5.0
RETRY_BUDGET_SECONDS = 10.0
MAX_RATE_LIMIT_RETRIES = 3
AUTH_ERRORS = frozenset({"invalid_auth", "token_revoked", "account_inactive", "not_authed"})
CHANNEL_ERRORS = frozenset({"channel_not_found", "not_in_channel", "is_archived"})
_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


class SlackApiFailed(DeliveryError):
    """A Web API call failed; ``code`` is Slack's error code (or the kind of network failure)."""

    def __init__(self, message: str, *, code: str, retryable: bool) -> None:
        super().__init__(message, retryable=retryable)
        self.code = code


def api_url() -> str:
    """``SLACK_API_URL`` checked: https, or a loopback http(s) URL only when allowed."""
    url = env(API_URL_ENV, DEFAULT_API_URL) or DEFAULT_API_URL
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
    except ValueError:
        raise DeliveryError(f"{API_URL_ENV} is not a URL", retryable=False) from None
    if host in _LOOPBACK_HOSTS:
        if env(secrets.ALLOW_INSECURE_ENV).lower() != "true":
            raise DeliveryError(
                f"{API_URL_ENV} points at a loopback address; allowed only with "
                f"{secrets.ALLOW_INSECURE_ENV}=true",
                retryable=False,
            )
    elif parts.scheme != "https" or not host:
        raise DeliveryError(f"{API_URL_ENV} must be an https:// URL", retryable=False)
    return url if url.endswith("/") else url + "/"


def _capped_rate_limit_handler() -> Any:
    """slack_sdk's RateLimitErrorRetryHandler, with each wait capped and a total budget."""
    from slack_sdk.http_retry import RateLimitErrorRetryHandler

    class CappedRateLimitHandler(RateLimitErrorRetryHandler):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__(max_retry_count=MAX_RATE_LIMIT_RETRIES)
            self.slept = 0.0

        def _can_retry(self, **kwargs: Any) -> bool:
            return bool(super()._can_retry(**kwargs)) and self.slept < RETRY_BUDGET_SECONDS

        def prepare_for_next_attempt(self, *, state: Any, response: Any = None, **_: Any) -> None:
            wait = min(_retry_after(response), MAX_RETRY_AFTER_SECONDS)
            wait = min(wait, max(0.0, RETRY_BUDGET_SECONDS - self.slept))
            self.slept += wait
            state.next_attempt_requested = True
            time.sleep(wait)
            state.increment_current_attempt()

    return CappedRateLimitHandler()


def _retry_after(response: Any) -> float:
    headers = getattr(response, "headers", None) or {}
    for name, values in headers.items():
        if name.lower() == "retry-after":
            value = values[0] if isinstance(values, list | tuple) else values
            try:
                return max(0.0, float(value))
            except (TypeError, ValueError):
                break
    return 1.0


class WebApi:
    """The bot's Web API client for one secret (SLACK_APP_SECRET_ID); not thread-safe."""

    def __init__(self, secret_id: str) -> None:
        self.secret_id = secret_id
        self._client: Any = None
        self._handler: Any = None

    def app(self, *, refresh: bool = False) -> secrets.SlackApp:
        return secrets.slack_app(self.secret_id, refresh=refresh)

    def _web_client(self, token: str) -> Any:
        if self._client is None:
            from slack_sdk.web import WebClient  # deliberately lazy, see module docstring

            # slack_sdk logs requests at DEBUG (the Authorization header redacted); keep it quiet.
            logging.getLogger("slack_sdk").setLevel(logging.INFO)
            self._handler = _capped_rate_limit_handler()
            self._client = WebClient(base_url=api_url(), timeout=TIMEOUT_SECONDS)
            self._client.retry_handlers.append(self._handler)
        self._client.token = token
        return self._client

    def call(self, method: str, payload: dict[str, Any]) -> dict[str, Any]:
        """POST ``payload`` as JSON to ``<SLACK_API_URL><method>``; Slack's answer when ok."""
        token = self.app().bot_token
        try:
            return self._call(token, method, payload)
        except SlackApiFailed as error:
            if error.code not in AUTH_ERRORS:
                raise
            fresh = self.app(refresh=True).bot_token
            if fresh == token:
                raise
            return self._call(fresh, method, payload)

    def _call(self, token: str, method: str, payload: dict[str, Any]) -> dict[str, Any]:
        from slack_sdk.errors import SlackApiError, SlackClientError

        client = self._web_client(token)
        self._handler.slept = 0.0
        started = time.monotonic()
        while True:
            try:
                return dict(client.api_call(method, json=payload).data)
            except SlackApiError as error:
                code = _error_code(error.response)
                status = getattr(error.response, "status_code", 0)
                spent = time.monotonic() - started
                if code == "ratelimited" and status != 429 and spent < RETRY_BUDGET_SECONDS:
                    # ok:false ratelimited with HTTP 200 (no handler saw it): wait as for a 429.
                    time.sleep(min(_retry_after(error.response), MAX_RETRY_AFTER_SECONDS))
                    continue
                raise self._failure(method, code, status) from None
            except SlackClientError as error:
                raise SlackApiFailed(
                    f"Slack Web API {method} failed ({type(error).__name__})",
                    code=type(error).__name__,
                    retryable=True,
                ) from None
            except OSError as error:  # URLError, timeouts, connection refused
                raise SlackApiFailed(
                    f"Slack Web API unreachable for {method} ({type(error).__name__})",
                    code=type(error).__name__,
                    retryable=True,
                ) from None

    def _failure(self, method: str, code: str, status: int) -> SlackApiFailed:
        where = f"Slack app secret {self.secret_id!r}"
        if code in AUTH_ERRORS:
            message = f"{where}: Slack refused the bot token ({code}) on {method}"
        elif code in CHANNEL_ERRORS:
            message = (
                f"{where}: Slack refused the channel ({code}) on {method}; invite the bot to the "
                "channel or fix the secret's channel id"
            )
        elif code == "ratelimited" or status == 429:
            return SlackApiFailed(
                f"Slack rate limit on {method} after retrying for {RETRY_BUDGET_SECONDS:.0f} s",
                code="ratelimited",
                retryable=True,
            )
        else:
            message = f"Slack refused {method}: {code} (HTTP {status})"
        return SlackApiFailed(message, code=code, retryable=status >= 500)


def _error_code(response: Any) -> str:
    data = getattr(response, "data", None)
    if isinstance(data, dict) and data.get("error"):
        return str(data["error"])[:100]
    return "unknown_error"
