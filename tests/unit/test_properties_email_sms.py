"""Hostile and odd input for the email and SMS layouts: they never raise, an email's subject is one
bounded line and its HTML never carries alarm text as markup, an SMS is always one segment.

The input strategies are those of test_properties.py (imported, so both files test the same input);
Hypothesis runs derandomized with no example database, so CI sees the same examples every run.
"""

from __future__ import annotations

import copy
import json
import re
import time
from html.parser import HTMLParser
from typing import Any

import pytest
from alert_service import parse
from alert_service.alarm import Notification
from alert_service.config import DisplaySettings
from alert_service.render import email, sms
from alert_service.view import View, build_view
from conftest import load_event
from hypothesis import given
from hypothesis import strategies as st
from test_properties import (
    ALARM_BODIES,
    DETERMINISTIC,
    DISPLAYS,
    HUGE,
    _huge_cases,
    json_scalars,
    json_values,
    mutated_alarm_bodies,
)

# Markup an attacker would like to see rendered, and what html.escape makes of it.
MARKERS = ("<script>x</script>", '"><img src=x onerror=alert(1)>')
ESCAPED_SCRIPT = "&lt;script&gt;x&lt;/script&gt;"
ESCAPED_IMG = "&quot;&gt;&lt;img src=x onerror=alert(1)&gt;"

# Text that is hard for one of the two layouts: line breaks a header must not carry (including the
# Unicode ones), controls, GSM extension characters (2 septets), characters outside the BMP (2
# UTF-16 units, a ZWJ family is 5 code points), and lone surrogates, which json.loads happily
# returns for "\ud800" although no SMS or mail encoding can carry them.
AWKWARD = (
    *MARKERS,
    "\r\nBcc: evil@example.com",
    "\n",
    "\t",
    "\x00",
    "\x1b",
    "\x85",
    "\u2028",
    "\u2029",
    "€{[|]}~^\\",
    "😀",
    "👨‍👩‍👧‍👦",
    "𝕏",
    "\ud800",
    "\udfff",
    "가나다",
    "&amp;",
)
awkward_text = st.lists(st.text(max_size=12) | st.sampled_from(AWKWARD), max_size=12).map("".join)

# Our own layout's tags: anything else in the HTML came from alarm text.
LAYOUT_TAGS = {"html", "head", "meta", "title", "body", "table", "tr", "td", "th", "div", "h1"}
LAYOUT_TAGS |= {"a", "strong"}
# Bound on an email body: every field is cut at MAX_VALUE_CHARS (a multi-line value gains a
# two-space indent per line in the text body, at most three times its length), a view has at
# most ten fields, plus the fixed layout.
MAX_FIELDS = 10
EMAIL_TEXT_LIMIT = MAX_FIELDS * (3 * email.MAX_VALUE_CHARS + 200) + 2_000
EMAIL_HTML_LIMIT = MAX_FIELDS * (6 * email.MAX_VALUE_CHARS + 600) + 8_000


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))


def _view_texts(view: View) -> list[str]:
    texts = [view.name, view.title, view.prefix, view.footer, view.headline]
    return texts + [f.value for f in view.fields]


def check_email(view: View) -> email.Email:
    mail = email.render(view)

    # Subject: one header line (no CR/LF, no other control that a header cannot hold), bounded.
    assert mail.subject
    assert not re.search(r"[\x00-\x1f\x7f]", mail.subject), repr(mail.subject)
    assert len(mail.subject) <= email.MAX_SUBJECT_CHARS

    # HTML: only our layout's tags and no event handler attributes, whatever the alarm said.
    parser = _Tags()
    parser.feed(mail.html)
    parser.close()
    for tag, attrs in parser.tags:
        assert tag in LAYOUT_TAGS, tag
        assert not any(name.startswith("on") for name, _ in attrs), attrs
    for marker in MARKERS:
        assert marker not in mail.html
    assert "<script" not in mail.html.lower()
    assert "<img" not in mail.html.lower()
    assert mail.html.startswith("<!DOCTYPE html>")
    assert mail.html.endswith("</html>")

    assert len(mail.text) <= EMAIL_TEXT_LIMIT
    assert len(mail.html) <= EMAIL_HTML_LIMIT
    return mail


def check_sms(view: View) -> str:
    message = sms.render(view)

    assert message
    # Sendable: no controls or line breaks, no lone surrogate (SNS takes UTF-8 only).
    assert not re.search(r"[\x00-\x1f\x7f-\x9f]", message), repr(message)
    units = len(message.encode("utf-16-le")) // 2  # raises on a lone surrogate
    # One segment, counted here independently of sms.segment_cost: GSM-7 septets with extension
    # characters twice when every character is GSM, else UTF-16 code units.
    if all(c in sms.GSM_BASIC_CHARS or c in sms.GSM_EXTENSION_CHARS for c in message):
        assert sum(2 if c in sms.GSM_EXTENSION_CHARS else 1 for c in message) <= 160, message
    else:
        assert units <= 70, (units, message)
    if view.state is not None:
        assert message.startswith(f"[{view.state.value}]")
    return message


def render_both(notification: Notification, display: DisplaySettings) -> None:
    view = build_view(notification, display)
    check_email(view)
    check_sms(view)


# One display per example, drawn (ko/en, UTC-12 to UTC+14, a platform name that needs escaping):
# 150 examples cover all four at a quarter of the cost of rendering each example four times.
displays = st.sampled_from(DISPLAYS)


# --- any input never breaks either layout ---------------------------------------------------


@DETERMINISTIC
@given(st.text(max_size=2000) | awkward_text, st.none() | awkward_text, displays)
def test_any_text_message(message: str, subject: str | None, display: DisplaySettings) -> None:
    notification = parse.parse_message(message, message_id="m", subject=subject)
    assert notification.raw_message == message
    render_both(notification, display)


@DETERMINISTIC
@given(json_values, displays)
def test_any_json_message(value: Any, display: DisplaySettings) -> None:
    message = json.dumps(value)
    notification = parse.parse_message(
        message, message_id="m", topic_arn="arn:aws:sns:ap-northeast-2:123456789012:t"
    )
    assert notification.raw_message == message
    render_both(notification, display)


@DETERMINISTIC
@given(
    st.lists(json_values, max_size=3),
    json_scalars,
    json_scalars | awkward_text,
    json_scalars,
    displays,
)
def test_any_sns_record_fields(
    messages: list[Any], message_id: Any, subject: Any, stamp: Any, display: DisplaySettings
) -> None:
    records = [
        {"Sns": {"Message": m, "MessageId": message_id, "Subject": subject, "Timestamp": stamp}}
        for m in messages
    ]
    for notification in parse.notifications({"Records": records}):
        render_both(notification, display)


@DETERMINISTIC
@given(mutated_alarm_bodies(), displays)
def test_mutated_real_alarms(body: dict[str, Any], display: DisplaySettings) -> None:
    message = json.dumps(body)
    (notification,) = parse.notifications(
        {"Records": [{"Sns": {"Message": message, "MessageId": "m", "Timestamp": "2024-01-12"}}]}
    )
    assert notification.raw_message == message
    render_both(notification, display)


# --- alarm text is data, never markup -------------------------------------------------------


def _string_slots(value: Any) -> list[tuple[Any, Any]]:
    """Every (container, key) holding a string inside a decoded JSON value."""
    found: list[tuple[Any, Any]] = []
    items = value.items() if isinstance(value, dict) else enumerate(value)
    for key, child in items:
        if isinstance(child, str):
            found.append((value, key))
        elif isinstance(child, dict | list):
            found.extend(_string_slots(child))
    return found


def _with_name(body: dict[str, Any], name: str) -> dict[str, Any]:
    """``body`` (a copy) with its alarm name set, wherever its shape keeps the name."""
    body = copy.deepcopy(body)
    if isinstance(body.get("detail"), dict):
        body["detail"]["alarmName"] = name
    elif isinstance(body.get("alarmData"), dict):  # a Lambda alarm action's event
        body["alarmData"]["alarmName"] = name
    else:
        body["AlarmName"] = name
    return body


@st.composite
def injected_alarm_bodies(draw: st.DrawFn) -> dict[str, Any]:
    """A real (possibly mutated) alarm message with markup put into random string fields: the
    alarm name always (so the marker is always shown), others at random, kept or replaced."""
    body = draw(mutated_alarm_bodies() | st.sampled_from(ALARM_BODIES))
    body = _with_name(body, draw(st.sampled_from(MARKERS)) + draw(awkward_text))
    slots = _string_slots(body)
    for container, key in draw(st.lists(st.sampled_from(slots), max_size=6)):
        marker, how = draw(st.sampled_from(MARKERS)), draw(st.sampled_from("=<>"))
        old = container[key]
        container[key] = {"=": marker, "<": marker + old, ">": old + marker}[how]
    return body


@DETERMINISTIC
@given(injected_alarm_bodies(), displays)
def test_alarm_strings_are_escaped_in_html(body: dict[str, Any], display: DisplaySettings) -> None:
    (notification,) = parse.notifications(
        {"Records": [{"Sns": {"Message": json.dumps(body), "MessageId": "m"}}]}
    )
    view = build_view(notification, display)
    mail = check_email(view)
    shown = "\n".join(_view_texts(view))
    # What the view shows reaches the HTML escaped (the name is always shown: as the title of an
    # alarm, or inside the message of a notice when the mutation left no alarm).
    if "<script>x</script>" in shown:
        assert ESCAPED_SCRIPT in mail.html
    if MARKERS[1] in shown:
        assert ESCAPED_IMG in mail.html
    assert ESCAPED_SCRIPT in mail.html or ESCAPED_IMG in mail.html
    check_sms(view)


def test_injection_reaches_every_real_alarm_kind() -> None:
    # Guard against a vacuous property: the injected name is shown, escaped, for every real body.
    for body in ALARM_BODIES:
        injected = _with_name(body, MARKERS[0])
        notification = parse.parse_message(json.dumps(injected), message_id="m")
        assert notification.alarm is not None
        for display in DISPLAYS:
            mail = check_email(build_view(notification, display))
            assert ESCAPED_SCRIPT in mail.html
            assert MARKERS[0] in mail.text  # the plain text body shows it as written


# --- SMS: one segment, counted as the network counts it -------------------------------------


@DETERMINISTIC
@given(
    st.sampled_from(ALARM_BODIES),
    awkward_text | st.text(min_size=60, max_size=400),
    displays,
)
def test_sms_any_alarm_name_is_one_segment(
    body: dict[str, Any], name: str, display: DisplaySettings
) -> None:
    notification = parse.parse_message(json.dumps(_with_name(body, name)), message_id="m")
    check_sms(build_view(notification, display))


@pytest.mark.parametrize(
    ("name", "limit"),
    [
        ("😀" * 100, 70),  # 2 UTF-16 units each: 35 emoji at most, not 70
        ("𝕏" * 100, 70),
        ("👨‍👩‍👧‍👦" * 30, 70),
        ("€" * 200, 160),  # GSM extension: 2 septets each
        ("\ud800" * 100, 70),
    ],
    ids=["emoji", "math-letter", "zwj-family", "euro", "lone-surrogate"],
)
def test_sms_counts_what_the_network_counts(name: str, limit: int) -> None:
    cpu = json.loads(load_event("cpu_alarm.json")["Records"][0]["Sns"]["Message"])
    notification = parse.parse_message(json.dumps({**cpu, "AlarmName": name}), message_id="m")
    for display in DISPLAYS:
        message = check_sms(build_view(notification, display))
        cost, segment_limit, _ = sms.segment_cost(message)
        assert segment_limit == limit
        assert limit - 4 <= cost <= limit  # the name is shortened no more than needed


def test_sms_value_of_wide_characters_still_fits() -> None:
    # A composite rule's alarm names are the SMS "value" when nothing is observed: 24 emoji would
    # be 48 of the 70 UTF-16 units, leaving no room for state and time.
    composite = json.loads(load_event("composite_alarm.json")["Records"][0]["Sns"]["Message"])
    composite["AlarmRule"] = "😀" * 22  # 22 code points, 44 UTF-16 units
    composite["NewStateValue"] = "INSUFFICIENT_DATA"
    notification = parse.parse_message(json.dumps(composite), message_id="m")
    for display in DISPLAYS:
        view = build_view(notification, display)
        assert view.threshold_text == "😀" * 22
        message = check_sms(view)
        assert message.startswith("[INSUFFICIENT_DATA] ")


@pytest.mark.parametrize("where", ["name", "subject"])
def test_sms_of_a_200_kb_name_is_quick_and_one_segment(where: str) -> None:
    # Shortening the name one character at a time used to cost O(n²): 8,000 characters took 5 s,
    # 200 KB would have run the function into its timeout on every retry.
    if where == "name":
        cpu = json.loads(load_event("cpu_alarm.json")["Records"][0]["Sns"]["Message"])
        notification = parse.parse_message(
            json.dumps({**cpu, "AlarmName": "N" * HUGE}), message_id="m"
        )
    else:
        notification = parse.parse_message("x", message_id="m", subject="가" * HUGE)
    started = time.perf_counter()
    for display in DISPLAYS:
        message = check_sms(build_view(notification, display))
        assert message.count("N") + message.count("가") < 160
    assert time.perf_counter() - started < 1


def test_sms_takes_the_comparison_from_the_view() -> None:
    (notification,) = parse.notifications(load_event("cpu_alarm.json"))
    view = build_view(notification, DISPLAYS[0])
    assert view.comparison_symbol == ">="
    assert " 87.43% >= 80% " in sms.render(view)
    # The symbol is the view's word, not text dug out of the condition field.
    fields = tuple(f for f in view.fields if f.key != "condition")
    altered = View(**{**view.__dict__, "fields": fields, "comparison_symbol": "<"})
    assert " 87.43% < 80% " in sms.render(altered)


@pytest.mark.parametrize(
    ("event", "symbol"),
    [
        ("cpu_alarm.json", ">="),
        ("freeable_memory_alarm.json", "<"),
        ("metric_math_alarm.json", ">="),
        ("database_connections_alarm.json", ">"),
        ("anomaly_alarm.json", None),
        ("composite_alarm.json", None),
        ("eventbridge_state_change.json", None),
        ("plain_text.json", None),
    ],
)
def test_view_comparison_symbol(event: str, symbol: str | None) -> None:
    (notification,) = parse.notifications(load_event(event))
    assert build_view(notification, DISPLAYS[0]).comparison_symbol == symbol


# --- huge payloads (SNS allows 256 KB) ------------------------------------------------------


HUGE_CASES = list(_huge_cases())


@pytest.mark.parametrize(("label", "message"), HUGE_CASES, ids=lambda v: v[:20])
def test_huge_messages_are_truncated_in_email_and_sms_and_kept_whole(
    label: str, message: str
) -> None:
    assert len(message) >= HUGE
    (notification,) = parse.notifications(
        {"Records": [{"Sns": {"Message": message, "MessageId": "huge", "Subject": label}}]}
    )
    assert notification.raw_message == message  # stored whole for history
    for display in DISPLAYS:
        view = build_view(notification, display)
        mail = check_email(view)
        assert len(mail.text) < HUGE // 2
        assert len(mail.html) < HUGE // 2
        assert "…" in mail.text
        check_sms(view)
