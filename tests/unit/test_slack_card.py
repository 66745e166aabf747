"""The incident card and its thread replies: content, escaping, and Slack's limits (hypothesis)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from alert_service.alarm import Alarm, Notification, State
from alert_service.config import DisplaySettings
from alert_service.slack_app import card
from alert_service.slack_app.projection import changes_of
from hypothesis import given, settings
from hypothesis import strategies as st

KO = DisplaySettings("ko", ZoneInfo("Asia/Seoul"), "OTT")
EN = DisplaySettings("en", ZoneInfo("Asia/Seoul"), "OTT")
INCIDENT = "INC-20240112073000-0123456789abcdef"


def notification(name: str = "OTT-DB-CPU-Utilization-High", **alarm: Any) -> Notification:
    fields: dict[str, Any] = {
        "state": State.ALARM,
        "reason": "Threshold Crossed: 1 datapoint [95.0 (12/01/24 07:25:00)]",
        "region": "ap-northeast-2",
        "account": "123456789012",
        "metric_name": "CPUUtilization",
        "comparison": "GreaterThanOrEqualToThreshold",
        "threshold": 80.0,
        "observed_value": 95.0,
        "period_seconds": 300,
        "evaluation_periods": 1,
        "statistic": "Average",
        "state_changed_at": datetime(2024, 1, 12, 7, 30, tzinfo=UTC),
        **alarm,
    }
    return Notification(message_id="m-1", raw_message="{}", alarm=Alarm(name=name, **fields))


def incident(**extra: Any) -> dict[str, Any]:
    return {
        "incident_id": INCIDENT,
        "alarm_name": "OTT-DB-CPU-Utilization-High",
        "status": "active",
        "alert_count": 1,
        "first_seen_at": "2024-01-12T07:30:00.000Z",
        **extra,
    }


def blocks(message: dict[str, Any]) -> list[dict[str, Any]]:
    out = list(message.get("blocks") or [])
    for attachment in message.get("attachments") or []:
        out.extend(attachment.get("blocks") or [])
    return out


def all_text(message: dict[str, Any]) -> str:
    return json.dumps(message, ensure_ascii=False)


def action_ids(message: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        (element["action_id"], element["value"])
        for block in blocks(message)
        if block["type"] == "actions"
        for element in block["elements"]
    ]


# --------------------------------------------------------------------------------------------
# Content
# --------------------------------------------------------------------------------------------
def test_open_card_has_the_five_fields_incident_facts_and_buttons() -> None:
    message = card.root_message(incident(alert_count=3), notification(), KO)
    text = all_text(message)
    for label in ("대상 리전", "감시 메트릭", "임계치", "발생 시간", "상세 사유"):
        assert label in text
    for fact in (
        INCIDENT,
        "active",
        "3건",
        "2024-01-12 16:30:00 KST",
        "OTT 플랫폼 통합 관제 시스템",
    ):
        assert fact in text
    assert message["attachments"][0]["color"] == "#eb4034"
    assert action_ids(message) == [
        ("incident_ack", INCIDENT),
        ("incident_resolve", INCIDENT),
        ("incident_silence_1h", INCIDENT),
    ]
    assert message["blocks"] == []


def test_acknowledged_card_says_who_and_when_and_keeps_the_buttons() -> None:
    item = incident(
        status="acknowledged",
        acknowledged_by="slack:U0123ABCD",
        acknowledged_at="2024-01-12T07:40:00.000Z",
    )
    message = card.root_message(item, notification(), EN)
    text = all_text(message)
    assert "acknowledged" in text
    assert "<@U0123ABCD>" in text
    assert "2024-01-12 16:40:00 KST" in text
    assert len(action_ids(message)) == 3


def test_resolved_card_says_by_what_and_how_long_without_buttons() -> None:
    item = incident(status="resolved", resolved_by="cloudwatch:OK", duration_seconds=3723)
    message = card.root_message(item, notification(state=State.OK), EN)
    text = all_text(message)
    assert "resolved" in text
    assert "CloudWatch (OK)" in text
    assert "1 h 2 min 3 s" in text
    assert action_ids(message) == []
    assert message["attachments"][0]["color"] == "#2eb886"


def test_card_shows_severity_silenced_and_flapping_marks() -> None:
    plain = card.root_message(incident(), notification(), EN)
    assert "silenced" not in all_text(plain)
    assert "flapping" not in all_text(plain)
    item = incident(
        severity="critical",
        silenced_by=["SIL-20240112070000-a1b2c3"],
        silenced_until="2024-01-12T08:30:00.000Z",
        flapping_since="2024-01-12T07:10:00.000Z",
    )
    text = all_text(card.root_message(item, notification(), EN))
    for fact in (
        "critical",
        "*silenced*",
        "SIL-20240112070000-a1b2c3",
        "until 2024-01-12 17:30:00 KST",
        "*flapping* (since 2024-01-12 16:10:00 KST)",
    ):
        assert fact in text
    ko = all_text(card.root_message(item, notification(), KO))
    assert "사일런스됨" in ko
    assert "플래핑" in ko
    assert card.is_silenced(item)
    assert not card.is_silenced(incident(silenced_by=[]))


def test_card_without_its_event_still_shows_the_incident() -> None:
    message = card.root_message(incident(), None, KO)  # the event item expired (TTL)
    text = all_text(message)
    assert INCIDENT in text
    assert "OTT-DB-CPU-Utilization-High" in text
    assert len(action_ids(message)) == 3


def test_actors_are_shown_safely() -> None:
    assert card.actor("slack:U0123ABCD", "en") == "<@U0123ABCD>"
    assert card.actor("cli:alice", "en") == "CLI (alice)"
    assert card.actor("cli:<!channel>", "en") == "CLI (&lt;!channel&gt;)"
    assert card.actor("slack:<!here>", "en") == "slack:&lt;!here&gt;"


def test_replies_are_short_and_say_state_value_threshold_reason() -> None:
    reply = card.notification_reply(incident(alert_count=2), notification(), EN)["text"]
    assert "#2" in reply
    assert "*ALARM*" in reply
    assert "observed 95% (threshold &gt;= 80%)" in reply
    assert "Threshold Crossed" in reply
    assert len(reply) < 1000
    resolved = incident(status="resolved", resolved_by="slack:U1", duration_seconds=60)
    assert "1 min 0 s" in card.status_reply(resolved, notification(), EN)["text"]


# --------------------------------------------------------------------------------------------
# Stream records -> changes
# --------------------------------------------------------------------------------------------
def record(name: str, new: dict[str, Any], old: dict[str, Any] | None = None) -> dict[str, Any]:
    def low(item: dict[str, Any]) -> dict[str, Any]:
        return {
            k: {"N": str(v)} if isinstance(v, int) else {"NULL": True} if v is None else {"S": v}
            for k, v in item.items()
        }

    data: dict[str, Any] = {"SequenceNumber": "100", "NewImage": low(new)}
    if old is not None:
        data["OldImage"] = low(old)
    return {"eventName": name, "eventSource": "aws:dynamodb", "dynamodb": data}


ITEM = {"pk": f"INC#{INCIDENT}", "sk": "META", "incident_id": INCIDENT, "status": "active"}


def kinds(rec: dict[str, Any]) -> list[tuple[str, str]]:
    return [(c.kind, c.key) for c in changes_of(rec)]


def test_changes_of_incident_records() -> None:
    one, two = {**ITEM, "alert_count": 1}, {**ITEM, "alert_count": 2}
    assert kinds(record("INSERT", one)) == [("opened", f"{INCIDENT}#root")]
    assert kinds(record("MODIFY", two, one)) == [("notification", f"{INCIDENT}#n2")]
    resolved = {**two, "status": "resolved", "alert_count": 3}
    assert kinds(record("MODIFY", resolved, two)) == [("resolved", f"{INCIDENT}#resolved")]
    acked = {**two, "status": "acknowledged"}
    assert kinds(record("MODIFY", acked, two)) == [("acknowledged", f"{INCIDENT}#acknowledged")]
    own = {**two, "slack_channel": "C1", "slack_ts": "1.2"}
    assert kinds(record("MODIFY", own, two)) == []
    assert kinds(record("REMOVE", two, two)) == []


def test_changes_of_event_records() -> None:
    notice = {"pk": "MSG#m1", "sk": "EVENT", "message_id": "m1", "raw_payload": "hello"}
    assert kinds(record("INSERT", notice)) == [("notice", "notice#m1")]
    stray_ok = {**notice, "state": "OK", "alarm_name": "x"}
    assert kinds(record("INSERT", stray_ok)) == []
    joined = {**notice, "incident_id": INCIDENT}
    assert kinds(record("INSERT", joined)) == []
    pointer = {"pk": "OPEN#abc", "sk": "OPEN", "incident_id": INCIDENT}
    assert kinds(record("INSERT", pointer)) == []


# --------------------------------------------------------------------------------------------
# Slack's limits, for any alarm text
# --------------------------------------------------------------------------------------------
any_text = st.text(min_size=0, max_size=6000)
STATUSES = st.sampled_from(["active", "acknowledged", "resolved"])


@settings(max_examples=150, deadline=None)
@given(
    name=st.text(min_size=1, max_size=1500),
    reason=any_text,
    description=st.one_of(st.none(), any_text),
    dims=st.lists(st.tuples(st.text(max_size=300), st.text(max_size=300)), max_size=30),
    children=st.lists(st.text(max_size=300), max_size=30),
    status=STATUSES,
    count=st.integers(min_value=0, max_value=10**9),
    who=st.text(max_size=3000),
    locale=st.sampled_from([KO, EN]),
    severity=st.one_of(st.none(), st.text(max_size=3000)),
    silences=st.lists(st.text(min_size=1, max_size=300), max_size=100),
    flapping_since=st.one_of(st.none(), st.text(max_size=300)),
)
def test_card_stays_within_slacks_limits(
    name: str,
    reason: str,
    description: str | None,
    dims: list[tuple[str, str]],
    children: list[str],
    status: str,
    count: int,
    who: str,
    locale: DisplaySettings,
    severity: str | None,
    silences: list[str],
    flapping_since: str | None,
) -> None:
    event = notification(
        name=name,
        reason=reason,
        description=description,
        dimensions=tuple(dims),
        triggering_children=tuple(children),
    )
    item = incident(
        alarm_name=name,
        status=status,
        alert_count=count,
        acknowledged_by=f"slack:{who}",
        resolved_by=f"cli:{who}",
        duration_seconds=count,
        severity=severity,
        silenced_by=silences,
        silenced_until=who,
        flapping_since=flapping_since,
    )
    for message in (
        card.root_message(item, event, locale),
        card.notification_reply(item, event, locale),
        card.status_reply(item, event, locale),
    ):
        found = blocks(message)
        assert len(found) <= card.MAX_BLOCKS
        for block in found:
            if block.get("text"):
                assert len(block["text"]["text"]) <= card.MAX_SECTION_CHARS
            fields = block.get("fields") or []
            assert len(fields) <= card.MAX_FIELDS_PER_SECTION
            for f in fields:
                assert len(f["text"]) <= card.MAX_FIELD_CHARS
            for element in block.get("elements") or []:
                if element.get("type") == "button":
                    assert len(element["value"]) <= card.MAX_BUTTON_VALUE_CHARS
                    assert len(element["text"]["text"]) <= 75
        assert card.message_chars(message) <= card.MAX_MESSAGE_CHARS
        assert len(message["text"]) <= card.MAX_SECTION_CHARS
        # Alarm text never reaches Slack unescaped: no raw "<" from it can open a mention/link.
        # Every "<" left is the card's own markup (a console link, a user mention); a name of
        # "<" alone is found inside those, so look at what follows each one.
        assert re.findall(r"<(?!https://|@[UW][A-Z0-9]+>)", all_text(message)) == []
    root = card.root_message(item, event, locale)
    assert (status == "resolved") == (action_ids(root) == [])


@settings(max_examples=100, deadline=None)
@given(name=st.text(alphabet=st.characters(blacklist_categories=["Cs"]), min_size=1, max_size=200))
def test_root_text_holds_name_id_status_and_count(name: str) -> None:
    item = incident(alarm_name=name, alert_count=7, status="acknowledged")
    message = card.root_message(item, notification(name=name), KO)
    text = message["text"]
    folded = " ".join(name.split())
    escaped = folded.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    assert escaped in text
    assert INCIDENT in text
    assert "acknowledged" in text
    assert "7" in text
    assert "<" not in text.replace("&lt;", "")
