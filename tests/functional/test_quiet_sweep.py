"""QuietSweepFunction against moto (DynamoDB, SES, SNS SMS, Secrets Manager) and a loopback Slack:
the notices no notification triggers reach every channel once, and a failed run resends only
what is missing."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from alert_service import secrets
from alert_service.silences import store
from alert_service.silences.flapping import FlapTracker
from alert_service.silences.model import new_silence
from alert_service.silences.settings import FlapSettings
from alert_service.silences.store import SilenceStore
from conftest import FakeLambdaContext, load_function
from slack_relay_support import SECRET_ID, WEBHOOK_PATH
from test_alarm_history import TABLE, create_history_table
from test_notify_fanout import sent_mail, sent_sms
from test_silences_flapping import change, seed_open_incidents

CONTEXT = FakeLambdaContext("QuietSweepFunction")


@pytest.fixture
def sweep(
    aws: str, idempotency_table: str, httpserver_ipv4: Any, monkeypatch: pytest.MonkeyPatch
) -> Any:
    from alert_service import config
    from alert_service.silences import settings

    create_history_table()
    boto3.client("sesv2").create_email_identity(EmailIdentity="ott.example.com")
    url = httpserver_ipv4.url_for(WEBHOOK_PATH)
    boto3.client("secretsmanager").create_secret(
        Name=SECRET_ID, SecretString=json.dumps({"webhook_url": url})
    )
    env = {
        "HISTORY_TABLE_NAME": TABLE,
        "SLACK_WEBHOOK_SECRET_ID": SECRET_ID,
        "SLACK_ALLOW_INSECURE_WEBHOOK": "true",
        "EMAIL_SENDER": "alerts@ott.example.com",
        "EMAIL_RECIPIENTS": "oncall@example.com",
        "SMS_RECIPIENTS": "+821012345678",
        "ALERT_LOCALE": "en",
        "FLAP_THRESHOLD": "6",
        "FLAP_WINDOW_MINUTES": "30",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    for name in ("EMAIL_STATES", "SMS_STATES"):
        monkeypatch.delenv(name, raising=False)
    config.fanout_settings.cache_clear()
    config.display_settings.cache_clear()
    settings.flap_settings.cache_clear()
    secrets.reset()
    store.reset()
    module = load_function("quiet_sweep")
    yield module
    module.webhook.close()
    settings.flap_settings.cache_clear()


def slack_posts(server: Any) -> list[dict[str, Any]]:
    return [json.loads(request.get_data()) for request, _ in server.log]


def seed(table: str) -> str:
    """A flapping episode long over (8 changes in 2024: 6th announced, 2 held, settled OK) and a
    silence that ended while the CPU alarm it covered is still in ALARM."""
    tracker = FlapTracker(table, FlapSettings())
    for n in range(8):
        tracker.observe(change(n, n))
    seed_open_incidents(table)
    now = datetime.now(UTC)
    silences = SilenceStore(table)
    silence = silences.add(
        new_silence(
            match="OTT-DB-CPU*",
            created_by="kim",
            comment="failover",
            now=now,
            duration=timedelta(hours=1),
        )
    )
    silences.expire(silence.id, by="kim", now=now)
    return silence.id


def test_each_notice_reaches_every_channel_once(sweep: Any, httpserver_ipv4: Any) -> None:
    httpserver_ipv4.expect_request(WEBHOOK_PATH, method="POST").respond_with_data("ok")
    silence_id = seed(TABLE)

    assert sweep.handler({}, CONTEXT) == {"sent": 5}
    posts = slack_posts(httpserver_ipv4)
    titles = sorted(p["attachments"][0]["title"] for p in posts)
    assert titles == [
        "OTT-DB-Flappy is stable again",
        "Silence ended, still ALARM: OTT-DB-CPU*",
    ]
    summary = next(p for p in posts if "stable" in p["attachments"][0]["title"])
    assert "settled in OK; 2 changes were held" in summary["attachments"][0]["text"]
    ended = next(p for p in posts if "Silence" in p["attachments"][0]["title"])
    assert "OTT-DB-CPU-Utilization-High" in ended["attachments"][0]["text"]
    assert silence_id in ended["attachments"][0]["text"]
    # Email: both (ALARM and OK are in EMAIL_STATES); SMS: only the ALARM one (SMS_STATES=ALARM).
    assert sorted(m.subject for m in sent_mail()) == [
        "OTT-DB-Flappy is stable again",
        "Silence ended, still ALARM: OTT-DB-CPU*",
    ]
    assert [text for _, text in sent_sms()] == ["[ALARM] OTT-DB-CPU-Utilization-High silence ended"]

    # Done: the next minute finds nothing.
    assert sweep.handler({}, CONTEXT) == {"sent": 0}
    assert len(slack_posts(httpserver_ipv4)) == 2


def test_a_failed_channel_fails_the_run_and_the_retry_sends_only_what_is_missing(
    sweep: Any, httpserver_ipv4: Any
) -> None:
    seed(TABLE)
    httpserver_ipv4.expect_request(WEBHOOK_PATH, method="POST").respond_with_data(
        "invalid_payload", status=400
    )
    with pytest.raises(Exception, match="slack"):
        sweep.handler({}, CONTEXT)
    assert len(sent_mail()) == 2  # email and SMS went out regardless
    assert len(sent_sms()) == 1
    httpserver_ipv4.clear()
    httpserver_ipv4.expect_request(WEBHOOK_PATH, method="POST").respond_with_data("ok")
    assert sweep.handler({}, CONTEXT) == {"sent": 2}  # the two Slack posts only
    assert len(sent_mail()) == 2
    assert len(sent_sms()) == 1
    assert sweep.handler({}, CONTEXT) == {"sent": 0}
