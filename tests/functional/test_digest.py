"""The daily digest over a history written by ``incidents.record`` (moto over HTTP): the figures,
the Slack message that reached a loopback Web API, the emails SES took, once only, and the CLI.

The history (UTC; the digest's day is 2024-01-12 09:00 KST .. 2024-01-13 09:00 KST, that is
2024-01-12T00:00Z .. 2024-01-13T00:00Z):
- the day before: Storage alarm ALARM 01-11 10:00, OK 10:30;
- CPU: ALARM 07:30, acknowledged 07:35 by kim, OK 08:00 (MTTA 5 min, MTTR 30 min);
- Connections: ALARM 10:00, 10:05, 10:10, still open, nobody acknowledged;
- Memory: ALARM 20:00, acknowledged 20:20 by lee, still open;
- a plain-text notice at 12:00.
"""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from alert_service import config, incidents, schedules, secrets
from alert_service.digest import HistoryReader, collect, render
from alert_service.digest.report import Flapping, SilenceEnding
from conftest import ROOT
from test_alarm_history import TABLE, create_history_table

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
from local.history_seed import alarm, notice
from local.scheduled_jobs import load_app

SINCE = datetime(2024, 1, 12, tzinfo=UTC)
UNTIL = datetime(2024, 1, 13, tzinfo=UTC)
APP_SECRET = "ott/slack/app"
SENDER = "alerts@ott.example.com"
RECIPIENTS = ["dba-oncall@ott.example.com", "platform-lead@ott.example.com"]


def t(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2024, 1, day, hour, minute, tzinfo=UTC)


def incident_of(name: str) -> str:
    (item,) = [i for i in incidents.list_incidents("all") if i["alarm_name"] == name]
    return str(item["incident_id"])


@pytest.fixture
def history(aws: str, monkeypatch: pytest.MonkeyPatch) -> str:
    create_history_table()
    monkeypatch.setenv("HISTORY_TABLE_NAME", TABLE)
    monkeypatch.setenv("ALERT_LOCALE", "en")
    monkeypatch.setenv("ALERT_TIMEZONE", "Asia/Seoul")
    config.display_settings.cache_clear()
    seq = iter(range(1000))

    def record(name: str, state: str, at: datetime) -> None:
        incidents.record(alarm(name, state, at, f"m-{next(seq)}"))

    record("OTT-DB-Storage-Low", "ALARM", t(11, 10))
    record("OTT-DB-Storage-Low", "OK", t(11, 10, 30))
    record("OTT-DB-CPU-Utilization-High", "ALARM", t(12, 7, 30))
    incidents.acknowledge(incident_of("OTT-DB-CPU-Utilization-High"), by="kim", now=t(12, 7, 35))
    record("OTT-DB-CPU-Utilization-High", "OK", t(12, 8))
    for minute in (0, 5, 10):
        record("OTT-DB-Connections-High", "ALARM", t(12, 10, minute))
    record("OTT-DB-FreeableMemory-Low", "ALARM", t(12, 20))
    incidents.acknowledge(incident_of("OTT-DB-FreeableMemory-Low"), by="lee", now=t(12, 20, 20))
    incidents.record(notice(t(12, 12), "m-notice"))
    yield TABLE
    config.display_settings.cache_clear()


def test_the_figures_of_one_day_against_the_day_before(history: str) -> None:
    reader = HistoryReader(history)
    digest = collect(reader, until=UNTIL)
    assert (digest.notifications.now, digest.notifications.before) == (7, 2)
    assert (digest.opened.now, digest.opened.before) == (3, 1)
    assert (digest.resolved.now, digest.resolved.before) == (1, 1)
    assert [(o.alarm_name, o.status, o.acknowledged_by) for o in digest.open_incidents] == [
        ("OTT-DB-Connections-High", "active", None),
        ("OTT-DB-FreeableMemory-Low", "acknowledged", "lee"),
    ]
    assert digest.open_incidents[0].age == timedelta(hours=14)
    assert digest.open_incidents[0].alert_count == 3
    assert (digest.mtta.count, digest.mtta.mean, digest.mtta.median) == (2, 750.0, 750.0)
    assert (digest.mttr.count, digest.mttr.mean, digest.mttr.median) == (1, 1800.0, 1800.0)
    assert [(a.alarm_name, a.notifications, a.incidents) for a in digest.noisiest] == [
        ("OTT-DB-Connections-High", 3, 1),
        ("OTT-DB-CPU-Utilization-High", 2, 1),
        ("OTT-DB-FreeableMemory-Low", 1, 1),
    ]
    # Query only, and every item counted: 14 notifications + incidents read over both days.
    assert reader.cost.requests > 0
    assert reader.cost.items >= 9
    assert reader.cost.read_units >= reader.cost.requests * 0.5


def test_the_email_and_slack_message_say_the_same_and_escape_alarm_text(history: str) -> None:
    hostile = "<script>alert(1)</script> <!channel>"
    digest = collect(
        HistoryReader(history),
        until=UNTIL,
        flapping=[Flapping(hostile, 7, 30)],
        silences_ending=[
            SilenceEnding("SIL-1", "OTT-DB-*", t(13, 2), "kim", "failover test <b>now</b>")
        ],
    )
    display = config.display_settings()
    mail = render.email(digest, display)
    assert mail.subject == "[OTT] Daily digest 2024-01-13: 2 open, 3 opened"
    assert "<script>" not in mail.html
    assert "&lt;script&gt;" in mail.html
    assert "<b>now</b>" not in mail.html
    assert "Open now" in mail.html
    assert "mean 12 min 30 s" not in mail.html  # whole minutes above a minute
    assert "mean 12 min · median 12 min (2)" in mail.html
    assert "OTT-DB-Connections-High" in mail.text
    assert "unacknowledged" in mail.text
    text, blocks = render.slack(digest, display)
    assert text.startswith("OTT daily alarm digest: Notifications 7 (+5)")
    payload = json.dumps(blocks, ensure_ascii=False)
    assert "<!channel>" not in payload
    assert "&lt;!channel&gt;" in payload
    assert len(blocks) <= 50
    assert all(len(b.get("text", {}).get("text", "")) <= 3000 for b in blocks)
    assert "Silences ending soon" in payload
    assert "Flapping alarms" in payload


@pytest.fixture
def delivery_env(
    history: str, idempotency_table: str, httpserver_ipv4: Any, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Any]:
    boto3.client("secretsmanager").create_secret(
        Name=APP_SECRET,
        SecretString=json.dumps(
            {"bot_token": "xoxb-digest", "signing_secret": "s", "channel": "C0DIGEST"}
        ),
    )
    boto3.client("sesv2").create_email_identity(EmailIdentity=SENDER)
    for name, value in {
        "SLACK_APP_SECRET_ID": APP_SECRET,
        "SLACK_API_URL": httpserver_ipv4.url_for("/"),
        "SLACK_ALLOW_INSECURE_WEBHOOK": "true",
        "EMAIL_SENDER": SENDER,
        "EMAIL_RECIPIENTS": ",".join(RECIPIENTS),
        "DIGEST_TIME": "09:00",
    }.items():
        monkeypatch.setenv(name, value)
    config.fanout_settings.cache_clear()
    schedules.settings.cache_clear()
    secrets.reset()
    httpserver_ipv4.expect_request("/chat.postMessage", method="POST").respond_with_json(
        {"ok": True, "channel": "C0DIGEST", "ts": "1705104000.000100"}
    )
    yield httpserver_ipv4
    secrets.reset()
    config.fanout_settings.cache_clear()


def sent_mail() -> list[Any]:
    from moto.ses.models import ses_backends

    return list(ses_backends["123456789012"]["ap-northeast-2"].sent_messages)


def test_daily_function_posts_and_mails_once_for_its_scheduled_period(delivery_env: Any) -> None:
    app = load_app("daily_digest")
    # Invoked at 09:00:07 KST; retried by Lambda at 09:03: the same period, nothing sent twice.
    first = app.handle({}, now=t(13, 0) + timedelta(seconds=7))
    again = app.handle({}, now=t(13, 0, 3))
    assert first["period_end"] == "2024-01-13T09:00:00+09:00"
    assert sorted(first["sent"]) == sorted(
        ["slack", *(f"email:{r[0]}***@ott.example.com" for r in RECIPIENTS)]
    )
    assert again["sent"] == []
    assert len(again["skipped"]) == 3
    posts = [json.loads(r.get_data()) for r, _ in delivery_env.log]
    assert len(posts) == 1
    assert posts[0]["channel"] == "C0DIGEST"
    assert posts[0]["blocks"][0]["type"] == "header"
    mails = sent_mail()
    assert sorted(m.destinations["ToAddresses"][0] for m in mails) == sorted(RECIPIENTS)
    assert all(m.subject == "[OTT] Daily digest 2024-01-13: 2 open, 3 opened" for m in mails)
    assert first["reads"]["read_units"] > 0


def test_cli_reports_any_period(history: str) -> None:
    from alert_service.digest import cli

    out = io.StringIO()
    status = cli.main(
        ["--since", "2024-01-12T00:00Z", "--until", "2024-01-13T00:00Z", "--json"], out=out
    )
    assert status == 0
    report = json.loads(out.getvalue())
    assert report["notifications"] == {"now": 7, "before": 2, "change": 5}
    assert report["mttr"]["mean"] == 1800.0
    assert report["noisiest"][0]["alarm_name"] == "OTT-DB-Connections-High"
    # A date is midnight in ALERT_TIMEZONE: KST 2024-01-12 is 01-11T15:00Z .. 01-12T15:00Z.
    out = io.StringIO()
    assert cli.main(["--since", "2024-01-12", "--until", "2024-01-13"], out=out) == 0
    assert "Incidents opened: 2 (+1 vs the day before)" in out.getvalue()
    assert cli.main(["--since", "2024-01-13", "--until", "2024-01-12"], out=io.StringIO()) == 1


def test_daily_function_lists_alarms_flapping_now_and_silences_ending_within_a_day(
    delivery_env: Any,
) -> None:
    """Both come from issue 12's items, written by its own code: a flap episode counted by
    FlapTracker from real notifications, silences added by SilenceStore."""
    from alert_service.silences import store as silence_store
    from alert_service.silences.flapping import FlapTracker
    from alert_service.silences.model import new_silence
    from alert_service.silences.settings import flap_settings

    flap_settings.cache_clear()
    tracker = FlapTracker(TABLE)
    # 8 changes a minute apart, the last 3 minutes before the digest (threshold 6 in 30 min).
    for n in range(8):
        at = t(12, 23, 49) + timedelta(minutes=n)
        state = "ALARM" if n % 2 == 0 else "OK"
        tracker.observe(alarm("OTT-DB-IOPS-High", state, at, f"flap-{n}"), received_at=at)
    silences = silence_store.SilenceStore(TABLE)
    soon = new_silence(
        match="OTT-DB-Storage-*",
        created_by="kim",
        comment="disk migration <b>tonight</b>",
        now=t(12, 22),
        ends_at=t(13, 3),
    )
    later = new_silence(
        match="OTT-DB-Backup-*",
        created_by="lee",
        comment="backup window",
        now=t(12, 22),
        ends_at=t(14, 6),
    )
    ended = new_silence(
        match="OTT-DB-Old-*", created_by="lee", comment="over", now=t(12, 1), ends_at=t(12, 2)
    )
    for silence in (soon, later, ended):
        silences.add(silence)

    result = load_app("daily_digest").handle({}, now=t(13, 0) + timedelta(seconds=7))
    assert "slack" in result["sent"]
    (post,) = [json.loads(r.get_data()) for r, _ in delivery_env.log]
    payload = json.dumps(post["blocks"], ensure_ascii=False)
    assert "Flapping alarms" in payload
    assert "OTT-DB-IOPS-High" in payload
    assert "8 state changes in 12 min" in payload  # 23:49 .. 00:00:07
    assert "Silences ending soon" in payload
    assert soon.id in payload
    assert later.id not in payload  # ends after the next digest
    assert ended.id not in payload
    assert "&lt;b&gt;tonight&lt;/b&gt;" in payload
    (mail, *_) = sent_mail()
    assert "OTT-DB-IOPS-High" in mail.body
    assert soon.id in mail.body
    assert "<b>tonight</b>" not in mail.body
    # Their Queries are counted with the rest: 2 UTC days of notifications (the day and the day
    # before), 3 status partitions; 1 FLAPPING, 1 for the flapping alarm's changes, 1 SILENCES.
    assert result["reads"]["requests"] == 2 + 3 + 3
