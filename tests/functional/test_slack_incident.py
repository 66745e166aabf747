"""SlackIncidentFunction against moto's DynamoDB stream and a loopback Slack Web API over real HTTP.

Notifications go through the real history writer (AlarmHistoryFunction's handler), the table's
stream is read back from moto and handed to the function in Lambda's shape, and every assertion is
about what reached the loopback Slack (messages, threads, edits) or the incident item.
"""

from __future__ import annotations

import time
from typing import Any

import boto3
import pytest
from slack_incident_support import (
    CHANNEL,
    SECRET_ID,
    TABLE,
    WRONG_TOKEN,
    IncidentView,
    alarm_event,
    buttons,
    card_text,
    incident_view_fixture,  # noqa: F401 - fixture
    put_app_secret,
    slack_api_fixture,  # noqa: F401 - fixture
)

CPU = "OTT-DB-CPU-Utilization-High"


def alarm_at(minute: int, name: str = "cpu_alarm.json", **fields: Any) -> dict[str, Any]:
    """The CPU alarm again, ``minute`` minutes after 07:00 (a later notification)."""
    return alarm_event(name, StateChangeTime=f"2024-01-12T07:{minute:02d}:00.000+0000", **fields)


def incident_id_of(view: IncidentView) -> str:
    roots = view.slack.roots()
    assert len(roots) == 1
    value = buttons(roots[0].payload)[0]["value"] if buttons(roots[0].payload) else None
    return str(value)


def only_root(view: IncidentView) -> Any:
    roots = view.slack.roots()
    assert len(roots) == 1, [r.payload.get("text") for r in roots]
    return roots[0]


# --------------------------------------------------------------------------------------------
# The contract's rules, one change at a time
# --------------------------------------------------------------------------------------------
def test_first_notification_posts_the_root_and_keeps_its_ts(incident_view: IncidentView) -> None:
    incident_view.notify(alarm_at(30))
    incident_view.pump()

    posts = incident_view.calls("chat.postMessage")
    assert len(posts) == 1
    assert incident_view.calls("chat.update") == []
    post = posts[0]
    assert post.payload["channel"] == CHANNEL
    assert "thread_ts" not in post.payload
    assert post.headers["content-type"].startswith("application/json")
    text = card_text(post.payload)
    incident = incident_id_of(incident_view)
    assert incident.startswith("INC-20240112073000-")
    for expected in (CPU, incident, "active", "1"):
        assert expected in text
    assert [(b["action_id"], b["value"]) for b in buttons(post.payload)] == [
        ("incident_ack", incident),
        ("incident_resolve", incident),
        ("incident_silence_1h", incident),  # issue 12: an addition to the contract's two
    ]
    item = incident_view.incident(incident)
    assert item["slack_channel"] == post.answer["channel"] == CHANNEL
    assert item["slack_ts"] == post.answer["ts"]


def test_later_notification_is_a_thread_reply_and_an_update(incident_view: IncidentView) -> None:
    incident_view.notify(alarm_at(30))
    incident_view.pump()
    root = only_root(incident_view)
    incident_view.notify(
        alarm_at(35, NewStateReason="Threshold Crossed: [97.5 (12/01/24 07:35:00)]")
    )
    incident_view.pump()

    posts = incident_view.calls("chat.postMessage")
    updates = incident_view.calls("chat.update")
    assert len(posts) == 2
    assert len(updates) == 1
    reply = posts[1].payload
    assert reply["thread_ts"] == root.ts
    assert reply["channel"] == CHANNEL
    assert "ALARM" in reply["text"]
    assert "97.5" in reply["text"]  # value (vs threshold) and the reason
    assert "80%" in reply["text"]
    update = updates[0].payload
    assert (update["channel"], update["ts"]) == (CHANNEL, root.ts)
    assert "2" in card_text(update)
    assert len(root.replies) == 1
    assert root.edits == 1


def test_a_routing_rule_picks_the_incident_views_channel(
    incident_view: IncidentView, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    # Issue 13: a rule names the Slack channel of the incident view; the thread and the updates
    # follow the root wherever it went.
    from alert_service.routing.loader import shipped_table

    rules = tmp_path / "routing.yaml"
    rules.write_text(
        "version: 1\n"
        "rules:\n"
        "  - name: dba\n"
        "    match: {alarm_name: 'OTT-DB-CPU-*'}\n"
        "    slack_channel: C0DBA00001\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("ALERT_ROUTING_FILE", str(rules))
    shipped_table.cache_clear()
    incident_view.slack.channels.add("C0DBA00001")  # the bot is in the DBA channel too
    incident_view.notify(alarm_at(30))
    incident_view.notify(alarm_at(35))
    incident_view.notify(alarm_event("plain_text.json"))  # a notice: the default route
    incident_view.pump()

    posts = incident_view.calls("chat.postMessage")
    root, reply, notice = posts
    assert "OTT-DB-CPU" in card_text(root.payload)
    assert root.payload["channel"] == "C0DBA00001"
    assert (reply.payload["channel"], reply.payload["thread_ts"]) == (
        "C0DBA00001",
        root.answer["ts"],
    )
    (update,) = incident_view.calls("chat.update")
    assert update.payload["channel"] == "C0DBA00001"
    incident = buttons(root.payload)[0]["value"]
    assert incident_view.incident(incident)["slack_channel"] == "C0DBA00001"
    assert notice.payload["channel"] == CHANNEL
    assert "thread_ts" not in notice.payload


def test_ok_that_resolves_is_one_reply_and_removes_the_buttons(
    incident_view: IncidentView,
) -> None:
    incident_view.notify(alarm_at(30))
    incident_view.pump()
    incident_view.notify(alarm_event("cpu_ok.json"))
    incident_view.pump()

    root = only_root(incident_view)
    assert len(root.replies) == 1, "an OK that resolves is one change: one reply"
    assert len(incident_view.calls("chat.update")) == 1
    text = card_text(root.payload)
    assert "resolved" in text
    assert "CloudWatch" in text
    assert "25분" in text  # how long it lasted: 07:30 -> 07:55
    assert buttons(root.payload) == []
    assert incident_view.calls("chat.update")[0].payload["blocks"] == []
    assert "OK" in root.replies[0].payload["text"]


def test_acknowledge_then_cli_resolve_show_who(incident_view: IncidentView) -> None:
    from alert_service import incidents

    incident_view.notify(alarm_at(30))
    incident_view.pump()
    incident = incident_id_of(incident_view)
    incidents.acknowledge(incident, by="slack:U0123ABCD")
    incident_view.pump()
    root = only_root(incident_view)
    text = card_text(root.payload)
    assert "acknowledged" in text
    assert "<@U0123ABCD>" in text
    assert len(buttons(root.payload)) == 3, "still open: the buttons stay"
    assert len(root.replies) == 1
    assert "<@U0123ABCD>" in root.replies[0].payload["text"]

    incidents.resolve(incident, by="cli:alice")
    incident_view.pump()
    text = card_text(root.payload)
    assert "resolved" in text
    assert "CLI (alice)" in text
    assert buttons(root.payload) == []
    assert len(root.replies) == 2
    assert len(incident_view.calls("chat.update")) == 2


def test_a_notice_is_one_top_level_post_and_a_stray_ok_none(incident_view: IncidentView) -> None:
    incident_view.notify(alarm_event("plain_text.json"))
    incident_view.notify(alarm_event("cpu_ok.json"))  # nothing open: history only
    incident_view.pump()
    posts = incident_view.calls("chat.postMessage")
    assert len(posts) == 1
    assert "thread_ts" not in posts[0].payload
    assert posts[0].payload["channel"] == CHANNEL
    assert "Aurora MySQL" in card_text(posts[0].payload)


def test_alarm_text_is_escaped(incident_view: IncidentView) -> None:
    incident_view.notify(alarm_at(30, AlarmName="<!channel> & <https://evil.example|x>"))
    incident_view.pump()
    text = card_text(only_root(incident_view).payload)
    assert "<!channel>" not in text
    assert "&lt;!channel&gt; &amp; &lt;https://evil.example|x&gt;" in text


# --------------------------------------------------------------------------------------------
# What the stream really does
# --------------------------------------------------------------------------------------------
def test_a_redelivered_batch_changes_nothing(incident_view: IncidentView) -> None:
    incident_view.notify(alarm_at(30))
    incident_view.notify(alarm_at(35))
    incident_view.notify(alarm_event("cpu_ok.json"))
    records = incident_view.records()
    incident_view.deliver(records)
    before = len(incident_view.slack.calls)
    incident_view.deliver(records)  # the same batch again (at least once)
    incident_view.deliver(records[3:])  # and a tail of it
    assert len(incident_view.slack.calls) == before
    root = only_root(incident_view)
    assert len(root.replies) == 2


def test_only_the_contract_variables_still_post_once(
    incident_view: IncidentView, monkeypatch: pytest.MonkeyPatch
) -> None:
    # CONTRACT.md gives the function SLACK_APP_SECRET_ID, SLACK_API_URL and HISTORY_TABLE_NAME:
    # without IDEMPOTENCY_TABLE_NAME the once-only records live in the history table.
    from alert_service import delivery

    monkeypatch.delenv("IDEMPOTENCY_TABLE_NAME")
    delivery.reset()
    incident_view.notify(alarm_at(30))
    incident_view.notify(alarm_at(35))
    records = incident_view.records()
    incident_view.deliver(records)
    before = len(incident_view.slack.calls)
    incident_view.deliver(records)
    # The claims' own stream records (pk ONCE#delivery) are not changes to show.
    incident_view.deliver(incident_view.records())
    assert len(incident_view.slack.calls) == before
    root = only_root(incident_view)
    assert len(root.replies) == 1


def test_own_writes_come_back_and_are_ignored(incident_view: IncidentView) -> None:
    incident_view.notify(alarm_at(30))
    incident_view.pump()
    own = incident_view.records()
    # The root's ts written on the incident item: a MODIFY of slack_* only.
    assert own
    assert all(r["eventName"] == "MODIFY" for r in own)
    for record in own:
        new, old = record["dynamodb"]["NewImage"], record["dynamodb"]["OldImage"]
        assert {k for k in new.keys() | old.keys() if new.get(k) != old.get(k)} <= {
            "slack_channel",
            "slack_ts",
        }
    before = len(incident_view.slack.calls)
    incident_view.deliver(own)
    assert len(incident_view.slack.calls) == before
    assert incident_view.results[-1] == {"batchItemFailures": []}


def test_two_notifications_of_a_new_incident_in_one_batch(incident_view: IncidentView) -> None:
    incident_view.notify(alarm_at(30))
    incident_view.notify(alarm_at(31))
    records = incident_view.records()
    assert [r["eventName"] for r in records].count("INSERT") >= 2
    incident_view.deliver(records)
    root = only_root(incident_view)
    assert len(incident_view.calls("chat.postMessage")) == 2  # the root and one reply
    assert len(root.replies) == 1
    assert root.replies[0].payload["thread_ts"] == root.ts
    assert len(incident_view.calls("chat.update")) == 1
    assert "2건" in card_text(root.payload)


def test_changes_of_one_incident_in_a_batch_share_one_update(incident_view: IncidentView) -> None:
    incident_view.notify(alarm_at(30))
    incident_view.pump()
    for minute in range(31, 36):
        incident_view.notify(alarm_at(minute))
    incident_view.notify(alarm_event("cpu_ok.json"))
    incident_view.pump()
    root = only_root(incident_view)
    assert len(root.replies) == 6  # five notifications and the resolving OK
    assert len(incident_view.calls("chat.update")) == 1  # coalesced
    text = card_text(root.payload)
    assert "resolved" in text
    assert "7건" in text


def test_partial_failure_retries_only_what_is_missing(incident_view: IncidentView) -> None:
    incident_view.notify(alarm_at(30))
    incident_view.pump()
    for minute in (31, 32, 33):
        incident_view.notify(alarm_at(minute))
    records = incident_view.records()
    incident_view.slack.fail_next("internal_error", status=500)  # the first reply fails
    run = incident_view.deliver(records)
    assert run.retries == 1
    first, retry = incident_view.results[-2:]
    assert first["batchItemFailures"], "the failed record is reported"
    assert retry == {"batchItemFailures": []}
    root = only_root(incident_view)
    counts = [r.payload["text"] for r in root.replies]
    assert len(counts) == 3, counts
    assert len(set(counts)) == 3, "no reply twice"
    assert "4건" in card_text(root.payload)


def test_ratelimited_then_ok(incident_view: IncidentView) -> None:
    incident_view.notify(alarm_at(30))
    incident_view.slack.fail_next("ratelimited", status=429, retry_after=1)
    started = time.monotonic()
    incident_view.pump()
    assert time.monotonic() - started >= 1.0, "Retry-After was honoured"
    calls = [c for c in incident_view.slack.calls if c.method == "chat.postMessage"]
    assert [c.status for c in calls] == [429, 200]
    assert len(incident_view.slack.roots()) == 1
    assert incident_view.results[-1] == {"batchItemFailures": []}


def test_ratelimited_with_http_200_is_retried_too(incident_view: IncidentView) -> None:
    incident_view.notify(alarm_at(30))
    incident_view.slack.fail_next("ratelimited", status=200, retry_after=1)
    incident_view.pump()
    assert len(incident_view.slack.roots()) == 1
    assert incident_view.results[-1] == {"batchItemFailures": []}


def test_invalid_auth_fails_naming_the_secret_never_the_token(
    incident_view: IncidentView,
) -> None:
    put_app_secret(WRONG_TOKEN, CHANNEL)
    incident_view.notify(alarm_at(30))
    run = incident_view.pump(max_retries=1)
    assert incident_view.slack.roots() == []
    assert run.given_up, "the record fails (retried, then to the failure destination)"
    failures = incident_view.results[-1]["batchItemFailures"]
    assert len(failures) == 1
    log = incident_view.logs.getvalue()
    assert "invalid_auth" in log
    assert SECRET_ID in log
    # The fixture checks that neither token appears in any output.

    put_app_secret(incident_view.slack.token, CHANNEL)  # fixed: the retry goes through
    incident_view.deliver(run.given_up)
    assert len(incident_view.slack.roots()) == 1


def test_a_rotated_token_is_picked_up_at_once(incident_view: IncidentView) -> None:
    incident_view.notify(alarm_at(30))
    incident_view.pump()  # the secret is cached now
    incident_view.slack.token = "xoxb-111-222-R0TATEDxxxxxxxxxxxxxxxxxxx"
    put_app_secret(incident_view.slack.token, CHANNEL)
    incident_view.notify(alarm_at(31))
    incident_view.pump()
    assert incident_view.results[-1] == {"batchItemFailures": []}
    assert len(only_root(incident_view).replies) == 1


def test_channel_not_found_fails_clearly(incident_view: IncidentView) -> None:
    put_app_secret(incident_view.slack.token, "C0NOSUCHCHANNEL")
    incident_view.notify(alarm_at(30))
    incident_view.pump(max_retries=0)
    assert incident_view.results[-1]["batchItemFailures"]
    log = incident_view.logs.getvalue()
    assert "channel_not_found" in log
    assert SECRET_ID in log


def test_a_loopback_api_url_is_refused_unless_allowed(
    incident_view: IncidentView, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SLACK_ALLOW_INSECURE_WEBHOOK")
    incident_view.notify(alarm_at(30))
    incident_view.pump(max_retries=0)
    assert incident_view.slack.calls == []
    assert incident_view.results[-1]["batchItemFailures"]
    assert "SLACK_ALLOW_INSECURE_WEBHOOK" in incident_view.logs.getvalue()


def test_not_a_stream_event_fails(incident_view: IncidentView) -> None:
    from alert_service.slack_app.projection import NotAStreamEvent

    with pytest.raises(NotAStreamEvent):
        incident_view.invoke(alarm_event())
    assert incident_view.slack.calls == []


def test_incident_item_keeps_every_other_attribute(incident_view: IncidentView) -> None:
    """Keeping the root's ts touches slack_channel and slack_ts only."""
    incident_view.notify(alarm_at(30))
    ddb = boto3.client("dynamodb")
    before = ddb.scan(TableName=TABLE)["Items"]
    incident_view.pump()
    after = ddb.scan(TableName=TABLE)["Items"]
    strip = [{k: v for k, v in i.items() if not k.startswith("slack_")} for i in after]
    assert sorted(map(str, strip)) == sorted(map(str, before))


# --- silences (issue 12): the incident view skips a silenced notification --------------------
def recent(minutes_ago: float) -> str:
    from datetime import UTC, datetime, timedelta

    moment = datetime.now(UTC) - timedelta(minutes=minutes_ago)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.000+0000"


def silence_cpu(minutes: int = 60) -> str:
    from datetime import UTC, datetime, timedelta

    from alert_service.silences.model import new_silence
    from alert_service.silences.store import SilenceStore

    silence = new_silence(
        match="OTT-DB-CPU-*",
        created_by="kim",
        comment="failover test",
        now=datetime.now(UTC) - timedelta(minutes=30),
        duration=timedelta(minutes=minutes),
    )
    return SilenceStore(TABLE).add(silence).id


def end_silence(silence: str) -> None:
    from datetime import UTC, datetime, timedelta

    from alert_service.silences import store
    from alert_service.silences.store import SilenceStore

    SilenceStore(TABLE).expire(silence, by="kim", now=datetime.now(UTC) - timedelta(minutes=2))
    store.reset()  # seen by another process within SILENCE_CACHE_SECONDS


def test_a_silenced_incident_posts_nothing_until_a_notification_is_not_silenced(
    incident_view: IncidentView,
) -> None:
    silence = silence_cpu()
    incident_view.notify(alarm_event(StateChangeTime=recent(10)))
    incident_view.notify(alarm_event(StateChangeTime=recent(9)))
    records = incident_view.records()
    # The silence's hit counter and the flap counts never reach the function (FilterCriteria).
    kinds = {r["dynamodb"]["NewImage"]["type"]["S"] for r in records}
    assert kinds == {"event", "incident"}
    run = incident_view.deliver(records)
    assert run.given_up == []
    assert incident_view.calls("chat.postMessage") == []  # nobody is notified
    assert incident_view.calls("chat.update") == []

    end_silence(silence)
    incident_view.notify(alarm_event(StateChangeTime=recent(0)))
    incident_view.pump()
    (root,) = incident_view.slack.roots()  # posted now, showing the incident as it is
    text = card_text(root.payload)
    assert "3" in text
    assert "사일런스됨" not in text
    assert len(root.replies) == 1  # the notification that was not silenced


def test_a_silenced_notification_of_a_posted_incident_only_updates_its_card(
    incident_view: IncidentView,
) -> None:
    incident_view.notify(alarm_event(StateChangeTime=recent(10)))
    incident_view.pump()
    (root,) = incident_view.slack.roots()
    silence = silence_cpu()
    incident_view.notify(alarm_event(StateChangeTime=recent(5)))
    incident_view.notify(alarm_event("cpu_ok.json", StateChangeTime=recent(4)))  # resolves
    incident_view.pump()
    assert root.replies == []  # no reply: nobody is notified
    (update,) = incident_view.calls("chat.update")  # one coalesced, silent update
    text = card_text(update.payload)
    assert "사일런스됨" in text
    assert silence in text
    assert "resolved" in text
    assert buttons(update.payload) == []
