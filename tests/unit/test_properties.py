"""Hostile and odd input (issue 5, part 5): parsing, the view and the Slack layout never raise, and
the Slack payload always stays within Slack's limits with alarm text escaped.

Hypothesis runs derandomized with no example database, so CI sees the same examples every run.
"""

from __future__ import annotations

import copy
import html
import json
import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from alert_service import parse
from alert_service.alarm import Notification
from alert_service.config import DisplaySettings
from alert_service.render import slack
from alert_service.units import format_value
from alert_service.view import build_view
from conftest import event_paths, fixture_paths, load_event
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

DETERMINISTIC = settings(
    derandomize=True,
    database=None,
    deadline=None,
    max_examples=150,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

DISPLAYS = (
    DisplaySettings("ko", ZoneInfo("Asia/Seoul"), "OTT"),
    DisplaySettings("en", ZoneInfo("America/New_York"), "OTT"),
    # The extremes of UTC offsets, and a platform name that itself needs escaping.
    DisplaySettings("en", ZoneInfo("Pacific/Kiritimati"), "<!here> & co"),
    DisplaySettings("ko", ZoneInfo("Etc/GMT+12"), "OTT"),
)
SLACK_JSON_LIMIT = 40_000
ENTITY = re.compile(r"&(amp|lt|gt);")


def _alarm_bodies() -> list[dict[str, Any]]:
    """Every decoded alarm message we have: sample events and real fixtures."""
    bodies = []
    for path in [*event_paths(), *fixture_paths()]:
        data = json.loads(path.read_text(encoding="utf-8"))
        messages = [r["Sns"]["Message"] for r in data["Records"]] if "Records" in data else [data]
        for message in messages:
            try:
                body = json.loads(message) if isinstance(message, str) else message
            except ValueError:
                continue
            alarm = parse.parse_alarm(body)
            if alarm is not None:
                bodies.append(body)
    return bodies


ALARM_BODIES = _alarm_bodies()

iso_times = st.builds(
    lambda moment, minutes: moment.replace(tzinfo=timezone(timedelta(minutes=minutes))).isoformat(),
    st.datetimes(),
    st.integers(-1439, 1439),
)
interesting = st.sampled_from(
    [
        "",
        "None",
        "ALARM",
        "OK",
        "INSUFFICIENT_DATA",
        "<!channel>",
        "<https://evil|click>",
        "&",
        "arn:aws:cloudwatch:us-east-1:123456789012:alarm:<!channel>",
        "arn:aws:sns:ap-northeast-2:123456789012:topic",
        "0001-01-01T00:00:00+01:00",
        "9999-12-31T23:59:59-05:00",
        "2024-01-12T07:30:00.000+0000",
        "ANOMALY_DETECTION_BAND(m1, 2)",
        "GreaterThanUpperThreshold",
        "LessThanThreshold",
        "Percent",
        "Bytes",
        "Count/Second",
        "Asia Pacific (Seoul)",
        "{[",
        1e308,
        -1e308,
        10**400,
        -(10**400),
        0,
        -1,
        True,
        [],
        {},
    ]
)
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=50)
    | interesting
    | iso_times
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.text(max_size=12) | st.sampled_from(["Records", "Sns"]), children, max_size=4
        )
    ),
    max_leaves=15,
)


def _slots(value: Any) -> list[tuple[Any, Any]]:
    """Every (container, key) inside a decoded JSON value."""
    found: list[tuple[Any, Any]] = []
    if isinstance(value, dict):
        for key, child in value.items():
            found.append((value, key))
            found.extend(_slots(child))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found.append((value, index))
            found.extend(_slots(child))
    return found


@st.composite
def mutated_alarm_bodies(draw: st.DrawFn) -> dict[str, Any]:
    """A real alarm message with random fields replaced by random JSON or deleted."""
    body = copy.deepcopy(draw(st.sampled_from(ALARM_BODIES)))
    # Nested JSON strings (EventBridge reasonData) are mutated decoded, then encoded again.
    for _ in range(draw(st.integers(1, 6))):
        slots = _slots(body)
        if not slots:
            break
        container, key = draw(st.sampled_from(slots))
        if draw(st.booleans()):
            container[key] = draw(json_values)
        elif isinstance(container, dict):
            del container[key]
        else:
            container.pop(key)
    return body


def check_slack_payload(payload: dict[str, Any]) -> None:
    assert len(payload["text"]) <= slack.MAX_TEXT_CHARS
    (attachment,) = payload["attachments"]
    assert len(attachment["title"]) <= slack.MAX_TITLE_CHARS
    assert len(attachment["fields"]) <= slack.MAX_FIELDS
    for field in attachment["fields"]:
        limit = slack.MAX_SHORT_FIELD_CHARS if field["short"] else slack.MAX_FIELD_CHARS
        assert len(field["value"]) <= limit, field
    assert len(attachment["footer"]) <= slack.MAX_SHORT_FIELD_CHARS
    assert attachment["color"].startswith("#")
    assert "ts" not in attachment or isinstance(attachment["ts"], int)
    serialized = json.dumps(payload, ensure_ascii=False)
    assert len(serialized) < SLACK_JSON_LIMIT
    # No raw markup from alarm text: our own layout uses neither '<' nor '>', and every '&' is
    # one of the three entities Slack expects.
    assert "<" not in serialized
    assert ">" not in serialized
    texts = [payload["text"], attachment["title"], attachment["footer"]]
    texts += [f["value"] for f in attachment["fields"]]
    for text in texts:
        assert "&" not in ENTITY.sub("", text), text


def render_everywhere(notification: Notification) -> None:
    for display in DISPLAYS:
        view = build_view(notification, display)
        check_slack_payload(slack.render(view))


@DETERMINISTIC
@given(st.text(max_size=2000))
def test_any_text_message(message: str) -> None:
    notification = parse.parse_message(message, message_id="m")
    assert notification.raw_message == message
    assert (notification.alarm is None) == (notification.problem is not None)
    render_everywhere(notification)


@DETERMINISTIC
@given(json_values)
def test_any_json_message(value: Any) -> None:
    message = json.dumps(value)
    notification = parse.parse_message(
        message, message_id="m", topic_arn="arn:aws:sns:ap-northeast-2:123456789012:t"
    )
    assert notification.raw_message == message
    render_everywhere(notification)


@DETERMINISTIC
@given(json_values)
def test_any_json_event(event: Any) -> None:
    """Any event is either an SNS event whose every record renders, or NotAnSnsEvent: never
    another exception, never an empty success for a non-SNS event."""
    try:
        found = parse.notifications(event)
    except parse.NotAnSnsEvent:
        records = event.get("Records") if isinstance(event, dict) else None
        assert not isinstance(records, list) or records  # an empty Records list is accepted
        return
    assert isinstance(event, dict)
    assert len(found) == len(event["Records"])
    for notification in found:
        render_everywhere(notification)


@DETERMINISTIC
@given(st.lists(json_values, max_size=3), json_scalars, json_scalars, json_scalars)
def test_any_sns_record_fields(
    messages: list[Any], message_id: Any, subject: Any, stamp: Any
) -> None:
    records = [
        {"Sns": {"Message": m, "MessageId": message_id, "Subject": subject, "Timestamp": stamp}}
        for m in messages
    ]
    notifications = parse.notifications({"Records": records})
    assert len(notifications) == len(records)
    for notification in notifications:
        assert isinstance(notification.message_id, str)
        render_everywhere(notification)


@DETERMINISTIC
@given(mutated_alarm_bodies())
def test_mutated_real_alarms(body: dict[str, Any]) -> None:
    message = json.dumps(body)
    (notification,) = parse.notifications(
        {"Records": [{"Sns": {"Message": message, "MessageId": "m", "Timestamp": "2024-01-12"}}]}
    )
    assert notification.raw_message == message
    if notification.alarm is not None:
        # Whatever survived, a region is a code or nothing, never a display name.
        region = notification.alarm.region
        assert region is None or re.fullmatch(r"[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d", region)
        assert notification.alarm.state_changed_at is None or (
            notification.alarm.state_changed_at.tzinfo is not None
        )
    render_everywhere(notification)


def test_mutation_strategy_reaches_alarms() -> None:
    # Guard against a strategy that silently stopped producing alarm-shaped input.
    assert len(ALARM_BODIES) >= 10
    kinds = {parse.parse_message(json.dumps(b), message_id="m").alarm.kind for b in ALARM_BODIES}
    assert {k.value for k in kinds} == {"metric", "metric_math", "anomaly", "composite"}


@DETERMINISTIC
@given(st.text(max_size=400), st.integers(6, 350))
def test_safe_is_bounded_escaped_and_faithful(value: str, limit: int) -> None:
    result = slack._safe(value, limit)
    assert len(result) <= limit
    assert "<" not in result
    assert ">" not in result
    assert "&" not in ENTITY.sub("", result)
    if len(slack.escape(value)) <= limit:
        assert result == slack.escape(value)  # nothing lost when it fits
    else:
        assert result.endswith(slack.ELLIPSIS)
        assert value.startswith(html.unescape(result[: -len(slack.ELLIPSIS)]))


@DETERMINISTIC
@given(
    st.floats(),
    st.sampled_from(
        [
            *(None, "None", "Percent", "Bytes", "Gigabytes", "Bytes/Second", "Bits", "Count"),
            *("Count/Second", "Seconds", "Milliseconds", "Microseconds", "Terabits/Second"),
        ]
    ),
)
def test_format_value_is_total_and_short(value: float, unit: str | None) -> None:
    assert 0 < len(format_value(value, unit)) <= 24


# --- huge payloads (SNS allows 256 KB) ------------------------------------------------------

HUGE = 200 * 1024


def _huge_cases() -> list[tuple[str, str]]:
    cpu = json.loads(load_event("cpu_alarm.json")["Records"][0]["Sns"]["Message"])
    long_reason = {**cpu, "NewStateReason": "<&>" * (HUGE // 3)}
    long_name = {**cpu, "AlarmName": "N" * HUGE, "AlarmDescription": "d&" * (HUGE // 2)}
    many_dims = copy.deepcopy(cpu)
    many_dims["Trigger"]["Dimensions"] = [
        {"name": f"D{i}", "value": "v" * 50} for i in range(HUGE // 64)
    ]
    composite = json.loads(load_event("composite_alarm.json")["Records"][0]["Sns"]["Message"])
    arn = "arn:aws:cloudwatch:ap-northeast-2:123456789012:alarm:"
    composite["TriggeringChildren"] = [{"Arn": f"{arn}child-{i}"} for i in range(HUGE // 64)]
    composite["AlarmRule"] = " OR ".join(f"ALARM({arn}child-{i})" for i in range(HUGE // 64))
    return [
        ("plain text", "공지 & <maintenance>\n" * (HUGE // 19 + 1)),
        ("unknown json", json.dumps({"detail-type": "x", "detail": {"d": "y" * HUGE}})),
        ("long reason", json.dumps(long_reason)),
        ("long name", json.dumps(long_name)),
        ("many dimensions", json.dumps(many_dims)),
        ("huge composite", json.dumps(composite)),
    ]


@pytest.mark.parametrize(("label", "message"), _huge_cases(), ids=lambda v: v[:20])
def test_huge_messages_are_truncated_in_slack_and_kept_whole(label: str, message: str) -> None:
    assert len(message) >= HUGE
    (notification,) = parse.notifications(
        {"Records": [{"Sns": {"Message": message, "MessageId": "huge", "Subject": label}}]}
    )
    assert notification.raw_message == message  # stored whole for history
    for display in DISPLAYS:
        payload = slack.render(build_view(notification, display))
        check_slack_payload(payload)
        values = [f["value"] for f in payload["attachments"][0]["fields"]]
        assert any(
            v.endswith(slack.ELLIPSIS) for v in [*values, payload["attachments"][0]["title"]]
        )


def test_render_needs_no_wall_clock() -> None:
    # The same notification renders the same payload twice (no "now" sneaks into the layout).
    (notification,) = parse.notifications(load_event("cpu_alarm.json"))
    first = slack.render(build_view(notification, DISPLAYS[0]))
    assert first == slack.render(build_view(notification, DISPLAYS[0]))
    assert datetime.fromtimestamp(first["attachments"][0]["ts"], UTC).year == 2024
