"""SlackActionsFunction against moto's server (DynamoDB, Secrets Manager) over real HTTP.

Incidents come from real sample events through ``incidents.record``; requests are signed as Slack
signs them (slack_sdk's reference implementation, local/slack_click.py) and arrive as Function URL
events with base64 bodies; the clicker's ephemeral replies arrive at a loopback HTTP server
(pytest-httpserver) standing in for Slack's response_url. Assertions read DynamoDB back.
"""

from __future__ import annotations

import base64
import json
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from alert_service import incidents, parse, secrets
from conftest import ROOT, FakeLambdaContext, load_event, load_function
from pytest_httpserver import HTTPServer
from test_alarm_history import CPU_INCIDENT, TABLE, create_history_table, incident

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
from local.slack_click import (
    ACK,
    RESOLVE,
    block_actions,
    form_body,
    function_url_event,
    signed_event,
)

SECRET_NAME = "ott/slack/app"
SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5-local-signing"
BOT_TOKEN = "xoxb-0000000000-0000000000000-LOCALTESTTOKENVALUE"
REPLY_PATH = "/actions/T0LOCALDEMO/1/reply"


@pytest.fixture
def slack_app(aws: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """History table with the CPU incident open (from events/cpu_alarm.json), the app secret."""
    create_history_table()
    monkeypatch.setenv("HISTORY_TABLE_NAME", TABLE)
    monkeypatch.setenv("SLACK_APP_SECRET_ID", SECRET_NAME)
    monkeypatch.setenv("SLACK_ALLOW_INSECURE_WEBHOOK", "true")
    monkeypatch.setenv("ALERT_LOCALE", "en")
    monkeypatch.delenv("SLACK_ALLOWED_USERS", raising=False)
    boto3.client("secretsmanager").create_secret(
        Name=SECRET_NAME,
        SecretString=json.dumps(
            {"bot_token": BOT_TOKEN, "signing_secret": SIGNING_SECRET, "channel": "C0LOCALDEMO"}
        ),
    )
    secrets.reset()
    for notification in parse.notifications(load_event("cpu_alarm.json")):
        incidents.record(notification)
    yield CPU_INCIDENT
    secrets.reset()


@pytest.fixture
def invoke() -> Callable[[dict[str, Any]], dict[str, Any]]:
    fn = load_function("slack_actions")
    return lambda event: fn.handler(event, FakeLambdaContext("slack-actions"))


@pytest.fixture
def replies(httpserver: HTTPServer) -> Callable[[], list[dict[str, Any]]]:
    """Slack's response_url on loopback: answers 200 ``{"ok": true}``, keeps what arrived."""
    httpserver.expect_request(REPLY_PATH, method="POST").respond_with_json({"ok": True})

    def received() -> list[dict[str, Any]]:
        return [json.loads(request.data) for request, _ in httpserver.log]

    return received


def reply_url(httpserver: HTTPServer) -> str:
    return httpserver.url_for(REPLY_PATH)


def click(
    incident_id: str,
    action: str = ACK,
    *,
    user: str = "U0ONCALL1",
    response_url: str = "",
    timestamp: int | None = None,
) -> dict[str, Any]:
    payload = block_actions(incident_id, action, user=user, response_url=response_url)
    return signed_event(payload, SIGNING_SECRET, timestamp=timestamp)


# --- authentic clicks ------------------------------------------------------------------------
def test_acknowledge_click_acknowledges_and_tells_the_clicker(
    slack_app: str, invoke: Any, httpserver: HTTPServer, replies: Any
) -> None:
    answer = invoke(click(slack_app, ACK, user="U0ONCALL1", response_url=reply_url(httpserver)))
    assert answer == {"statusCode": 200}
    item = incident(slack_app)
    assert item is not None
    assert item["status"] == "acknowledged"
    assert item["acknowledged_by"] == "slack:U0ONCALL1"
    assert item["acknowledged_at"].endswith("Z")
    (reply,) = replies()
    assert reply["response_type"] == "ephemeral"
    assert reply["replace_original"] is False
    assert slack_app in reply["text"]
    assert "acknowledged" in reply["text"]


def test_resolve_click_resolves_an_acknowledged_incident_and_frees_the_alarm(
    slack_app: str, invoke: Any, httpserver: HTTPServer, replies: Any
) -> None:
    url = reply_url(httpserver)
    assert invoke(click(slack_app, ACK, response_url=url)) == {"statusCode": 200}
    assert invoke(click(slack_app, RESOLVE, user="U0LEAD", response_url=url)) == {"statusCode": 200}
    item = incident(slack_app)
    assert item is not None
    assert item["status"] == "resolved"
    assert item["resolved_by"] == "slack:U0LEAD"
    assert item["acknowledged_by"] == "slack:U0ONCALL1"  # kept
    assert "resolved" in replies()[-1]["text"]
    # The alarm no longer names it as open: its next ALARM opens a new incident.
    later = load_event("cpu_alarm.json")
    sns = later["Records"][0]["Sns"]
    message = json.loads(sns["Message"])
    message["StateChangeTime"] = "2030-01-01T00:00:00.000+0000"
    sns.update(MessageId="after-the-click", Message=json.dumps(message))
    (notification,) = parse.notifications(later)
    assert incidents.record(notification) is incidents.Outcome.OPENED


def test_resolve_click_on_an_active_incident(slack_app: str, invoke: Any) -> None:
    assert invoke(click(slack_app, RESOLVE, user="U0LEAD")) == {"statusCode": 200}
    item = incident(slack_app)
    assert item is not None
    assert (item["status"], item["resolved_by"]) == ("resolved", "slack:U0LEAD")


def test_korean_replies(
    slack_app: str,
    invoke: Any,
    httpserver: HTTPServer,
    replies: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from alert_service import config

    monkeypatch.setenv("ALERT_LOCALE", "ko")
    config.display_settings.cache_clear()
    invoke(click(slack_app, ACK, response_url=reply_url(httpserver)))
    invoke(click(slack_app, ACK, user="U0OTHER", response_url=reply_url(httpserver)))
    first, second = (r["text"] for r in replies())
    assert "확인(Acknowledge) 처리했습니다" in first
    assert "이미 *확인됨* 상태입니다 (<@U0ONCALL1>)" in second


# --- one outcome -----------------------------------------------------------------------------
def test_second_click_changes_nothing_and_says_who_was_first(
    slack_app: str, invoke: Any, httpserver: HTTPServer, replies: Any
) -> None:
    url = reply_url(httpserver)
    invoke(click(slack_app, ACK, user="U0FIRST", response_url=url))
    before = incident(slack_app)
    assert invoke(click(slack_app, ACK, user="U0SECOND", response_url=url)) == {"statusCode": 200}
    assert incident(slack_app) == before
    text = replies()[-1]["text"]
    assert "already *acknowledged*" in text
    assert "<@U0FIRST>" in text
    assert "Nothing changed" in text


def test_stale_card_click_on_a_resolved_incident_changes_nothing(
    slack_app: str, invoke: Any, httpserver: HTTPServer, replies: Any
) -> None:
    # CloudWatch's OK resolved it; the card in Slack may still show the buttons.
    for notification in parse.notifications(load_event("cpu_ok.json")):
        incidents.record(notification)
    before = incident(slack_app)
    assert before is not None
    assert before["status"] == "resolved"
    url = reply_url(httpserver)
    for action in (ACK, RESOLVE):
        assert invoke(click(slack_app, action, response_url=url)) == {"statusCode": 200}
    assert incident(slack_app) == before
    for reply in replies():
        assert "already *resolved* (by cloudwatch:OK)" in reply["text"]


def test_unknown_incident_changes_nothing(
    slack_app: str, invoke: Any, httpserver: HTTPServer, replies: Any
) -> None:
    missing = "INC-20240101000000-0000000000000000"
    assert invoke(click(missing, ACK, response_url=reply_url(httpserver))) == {"statusCode": 200}
    assert incident(missing) is None
    assert "not found" in replies()[-1]["text"]


@pytest.mark.parametrize("second", [ACK, RESOLVE])
def test_two_people_clicking_at_once_leave_one_outcome(
    slack_app: str, invoke: Any, httpserver: HTTPServer, replies: Any, second: str
) -> None:
    url = reply_url(httpserver)
    invoke({"headers": {}})  # warm: the module's clients and caches exist before the race
    barrier = threading.Barrier(2)
    answers: dict[str, dict[str, Any]] = {}

    def press(user: str, action: str) -> None:
        event = click(slack_app, action, user=user, response_url=url)
        barrier.wait()
        answers[user] = invoke(event)

    threads = [
        threading.Thread(target=press, args=("U0ALICE", ACK)),
        threading.Thread(target=press, args=("U0BOB", second)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert answers == {"U0ALICE": {"statusCode": 200}, "U0BOB": {"statusCode": 200}}
    item = incident(slack_app)
    assert item is not None
    texts = [r["text"] for r in replies()]
    assert len(texts) == 2
    if second == ACK:
        # Exactly one acknowledgement; the other clicker is told who won.
        assert item["status"] == "acknowledged"
        winner = item["acknowledged_by"].removeprefix("slack:")
        assert winner in ("U0ALICE", "U0BOB")
        assert sum("You acknowledged" in t for t in texts) == 1
        assert sum(f"already *acknowledged* (by <@{winner}>)" in t for t in texts) == 1
    else:
        # Resolve wins either way: from active, or right after the acknowledgement.
        assert item["status"] == "resolved"
        assert item["resolved_by"] == "slack:U0BOB"
        assert sum("You resolved" in t for t in texts) == 1


@pytest.mark.parametrize(
    ("action", "operation", "refusal"),
    [
        (RESOLVE, "resolve", "state"),  # TransactWriteItems cancelled: IncidentStateError
        (ACK, "acknowledge", "conflict"),  # UpdateItem during a transaction
    ],
)
def test_click_cancelled_by_a_concurrent_write_is_not_lost(
    slack_app: str,
    invoke: Any,
    httpserver: HTTPServer,
    replies: Any,
    monkeypatch: pytest.MonkeyPatch,
    action: str,
    operation: str,
    refusal: str,
) -> None:
    """The history writer counting a notification at the same moment cancels the click's write
    while the incident stays open (injected here: moto serialises requests); it is tried again."""
    from botocore.exceptions import ClientError

    real = getattr(incidents, operation)
    calls: list[str] = []

    def once_refused(incident_id: str, **kwargs: Any) -> dict[str, Any]:
        calls.append(incident_id)
        if len(calls) == 1:
            if refusal == "state":
                raise incidents.IncidentStateError(f"{incident_id} changed meanwhile")
            error = {"Error": {"Code": "TransactionConflictException", "Message": "conflict"}}
            raise ClientError(error, "UpdateItem")
        return real(incident_id, **kwargs)

    monkeypatch.setattr(incidents, operation, once_refused)
    event = click(slack_app, action, user="U0ONCALL1", response_url=reply_url(httpserver))
    assert invoke(event) == {"statusCode": 200}
    assert len(calls) == 2
    item = incident(slack_app)
    assert item is not None
    assert item["status"] == ("acknowledged" if action == ACK else "resolved")
    assert "You " in replies()[-1]["text"]


# --- who may click ---------------------------------------------------------------------------
def test_allowlist_refuses_others_and_tells_them(
    slack_app: str,
    invoke: Any,
    httpserver: HTTPServer,
    replies: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SLACK_ALLOWED_USERS", "U0LEAD, U0ONCALL1")
    url = reply_url(httpserver)
    before = incident(slack_app)
    assert invoke(click(slack_app, RESOLVE, user="U0INTERN", response_url=url)) == {
        "statusCode": 200
    }
    assert incident(slack_app) == before
    assert "may not" in replies()[-1]["text"]
    assert invoke(click(slack_app, ACK, user="U0ONCALL1", response_url=url)) == {"statusCode": 200}
    item = incident(slack_app)
    assert item is not None
    assert item["acknowledged_by"] == "slack:U0ONCALL1"


# --- refused requests: nothing changes -------------------------------------------------------
def unchanged_after(slack_app: str, invoke: Any, event: dict[str, Any], status: int) -> None:
    before = incident(slack_app)
    assert invoke(event) == {"statusCode": status}
    assert incident(slack_app) == before


def test_expired_timestamp_is_401(slack_app: str, invoke: Any) -> None:
    stale = int(time.time()) - 301
    unchanged_after(slack_app, invoke, click(slack_app, ACK, timestamp=stale), 401)
    # ... and one from the future alike (302: int() drops up to a second).
    unchanged_after(slack_app, invoke, click(slack_app, ACK, timestamp=int(time.time()) + 302), 401)


def test_timestamp_within_the_window_is_accepted(slack_app: str, invoke: Any) -> None:
    event = click(slack_app, ACK, timestamp=int(time.time()) - 240)
    assert invoke(event) == {"statusCode": 200}


def test_tampered_body_is_401(slack_app: str, invoke: Any) -> None:
    event = click(slack_app, ACK)
    body = base64.b64decode(event["body"]).replace(b"U0ONCALL1", b"U0MALLORY")
    event["body"] = base64.b64encode(body).decode()
    unchanged_after(slack_app, invoke, event, 401)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"x-slack-request-timestamp": "{now}"},
        {"x-slack-signature": "v0=" + "0" * 64},
        {"x-slack-request-timestamp": "{now}", "x-slack-signature": "v0=" + "0" * 64},
        {"x-slack-request-timestamp": "soon", "x-slack-signature": "v0=" + "0" * 64},
        {"x-slack-request-timestamp": "{now}", "x-slack-signature": "v0=ñ"},
    ],
    ids=["none", "no-signature", "no-timestamp", "wrong", "bad-timestamp", "non-ascii"],
)
def test_unsigned_or_wrongly_signed_is_401(
    slack_app: str, invoke: Any, headers: dict[str, str]
) -> None:
    now = str(int(time.time()))
    body = form_body(block_actions(slack_app, ACK))
    headers = {k: v.replace("{now}", now) for k, v in headers.items()}
    unchanged_after(slack_app, invoke, function_url_event(body, headers), 401)


def test_signed_with_another_secret_is_401(slack_app: str, invoke: Any) -> None:
    event = signed_event(block_actions(slack_app, ACK), "another-apps-signing-secret")
    unchanged_after(slack_app, invoke, event, 401)


def test_broken_base64_is_401(slack_app: str, invoke: Any) -> None:
    event = click(slack_app, ACK)
    event["body"] = "!!" + event["body"]
    unchanged_after(slack_app, invoke, event, 401)


def test_plain_body_without_base64_is_verified_too(slack_app: str, invoke: Any) -> None:
    payload = block_actions(slack_app, ACK)
    event = signed_event(payload, SIGNING_SECRET, base64_encoded=False)
    assert invoke(event) == {"statusCode": 200}
    item = incident(slack_app)
    assert item is not None
    assert item["status"] == "acknowledged"


def test_sns_event_is_401(slack_app: str, invoke: Any) -> None:
    unchanged_after(slack_app, invoke, load_event("cpu_alarm.json"), 401)


def test_body_over_64_kib_is_413_signed_or_not(slack_app: str, invoke: Any) -> None:
    payload = block_actions(slack_app, ACK)
    payload["padding"] = "x" * 65_536
    unchanged_after(slack_app, invoke, signed_event(payload, SIGNING_SECRET), 413)
    unchanged_after(slack_app, invoke, function_url_event(form_body(payload), {}), 413)
    # Exactly 64 KiB decoded is allowed (then judged on its signature and content).
    body = form_body(block_actions(slack_app, ACK))
    body += b"&pad=" + b"x" * (65_536 - len(body) - 5)
    assert len(body) == 65_536
    assert invoke(signed_event(body, SIGNING_SECRET)) == {"statusCode": 200}


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"hello",
        b"payload=not-json",
        b"payload=%5B1%2C2%5D",  # a JSON list
        b"payload=%7B%7D",  # an object without "type"
        b"payload=%7B%22type%22%3A1%7D",
        b"payload=a&payload=b",
        b"payload=%FF%FE",  # not UTF-8 once decoded
    ],
    ids=["empty", "text", "not-json", "list", "no-type", "type-not-text", "twice", "latin"],
)
def test_signed_but_not_an_interaction_is_400(slack_app: str, invoke: Any, body: bytes) -> None:
    unchanged_after(slack_app, invoke, signed_event(body, SIGNING_SECRET), 400)


def test_signed_binary_body_is_400(slack_app: str, invoke: Any) -> None:
    """Bytes that are not UTF-8 (slack_sdk cannot even sign them; signed here by our own)."""
    from alert_service.slack_app.signature import sign

    body, stamp = b"\xff\xfepayload=", str(int(time.time()))
    headers = {
        "x-slack-request-timestamp": stamp,
        "x-slack-signature": sign(SIGNING_SECRET, stamp, body),
    }
    unchanged_after(slack_app, invoke, function_url_event(body, headers), 400)


def test_block_actions_without_a_user_is_400(slack_app: str, invoke: Any) -> None:
    payload = block_actions(slack_app, ACK)
    del payload["user"]
    unchanged_after(slack_app, invoke, signed_event(payload, SIGNING_SECRET), 400)


@pytest.mark.parametrize(
    "payload",
    [
        {"type": "view_submission", "view": {"id": "V1"}, "user": {"id": "U0ONCALL1"}},
        {"type": "shortcut", "callback_id": "x", "user": {"id": "U0ONCALL1"}},
        {"type": "block_suggestion", "action_id": "incident_ack", "user": {"id": "U0ONCALL1"}},
    ],
    ids=["view_submission", "shortcut", "block_suggestion"],
)
def test_other_interactions_are_200_and_change_nothing(
    slack_app: str, invoke: Any, payload: dict[str, Any]
) -> None:
    unchanged_after(slack_app, invoke, signed_event(payload, SIGNING_SECRET), 200)


def test_other_buttons_are_200_and_change_nothing(slack_app: str, invoke: Any) -> None:
    payload = block_actions(slack_app, "open_runbook")
    unchanged_after(slack_app, invoke, signed_event(payload, SIGNING_SECRET), 200)


# --- the reply -------------------------------------------------------------------------------
def test_reply_goes_only_to_slack_or_an_allowed_loopback(
    slack_app: str,
    invoke: Any,
    httpserver: HTTPServer,
    replies: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SLACK_ALLOW_INSECURE_WEBHOOK", "false")
    assert invoke(click(slack_app, ACK, response_url=reply_url(httpserver))) == {"statusCode": 200}
    item = incident(slack_app)
    assert item is not None
    assert item["status"] == "acknowledged"  # the click counts; only the reply is withheld
    assert replies() == []


def test_reply_failure_never_breaks_the_200(
    slack_app: str, invoke: Any, httpserver: HTTPServer
) -> None:
    httpserver.expect_request(REPLY_PATH, method="POST").respond_with_data("used_url", status=404)
    assert invoke(click(slack_app, ACK, response_url=reply_url(httpserver))) == {"statusCode": 200}
    # Nothing listens on port 9 (discard): connection refused.
    unreachable = "http://127.0.0.1:9/actions/T0/1/x"
    assert invoke(click(slack_app, RESOLVE, response_url=unreachable)) == {"statusCode": 200}
    item = incident(slack_app)
    assert item is not None
    assert item["status"] == "resolved"


def test_reply_does_not_follow_redirects(
    slack_app: str, invoke: Any, httpserver: HTTPServer
) -> None:
    httpserver.expect_request(REPLY_PATH, method="POST").respond_with_data(
        "", status=307, headers={"Location": httpserver.url_for("/elsewhere")}
    )
    assert invoke(click(slack_app, ACK, response_url=reply_url(httpserver))) == {"statusCode": 200}
    assert [r.path for r, _ in httpserver.log] == [REPLY_PATH]


def test_reply_sent_when_lambda_initialised_long_before_the_click(
    slack_app: str, httpserver: HTTPServer, replies: Any
) -> None:
    """Lambda may initialise ahead of demand: the first click still gets its reply (its time is
    counted from the request, not from an init a minute earlier)."""
    fn = load_function("slack_actions")
    fn._INIT_STARTED = time.monotonic() - 60
    event = click(slack_app, ACK, response_url=reply_url(httpserver))
    assert fn.handler(event, FakeLambdaContext("slack-actions")) == {"statusCode": 200}
    assert len(replies()) == 1


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://hooks.slack.com/actions/T0/1/abc", True),
        ("http://hooks.slack.com/actions/T0/1/abc", False),
        ("https://hooks.slack.com.evil.example/actions", False),
        ("https://evil.example/?https://hooks.slack.com/", False),
        ("https://slack.com/api/chat.postMessage", False),
        ("http://127.0.0.1:8080/x", False),
        ("file:///etc/passwd", False),
        ("not a url", False),
    ],
)
def test_response_url_policy(url: str, ok: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    from alert_service.slack_app import actions

    monkeypatch.delenv("SLACK_ALLOW_INSECURE_WEBHOOK", raising=False)
    assert (actions.response_url_problem(url) is None) is ok


# --- secrets stay secret ---------------------------------------------------------------------
def test_secrets_and_response_url_never_in_output(
    slack_app: str,
    httpserver: HTTPServer,
    replies: Any,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Even with Powertools told to log every event (the event holds the response_url).
    monkeypatch.setenv("POWERTOOLS_LOGGER_LOG_EVENT", "true")
    fn = load_function("slack_actions")

    def invoke(event: dict[str, Any]) -> dict[str, Any]:
        return fn.handler(event, FakeLambdaContext("slack-actions"))

    events = [
        click(slack_app, ACK, response_url=reply_url(httpserver)),
        click(slack_app, ACK, response_url="http://127.0.0.1:9/actions/T0/1/x"),
        signed_event(block_actions(slack_app, ACK), "wrong-secret"),
    ]
    for event in events:
        invoke(event)
    captured = capsys.readouterr()
    text = captured.out + captured.err + caplog.text
    assert "slack action" in text  # the handler did log
    bodies = [event["body"] for event in events]  # base64: the response_url is inside
    for secret in (SIGNING_SECRET, BOT_TOKEN, REPLY_PATH, "/actions/T0/1/x", *bodies):
        assert secret not in text


def test_unreadable_secret_fails_without_naming_values(
    slack_app: str, invoke: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLACK_APP_SECRET_ID", "ott/slack/missing")
    secrets.reset()
    with pytest.raises(secrets.SlackSecretError, match="ott/slack/missing") as raised:
        invoke(click(slack_app, ACK))
    assert SIGNING_SECRET not in str(raised.value)
    item = incident(slack_app)
    assert item is not None
    assert item["status"] == "active"


# --- Silence 1h (issue 12) -------------------------------------------------------------------
SILENCE = "incident_silence_1h"


def silences() -> list[Any]:
    from datetime import UTC, datetime

    from alert_service.silences.store import SilenceStore

    return SilenceStore(TABLE).recent(datetime.now(UTC))


def test_silence_click_silences_the_alarm_for_an_hour_and_tells_the_clicker(
    slack_app: str, invoke: Any, httpserver: HTTPServer, replies: Any
) -> None:
    from datetime import UTC, datetime, timedelta

    from alert_service.alarm import Alarm, State

    url = reply_url(httpserver)
    before = datetime.now(UTC)
    assert invoke(click(slack_app, SILENCE, user="U0ONCALL1", response_url=url)) == {
        "statusCode": 200
    }
    (silence,) = silences()
    assert silence.match == "OTT-DB-CPU-Utilization-High"
    assert (silence.account, silence.region) == ("123456789012", "ap-northeast-2")
    assert silence.created_by == "slack:U0ONCALL1"
    assert slack_app in silence.comment
    assert timedelta(minutes=59) < silence.ends_at - before <= timedelta(minutes=61)
    (reply,) = replies()
    assert reply["response_type"] == "ephemeral"
    assert silence.id in reply["text"]
    assert "until" in reply["text"]
    # The incident itself is untouched (the silence holds the alarm's next notifications).
    assert (incident(slack_app) or {})["status"] == "active"
    # It holds this alarm only: not one whose name merely starts the same way.
    now = datetime.now(UTC)
    same = Alarm(
        name="OTT-DB-CPU-Utilization-High",
        state=State.ALARM,
        account="123456789012",
        region="ap-northeast-2",
    )
    longer = Alarm(
        name="OTT-DB-CPU-Utilization-High-2",
        state=State.ALARM,
        account="123456789012",
        region="ap-northeast-2",
    )
    assert silence.holds(same, now)
    assert not silence.holds(longer, now)

    # A second click (or a colleague at once) adds none and names the silence that holds it.
    assert invoke(click(slack_app, SILENCE, user="U0LEAD", response_url=url)) == {"statusCode": 200}
    assert [s.id for s in silences()] == [silence.id]
    assert silence.id in replies()[-1]["text"]
    assert "already" in replies()[-1]["text"]


def test_silence_click_escapes_glob_characters_of_the_alarm_name(
    slack_app: str, invoke: Any
) -> None:
    boto3.client("dynamodb").update_item(
        TableName=TABLE,
        Key={"pk": {"S": f"INC#{slack_app}"}, "sk": {"S": "META"}},
        UpdateExpression="SET alarm_name = :n",
        ExpressionAttributeValues={":n": {"S": "DB-[prod]-CPU*"}},
    )
    assert invoke(click(slack_app, SILENCE)) == {"statusCode": 200}
    (silence,) = silences()
    from fnmatch import fnmatchcase

    assert fnmatchcase("DB-[prod]-CPU*", silence.match)
    assert not fnmatchcase("DB-p-CPU-anything", silence.match)


def test_silence_click_of_a_user_not_allowed_changes_nothing(
    slack_app: str, invoke: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLACK_ALLOWED_USERS", "U0LEAD")
    assert invoke(click(slack_app, SILENCE, user="U0STRANGER")) == {"statusCode": 200}
    assert silences() == []


def test_silence_click_with_a_bad_signature_is_401_and_changes_nothing(
    slack_app: str, invoke: Any
) -> None:
    event = click(slack_app, SILENCE)
    event["headers"]["x-slack-signature"] = "v0=" + "0" * 64
    assert invoke(event) == {"statusCode": 401}
    assert silences() == []


def test_silence_click_on_an_unknown_incident_silences_nothing(slack_app: str, invoke: Any) -> None:
    assert invoke(click("INC-20990101000000-0000000000000000", SILENCE)) == {"statusCode": 200}
    assert silences() == []
