"""The escalation and reminder policy without AWS or waiting: incident + now -> decision."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from alert_service.durations import format_age
from alert_service.schedules import timers
from alert_service.schedules.policy import (
    Mention,
    Settings,
    UnknownStep,
    decide,
    opening_timers,
    steps_to_cancel,
)
from hypothesis import given
from hypothesis import strategies as st

OPENED = datetime(2024, 1, 12, 7, 30, tzinfo=UTC)
ID = "INC-20240112073000-602dc7898a63e53d"
SETTINGS = Settings(sms_recipients=("+821011112222",), locale="en")


def incident(status: str = "active", **extra: Any) -> dict[str, Any]:
    return {
        "incident_id": ID,
        "alarm_name": "OTT-DB-CPU-Utilization-High",
        "status": status,
        "alert_count": 3,
        "first_seen_at": "2024-01-12T07:30:00.000Z",
        **extra,
    }


def at(minutes: float) -> datetime:
    return OPENED + timedelta(minutes=minutes)


def test_opening_plans_both_escalations_and_the_first_reminder() -> None:
    planned = opening_timers(incident(), SETTINGS)
    assert [(t.step, t.at) for t in planned] == [
        ("escalate-1", at(10)),
        ("escalate-2", at(20)),
        ("remind-1", at(240)),
    ]
    assert opening_timers(incident("resolved"), SETTINGS) == []
    off = Settings(escalate_after=timedelta(0), remind_every=timedelta(0))
    assert opening_timers(incident(), off) == []


def test_escalation_only_while_nobody_acknowledged() -> None:
    first = decide(incident(), "escalate-1", at(10), SETTINGS)
    assert first.mention is Mention.HERE
    assert first.text is not None
    assert first.text.startswith("*Unacknowledged for 10 min*")
    assert first.sms_to == ()
    second = decide(incident(), "escalate-2", at(20), SETTINGS)
    assert second.mention is Mention.CHANNEL
    assert second.sms_to == ("+821011112222",)
    assert second.sms_text == "[UNACKED 20 min] OTT-DB-CPU-Utilization-High (20240112073000)"
    for status in ("acknowledged", "resolved"):
        assert decide(incident(status), "escalate-1", at(10), SETTINGS).text is None
    assert decide(None, "escalate-1", at(10), SETTINGS).reason == "no such incident"


def test_not_due_and_silenced_send_nothing() -> None:
    assert decide(incident(), "escalate-1", at(5), SETTINGS).reason == "not due yet"
    # Scheduler may fire a few seconds early: still due.
    assert decide(incident(), "escalate-1", at(9.8), SETTINGS).text is not None
    silenced = decide(incident(), "escalate-2", at(20), SETTINGS, silenced=True)
    assert (silenced.text, silenced.sms_to) == (None, ())


def test_reminder_chain_continues_and_catches_up_after_a_late_firing() -> None:
    on_time = decide(incident(), "remind-1", at(240), SETTINGS)
    assert on_time.next_timer is not None
    assert (on_time.next_timer.step, on_time.next_timer.at) == ("remind-2", at(480))
    # remind-1 delivered 9 hours late: the next is the first one still ahead, not a burst.
    late = decide(incident(), "remind-1", at(540), SETTINGS)
    assert late.next_timer is not None
    assert (late.next_timer.step, late.next_timer.at) == ("remind-3", at(720))
    resolved = decide(incident("resolved"), "remind-1", at(240), SETTINGS)
    assert resolved.next_timer is None
    silenced = decide(incident(), "remind-1", at(240), SETTINGS, silenced=True)
    assert silenced.text is None
    assert silenced.next_timer is not None


def test_alarm_text_cannot_ping_or_link() -> None:
    hostile = incident(alarm_name="<!channel> <https://evil.example|click>")
    decision = decide(hostile, "remind-1", at(240), SETTINGS)
    assert decision.text is not None
    assert "<!channel>" not in decision.text
    assert "&lt;!channel&gt;" in decision.text
    assert "<https://" not in decision.text


def test_korean_is_the_default() -> None:
    text = decide(incident(), "remind-1", at(245), Settings()).text
    assert text == (
        "⏰ 알림: OTT-DB-CPU-Utilization-High (`INC-20240112073000-602dc7898a63e53d`) 인시던트가 "
        "4시간 5분째 열려 있습니다, 알림 3건. 아직 아무도 확인하지 않았습니다."
    )


@pytest.mark.parametrize("step", ["escalate-3", "remind-0", "remind-x", "", "../x"])
def test_unknown_steps_are_refused(step: str) -> None:
    with pytest.raises(UnknownStep):
        decide(incident(), step, at(10), SETTINGS)


def test_what_a_status_change_cancels() -> None:
    assert steps_to_cancel(incident(), incident("acknowledged"), SETTINGS, at(3)) == [
        "escalate-1",
        "escalate-2",
    ]
    assert steps_to_cancel(incident(), incident("resolved"), SETTINGS, at(3)) == [
        "escalate-1",
        "escalate-2",
        "remind-1",
    ]
    # Acknowledged before: the escalations are gone; the pending reminder and the one before.
    assert steps_to_cancel(incident("acknowledged"), incident("resolved"), SETTINGS, at(500)) == [
        "remind-2",
        "remind-3",
    ]
    # A join (same status) cancels nothing.
    assert steps_to_cancel(incident(), incident(alert_count=9), SETTINGS, at(3)) == []


def test_format_age() -> None:
    assert format_age(timedelta(seconds=59), "en") == "0 min"
    assert format_age(timedelta(hours=26, minutes=5), "en") == "1 d 2 h"
    assert format_age(timedelta(minutes=-5), "ko") == "0분"


@given(st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1)))
def test_schedule_expression_round_trips_and_never_fires_early(moment: datetime) -> None:
    moment = moment.replace(tzinfo=UTC)
    expression = timers.at_expression(moment)
    fired = timers.parse_at(expression)
    assert moment <= fired < moment + timedelta(seconds=1)


def test_schedule_names_fit_the_limit() -> None:
    assert len(timers.schedule_name(ID, "remind-99999")) <= timers.MAX_NAME_CHARS
