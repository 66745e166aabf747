"""The Slack payload of every sample event, against CONTRACT.md's "Slack message" section."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from alert_service import config, parse
from alert_service.render import slack
from alert_service.view import NOTICE_COLOR, build_view
from conftest import load_event

RED, GREEN = "#eb4034", "#2eb886"
CPU_REASON = (
    "Threshold Crossed: 1 out of the last 1 datapoints [87.43166666666667 (12/01/24 07:25:00)] "
    "was greater than or equal to the threshold (80.0) (minimum 1 datapoint for OK -&gt; ALARM "
    "transition)."
)
DISPLAY_VARS = ("ALERT_LOCALE", "ALERT_TIMEZONE", "ALERT_PLATFORM_NAME")

Render = Callable[..., dict[str, Any]]


@pytest.fixture
def render(monkeypatch: pytest.MonkeyPatch) -> Iterator[Render]:
    """render(event_or_name, index=0, **env) -> the Slack payload, with settings read from env."""

    def _render(event: str | dict[str, Any], index: int = 0, **env: str) -> dict[str, Any]:
        for name in DISPLAY_VARS:
            monkeypatch.delenv(name, raising=False)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        config.display_settings.cache_clear()
        if isinstance(event, str):
            event = load_event(event)
        notification = parse.notifications(event)[index]
        return slack.render(build_view(notification, config.display_settings()))

    yield _render
    config.display_settings.cache_clear()


def fields(payload: dict[str, Any]) -> dict[str, str]:
    return {f["title"]: f["value"] for f in payload["attachments"][0]["fields"]}


def event_with_message(name: str, **changes: Any) -> dict[str, Any]:
    """A sample event whose alarm message has some fields replaced."""
    event = load_event(name)
    sns = event["Records"][0]["Sns"]
    message = json.loads(sns["Message"])
    message.update(changes)
    sns["Message"] = json.dumps(message)
    return event


def test_cpu_alarm_is_exactly_the_contract_payload(render: Render) -> None:
    payload = render("cpu_alarm.json")
    assert payload["text"] == "🚨 *[OTT 인프라 감지]* 상태가 *ALARM*로 변경되었습니다."
    (attachment,) = payload["attachments"]
    assert attachment["color"] == RED
    assert attachment["title"] == "경보 상세: OTT-DB-CPU-Utilization-High"
    assert attachment["fields"][:5] == [
        {"title": "대상 리전", "value": "ap-northeast-2", "short": True},
        {"title": "감시 메트릭", "value": "CPUUtilization", "short": True},
        {"title": "임계치", "value": "80%", "short": True},
        {"title": "발생 시간", "value": "2024-01-12 16:30:00 KST", "short": True},
        {"title": "상세 사유", "value": CPU_REASON, "short": False},
    ]
    assert attachment["footer"] == "OTT 플랫폼 통합 관제 시스템"
    assert attachment["ts"] == 1705044600
    assert isinstance(attachment["ts"], int)
    # Extra fields follow the five: the observed value in the metric's unit, the condition.
    extra = fields(payload)
    assert extra["관측값"] == "87.43%"
    assert extra["평가 조건"] == "Average &gt;= 80% · 5분 × 1회"
    assert extra["대상"] == "DBClusterIdentifier=ott-aurora-cluster"
    assert attachment["title_link"] == (
        "https://ap-northeast-2.console.aws.amazon.com/cloudwatch/home?region=ap-northeast-2"
        "#alarmsV2:alarm/OTT-DB-CPU-Utilization-High"
    )


def test_ok_is_green_with_a_check_mark(render: Render) -> None:
    payload = render("cpu_ok.json")
    assert payload["text"] == "✅ *[OTT 인프라 감지]* 상태가 *OK*로 변경되었습니다."
    assert payload["attachments"][0]["color"] == GREEN
    assert fields(payload)["발생 시간"] == "2024-01-12 16:55:00 KST"


def test_insufficient_data_is_grey(render: Render) -> None:
    payload = render("insufficient_data.json")
    assert payload["text"].endswith("상태가 *INSUFFICIENT_DATA*로 변경되었습니다.")
    color = payload["attachments"][0]["color"]
    assert color not in (RED, GREEN)
    red, green, blue = (int(color[i : i + 2], 16) for i in (1, 3, 5))
    assert max(red, green, blue) - min(red, green, blue) < 16  # a grey
    assert "관측값" not in fields(payload)  # no datapoint in "1 datapoint was unknown"


def test_english_locale(render: Render) -> None:
    payload = render("cpu_alarm.json", ALERT_LOCALE="en")
    assert payload["text"] == "🚨 *[OTT Infrastructure Alert]* State changed to *ALARM*."
    attachment = payload["attachments"][0]
    assert attachment["title"] == "Alarm details: OTT-DB-CPU-Utilization-High"
    assert [(f["title"], f["value"]) for f in attachment["fields"][:4]] == [
        ("Region", "ap-northeast-2"),
        ("Metric", "CPUUtilization"),
        ("Threshold", "80%"),
        ("Time", "2024-01-12 16:30:00 KST"),
    ]
    assert attachment["fields"][4]["title"] == "Reason"
    assert attachment["footer"] == "OTT Platform Monitoring"
    assert "5 min × 1" in fields(payload)["Condition"]


def test_platform_name_changes_prefix_and_footer(render: Render) -> None:
    payload = render("cpu_alarm.json", ALERT_PLATFORM_NAME="VOD")
    assert payload["text"] == "🚨 *[VOD 인프라 감지]* 상태가 *ALARM*로 변경되었습니다."
    assert payload["attachments"][0]["footer"] == "VOD 플랫폼 통합 관제 시스템"


@pytest.mark.parametrize(
    ("zone", "expected"),
    [
        ("UTC", "2024-01-12 07:30:00 UTC"),
        ("America/New_York", "2024-01-12 02:30:00 EST"),
        ("Asia/Tokyo", "2024-01-12 16:30:00 JST"),
    ],
)
def test_time_zone_changes_the_time_text_not_the_ts(
    render: Render, zone: str, expected: str
) -> None:
    payload = render("cpu_alarm.json", ALERT_TIMEZONE=zone)
    assert fields(payload)["발생 시간"] == expected
    assert payload["attachments"][0]["ts"] == 1705044600


def test_freeable_memory_threshold_in_binary_units(render: Render) -> None:
    values = fields(render("freeable_memory_alarm.json"))
    assert values["임계치"] == "2 GiB"
    assert values["관측값"] == "1.7 GiB"
    assert values["평가 조건"] == "Minimum &lt; 2 GiB · 5분 × 3회"


def test_connections_threshold_is_an_integer(render: Render) -> None:
    values = fields(render("database_connections_alarm.json"))
    assert values["감시 메트릭"] == "DatabaseConnections"
    assert values["임계치"] == "800"
    assert values["관측값"] == "912"


def test_metric_math_shows_label_and_expression(render: Render) -> None:
    values = fields(render("metric_math_alarm.json"))
    assert values["감시 메트릭"] == "Connection usage (%) (100 * m1 / 1000)"
    assert values["임계치"] == "80"


def test_anomaly_shows_the_band(render: Render) -> None:
    values = fields(render("anomaly_alarm.json"))
    assert values["감시 메트릭"] == "CPUUtilization"
    assert values["임계치"] == "ANOMALY_DETECTION_BAND(m1, 2) 상단 초과"
    assert values["관측값"] == "74.87%"
    en = fields(render("anomaly_alarm.json", ALERT_LOCALE="en"))
    assert en["Threshold"] == "above the upper band of ANOMALY_DETECTION_BAND(m1, 2)"


def test_composite_shows_rule_with_names_and_triggering_children(render: Render) -> None:
    payload = render("composite_alarm.json")
    values = fields(payload)
    assert payload["attachments"][0]["title"] == "경보 상세: OTT-DB-Critical"
    assert values["감시 메트릭"] == "복합 경보"
    assert values["임계치"] == (
        'ALARM("OTT-DB-CPU-Utilization-High") AND ALARM("OTT-DB-Connections-High")'
    )
    assert values["트리거한 하위 경보"] == "OTT-DB-Connections-High, OTT-DB-CPU-Utilization-High"
    assert "관측값" not in values


def test_composite_rule_written_with_arns_shows_names(render: Render) -> None:
    arn = "arn:aws:cloudwatch:ap-northeast-2:123456789012:alarm:"
    event = event_with_message(
        "composite_alarm.json", AlarmRule=f"ALARM({arn}A) OR (ALARM({arn}B) AND OK({arn}C))"
    )
    assert fields(render(event))["임계치"] == "ALARM(A) OR (ALARM(B) AND OK(C))"


def test_eventbridge_condition_does_not_invent_a_period_count(render: Render) -> None:
    values = fields(render("eventbridge_state_change.json"))
    assert values["대상 리전"] == "ap-northeast-2"
    assert values["임계치"] == "2 GiB"
    assert values["발생 시간"] == "2024-01-13 12:20:41 KST"
    assert values["평가 조건"] == "5분"


@pytest.mark.parametrize(
    ("name", "title", "message", "kind"),
    [
        (
            "plain_text.json",
            "알림: [OTT] Scheduled maintenance: ott-aurora-cluster",
            "업그레이드 &amp; 파라미터 그룹 변경 (max_connections 1000 -&gt; 1500)",
            "JSON이 아닌 메시지 (일반 텍스트 또는 손상된 JSON)",
        ),
        (
            "malformed_json.json",
            '알림: ALARM: "OTT-DB-CPU-Utilization-High" in Asia Pacific (Seoul)',
            '{"AlarmName": "OTT-DB-CPU-Utilization-High", "NewStateValue": "ALA',
            "JSON이 아닌 메시지 (일반 텍스트 또는 손상된 JSON)",
        ),
        (
            "unknown_json.json",
            "알림: SNS 알림",
            '"detail-type":"AWS Health Event"',
            "CloudWatch 경보가 아닌 JSON",
        ),
        ("empty_message.json", "알림: SNS 알림", "(없음)", "빈 메시지"),
    ],
)
def test_notices_carry_the_message_in_a_neutral_colour(
    render: Render, name: str, title: str, message: str, kind: str
) -> None:
    payload = render(name)
    attachment = payload["attachments"][0]
    assert payload["text"] == "📢 *[OTT 인프라 알림]* 경보 형식이 아닌 알림을 받았습니다."
    assert attachment["color"] == NOTICE_COLOR
    assert attachment["color"] not in (RED, GREEN)
    assert attachment["title"] == title
    values = fields(payload)
    assert message in values["내용"]
    assert values["분류"] == kind
    assert values["SNS 토픽"] == "arn:aws:sns:ap-northeast-2:123456789012:ott-db-alarm-topic"
    assert "title_link" not in attachment
    assert attachment["footer"] == "OTT 플랫폼 통합 관제 시스템"


def test_plain_text_is_escaped_not_dropped(render: Render) -> None:
    value = fields(render("plain_text.json"))["내용"]
    assert "brief (&lt;30s) connection drop" in value
    assert "<" not in value
    assert value.startswith("[OTT 인프라 공지] Aurora MySQL 정기 점검 안내\n\n대상:")


def test_multi_record_each_renders(render: Render) -> None:
    texts = [render("multi_record.json", index=i)["text"] for i in range(3)]
    assert texts[0].startswith("🚨")
    assert texts[1].startswith("🚨")
    assert texts[2].startswith("📢")


HOSTILE = "<!channel> & <https://evil|click>"
ESCAPED = "&lt;!channel&gt; &amp; &lt;https://evil|click&gt;"


def test_alarm_text_cannot_ping_or_forge_links(render: Render) -> None:
    event = event_with_message(
        "cpu_alarm.json",
        AlarmName=HOSTILE,
        NewStateReason=f"reason {HOSTILE}",
        AlarmDescription=f"desc {HOSTILE}",
    )
    payload = render(event)
    attachment = payload["attachments"][0]
    assert attachment["title"] == f"경보 상세: {ESCAPED}"
    values = fields(payload)
    assert values["상세 사유"] == f"reason {ESCAPED}"
    assert values["설명"] == f"desc {ESCAPED}"
    # Our own markup stays.
    assert payload["text"] == "🚨 *[OTT 인프라 감지]* 상태가 *ALARM*로 변경되었습니다."
    # The console link encodes the name; no raw markup anywhere in the payload.
    assert attachment["title_link"].endswith(
        "#alarmsV2:alarm/%3C%21channel%3E%20%26%20%3Chttps%3A%2F%2Fevil%7Cclick%3E"
    )
    serialized = json.dumps(payload, ensure_ascii=False)
    assert "<" not in serialized
    assert ">" not in serialized


def test_hostile_text_in_metric_dimension_subject_and_platform_is_escaped(render: Render) -> None:
    event = event_with_message(
        "cpu_alarm.json",
        Trigger={
            "MetricName": "<@U123>",
            "Dimensions": [{"name": "DBClusterIdentifier", "value": "<!here>"}],
            "Threshold": 80.0,
        },
    )
    payload = render(event, ALERT_PLATFORM_NAME="<!everyone> & co")
    values = fields(payload)
    assert values["감시 메트릭"] == "&lt;@U123&gt;"
    assert values["대상"] == "DBClusterIdentifier=&lt;!here&gt;"
    assert payload["text"].startswith("🚨 *[&lt;!everyone&gt; &amp; co 인프라 감지]* ")
    assert (
        payload["attachments"][0]["footer"] == "&lt;!everyone&gt; &amp; co 플랫폼 통합 관제 시스템"
    )

    notice = load_event("plain_text.json")
    notice["Records"][0]["Sns"]["Subject"] = HOSTILE
    assert render(notice)["attachments"][0]["title"] == f"알림: {ESCAPED}"


def test_long_reason_is_cut_with_an_ellipsis_and_entities_stay_whole(render: Render) -> None:
    event = event_with_message("cpu_alarm.json", NewStateReason="x" * 2990 + "&" * 50)
    value = fields(render(event))["상세 사유"]
    assert len(value) <= slack.MAX_FIELD_CHARS
    assert value.endswith("&amp;…")  # not "&am…"
    assert value.startswith("x" * 2990)  # one '&' does not cost most of the text


@pytest.mark.parametrize(
    ("value", "limit", "expected"),
    [
        ("abc", 10, "abc"),
        ("a" * 20, 10, "a" * 9 + "…"),
        ("<b>", 10, "&lt;b&gt;"),
        ("a" * 8 + "&", 10, "a" * 8 + "…"),  # "&amp;" would not fit; never half an entity
        ("a" * 4 + "&&", 10, "aaaa&amp;…"),
    ],
)
def test_safe_truncates_after_escaping_without_splitting_entities(
    value: str, limit: int, expected: str
) -> None:
    result = slack._safe(value, limit)
    assert result == expected
    assert len(result) <= limit
