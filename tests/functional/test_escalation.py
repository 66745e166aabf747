"""Escalation and reminders end to end, against moto's server (DynamoDB + its stream, Scheduler,
SNS SMS, Secrets Manager) and a loopback Slack Web API, with a clock the test moves.

An incident is opened by ``incidents.record`` from a sample event; the history table's stream is
handed to IncidentTimersFunction as Lambda would; schedules are "fired" by invoking their target
with their Input at their time (moto stores schedules, never fires them). What is asserted is what
a person would see: thread replies that reached the loopback Slack, SMS that SNS took, and the
schedules that exist.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from alert_service import incidents, parse, schedules, secrets
from conftest import ROOT, load_event
from test_alarm_history import CPU_INCIDENT, TABLE, create_history_table

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
from local.scheduled_jobs import ScheduledJobs

OPENED = datetime(2024, 1, 12, 7, 30, tzinfo=UTC)  # the sample's StateChangeTime
GROUP = "alert-service-incidents"
APP_SECRET = "ott/slack/app"
BOT_TOKEN = "xoxb-test-token-never-logged"
ROOT_TS = "1705044600.000100"
ESCALATION_NUMBERS = "+821011112222,+821033334444"


@dataclass
class Stack:
    jobs: ScheduledJobs
    slack: Any  # pytest-httpserver

    def replies(self) -> list[dict[str, Any]]:
        return [
            json.loads(request.get_data())
            for request, _ in self.slack.log
            if request.path == "/chat.postMessage"
        ]

    def schedule_names(self) -> list[str]:
        return [s["name"] for s in self.jobs.schedules()]


def sms() -> list[tuple[str, str]]:
    from moto.sns.models import sns_backends

    sent = sns_backends["123456789012"]["ap-northeast-2"].sms_messages
    return [(phone, text) for phone, text in sent.values()]


@pytest.fixture
def stack(
    aws: str, idempotency_table: str, httpserver_ipv4: Any, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Stack]:
    create_history_table()
    boto3.client("secretsmanager").create_secret(
        Name=APP_SECRET,
        SecretString=json.dumps(
            {"bot_token": BOT_TOKEN, "signing_secret": "s3cr3t", "channel": "C0INCIDENTS"}
        ),
    )
    env = {
        "HISTORY_TABLE_NAME": TABLE,
        "SCHEDULE_GROUP_NAME": GROUP,
        "ESCALATION_FUNCTION_ARN": "arn:aws:lambda:ap-northeast-2:123456789012:function:esc",
        "SCHEDULER_ROLE_ARN": "arn:aws:iam::123456789012:role/alert-service-scheduler",
        "SLACK_APP_SECRET_ID": APP_SECRET,
        "SLACK_API_URL": httpserver_ipv4.url_for("/"),
        "SLACK_ALLOW_INSECURE_WEBHOOK": "true",
        "ESCALATION_SMS_RECIPIENTS": ESCALATION_NUMBERS,
        "ALERT_LOCALE": "en",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    for name in ("ESCALATE_AFTER_MINUTES", "REMIND_EVERY_HOURS", "SLACK_WEBHOOK_SECRET_ID"):
        monkeypatch.delenv(name, raising=False)
    schedules.settings.cache_clear()
    secrets.reset()
    httpserver_ipv4.expect_request("/chat.postMessage", method="POST").respond_with_json(
        {"ok": True, "channel": "C0INCIDENTS", "ts": "1705045200.000200"}
    )
    jobs = ScheduledJobs(boto3.client, table=TABLE, group=GROUP, now=OPENED)
    jobs.prepare()  # the table's stream and the schedule group, as the template declares them
    yield Stack(jobs, httpserver_ipv4)
    schedules.settings.cache_clear()
    secrets.reset()


def open_incident(stack: Stack, *, with_root: bool = True) -> dict[str, Any]:
    """The CPU sample opens an incident; the incident view's root message is on it."""
    (notification,) = parse.notifications(load_event("cpu_alarm.json"))
    assert incidents.record(notification).value == "opened"
    if with_root:  # what SlackIncidentFunction keeps on the item after posting the root
        boto3.client("dynamodb").update_item(
            TableName=TABLE,
            Key={"pk": {"S": f"INC#{CPU_INCIDENT}"}, "sk": {"S": "META"}},
            UpdateExpression="SET slack_channel = :c, slack_ts = :ts",
            ExpressionAttributeValues={":c": {"S": "C0INCIDENTS"}, ":ts": {"S": ROOT_TS}},
        )
    stack.jobs.now = OPENED + timedelta(seconds=5)
    stack.jobs.pump()
    incident = incidents.get_incident(CPU_INCIDENT)
    assert incident is not None
    return incident


def test_open_incident_gets_three_schedules_once_even_if_the_stream_repeats(stack: Stack) -> None:
    open_incident(stack)
    assert stack.jobs.stream_results[-1]["created"] == 3
    names = stack.schedule_names()
    assert names == [
        f"{CPU_INCIDENT}-escalate-1",
        f"{CPU_INCIDENT}-escalate-2",
        f"{CPU_INCIDENT}-remind-1",
    ]
    at = {s["name"]: s["at"] for s in stack.jobs.schedules()}
    assert at[f"{CPU_INCIDENT}-escalate-1"] == OPENED + timedelta(minutes=10)
    assert at[f"{CPU_INCIDENT}-escalate-2"] == OPENED + timedelta(minutes=20)
    assert at[f"{CPU_INCIDENT}-remind-1"] == OPENED + timedelta(hours=4)
    full = boto3.client("scheduler").get_schedule(Name=names[0], GroupName=GROUP)
    assert full["ActionAfterCompletion"] == "DELETE"
    assert full["FlexibleTimeWindow"] == {"Mode": "OFF"}
    assert full["ScheduleExpressionTimezone"] == "UTC"
    fired_with = json.loads(full["Target"]["Input"])
    assert fired_with == {"incident_id": CPU_INCIDENT, "step": "escalate-1"}

    # Lambda redelivers the same batch: ConflictException means "already scheduled".
    from local.scheduled_jobs import load_app

    timers = load_app("incident_timers")
    stream = boto3.client("dynamodbstreams")
    arn = stream.list_streams(TableName=TABLE)["Streams"][0]["StreamArn"]
    shard = stream.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = stream.get_shard_iterator(
        StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    from local.stream import lambda_record

    records = [lambda_record(r, arn) for r in stream.get_records(ShardIterator=iterator)["Records"]]
    again = timers.handle({"Records": records}, now=stack.jobs.now)
    assert again["batchItemFailures"] == []
    assert again.get("created", 0) == 0
    assert again["existed"] == 3
    assert len(stack.schedule_names()) == 3


def test_unacknowledged_incident_escalates_here_then_channel_with_sms(stack: Stack) -> None:
    open_incident(stack)
    assert stack.jobs.advance(timedelta(minutes=9)) == []  # nothing due yet
    assert stack.replies() == []

    fired = stack.jobs.run_until(OPENED + timedelta(minutes=10))
    assert [f.input["step"] for f in fired] == ["escalate-1"]
    (first,) = stack.replies()
    assert first["thread_ts"] == ROOT_TS
    assert first["channel"] == "C0INCIDENTS"
    assert first["text"].startswith(
        "<!here> *Unacknowledged for 10 min*: OTT-DB-CPU-Utilization-High"
    )
    assert first["reply_broadcast"] is True
    assert sms() == []

    stack.jobs.run_until(OPENED + timedelta(minutes=20))
    second = stack.replies()[1]
    assert second["text"].startswith("<!channel> *Still unacknowledged after 20 min*")
    assert "SMS sent to the escalation list (2)" in second["text"]
    assert sorted(phone for phone, _ in sms()) == ESCALATION_NUMBERS.split(",")
    assert all("UNACKED 20 min" in text for _, text in sms())
    # The reminder is the only schedule left.
    assert stack.schedule_names() == [f"{CPU_INCIDENT}-remind-1"]


def test_a_fired_step_that_is_delivered_again_sends_nothing_twice(stack: Stack) -> None:
    open_incident(stack)
    fired = stack.jobs.run_until(OPENED + timedelta(minutes=20))
    assert len(stack.replies()) == 2
    assert len(sms()) == 2
    # Scheduler (or Lambda) delivers the same two steps again, later.
    from local.scheduled_jobs import load_app

    target = load_app("incident_escalation")
    for step in fired:
        outcome = target.handle(step.input, now=OPENED + timedelta(minutes=21))
        assert outcome["sent"] == []
        assert outcome["skipped"]
    assert len(stack.replies()) == 2
    assert len(sms()) == 2


def test_acknowledging_stops_escalation_and_deletes_its_schedules(stack: Stack) -> None:
    open_incident(stack)
    incidents.acknowledge(CPU_INCIDENT, by="slack:U042", now=OPENED + timedelta(minutes=3))
    stack.jobs.now = OPENED + timedelta(minutes=3)
    result = stack.jobs.pump()
    assert result["deleted"] == 2
    assert stack.schedule_names() == [f"{CPU_INCIDENT}-remind-1"]
    # Even if an escalation fires anyway (deleted too late), it re-reads and does nothing.
    from local.scheduled_jobs import load_app

    target = load_app("incident_escalation")
    late = target.handle(
        {"incident_id": CPU_INCIDENT, "step": "escalate-1"}, now=OPENED + timedelta(minutes=10)
    )
    assert late["reason"] == "incident is acknowledged"
    assert stack.replies() == []

    # Reminders go on while it is open, and say who acknowledged it.
    stack.jobs.run_until(OPENED + timedelta(hours=4))
    (reminder,) = stack.replies()
    assert reminder["thread_ts"] == ROOT_TS
    assert "has been open for 4 h, 1 alerts" in reminder["text"]
    assert "Acknowledged by slack:U042" in reminder["text"]
    assert "<!" not in reminder["text"]  # a reminder mentions nobody
    assert stack.schedule_names() == [f"{CPU_INCIDENT}-remind-2"]
    assert sms() == []


def test_resolving_deletes_every_schedule_and_nothing_is_sent(stack: Stack) -> None:
    open_incident(stack)
    (ok,) = parse.notifications(load_event("cpu_ok.json"))
    assert incidents.record(ok).value == "resolved"
    stack.jobs.now = OPENED + timedelta(minutes=10)
    result = stack.jobs.pump()
    # Two escalations, the pending reminder (remind-1); remind-0 does not exist as a step.
    assert result["deleted"] == 3
    assert stack.schedule_names() == []
    assert stack.jobs.advance(timedelta(days=1)) == []
    assert stack.replies() == []
    assert sms() == []


def test_reminders_repeat_every_interval_until_resolved(stack: Stack) -> None:
    open_incident(stack)
    stack.jobs.run_until(OPENED + timedelta(hours=12, minutes=1))
    texts = [r["text"] for r in stack.replies()]
    assert len(texts) == 5  # escalate-1, escalate-2, reminders at 4 h, 8 h, 12 h
    assert [t for t in texts if t.startswith("⏰")] == [
        f"⏰ Reminder: OTT-DB-CPU-Utilization-High (`{CPU_INCIDENT}`) has been open for {h} h, "
        "1 alerts. Nobody has acknowledged it yet."
        for h in (4, 8, 12)
    ]
    assert stack.schedule_names() == [f"{CPU_INCIDENT}-remind-4"]
    incidents.resolve(CPU_INCIDENT, by="cli:kim", now=OPENED + timedelta(hours=13))
    stack.jobs.now = OPENED + timedelta(hours=13)
    assert stack.jobs.pump()["deleted"] == 1  # remind-4 (escalations fired and are gone)
    assert stack.schedule_names() == []


def mark_silenced(until: datetime | None) -> None:
    """What the history keeps on an incident whose latest notification a silence held."""
    marks = {":s": {"L": [{"S": "SIL-20240112070000-a1b2c3"}]}}
    update = "SET silenced_by = :s"
    if until is not None:
        marks[":u"] = {"S": until.strftime("%Y-%m-%dT%H:%M:%S.000Z")}
        update += ", silenced_until = :u"
    boto3.client("dynamodb").update_item(
        TableName=TABLE,
        Key={"pk": {"S": f"INC#{CPU_INCIDENT}"}, "sk": {"S": "META"}},
        UpdateExpression=update,
        ExpressionAttributeValues=marks,
    )


def test_silenced_alarm_is_never_escalated_nor_reminded(stack: Stack) -> None:
    open_incident(stack)
    mark_silenced(until=None)
    fired = stack.jobs.run_until(OPENED + timedelta(hours=4, minutes=1))
    assert [f.result["reason"] for f in fired] == [
        "alarm is silenced",
        "alarm is silenced",
        "alarm is silenced",
    ]
    assert stack.replies() == []
    assert sms() == []
    # The reminder chain goes on, so reminders resume when the silence ends.
    assert stack.schedule_names() == [f"{CPU_INCIDENT}-remind-2"]


def test_reminders_resume_when_the_silence_that_held_the_alarm_has_ended(stack: Stack) -> None:
    open_incident(stack)
    mark_silenced(until=OPENED + timedelta(hours=1))
    fired = stack.jobs.run_until(OPENED + timedelta(hours=4, minutes=1))
    assert [(f.input["step"], f.result["reason"]) for f in fired] == [
        ("escalate-1", "alarm is silenced"),
        ("escalate-2", "alarm is silenced"),
        ("remind-1", "reminder"),
    ]
    (reminder,) = stack.replies()
    assert "has been open for 4 h" in reminder["text"]


def test_a_silence_added_after_the_incident_opened_stops_escalation_and_reminders(
    stack: Stack,
) -> None:
    """No mark on the incident (its notifications came before the silence): the escalation asks
    the silences themselves, at the time the step fires."""
    from alert_service.silences import store as silence_store
    from alert_service.silences.model import new_silence

    from local.history_seed import alarm

    # Silences are matched against the present (their Query reads those not ended a day ago):
    # this incident opens now, not at the sample's 2024 time.
    opened = datetime.now(UTC).replace(microsecond=0)
    name = "OTT-DB-Replica-Lag-High"
    assert incidents.record(alarm(name, "ALARM", opened, "m-lag-1")).value == "opened"
    stack.jobs.now = opened + timedelta(seconds=5)
    stack.jobs.pump()
    silence_store.reset()
    silence = new_silence(
        match="OTT-DB-Replica-*",
        created_by="kim",
        comment="replica rebuild",
        now=opened + timedelta(minutes=2),
        duration=timedelta(hours=1),
    )
    silence_store.SilenceStore(TABLE).add(silence)
    fired = stack.jobs.run_until(opened + timedelta(hours=4, minutes=1))
    assert [(f.input["step"], f.result["reason"]) for f in fired] == [
        ("escalate-1", "alarm is silenced"),
        ("escalate-2", "alarm is silenced"),
        ("remind-1", "reminder"),  # the silence ended at 1 h 2 min
    ]
    (reminder,) = stack.replies()
    assert name in reminder["text"]
    assert sms() == []


def test_without_a_root_message_the_reply_goes_to_the_app_channel(stack: Stack) -> None:
    open_incident(stack, with_root=False)
    stack.jobs.run_until(OPENED + timedelta(minutes=10))
    (reply,) = stack.replies()
    assert "thread_ts" not in reply
    assert reply["channel"] == "C0INCIDENTS"


def test_slack_refusal_fails_the_invocation_without_the_token(stack: Stack) -> None:
    open_incident(stack)
    stack.slack.clear_all_handlers()
    stack.slack.expect_request("/chat.postMessage", method="POST").respond_with_json(
        {"ok": False, "error": "invalid_auth"}
    )
    (fired,) = stack.jobs.run_until(OPENED + timedelta(minutes=10))
    assert fired.error is not None
    assert "invalid_auth" in fired.error
    assert APP_SECRET in fired.error
    assert BOT_TOKEN not in fired.error
    # Nothing was recorded as delivered: the retry (Slack fixed) sends it.
    stack.slack.clear_all_handlers()
    stack.slack.expect_request("/chat.postMessage", method="POST").respond_with_json(
        {"ok": True, "ts": "1.2"}
    )
    from local.scheduled_jobs import load_app

    outcome = load_app("incident_escalation").handle(fired.input, now=fired.at)
    assert outcome["sent"] == ["slack"]


def test_a_rotated_bot_token_is_read_again_once_and_the_step_goes_through(stack: Stack) -> None:
    """The escalation speaks through the incident view's Web API client: a token rotated since it
    was cached (invalid_auth) makes it read the secret again, once, instead of failing the step."""
    from werkzeug import Request, Response

    accepted = [BOT_TOKEN]

    def web_api(request: Request) -> Response:
        ok = request.headers.get("Authorization") == f"Bearer {accepted[0]}"
        body = {"ok": True, "ts": "1.2"} if ok else {"ok": False, "error": "invalid_auth"}
        return Response(json.dumps(body), content_type="application/json")

    stack.slack.clear_all_handlers()
    stack.slack.expect_request("/chat.postMessage", method="POST").respond_with_handler(web_api)
    open_incident(stack)
    (first,) = stack.jobs.run_until(OPENED + timedelta(minutes=10))
    assert first.error is None
    rotated = "xoxb-rotated-token-never-logged"
    boto3.client("secretsmanager").put_secret_value(
        SecretId=APP_SECRET,
        SecretString=json.dumps(
            {"bot_token": rotated, "signing_secret": "s3cr3t", "channel": "C0INCIDENTS"}
        ),
    )
    accepted[0] = rotated
    (second,) = stack.jobs.run_until(OPENED + timedelta(minutes=20))
    assert second.error is None, second.error
    assert second.result["sent"][0] == "slack"
    auth = [r.headers.get("Authorization") for r, _ in stack.slack.log]
    # escalate-1 with the old token; escalate-2 refused with it, then sent with the new one.
    assert auth == [f"Bearer {BOT_TOKEN}", f"Bearer {BOT_TOKEN}", f"Bearer {rotated}"]
    assert [r["text"][:10] for r in stack.replies()][-1].startswith("<!channel>")
