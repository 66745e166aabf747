"""SLACK_API_URL checks and Slack's error codes mapped to clear, token-free failures."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from alert_service.channels import DeliveryError
from alert_service.slack_app import web_api


def test_default_is_slacks_api(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SLACK_API_URL", raising=False)
    assert web_api.api_url() == "https://slack.com/api/"


def test_a_missing_slash_is_added(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_API_URL", "https://slack-gov.com/api")
    assert web_api.api_url() == "https://slack-gov.com/api/"


@pytest.mark.parametrize("url", ["http://slack.com/api/", "ftp://x/", "not a url"])
def test_only_https_is_allowed(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.setenv("SLACK_API_URL", url)
    with pytest.raises(DeliveryError, match="https"):
        web_api.api_url()


def test_loopback_only_when_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_API_URL", "http://127.0.0.1:9/api/")
    monkeypatch.delenv("SLACK_ALLOW_INSECURE_WEBHOOK", raising=False)
    with pytest.raises(DeliveryError, match="SLACK_ALLOW_INSECURE_WEBHOOK"):
        web_api.api_url()
    monkeypatch.setenv("SLACK_ALLOW_INSECURE_WEBHOOK", "true")
    assert web_api.api_url() == "http://127.0.0.1:9/api/"


@pytest.mark.parametrize(
    ("code", "status", "retryable", "words"),
    [
        ("invalid_auth", 200, False, "bot token"),
        ("token_revoked", 200, False, "bot token"),
        ("account_inactive", 200, False, "bot token"),
        ("channel_not_found", 200, False, "channel"),
        ("not_in_channel", 200, False, "invite the bot"),
        ("ratelimited", 429, True, "rate limit"),
        ("internal_error", 500, True, "internal_error"),
        ("invalid_blocks", 200, False, "invalid_blocks"),
    ],
)
def test_failures_name_the_secret_and_say_if_a_retry_helps(
    code: str, status: int, retryable: bool, words: str
) -> None:
    api = web_api.WebApi("ott/slack/app")
    failure = api._failure("chat.postMessage", code, status)
    assert failure.retryable is retryable
    assert words in str(failure)
    if code in web_api.AUTH_ERRORS | web_api.CHANNEL_ERRORS:
        assert "'ott/slack/app'" in str(failure)


def test_retry_after_is_read_from_the_answer() -> None:
    assert web_api._retry_after(SimpleNamespace(headers={"Retry-After": ["3"]})) == 3.0
    assert web_api._retry_after(SimpleNamespace(headers={"retry-after": "2"})) == 2.0
    assert web_api._retry_after(SimpleNamespace(headers={})) == 1.0
