"""Slack credentials, read from Secrets Manager through Powertools Parameters and cached.

Two secrets: the incoming webhook of the relay, and the Slack app of the incident view.

The webhook secret's SecretString is ``{"webhook_url": "https://hooks.slack.com/services/..."}``
(CONTRACT.md), the webhook named ``default``, and/or several named webhooks
``{"webhooks": {"dba": "https://hooks.slack.com/...", "platform": "..."}}`` (routing rules name
them). The value is cached for ``MAX_AGE_SECONDS`` so a warm function makes no Secrets
Manager call per event; ``webhook_url(..., refresh=True)`` bypasses the cache, which the relay does
once when Slack says the webhook is gone (the secret may have been rotated since it was cached).

Every error names the secret id and the webhook's name, never a URL: a webhook URL's path is the
credential. The loopback rule below holds for each webhook.

Local runs (``make demo``, functional tests) point the secret at a loopback HTTP server. Such a URL
is refused unless ``SLACK_ALLOW_INSECURE_WEBHOOK=true`` is set, so a deployed function can never be
talked into posting alarms to anything but Slack; do not set it in a deployed function.

    >>> from alert_service import secrets
    >>> url = secrets.webhook_url("ott/slack/webhook")  # doctest: +SKIP
    >>> dba = secrets.webhook_url("ott/slack/webhook", "dba")  # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from alert_service import clients
from alert_service.channels import DeliveryError
from alert_service.config import env
from alert_service.routing.model import DEFAULT_WEBHOOK

# Five minutes: a rotated webhook is picked up within this time even if Slack kept accepting the
# old one, and a function invoked every few seconds makes one Secrets Manager call per 5 minutes.
MAX_AGE_SECONDS = 300
WEBHOOK_KEY = "webhook_url"
# Several named webhooks (issue 13): {"webhooks": {"dba": "https://hooks.slack.com/...", ...}}.
WEBHOOKS_KEY = "webhooks"
# Incoming webhooks live on hooks.slack.com; GovSlack's on hooks.slack-gov.com.
SLACK_WEBHOOK_HOSTS = frozenset({"hooks.slack.com", "hooks.slack-gov.com"})
ALLOW_INSECURE_ENV = "SLACK_ALLOW_INSECURE_WEBHOOK"
_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
# Secrets Manager errors a Lambda retry a minute later will not cure.
_PERMANENT_CODES = frozenset(
    {"ResourceNotFoundException", "AccessDeniedException", "InvalidRequestException"}
)


class SlackSecretError(DeliveryError):
    """A Slack secret is missing, unreadable, or does not hold what it must (never its values)."""


_provider: Any = None
_provider_client: Any = None


def _secrets_provider() -> Any:
    """A SecretsProvider on the shared, lazily made client (so AWS_ENDPOINT_URL is honoured).

    Made again when ``clients.reset()`` replaced the client, which also drops the value cache.
    """
    global _provider, _provider_client  # one provider per process, like the client
    client = clients.client("secretsmanager")
    if _provider is None or _provider_client is not client:
        # Imported here: Powertools' parameters module imports boto3 (~100 ms), needed only when
        # the secret is actually read.
        from aws_lambda_powertools.utilities.parameters import SecretsProvider

        _provider = SecretsProvider(boto3_client=client)
        _provider_client = client
    return _provider


def _read_json(secret_id: str, what: str, example: str, *, refresh: bool) -> Any:
    """The secret's SecretString as JSON (cached ``MAX_AGE_SECONDS``). Errors name only the id."""
    from aws_lambda_powertools.utilities.parameters.exceptions import (
        GetParameterError,
        TransformParameterError,
    )

    try:
        return _secrets_provider().get(
            secret_id, transform="json", max_age=MAX_AGE_SECONDS, force_fetch=refresh
        )
    except TransformParameterError:
        raise SlackSecretError(
            f"{what} {secret_id!r} is not JSON; expected {example}", retryable=False
        ) from None
    except GetParameterError as error:
        # Powertools raises without "from": the boto3 ClientError is the implicit context.
        code = clients.error_code(error.__cause__ or error.__context__)
        if code == "ResourceNotFoundException":
            message = f"{what} {secret_id!r} does not exist"
        else:
            message = f"{what} {secret_id!r} could not be read ({code or 'error'})"
        # Throttling or a network blip may pass; a missing secret or a denied read needs a person,
        # but a Lambda retry is harmless and the failure destination keeps the event either way.
        raise SlackSecretError(message, retryable=code not in _PERMANENT_CODES) from None


def webhook_url(secret_id: str, name: str = DEFAULT_WEBHOOK, *, refresh: bool = False) -> str:
    """The URL of webhook ``name`` held by ``secret_id``; ``refresh`` skips the cache (after a
    rotation). ``default`` is the single ``webhook_url`` of CONTRACT.md.

    A name the cached value lacks is looked up once more in a fresh read: the webhook may have been
    added to the secret since it was cached. Only this webhook's URL is checked, so one bad entry
    does not hold back the others.
    """
    webhooks = _webhooks(secret_id, refresh=refresh)
    if name not in webhooks and not refresh:
        webhooks = _webhooks(secret_id, refresh=True)
    if name not in webhooks:
        known = ", ".join(map(repr, sorted(webhooks))) or "none"
        raise SlackSecretError(
            f"Slack webhook secret {secret_id!r} has no webhook named {name!r} (it has {known})",
            retryable=False,
        )
    return _checked_url(secret_id, name, webhooks[name])


def webhook_urls(secret_id: str, *, refresh: bool = False) -> dict[str, str]:
    """Every webhook of ``secret_id`` by name, each checked (the first bad one raises).

    >>> webhook_urls("ott/slack/webhook")  # doctest: +SKIP
    {'default': 'https://hooks.slack.com/services/...', 'dba': 'https://hooks.slack.com/...'}
    """
    return {
        name: _checked_url(secret_id, name, url)
        for name, url in _webhooks(secret_id, refresh=refresh).items()
    }


def _webhooks(secret_id: str, *, refresh: bool) -> dict[str, object]:
    """Name -> the raw value of each webhook in the secret, unchecked (see ``_checked_url``).

    Two forms, which may be combined: ``{"webhook_url": ...}`` (the webhook named ``default``) and
    ``{"webhooks": {"<name>": "<url>", ...}}``.
    """
    value = _read_json(
        secret_id,
        "Slack webhook secret",
        f'{{"{WEBHOOK_KEY}": "https://hooks.slack.com/services/..."}} or '
        f'{{"{WEBHOOKS_KEY}": {{"<name>": "https://hooks.slack.com/services/..."}}}}',
        refresh=refresh,
    )
    if not isinstance(value, dict):
        value = {}
    named = value.get(WEBHOOKS_KEY)
    if WEBHOOKS_KEY in value and not isinstance(named, dict):
        raise SlackSecretError(
            f"Slack webhook secret {secret_id!r}: {WEBHOOKS_KEY!r} must map names to URLs",
            retryable=False,
        )
    webhooks: dict[str, object] = dict(named or {})
    if WEBHOOK_KEY in value:
        if DEFAULT_WEBHOOK in webhooks:
            raise SlackSecretError(
                f"Slack webhook secret {secret_id!r} names webhook {DEFAULT_WEBHOOK!r} twice "
                f"({WEBHOOK_KEY!r} and {WEBHOOKS_KEY}.{DEFAULT_WEBHOOK})",
                retryable=False,
            )
        webhooks[DEFAULT_WEBHOOK] = value[WEBHOOK_KEY]
    if not webhooks:
        raise SlackSecretError(
            f"Slack webhook secret {secret_id!r} has no {WEBHOOK_KEY!r} key "
            f"nor a {WEBHOOKS_KEY!r} mapping",
            retryable=False,
        )
    return webhooks


def _checked_url(secret_id: str, name: str, url: object) -> str:
    """``url`` stripped, if it is a Slack webhook URL; errors name the secret and the webhook."""
    if not isinstance(url, str) or not url.strip():
        raise SlackSecretError(
            f"Slack webhook secret {secret_id!r}: webhook {name!r} has no URL", retryable=False
        )
    url = url.strip()
    problem = _url_problem(url)
    if problem:
        raise SlackSecretError(
            f"Slack webhook secret {secret_id!r}: webhook {name!r} {problem}", retryable=False
        )
    return url


@dataclass(frozen=True)
class SlackApp:
    """The Slack app's secret (CONTRACT.md, Slack incident view). ``repr`` hides the credentials."""

    bot_token: str = field(repr=False)
    signing_secret: str = field(repr=False)
    channel: str


SLACK_APP_KEYS = ("bot_token", "signing_secret", "channel")


def slack_app(secret_id: str, *, refresh: bool = False) -> SlackApp:
    """The bot token, signing secret and channel held by ``secret_id`` (SLACK_APP_SECRET_ID)."""
    value = _read_json(
        secret_id,
        "Slack app secret",
        '{"bot_token": "xoxb-...", "signing_secret": "...", "channel": "C0123456789"}',
        refresh=refresh,
    )
    if not isinstance(value, dict):
        value = {}
    missing = [
        k for k in SLACK_APP_KEYS if not isinstance(value.get(k), str) or not value[k].strip()
    ]
    if missing:
        raise SlackSecretError(
            f"Slack app secret {secret_id!r} has no {', '.join(map(repr, missing))}",
            retryable=False,
        )
    return SlackApp(*(value[k].strip() for k in SLACK_APP_KEYS))


def _url_problem(url: str, hosts: frozenset[str] = SLACK_WEBHOOK_HOSTS) -> str | None:
    """Why ``url`` is not an https URL on ``hosts`` (by default Slack's incoming-webhook hosts;
    the buttons' replies pass hooks.slack.com alone), or None. Never quotes the URL."""
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
    except ValueError:
        return "is not a URL"
    if parts.scheme == "https" and host in hosts:
        return None
    if host in _LOOPBACK_HOSTS and parts.scheme in ("http", "https"):
        if env(ALLOW_INSECURE_ENV).lower() == "true":
            return None
        return f"points at a loopback address; allowed only with {ALLOW_INSECURE_ENV}=true"
    if parts.scheme != "https":
        return "must be an https:// URL"
    return f"must be on {' or '.join(sorted(hosts))} (host is {host or 'missing'})"


def reset() -> None:
    """Forget the provider and its cached value (tests; a new endpoint)."""
    global _provider, _provider_client
    _provider = None
    _provider_client = None
