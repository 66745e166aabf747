"""Slack incoming webhook: POST a rendered payload, retrying what a retry can fix, in bounded time.

One urllib3 ``PoolManager`` per process, made on first use and kept across warm invocations, so
the TLS connection to hooks.slack.com is reused. It carries a urllib3 ``Retry``:

- retried: connect errors (the request never left), 429 and 500/502/503/504;
- not retried: read errors and timeouts (Slack may already have posted the message), other 4xx;
- ``Retry-After`` is honoured up to ``MAX_RETRY_AFTER_SECONDS``; a longer one is not waited for:
  the delivery fails as retryable and Lambda's own retry (a minute later) respects it instead;
- no retry starts later than ``RETRY_WINDOW_SECONDS`` after the first attempt began, so one POST
  takes at most that window plus one attempt's timeouts (~14 s), well under the 30 s function
  timeout.

Retrying a POST can duplicate a message only when Slack accepted it and still answered 5xx (rare);
a duplicated alarm in a channel is a small cost next to a lost one. 429 means Slack did not take
the message, and a connect error means it never arrived.

Slack's answers (api.slack.com/messaging/webhooks#handling_errors), as handled in ``_check``:
an incoming webhook answers HTTP 200 with the plain text ``ok`` (not JSON, unlike the Web API's
``{"ok": false, "error": ...}`` with HTTP 200); errors are plain-text codes with a 4xx status:
400 ``invalid_payload`` / ``no_text``, 403 ``invalid_token`` / ``action_prohibited``,
404 ``channel_not_found`` / ``no_service`` (webhook revoked), 410 ``channel_is_archived``,
429 rate limited (about one message per second per webhook, with ``Retry-After``), 5xx.

urllib3, not ``requests``: botocore has already imported urllib3 by the time a message is posted
(the secret is read first), while ``requests`` would add ~15 ms to every cold start (its own
modules, charset_normalizer, idna, http.cookiejar; bench.importtime) for nothing the POST needs.
urllib3 is still imported on first use, so a path that never posts does not pay for it.

    >>> webhook = SlackWebhook()
    >>> result = webhook.post(url, {"text": "hello"})  # doctest: +SKIP
    >>> result.status, result.attempts
    (200, 1)
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from alert_service.channels import DeliveryError
from alert_service.redact import redact_url

# (connect, read) seconds. 3.05: just over a multiple of 3 s, TCP's initial SYN retransmission
# interval (requests' docs). 5: Slack answers a webhook in well under a second when healthy.
TIMEOUTS = (3.05, 5.0)
MAX_RETRIES = 3
# Backoff between 5xx retries: 0 s, 0.5 s, 1 s (urllib3 sleeps factor * 2 ** (n - 1) from the 2nd).
BACKOFF_FACTOR = 0.25
MAX_RETRY_AFTER_SECONDS = 5.0
RETRY_WINDOW_SECONDS = 6.0
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
# Slack's error bodies are short codes; anything longer is not worth carrying into a log.
MAX_ERROR_BODY_CHARS = 200
# 403/404/410: the webhook was revoked, its channel removed or archived. A rotated secret may hold
# a working URL, so the caller reads the secret again once (WebhookInvalid).
INVALID_WEBHOOK_STATUSES = frozenset({403, 404, 410})


class WebhookInvalid(DeliveryError):
    """Slack says this webhook no longer works (403/404/410): re-read the secret, then give up."""

    def __init__(self, message: str) -> None:
        super().__init__(message, retryable=False)


@dataclass(frozen=True)
class Posted:
    status: int
    attempts: int


class SlackWebhook:
    """Posts JSON payloads to incoming webhooks over one reused connection (not thread-safe)."""

    def __init__(self) -> None:
        self._pool: Any = None
        self._retry: Any = None

    def post(self, url: str, payload: dict[str, Any]) -> Posted:
        """POST ``payload``; raise ``DeliveryError`` (``WebhookInvalid``) unless Slack took it."""
        self._ensure_pool()
        from urllib3.exceptions import HTTPError, ReadTimeoutError  # loaded by _ensure_pool

        body = json.dumps(payload, allow_nan=False).encode("utf-8")
        try:
            response = self._pool.request(
                "POST",
                url,
                body=body,
                headers={"Content-Type": "application/json"},
                # A fresh retry budget for this request: urllib3 carries the Retry object through
                # the attempts of one request, so the deadline travels with it.
                retries=self._retry.with_deadline(time.monotonic() + RETRY_WINDOW_SECONDS),
                redirect=False,
            )
        except ReadTimeoutError:
            # Not retried here: after a read timeout Slack may have posted the message.
            raise _error("Slack did not answer in time (ReadTimeout)", True) from None
        except HTTPError as error:
            # The exception's text holds the URL's path ("Max retries exceeded with url: /services/
            # ..."), which redact_url cannot spot: keep only the kind of failure, drop the original.
            raise _error(f"Slack webhook unreachable ({_reason(error)})", True) from None
        return _check(response)

    def post_named(self, secret_id: str, name: str, payload: dict[str, Any]) -> Posted:
        """POST to webhook ``name`` of the webhook secret (``secrets.webhook_url``; an unknown
        name raises, not retryable). A webhook Slack calls gone may have been rotated since it was
        cached: the secret is read once more and the post tried again only if the URL changed."""
        from alert_service import secrets

        url = secrets.webhook_url(secret_id, name)
        try:
            return self.post(url, payload)
        except WebhookInvalid:
            fresh = secrets.webhook_url(secret_id, name, refresh=True)
            if fresh == url:
                raise
            return self.post(fresh, payload)

    def _ensure_pool(self) -> None:
        if self._pool is not None:
            return
        import certifi  # the CA bundle requests used; Lambda's system store is not relied on
        import urllib3  # deliberately lazy, see module docstring

        self._retry = _budgeted_retry_class()(
            total=MAX_RETRIES,
            connect=MAX_RETRIES,
            read=False,
            other=0,
            redirect=0,
            status=MAX_RETRIES,
            status_forcelist=RETRY_STATUSES,
            allowed_methods=frozenset({"POST"}),
            backoff_factor=BACKOFF_FACTOR,
            respect_retry_after_header=True,
            # Hand the last 429/5xx back instead of raising, so _check can read Slack's answer.
            raise_on_status=False,
        )
        # One pool of one connection: one request at a time per Lambda process. urllib3 reads no
        # proxy settings or ~/.netrc, which Lambda has none of anyway.
        self._pool = urllib3.PoolManager(
            num_pools=1,
            maxsize=1,
            timeout=urllib3.Timeout(connect=TIMEOUTS[0], read=TIMEOUTS[1]),
            cert_reqs="CERT_REQUIRED",
            ca_certs=certifi.where(),
        )

    def close(self) -> None:
        if self._pool is not None:
            self._pool.clear()
        self._pool = self._retry = None


def _check(response: Any) -> Posted:
    status = response.status
    body = response.data.decode("utf-8", "replace").strip()
    attempts = len(getattr(response.retries, "history", ()) or ()) + 1
    if status == 200:
        if body == "ok":
            return Posted(status, attempts)
        # Workflow Builder webhooks and the Web API answer JSON {"ok": true|false, "error": ...}.
        if body.startswith("{") and '"ok":true' in body.replace(" ", ""):
            return Posted(status, attempts)
        raise _error(f"Slack answered 200 without ok: {_short(body)}", False)
    if status in INVALID_WEBHOOK_STATUSES:
        raise WebhookInvalid(redact_url(f"Slack rejected the webhook: {status} {_short(body)}"))
    if status == 429:
        raise _error(f"Slack rate limit (429) after {attempts} attempts", True)
    if status >= 500:
        raise _error(f"Slack server error {status} after {attempts} attempts: {_short(body)}", True)
    # 400 invalid_payload and friends: the same payload fails the same way again.
    raise _error(f"Slack refused the message: {status} {_short(body)}", False)


def _error(message: str, retryable: bool) -> DeliveryError:
    """The one place channel errors are made: nothing leaves unredacted."""
    return DeliveryError(redact_url(message), retryable=retryable)


def _reason(error: Exception) -> str:
    """``MaxRetryError(reason=NewConnectionError)`` -> ``NewConnectionError``."""
    return type(getattr(error, "reason", None) or error).__name__


def _short(body: str) -> str:
    return body[:MAX_ERROR_BODY_CHARS] or "(empty body)"


_RETRY_CLASS: Any = None


def _budgeted_retry_class() -> Any:
    """urllib3 ``Retry`` plus our two limits, defined on first use (urllib3 is imported lazily)."""
    global _RETRY_CLASS
    if _RETRY_CLASS is not None:
        return _RETRY_CLASS
    from urllib3.exceptions import InvalidHeader, MaxRetryError, ResponseError
    from urllib3.util.retry import Retry

    class BudgetedRetry(Retry):
        deadline: float | None = None

        def with_deadline(self, deadline: float) -> BudgetedRetry:
            retry = self.new()
            retry.deadline = deadline
            return retry

        def new(self, **kw: Any) -> BudgetedRetry:
            retry = super().new(**kw)
            retry.deadline = self.deadline
            return retry

        def get_retry_after(self, response: Any) -> float | None:
            try:
                return super().get_retry_after(response)
            except InvalidHeader:  # a malformed Retry-After: fall back to our backoff
                return None

        def increment(  # type: ignore[override]
            self,
            method: str | None = None,
            url: str | None = None,
            response: Any = None,
            error: Exception | None = None,
            _pool: Any = None,
            _stacktrace: Any = None,
        ) -> BudgetedRetry:
            retry = super().increment(method, url, response, error, _pool, _stacktrace)
            retry_after = retry.get_retry_after(response) if response is not None else None
            if retry_after is not None and retry_after > MAX_RETRY_AFTER_SECONDS:
                # Too long to wait inside one invocation: give the answer back (see docstring).
                raise MaxRetryError(_pool, url, error or ResponseError("Retry-After too long"))
            wait = retry_after if retry_after is not None else retry.get_backoff_time()
            if retry.deadline is not None and time.monotonic() + wait > retry.deadline:
                raise MaxRetryError(_pool, url, error or ResponseError("retry budget spent"))
            return retry

    _RETRY_CLASS = BudgetedRetry
    return _RETRY_CLASS
