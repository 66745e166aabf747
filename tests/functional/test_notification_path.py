"""The notification path with routing, severity, silences and flapping wired in (issues 12, 13).

The Slack relay, the fan-out and the quiet sweep as deployed: against moto's server (DynamoDB, SES,
SNS SMS, Secrets Manager, CloudWatch tags) and a loopback Slack with several named webhooks. Every
assertion reads what a person would get: posts that reached the loopback server, mail in moto's
SES, SMS in moto's SNS, items in the history table.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest
from alert_service import routing, secrets, severity
from alert_service.channels import DeliveriesFailed
from alert_service.silences import settings as quiet_settings
from alert_service.silences import store
from alert_service.silences.model import new_silence
from alert_service.silences.store import SilenceStore
from conftest import FakeLambdaContext, load_event, load_function
from slack_relay_support import SECRET_ID, with_alarm_fields, with_message_id
from test_alarm_history import TABLE, create_history_table, event_item
from test_notify_fanout import recipients_of, reject_mail_to, sent_mail, sent_sms

CPU = "OTT-DB-CPU-Utilization-High"
PATHS = {
    name: f"/services/T0/{name.upper()}/x0FAKE{name}T0k3n"
    for name in ("default", "dba", "platform")
}
ONCALL, DBA_MAIL, DBA_PHONE = "oncall@example.com", "dba@example.com", "+821099990000"
ROUTING = f"""
version: 1
rules:
  - name: dba
    match:
      alarm_name: "OTT-DB-*"
    severity: warning
    slack_webhooks: [dba, platform, ghost]
    email: [{DBA_MAIL}]
    sms: ["{DBA_PHONE}"]
"""


@dataclass
class Path_:
    relay: ModuleType
    fanout: ModuleType
    sweep: ModuleType
    history: ModuleType
    server: Any

    def publish(self, event: dict[str, Any]) -> list[Exception]:
        """Hand one SNS event to every subscribed function, as SNS does; the errors they raised."""
        errors: list[Exception] = []
        for module, name in (
            (self.history, "AlarmHistoryFunction"),
            (self.relay, "SlackRelayFunction"),
            (self.fanout, "NotifyFanoutFunction"),
        ):
            try:
                module.handler(event, FakeLambdaContext(name))
            except DeliveriesFailed as error:
                errors.append(error)
        return errors

    def run_sweep(self) -> dict[str, int]:
        return self.sweep.handler({}, FakeLambdaContext("QuietSweepFunction"))

    def posts(self, webhook: str = "default") -> list[dict[str, Any]]:
        return [
            json.loads(request.get_data())
            for request, _ in self.server.log
            if request.path == PATHS[webhook]
        ]


@pytest.fixture
def path(
    aws: str,
    idempotency_table: str,
    httpserver_ipv4: Any,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> Iterator[Path_]:
    from alert_service import config

    create_history_table()
    boto3.client("sesv2").create_email_identity(EmailIdentity="example.com")
    webhooks = {name: httpserver_ipv4.url_for(p) for name, p in PATHS.items() if name != "default"}
    boto3.client("secretsmanager").create_secret(
        Name=SECRET_ID,
        SecretString=json.dumps(
            {"webhook_url": httpserver_ipv4.url_for(PATHS["default"]), "webhooks": webhooks}
        ),
    )
    for p in PATHS.values():
        httpserver_ipv4.expect_request(p, method="POST").respond_with_data("ok")
    rules = tmp_path / "routing.yaml"
    rules.write_text(ROUTING, encoding="utf-8")
    env = {
        "HISTORY_TABLE_NAME": TABLE,
        "SLACK_WEBHOOK_SECRET_ID": SECRET_ID,
        "SLACK_ALLOW_INSECURE_WEBHOOK": "true",
        "EMAIL_SENDER": "alerts@example.com",
        "EMAIL_RECIPIENTS": ONCALL,
        "SMS_RECIPIENTS": "+821012345678",
        "ALERT_LOCALE": "en",
        "ALERT_ROUTING_FILE": str(rules),
        "FLAP_THRESHOLD": "6",
        "FLAP_WINDOW_MINUTES": "30",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    for name in ("EMAIL_STATES", "SMS_STATES"):
        monkeypatch.delenv(name, raising=False)
    caches = (
        config.fanout_settings,
        config.display_settings,
        quiet_settings.flap_settings,
        routing.shipped_table,
    )
    for cached in caches:
        cached.cache_clear()
    secrets.reset()
    store.reset()
    severity.reset()
    modules = Path_(
        load_function("slack_relay"),
        load_function("notify_fanout"),
        load_function("quiet_sweep"),
        load_function("alarm_history"),
        httpserver_ipv4,
    )
    yield modules
    modules.relay.webhook.close()
    modules.sweep.webhook.close()
    for cached in caches:
        cached.cache_clear()
    severity.reset()
    store.reset()


def alarm_event(
    message_id: str, *, name: str = CPU, state: str = "ALARM", at: datetime | None = None
) -> dict[str, Any]:
    fields: dict[str, Any] = {"AlarmName": name, "NewStateValue": state}
    fields["OldStateValue"] = "OK" if state == "ALARM" else "ALARM"
    if at is not None:
        fields["StateChangeTime"] = at.strftime("%Y-%m-%dT%H:%M:%S.000+0000")
    return with_message_id(with_alarm_fields(load_event("cpu_alarm.json"), **fields), message_id)


def field_titles(post: dict[str, Any]) -> list[str]:
    return [f["title"] for f in post["attachments"][0].get("fields", [])]


def history_event(message_id: str) -> dict[str, Any] | None:
    return event_item(message_id)


# --- routing ------------------------------------------------------------------------------------


def test_a_routed_alarm_reaches_each_named_webhook_once_and_an_unknown_one_fails_alone(
    path: Path_,
) -> None:
    event = alarm_event("route-1")
    errors = path.publish(event)

    # The rule's webhooks got it, the default did not; the severity is shown after the five.
    [dba], [platform] = path.posts("dba"), path.posts("platform")
    assert dba == platform
    assert path.posts("default") == []
    assert field_titles(dba)[5] == "Severity"
    assert dba["attachments"][0]["fields"][5]["value"] == "WARNING"
    # The rule's mail and SMS recipients, not the default ones; severity in both.
    assert recipients_of(sent_mail()) == [DBA_MAIL]
    assert "WARNING" in sent_mail()[0].subject
    [(number, text)] = sent_sms()
    assert number == DBA_PHONE
    assert "WARNING" in text
    # "ghost" is not in the secret: that delivery (only) failed, naming the webhook, not a URL.
    [error] = errors
    assert "ghost" in str(error)
    assert "x0FAKE" not in str(error)

    # Lambda's retry: nothing posted or sent twice, the unknown webhook fails again.
    assert len(path.publish(event)) == 1
    assert len(path.posts("dba")) == len(path.posts("platform")) == 1
    assert len(sent_mail()) == 1
    assert len(sent_sms()) == 1


def test_a_notice_that_matches_no_rule_takes_the_default_route(path: Path_) -> None:
    assert path.publish(load_event("plain_text.json")) == []
    assert len(path.posts("default")) == 1
    assert path.posts("dba") == path.posts("platform") == []
    assert recipients_of(sent_mail()) == [ONCALL]
    assert sent_sms() == []


def test_an_ses_refusal_fails_that_recipient_without_holding_back_the_others(
    path: Path_,
) -> None:
    stop = reject_mail_to(DBA_MAIL)
    try:
        errors = path.publish(alarm_event("route-2"))
    finally:
        stop()
    assert len(errors) == 2  # the relay (ghost) and the fan-out (the refused mail)
    assert [n for n, _ in sent_sms()] == [DBA_PHONE]
    assert len(path.posts("dba")) == 1


def test_the_severity_tag_wins_over_the_rule(path: Path_) -> None:
    cloudwatch = boto3.client("cloudwatch")
    cloudwatch.put_metric_alarm(
        AlarmName=CPU,
        MetricName="CPUUtilization",
        Namespace="AWS/RDS",
        Statistic="Average",
        Period=300,
        EvaluationPeriods=1,
        Threshold=80,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
        Tags=[{"Key": "severity", "Value": "critical"}],
    )
    path.publish(alarm_event("sev-1"))
    [post] = path.posts("dba")
    assert post["attachments"][0]["fields"][5]["value"] == "CRITICAL"
    assert "CRITICAL" in sent_mail()[0].subject


# --- silences -----------------------------------------------------------------------------------


def test_a_silenced_alarm_is_stored_and_not_sent(
    path: Path_, capsys: pytest.CaptureFixture[str]
) -> None:
    now = datetime.now(UTC)
    silence = SilenceStore(TABLE).add(
        new_silence(
            match="OTT-DB-*",
            created_by="kim",
            comment="failover test",
            now=now,
            duration=timedelta(hours=1),
        )
    )
    # The alarm changed state a moment after the silence started (the window holds its own time).
    assert path.publish(alarm_event("quiet-1", at=now + timedelta(seconds=1))) == []

    assert path.server.log == []
    assert sent_mail() == []
    assert sent_sms() == []
    assert history_event("quiet-1") is not None  # nothing lost: history has it
    held = [
        json.loads(line)
        for line in capsys.readouterr().out.splitlines()
        if '"DeliveriesHeld"' in line
    ]
    # Each destination of each channel: 3 webhooks, 1 mail, 1 SMS; reason "silence".
    assert sorted(m["channel"] for m in held) == ["email", "slack", "slack", "slack", "sms"]
    assert {m["reason"] for m in held} == {"silence"}
    assert silence.id  # the id is in the log line's held_by, not in a metric dimension

    # A notice that is not an alarm is never held, whatever the silences.
    assert path.publish(load_event("plain_text.json")) == []
    assert len(path.posts("default")) == 1
    assert recipients_of(sent_mail()) == [ONCALL]


# --- flapping -----------------------------------------------------------------------------------

FLAPPY = "OTT-DB-Flappy"


def flapping_changes(count: int) -> list[dict[str, Any]]:
    """``count`` changes of one alarm a minute apart, ALARM and OK alternating, ended an hour ago
    (so the sweep finds it stable)."""
    start = datetime.now(UTC) - timedelta(minutes=60 + count)
    return [
        alarm_event(
            f"flap-{n}",
            name=FLAPPY,
            state="ALARM" if n % 2 == 0 else "OK",
            at=start + timedelta(minutes=n),
        )
        for n in range(count)
    ]


def kinds(posts: list[dict[str, Any]]) -> list[str]:
    """What each Slack post was: an alarm message (its state) or a quiet notice (its title)."""
    out = []
    for post in posts:
        title = post["attachments"][0]["title"]
        out.append("notice:" + title if "fields" not in post["attachments"][0] else "message")
    return out


def test_flapping_sends_the_notice_once_holds_the_rest_and_the_sweep_sums_up_once(
    path: Path_,
) -> None:
    changes = flapping_changes(8)
    for event in changes:
        path.publish(event)
    posts = path.posts("dba")
    # 5 messages, the 6th change is announced instead of sent, the 7th and 8th are held.
    assert kinds(posts)[:5] == ["message"] * 5
    assert len(posts) == 6
    assert "flapping" in posts[5]["attachments"][0]["title"].lower()
    mails = sent_mail()
    assert len(mails) == 6
    assert "flapping" in mails[5].subject.lower()
    # SMS: the rule sends every state; the notice too.
    assert len(sent_sms()) == 6
    for n in range(8):
        assert history_event(f"flap-{n}") is not None

    # Redelivery of every change (SNS, a retry): nothing new anywhere.
    for event in changes:
        path.publish(event)
    assert len(path.posts("dba")) == 6
    assert len(sent_mail()) == 6
    assert len(sent_sms()) == 6

    # The sweep: stable for the window -> one summary per destination, once however often it runs
    # (each run fails on "ghost" alone, so the summary stays due and the next run retries only it).
    for _ in range(2):
        with pytest.raises(DeliveriesFailed, match="ghost"):
            path.run_sweep()
    posts = path.posts("dba")
    assert len(posts) == 7
    assert "2" in posts[6]["attachments"][0]["text"]
    assert len(path.posts("platform")) == 7
    assert path.posts("default") == []  # routed like the alarm's messages
    assert len(sent_mail()) == 7
    assert len(sent_sms()) == 7


def test_the_notice_goes_out_once_even_when_the_change_is_redelivered_before_the_sweep(
    path: Path_,
) -> None:
    changes = flapping_changes(6)
    for event in changes:
        path.publish(event)
    path.publish(changes[5])  # the announcing change again
    notices = [p for p in path.posts("dba") if "fields" not in p["attachments"][0]]
    assert len(notices) == 1
