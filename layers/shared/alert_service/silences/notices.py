"""What the flapping notice, the stabilised summary and the "silence ended, still ALARM" notice
say, computed once for every channel (like ``view.View`` for a notification). Plain text: each
renderer (``render.slack``/``email``/``sms``, ``render_quiet``) escapes and lays it out.
"""

from __future__ import annotations

from dataclasses import dataclass

from alert_service.alarm import Alarm, State
from alert_service.config import DisplaySettings
from alert_service.history import parse_iso
from alert_service.i18n import text
from alert_service.silences.ended import StillAlarming
from alert_service.silences.flapping import Decision, Summary
from alert_service.silences.settings import FlapSettings
from alert_service.view import STATE_COLORS, STATE_EMOJI

FLAPPING_COLOR = "#daa038"  # amber: neither the red of ALARM nor the green of OK
FLAPPING_EMOJI = "🔁"
MAX_ALARMS_LISTED = 20  # a silence on "*" may leave many alarms firing; the rest are counted


@dataclass(frozen=True)
class QuietView:
    kind: str  # "flapping" | "stabilised" | "silence_ended"
    notice_id: str  # once-only id for delivery.deliver_once
    locale: str
    prefix: str  # "[OTT 인프라 알림]"
    emoji: str
    color: str
    title: str
    lines: tuple[str, ...]
    footer: str
    sms_parts: tuple[
        str, str
    ]  # (label such as "[FLAPPING]", the rest), shortened by the SMS layout
    name: str  # the alarm name (or the silence's pattern)
    state: State | None  # the alarm's state it reports (routing by EMAIL_STATES/SMS_STATES)


def _local(at: str, display: DisplaySettings) -> str:
    return parse_iso(at).astimezone(display.timezone).strftime("%Y-%m-%d %H:%M:%S %Z")


def _base(display: DisplaySettings) -> dict[str, str]:
    return {
        "locale": display.locale,
        "prefix": text(display.locale, "notice_prefix", platform=display.platform),
        "footer": text(display.locale, "footer", platform=display.platform),
    }


def flapping_view(
    alarm: Alarm, decision: Decision, settings: FlapSettings, display: DisplaySettings
) -> QuietView:
    """The notice a ``started_flapping`` decision sends, once per channel."""
    loc = display.locale
    values = {"count": decision.changes, "window": settings.window_minutes}
    return QuietView(
        kind="flapping",
        notice_id=decision.notice_id or "",
        emoji=FLAPPING_EMOJI,
        color=FLAPPING_COLOR,
        title=text(loc, "flap_title", name=alarm.name),
        lines=(text(loc, "flap_started", state=alarm.state.value, **values),),
        sms_parts=(text(loc, "sms_flap_label"), alarm.name, text(loc, "sms_flapping", **values)),
        name=alarm.name,
        state=alarm.state,
        **_base(display),
    )


def stabilised_view(
    summary: Summary, settings: FlapSettings, display: DisplaySettings
) -> QuietView:
    """The summary that ends an episode, once per channel."""
    loc = display.locale
    state = State.of(summary.settled_state)
    return QuietView(
        kind="stabilised",
        notice_id=summary.notice_id,
        emoji=STATE_EMOJI.get(state, FLAPPING_EMOJI) if state else FLAPPING_EMOJI,
        color=STATE_COLORS.get(state, FLAPPING_COLOR) if state else FLAPPING_COLOR,
        title=text(loc, "flap_stable_title", name=summary.alarm_name),
        lines=(
            text(
                loc,
                "flap_stabilised",
                window=settings.window_minutes,
                state=summary.settled_state,
                held=summary.held,
                since=_local(summary.since, display),
                until=_local(summary.until, display),
            ),
        ),
        sms_parts=(
            text(loc, "sms_stable_label"),
            summary.alarm_name,
            text(loc, "sms_stabilised", state=summary.settled_state, held=summary.held),
        ),
        name=summary.alarm_name,
        state=state,
        **_base(display),
    )


def silence_ended_view(notice: StillAlarming, display: DisplaySettings) -> QuietView:
    """One notice per ended silence: which alarms it held are still in ALARM."""
    loc, silence = display.locale, notice.silence
    listed = [
        text(
            loc,
            "silence_alarm_line",
            name=alarm.name,
            since=_local(alarm.first_seen_at, display) if alarm.first_seen_at else "-",
            incident=alarm.incident_id,
        )
        for alarm in notice.alarms[:MAX_ALARMS_LISTED]
    ]
    if len(notice.alarms) > MAX_ALARMS_LISTED:
        listed.append(f"… +{len(notice.alarms) - MAX_ALARMS_LISTED}")
    first, more = notice.alarms[0].name, len(notice.alarms) - 1
    detail = (
        text(loc, "sms_silence_ended_more", more=more) if more else text(loc, "sms_silence_ended")
    )
    return QuietView(
        kind="silence_ended",
        notice_id=notice.notice_id,
        emoji=STATE_EMOJI[State.ALARM],
        color=STATE_COLORS[State.ALARM],
        title=text(loc, "silence_ended_title", match=silence.match),
        lines=(
            text(loc, "silence_ended"),
            *listed,
            text(
                loc,
                "silence_about",
                id=silence.id,
                by=silence.created_by,
                comment=silence.comment,
            ),
        ),
        sms_parts=(f"[{State.ALARM.value}]", first, detail),
        name=silence.match,
        state=State.ALARM,
        **_base(display),
    )
