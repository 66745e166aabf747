"""Several named webhooks in the Slack webhook secret, against moto's Secrets Manager."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from alert_service import clients, secrets

SECRET_ID = "ott/slack/webhook"
DBA_TOKEN, PLATFORM_TOKEN, DEFAULT_TOKEN, NEW_TOKEN = (
    "dbaT0k3nFAKEaaaa",
    "platT0k3nFAKEbbbb",
    "defT0k3nFAKEcccc",
    "newT0k3nFAKEdddd",
)
TOKENS = (DBA_TOKEN, PLATFORM_TOKEN, DEFAULT_TOKEN, NEW_TOKEN)


def hook(token: str) -> str:
    return f"https://hooks.slack.com/services/T000/B000/{token}"


@pytest.fixture
def secret(aws: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """put(value) writes the secret; ``reads`` counts real GetSecretValue calls."""
    monkeypatch.delenv("SLACK_ALLOW_INSECURE_WEBHOOK", raising=False)
    secrets.reset()
    manager = boto3.client("secretsmanager")
    reads: list[str] = []
    clients.client("secretsmanager").meta.events.register(
        "before-call.secrets-manager.GetSecretValue", lambda **_: reads.append("read")
    )

    class Secret:
        def __init__(self) -> None:
            self.reads = reads

        def put(self, value: dict[str, Any]) -> None:
            try:
                manager.put_secret_value(SecretId=SECRET_ID, SecretString=json.dumps(value))
            except manager.exceptions.ResourceNotFoundException:
                manager.create_secret(Name=SECRET_ID, SecretString=json.dumps(value))

    yield Secret()
    secrets.reset()


def error_of(call: Any) -> str:
    with pytest.raises(secrets.SlackSecretError) as raised:
        call()
    text = str(raised.value)
    for token in TOKENS:
        assert token not in text  # a webhook URL's path is its credential
    return text


def test_named_webhooks_and_the_single_form_as_default(secret: Any) -> None:
    secret.put(
        {
            "webhook_url": hook(DEFAULT_TOKEN),
            "webhooks": {"dba": hook(DBA_TOKEN), "platform": f" {hook(PLATFORM_TOKEN)} "},
        }
    )

    assert secrets.webhook_url(SECRET_ID, "dba") == hook(DBA_TOKEN)
    assert secrets.webhook_url(SECRET_ID) == hook(DEFAULT_TOKEN)  # the relay's call today
    assert secrets.webhook_urls(SECRET_ID) == {
        "dba": hook(DBA_TOKEN),
        "platform": hook(PLATFORM_TOKEN),
        "default": hook(DEFAULT_TOKEN),
    }
    assert len(secret.reads) == 1  # one read serves every webhook and every call


def test_the_contract_form_alone_is_the_default_webhook(secret: Any) -> None:
    secret.put({"webhook_url": hook(DEFAULT_TOKEN)})

    assert secrets.webhook_urls(SECRET_ID) == {"default": hook(DEFAULT_TOKEN)}
    assert "has no webhook named 'dba' (it has 'default')" in error_of(
        lambda: secrets.webhook_url(SECRET_ID, "dba")
    )


def test_unknown_name_reads_the_secret_once_more_then_names_secret_and_webhook(
    secret: Any,
) -> None:
    secret.put({"webhooks": {"dba": hook(DBA_TOKEN)}})
    assert secrets.webhook_url(SECRET_ID, "dba") == hook(DBA_TOKEN)

    text = error_of(lambda: secrets.webhook_url(SECRET_ID, "platform"))

    assert text == (
        f"Slack webhook secret '{SECRET_ID}' has no webhook named 'platform' (it has 'dba')"
    )
    assert len(secret.reads) == 2  # the cached value, then one fresh read
    # Added since it was cached: found without waiting for the cache to expire.
    secret.put({"webhooks": {"dba": hook(DBA_TOKEN), "platform": hook(PLATFORM_TOKEN)}})
    assert secrets.webhook_url(SECRET_ID, "platform") == hook(PLATFORM_TOKEN)


def test_rotation_is_picked_up_per_webhook_on_refresh(secret: Any) -> None:
    secret.put({"webhooks": {"dba": hook(DBA_TOKEN)}})
    assert secrets.webhook_url(SECRET_ID, "dba") == hook(DBA_TOKEN)
    secret.put({"webhooks": {"dba": hook(NEW_TOKEN)}})

    assert secrets.webhook_url(SECRET_ID, "dba") == hook(DBA_TOKEN)  # cached
    assert secrets.webhook_url(SECRET_ID, "dba", refresh=True) == hook(NEW_TOKEN)
    assert secrets.webhook_url(SECRET_ID, "dba") == hook(NEW_TOKEN)


def test_a_bad_webhook_fails_alone_and_its_error_names_it_not_its_url(secret: Any) -> None:
    secret.put(
        {"webhooks": {"dba": hook(DBA_TOKEN), "platform": f"http://example.com/{PLATFORM_TOKEN}"}}
    )

    assert secrets.webhook_url(SECRET_ID, "dba") == hook(DBA_TOKEN)
    assert error_of(lambda: secrets.webhook_url(SECRET_ID, "platform")) == (
        f"Slack webhook secret '{SECRET_ID}': webhook 'platform' must be an https:// URL"
    )
    assert "webhook 'platform'" in error_of(lambda: secrets.webhook_urls(SECRET_ID))


def test_loopback_rule_holds_for_each_webhook(secret: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    local = f"http://127.0.0.1:8080/services/{DBA_TOKEN}"
    secret.put({"webhooks": {"dba": local}})

    assert "SLACK_ALLOW_INSECURE_WEBHOOK=true" in error_of(
        lambda: secrets.webhook_url(SECRET_ID, "dba")
    )
    monkeypatch.setenv("SLACK_ALLOW_INSECURE_WEBHOOK", "true")
    assert secrets.webhook_url(SECRET_ID, "dba") == local


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"webhooks": ["x"]}, "'webhooks' must map names to URLs"),
        (
            {"webhook_url": hook(DEFAULT_TOKEN), "webhooks": {"default": hook(DBA_TOKEN)}},
            "names webhook 'default' twice",
        ),
        ({"url": hook(DEFAULT_TOKEN)}, "has no 'webhook_url' key nor a 'webhooks' mapping"),
        ({"webhooks": {"dba": ""}}, "webhook 'dba' has no URL"),
    ],
)
def test_malformed_secret_names_the_secret(
    secret: Any, value: dict[str, Any], message: str
) -> None:
    secret.put(value)

    text = error_of(lambda: secrets.webhook_url(SECRET_ID, "dba"))

    assert f"'{SECRET_ID}'" in text
    assert message in text
