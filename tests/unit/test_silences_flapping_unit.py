"""Silences and flapping without AWS: the silence model, the flapping decision table (and a model
check of it over any sequence of changes), and the notices in every channel and locale."""

from __future__ import annotations

import html
from datetime import UTC, datetime, timedelta
from fnmatch import fnmatchcase
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from alert_service.alarm import Alarm, State
from alert_service.config import DisplaySettings
from alert_service.render import email, slack, sms
from alert_service.silences.ended import OpenAlarm, StillAlarming
from alert_service.silences.flapping import Decision, FlapKind, Summary, classify
from alert_service.silences.model import (
    Silence,
    SilenceError,
    SilenceStatus,
    new_silence,
    parse_duration,
    parse_time,
)
from alert_service.silences.notices import flapping_view, silence_ended_view, stabilised_view
from alert_service.silences.settings import FlapSettings
from hypothesis import given
from hypothesis import strategies as st
from test_properties import DETERMINISTIC

NOW = datetime(2024, 1, 12, 7, 30, tzinfo=UTC)
KO = DisplaySettings("ko", ZoneInfo("Asia/Seoul"), "OTT")
EN = DisplaySettings("en", ZoneInfo("UTC"), "OTT")
FLAP = FlapSettings(threshold=6, window=timedelta(minutes=30))


def silence(**kw: Any) -> Silence:
    values: dict[str, Any] = {
        "match": "OTT-DB-*",
        "created_by": "kim",
        "comment": "failover test",
        "now": NOW,
        "duration": timedelta(hours=2),
    }
    return new_silence(**{**values, **kw})


# --- the silence model -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90s", timedelta(seconds=90)),
        ("30m", timedelta(minutes=30)),
        ("2h", timedelta(hours=2)),
        ("7d", timedelta(days=7)),
        (" 2H ", timedelta(hours=2)),
    ],
)
def test_durations(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "2", "h", "-1h", "1.5h", "2w", "2 hours"])
def test_bad_durations_say_how(text: str) -> None:
    with pytest.raises(SilenceError, match="use a number and s, m, h or d"):
        parse_duration(text)


def test_a_time_without_zone_is_utc() -> None:
    assert parse_time("2024-01-12T16:30") == datetime(2024, 1, 12, 16, 30, tzinfo=UTC)
    assert parse_time("2024-01-12T16:30+09:00") == datetime(2024, 1, 12, 7, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"comment": "  "}, "--comment is required"),
        ({"created_by": ""}, "--by is required"),
        ({"match": ""}, "--match"),
        ({"duration": timedelta(days=7, seconds=1)}, "at most 7 days"),
        ({"duration": None, "ends_at": NOW + timedelta(days=8)}, "at most 7 days"),
        ({"ends_at": NOW + timedelta(hours=1)}, "exactly one of --for and --end"),
        ({"duration": None}, "exactly one of --for and --end"),
        ({"duration": None, "ends_at": NOW - timedelta(minutes=1)}, "end after it starts"),
        (
            {"starts_at": NOW + timedelta(days=6, hours=23), "duration": timedelta(hours=2)},
            "at most 7 days",
        ),
    ],
)
def test_a_silence_that_cannot_work_is_refused_with_the_reason(
    kw: dict[str, Any], message: str
) -> None:
    with pytest.raises(SilenceError, match=message):
        silence(**kw)


def test_a_start_in_the_past_is_now_and_a_later_start_is_pending() -> None:
    assert silence(starts_at=NOW - timedelta(hours=1)).starts_at == NOW
    later = silence(starts_at=NOW + timedelta(hours=1))
    assert later.status(NOW) is SilenceStatus.PENDING
    assert later.status(NOW + timedelta(hours=1)) is SilenceStatus.ACTIVE
    assert later.status(NOW + timedelta(hours=3)) is SilenceStatus.EXPIRED
    assert later.id.startswith("SIL-20240112073000-")


@DETERMINISTIC
@given(
    name=st.text(alphabet="OTDB-CPUabc*?[]!", min_size=0, max_size=20),
    pattern=st.text(alphabet="OTDB-CPUabc*?[]!", min_size=1, max_size=12),
    minutes=st.integers(min_value=-200, max_value=200),
    account=st.sampled_from([None, "111111111111", "222222222222"]),
    region=st.sampled_from([None, "ap-northeast-2", "us-east-1"]),
)
def test_a_silence_holds_exactly_its_alarms_inside_its_window(
    name: str, pattern: str, minutes: int, account: str | None, region: str | None
) -> None:
    s = silence(match=pattern, account=account, region=region)
    alarm = Alarm(name=name, state=State.ALARM, account="111111111111", region="ap-northeast-2")
    at = NOW + timedelta(minutes=minutes)
    expected = (
        NOW <= at < NOW + timedelta(hours=2)
        and fnmatchcase(name, pattern)
        and account in (None, "111111111111")
        and region in (None, "ap-northeast-2")
    )
    assert s.holds(alarm, at) is expected


# --- the flapping decision table ---------------------------------------------------------------
def plan(
    mid: str = "m7",
    at: str = "2024-01-12T07:30:00.000Z",
    changes: int = 1,
    earlier: int = 0,
    **state: Any,
) -> tuple[FlapKind, str | None]:
    result = classify(
        message_id=mid, at=at, changes=changes, earlier_in_window=earlier, state=state, threshold=6
    )
    return result.kind, result.claim


def test_decision_table() -> None:
    t = "2024-01-12T07:30:00.000Z"
    before, after = "2024-01-12T07:00:00.000Z", "2024-01-12T08:00:00.000Z"
    assert plan(changes=5, earlier=4) == (FlapKind.NORMAL, None)
    assert plan(changes=6, earlier=5) == (FlapKind.STARTED, "start")
    # The same notification again (another channel, a retry): the recorded winner decides.
    assert plan(changes=6, earlier=5, since=t, started_by="m7") == (FlapKind.STARTED, None)
    assert plan(changes=9, earlier=8, since=t, started_by="m1") == (FlapKind.FLAPPING, None)
    assert plan(at=after, changes=3, earlier=2, since=t) == (FlapKind.FLAPPING, None)
    # A whole window with no change before this one: the episode ends here.
    assert plan(at=after, changes=1, earlier=0, since=t) == (FlapKind.STABILISED, "close")
    assert plan(at=after, closed_by="m7") == (FlapKind.STABILISED, None)
    # A late change from before the episode: held when its own window was flapping.
    assert plan(at=before, changes=6, earlier=5, since=t) == (FlapKind.FLAPPING, None)
    assert plan(at=before, changes=2, earlier=1, since=t) == (FlapKind.NORMAL, None)
    # A change of an episode that ended, seen late: as it was decided then, no new claim.
    ended = {"closed_since": t, "closed_until": after, "closed_by": "m9"}
    assert plan(changes=6, earlier=5, **ended) == (FlapKind.STARTED, None)
    assert plan(at="2024-01-12T07:40:00.000Z", changes=7, earlier=6, **ended) == (
        FlapKind.FLAPPING,
        None,
    )
    # The change that started it is never "stable" against itself.
    assert plan(at=t, changes=1, earlier=0, since=t, started_by="m1") == (FlapKind.FLAPPING, None)


def simulate(minutes: list[int], threshold: int, window: int) -> list[tuple[FlapKind, int]]:
    """Changes arriving in time order, one at a time, through ``classify`` with claims applied to
    an in-memory state as the tracker's conditional writes apply them."""
    state: dict[str, Any] = {}
    seen: list[int] = []
    out = []
    for n, minute in enumerate(minutes):
        seen.append(minute)
        at = f"{minute:08d}"
        in_window = [m for m in seen if minute - window <= m <= minute]
        earlier = sum(1 for m in in_window if m < minute)
        result = classify(
            message_id=f"m{n}",
            at=at,
            changes=len(in_window),
            earlier_in_window=earlier,
            state=state,
            threshold=threshold,
        )
        if result.claim == "start":
            state = {"since": at, "started_by": f"m{n}"}
        elif result.claim == "close":
            state = {"closed_by": f"m{n}"}
        out.append((result.kind, len(in_window)))
    return out


@DETERMINISTIC
@given(
    gaps=st.lists(st.integers(min_value=0, max_value=40), min_size=1, max_size=60),
    threshold=st.integers(min_value=2, max_value=8),
    window=st.integers(min_value=5, max_value=40),
)
def test_any_sequence_of_changes_alternates_episodes_and_holds_only_inside_one(
    gaps: list[int], threshold: int, window: int
) -> None:
    minutes = [sum(gaps[: i + 1]) for i in range(len(gaps))]
    decisions = simulate(minutes, threshold, window)
    flapping = False
    for (kind, count), _minute in zip(decisions, minutes, strict=True):
        if kind is FlapKind.STARTED:
            assert not flapping, "one announcement per episode"
            assert count >= threshold
            flapping = True
        elif kind is FlapKind.FLAPPING:
            assert flapping, "nothing is held outside an episode"
        elif kind is FlapKind.STABILISED:
            assert flapping, "only an episode can end"
            flapping = False
        else:
            assert not flapping
            assert count < threshold
    # Reaching the threshold outside an episode always starts one.
    assert all(kind is not FlapKind.NORMAL or count < threshold for kind, count in decisions)


# --- notices -----------------------------------------------------------------------------------
HOSTILE = "<!channel> OTT-DB-<b>&co"


def _flapping(name: str, display: DisplaySettings) -> Any:
    alarm = Alarm(name=name, state=State.ALARM)
    decision = Decision(FlapKind.STARTED, changes=6, key="k", since="2024-01-12T07:30:00.000Z")
    return flapping_view(alarm, decision, FLAP, display)


def _stabilised(name: str, display: DisplaySettings, held: int = 14) -> Any:
    summary = Summary(
        key="k",
        alarm_name=name,
        account=None,
        region=None,
        since="2024-01-12T07:30:00.000Z",
        until="2024-01-12T07:52:00.000Z",
        settled_state="OK",
        held=held,
        closed_by="sweep",
    )
    return stabilised_view(summary, FLAP, display)


def _ended(name: str, display: DisplaySettings, alarms: int = 1) -> Any:
    s = silence(match="OTT-DB-*")
    notice = StillAlarming(
        s,
        tuple(
            OpenAlarm(f"{name}{n or ''}", None, None, f"INC-{n}", "2024-01-12T07:30:00.000Z")
            for n in range(alarms)
        ),
    )
    return silence_ended_view(notice, display)


def test_the_flapping_notice_says_how_often_and_what_happens_next() -> None:
    view = _flapping("OTT-DB-CPU-Utilization-High", EN)
    assert view.notice_id == "flapping#k#2024-01-12T07:30:00.000Z"
    assert (
        "changed state 6 times in 30 min; further changes are held until it is stable"
        in view.lines[0]
    )
    assert sms.render_quiet(view) == "[FLAPPING] OTT-DB-CPU-Utilization-High 6x in 30m"
    ko = _flapping("OTT-DB-CPU-Utilization-High", KO)
    assert "30분 동안 상태가 6회 바뀌었습니다" in ko.lines[0]
    assert sms.render_quiet(ko) == "[플래핑] OTT-DB-CPU-Utilization-High 30분 6회"


def test_the_summary_says_the_settled_state_and_how_many_were_held() -> None:
    view = _stabilised("OTT-DB-CPU-Utilization-High", EN)
    assert view.notice_id == "stabilised#k#2024-01-12T07:30:00.000Z"
    assert "settled in OK; 14 changes were held" in view.lines[0]
    assert view.color == "#2eb886"  # OK's green
    ko = _stabilised("OTT-DB-CPU-Utilization-High", KO)
    assert "OK 상태로 안정되었습니다. 보류된 변경: 14건" in ko.lines[0]
    assert "2024-01-12 16:30:00 KST" in ko.lines[0]  # shown in the display time zone


def test_the_silence_ended_notice_names_the_alarms_still_in_alarm_and_the_silence() -> None:
    view = _ended("OTT-DB-CPU", EN, alarms=3)
    assert view.notice_id.startswith("silence-ended#SIL-")
    assert view.lines[0] == "The silence has ended, but these alarms are still in ALARM:"
    assert [line.split(" ")[0] for line in view.lines[1:4]] == [
        "OTT-DB-CPU",
        "OTT-DB-CPU1",
        "OTT-DB-CPU2",
    ]
    assert "kim: failover test" in view.lines[-1]
    assert sms.render_quiet(view) == "[ALARM] OTT-DB-CPU +2, silence ended"


@pytest.mark.parametrize("build", [_flapping, _stabilised, _ended])
@pytest.mark.parametrize("display", [KO, EN])
def test_every_notice_is_escaped_in_slack_and_email(build: Any, display: DisplaySettings) -> None:
    view = build(HOSTILE, display)
    payload = slack.render_quiet(view)
    everything = payload["text"] + repr(payload["attachments"])
    assert "<!channel>" not in everything
    assert "&lt;!channel&gt;" in everything
    assert payload["attachments"][0]["color"].startswith("#")
    mail = email.render_quiet(view)
    assert "<!channel>" not in mail.html
    assert "<b>" not in mail.html
    assert html.escape(HOSTILE) in mail.html
    assert HOSTILE in mail.text  # plain text stays plain
    assert "\n" not in mail.subject


@DETERMINISTIC
@given(name=st.text(min_size=0, max_size=400), held=st.integers(min_value=0, max_value=10**6))
def test_every_notice_is_one_sms_segment_whatever_the_name(name: str, held: int) -> None:
    for display in (KO, EN):
        for view in (
            _flapping(name, display),
            _stabilised(name, display, held),
            _ended(name, display),
        ):
            message = sms.render_quiet(view)
            assert sms.fits_one_segment(message)
            assert message.startswith("[")
