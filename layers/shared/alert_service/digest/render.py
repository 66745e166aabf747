"""The digest laid out three ways: Slack Block Kit, an HTML email, and plain text.

The email is read in a second: four numbers on top (each with its change against the day before),
MTTA and MTTR, then the open incidents (oldest first) and the noisiest alarms as small tables.
Every style is inline and the layout is tables (mail clients, see render/email.py); every value is
escaped (``html.escape`` for the mail, ``escape`` for Slack: an alarm name is data, never markup).

Slack's limits (api.slack.com/reference/block-kit/blocks): at most 50 blocks, a header's text 150
characters, a section's text 3000, at most 10 fields of 2000 each. Long lists are cut with
"and N more", so the message always fits.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from alert_service.config import DisplaySettings
from alert_service.digest.report import Digest, Durations
from alert_service.durations import format_age
from alert_service.render import truncate
from alert_service.render.email import Email
from alert_service.render.slack import escape

MAX_BLOCKS = 50
MAX_HEADER_CHARS = 150
MAX_SECTION_CHARS = 3000
MAX_LISTED = 10  # open incidents shown by name; the rest are counted
MAX_NAME_CHARS = 80
MAX_FIELD_CHARS = 2000
MAX_COMMENT_CHARS = 200

_WORDS: dict[str, dict[str, str]] = {
    "ko": {
        "title": "{platform} 일일 알람 요약",
        "period": "{since} – {until}",
        "notifications": "알림",
        "opened": "새 인시던트",
        "resolved": "해결",
        "open_now": "열린 인시던트",
        "vs": "전일 대비 {change}",
        "mtta": "MTTA (확인까지)",
        "mttr": "MTTR (해결까지)",
        "mean_median": "평균 {mean} · 중앙값 {median} ({n}건)",
        "none": "없음",
        "open_list": "열린 인시던트",
        "open_item": "{age}째 · 알림 {count}건",
        "acked_by": "확인: {by}",
        "unacked": "미확인",
        "noisiest": "가장 시끄러운 알람",
        "noisy_item": "알림 {n}건 · 인시던트 {i}건",
        "flapping": "플래핑 중인 알람",
        "flap_item": "{window}분 동안 상태 변경 {changes}회",
        "silences": "곧 끝나는 사일런스",
        "silence_item": "{ends} 종료 · {by}: {comment}",
        "more": "외 {n}건",
        "all_quiet": "열린 인시던트가 없습니다.",
        "subject": "[{platform}] 일일 요약 {day}: 열린 인시던트 {open}건, 새 인시던트 {opened}건",
        "footer": "{platform} 플랫폼 통합 관제 시스템",
        "col_alarm": "알람",
        "col_status": "상태",
        "col_age": "경과",
        "col_count": "알림",
        "col_incidents": "인시던트",
    },
    "en": {
        "title": "{platform} daily alarm digest",
        "period": "{since} – {until}",
        "notifications": "Notifications",
        "opened": "Incidents opened",
        "resolved": "Resolved",
        "open_now": "Open now",
        "vs": "{change} vs the day before",
        "mtta": "MTTA (to acknowledge)",
        "mttr": "MTTR (to resolve)",
        "mean_median": "mean {mean} · median {median} ({n})",
        "none": "none",
        "open_list": "Open incidents",
        "open_item": "open {age} · {count} alerts",
        "acked_by": "acknowledged by {by}",
        "unacked": "unacknowledged",
        "noisiest": "Noisiest alarms",
        "noisy_item": "{n} notifications · {i} incidents",
        "flapping": "Flapping alarms",
        "flap_item": "{changes} state changes in {window} min",
        "silences": "Silences ending soon",
        "silence_item": "ends {ends} · {by}: {comment}",
        "more": "and {n} more",
        "all_quiet": "No open incidents.",
        "subject": "[{platform}] Daily digest {day}: {open} open, {opened} opened",
        "footer": "{platform} Platform Monitoring",
        "col_alarm": "Alarm",
        "col_status": "Status",
        "col_age": "Open for",
        "col_count": "Alerts",
        "col_incidents": "Incidents",
    },
}


def _w(display: DisplaySettings) -> dict[str, str]:
    return _WORDS.get(display.locale, _WORDS["ko"])


def _local(moment: datetime, display: DisplaySettings) -> str:
    return moment.astimezone(display.timezone).strftime("%Y-%m-%d %H:%M %Z")


def _signed(change: int) -> str:
    return f"+{change:,}" if change > 0 else (f"{change:,}" if change < 0 else "±0")


def _durations(d: Durations, display: DisplaySettings) -> str:
    if d.mean is None or d.median is None:
        return _w(display)["none"]
    return _w(display)["mean_median"].format(
        mean=format_age(timedelta(seconds=d.mean), display.locale, seconds=True),
        median=format_age(timedelta(seconds=d.median), display.locale, seconds=True),
        n=d.count,
    )


# --- what to show, computed once for the three layouts ----------------------------------------
@dataclass(frozen=True)
class Number:
    label: str
    value: int
    change: int | None  # against the period before; None: no comparison
    more_is_bad: bool = True  # more notifications or incidents is bad; more resolved is not

    def vs(self, w: dict[str, str]) -> str:
        return "" if self.change is None else w["vs"].format(change=_signed(self.change))


@dataclass(frozen=True)
class Line:
    """One entry of a list: a name in bold, an optional code (incident id), the rest, a tone."""

    name: str
    detail: str
    code: str = ""
    status: str = ""
    tone: str = ""  # "bad" (unacknowledged), "good" (acknowledged) or ""


@dataclass(frozen=True)
class Section:
    title: str
    lines: list[Line]
    empty: str = ""


@dataclass(frozen=True)
class Layout:
    title: str
    period: str
    numbers: list[Number]
    times: list[tuple[str, str]]
    sections: list[Section]
    footer: str


def layout(digest: Digest, display: DisplaySettings) -> Layout:
    w = _w(display)
    loc = display.locale
    sections = [
        Section(
            w["open_list"],
            [
                Line(
                    _name(o.alarm_name),
                    w["open_item"].format(age=format_age(o.age, loc), count=f"{o.alert_count:,}"),
                    code=o.incident_id,
                    status=(
                        w["acked_by"].format(by=o.acknowledged_by)
                        if o.acknowledged_by
                        else w["unacked"]
                    ),
                    tone="good" if o.acknowledged_by else "bad",
                )
                for o in digest.open_incidents
            ],
            empty=w["all_quiet"],
        ),
        Section(
            w["noisiest"],
            [
                Line(
                    _name(a.alarm_name),
                    w["noisy_item"].format(n=f"{a.notifications:,}", i=f"{a.incidents:,}"),
                )
                for a in digest.noisiest
            ],
        ),
        Section(
            w["flapping"],
            [
                Line(
                    _name(f.alarm_name),
                    w["flap_item"].format(changes=f.changes, window=f.window_minutes),
                )
                for f in digest.flapping
            ],
        ),
        Section(
            w["silences"],
            [
                Line(
                    _name(s.matcher),
                    w["silence_item"].format(
                        ends=_local(s.ends_at, display),
                        by=s.created_by,
                        comment=truncate(" ".join(s.comment.split()), MAX_COMMENT_CHARS),
                    ),
                    code=s.silence_id,
                )
                for s in digest.silences_ending
            ],
        ),
    ]
    return Layout(
        title=w["title"].format(platform=display.platform),
        period=w["period"].format(
            since=_local(digest.since, display), until=_local(digest.until, display)
        ),
        numbers=[
            Number(w["notifications"], digest.notifications.now, digest.notifications.change),
            Number(w["opened"], digest.opened.now, digest.opened.change),
            Number(w["resolved"], digest.resolved.now, digest.resolved.change, more_is_bad=False),
            Number(w["open_now"], len(digest.open_incidents), None),
        ],
        times=[
            (w["mtta"], _durations(digest.mtta, display)),
            (w["mttr"], _durations(digest.mttr, display)),
        ],
        # Optional sections appear only when they have something (the open list always does).
        sections=[s for s in sections if s.lines or s.empty],
        footer=w["footer"].format(platform=display.platform),
    )


def _name(value: str) -> str:
    return truncate(" ".join(value.split()), MAX_NAME_CHARS)


def subject(digest: Digest, display: DisplaySettings) -> str:
    return _w(display)["subject"].format(
        platform=display.platform,
        day=digest.until.astimezone(display.timezone).strftime("%Y-%m-%d"),
        open=len(digest.open_incidents),
        opened=digest.opened.now,
    )


# --- Slack -------------------------------------------------------------------------------------
def slack(digest: Digest, display: DisplaySettings) -> tuple[str, list[dict[str, Any]]]:
    """(notification text, blocks)."""
    view = layout(digest, display)
    w = _w(display)
    fields = [
        _mrkdwn(f"*{n.label}*\n{n.value:,}" + (f"  _{n.vs(w)}_" if n.change is not None else ""))
        for n in view.numbers
    ] + [_mrkdwn(f"*{label}*\n{value}") for label, value in view.times]
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {"type": "plain_text", "text": truncate(f"📋 {view.title}", MAX_HEADER_CHARS)},
        },
        _context(view.period),
        {"type": "section", "fields": fields},
        {"type": "divider"},
    ]
    for section in view.sections:
        lines = [_slack_line(line) for line in section.lines] or [section.empty]
        blocks.append(_list_section(escape(section.title), lines, w))
    blocks.append(_context(escape(view.footer)))
    return text_summary(digest, display), blocks[:MAX_BLOCKS]


def _slack_line(line: Line) -> str:
    code = f" `{escape(line.code)}`" if line.code else ""
    status = f" · {escape(line.status)}" if line.status else ""
    return f"• *{escape(line.name)}*{code} {escape(line.detail)}{status}"


def _mrkdwn(text: str) -> dict[str, str]:
    return {"type": "mrkdwn", "text": truncate(text, MAX_FIELD_CHARS)}


def _context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [_mrkdwn(text)]}


def _list_section(title: str, lines: list[str], w: dict[str, str]) -> dict[str, Any]:
    """A titled list, at most MAX_LISTED lines and MAX_SECTION_CHARS characters."""
    shown = lines[:MAX_LISTED]
    text = f"*{title}*\n" + "\n".join(shown)
    while len(text) > MAX_SECTION_CHARS - 40 and len(shown) > 1:
        shown = shown[:-1]
        text = f"*{title}*\n" + "\n".join(shown)
    if len(shown) < len(lines):
        text += f"\n_{w['more'].format(n=len(lines) - len(shown))}_"
    return {
        "type": "section",
        "text": {"type": "mrkdwn", "text": truncate(text, MAX_SECTION_CHARS)},
    }


def text_summary(digest: Digest, display: DisplaySettings) -> str:
    """One line: Slack's notification text and the fallback for clients without blocks."""
    view = layout(digest, display)
    parts = [
        f"{n.label} {n.value:,}" + (f" ({_signed(n.change)})" if n.change is not None else "")
        for n in view.numbers
    ]
    return f"{view.title}: " + ", ".join(parts)


# --- email -------------------------------------------------------------------------------------
_FONT = (
    "font-family:-apple-system,'Segoe UI','Apple SD Gothic Neo','Malgun Gothic',Arial,sans-serif"
)
_RED, _GREEN, _GREY, _INK = "#c0392b", "#1e8449", "#777777", "#222222"
_TONES = {"bad": f"color:{_RED};font-weight:600;", "good": f"color:{_GREEN};", "": ""}


def email(digest: Digest, display: DisplaySettings) -> Email:
    view = layout(digest, display)
    return Email(
        subject(digest, display), _html(view, display, _w(display)), _text(view, _w(display))
    )


def _tile(number: Number, w: dict[str, str]) -> str:
    e = html.escape
    change = "&nbsp;"
    if number.change is not None:
        # Red for the bad direction (more noise), green for the good; resolutions stay grey.
        sign = (number.change > 0) - (number.change < 0)
        colour = {1: _RED, -1: _GREEN}.get(sign, _GREY) if number.more_is_bad else _GREY
        arrow = "▲ " if number.change > 0 else ("▼ " if number.change < 0 else "")
        change = f'<span style="color:{colour};font-size:12px;">{arrow}{e(number.vs(w))}</span>'
    return (
        '<td width="25%" valign="top" style="padding:12px 10px;border:1px solid #e5e5e5;">'
        f'<div style="font-size:12px;color:{_GREY};">{e(number.label)}</div>'
        f'<div style="font-size:28px;font-weight:700;color:{_INK};padding:4px 0;">'
        f"{number.value:,}</div>{change}</td>"
    )


def _html_section(section: Section, more: str) -> str:
    e = html.escape
    rows = []
    for line in section.lines[:MAX_LISTED]:
        code = (
            f'<br><span style="font-size:12px;color:{_GREY};">{e(line.code)}</span>'
            if line.code
            else ""
        )
        status = (
            f'<br><span style="font-size:13px;{_TONES[line.tone]}">{e(line.status)}</span>'
            if line.status
            else ""
        )
        rows.append(
            "<tr>"
            f'<td valign="top" style="padding:8px 10px;border-top:1px solid #eeeeee;font-size:14px;'
            f'color:{_INK};word-break:break-word;"><strong>{e(line.name)}</strong>{code}</td>'
            f'<td valign="top" align="right" style="padding:8px 10px;border-top:1px solid #eeeeee;'
            f'font-size:13px;color:{_INK};"><span style="white-space:nowrap;">{e(line.detail)}'
            f"</span>{status}</td>"
            "</tr>"
        )
    if not section.lines:
        rows.append(
            f'<tr><td colspan="2" style="padding:8px 10px;font-size:14px;color:{_GREEN};">'
            f"{e(section.empty)}</td></tr>"
        )
    hidden = len(section.lines) - MAX_LISTED
    if hidden > 0:
        rows.append(
            f'<tr><td colspan="2" style="padding:6px 10px;font-size:12px;color:{_GREY};">'
            f"{e(more.format(n=hidden))}</td></tr>"
        )
    return (
        '<tr><td style="padding:18px 24px 4px 24px;font-size:15px;font-weight:700;'
        f'color:{_INK};">{e(section.title)}</td></tr>'
        '<tr><td style="padding:0 14px;"><table role="presentation" width="100%" cellpadding="0" '
        f'cellspacing="0" border="0" style="border-collapse:collapse;">{"".join(rows)}'
        "</table></td></tr>"
    )


def _html(view: Layout, display: DisplaySettings, w: dict[str, str]) -> str:
    e = html.escape
    tiles = "".join(_tile(n, w) for n in view.numbers)
    times = "".join(
        f'<td width="50%" style="padding:10px;font-size:14px;color:{_INK};">'
        f'<span style="color:{_GREY};font-size:12px;">{e(label)}</span><br>'
        f"<strong>{e(value)}</strong></td>"
        for label, value in view.times
    )
    table = (
        '<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0" '
        'style="border-collapse:collapse;">'
    )
    return (
        "<!DOCTYPE html>"
        f'<html lang="{e(display.locale)}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{e(view.title)}</title></head>"
        f'<body style="margin:0;padding:0;background:#f4f5f7;{_FONT};">'
        '<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0" '
        'style="background:#f4f5f7;"><tr><td align="center" style="padding:24px 12px;">'
        '<table role="presentation" width="640" cellpadding="0" cellspacing="0" border="0" '
        'style="width:100%;max-width:640px;background:#ffffff;border:1px solid #dddddd;'
        f'border-collapse:collapse;{_FONT};">'
        '<tr><td style="background:#34495e;padding:16px 24px;color:#ffffff;">'
        f'<div style="font-size:20px;font-weight:700;">{e(view.title)}</div>'
        f'<div style="font-size:13px;opacity:0.85;padding-top:4px;">{e(view.period)}</div>'
        "</td></tr>"
        f'<tr><td style="padding:16px 14px 0 14px;">{table}<tr>{tiles}</tr></table></td></tr>'
        f'<tr><td style="padding:4px 14px 0 14px;">{table}<tr>{times}</tr></table></td></tr>'
        f"{''.join(_html_section(s, w['more']) for s in view.sections)}"
        f'<tr><td style="padding:20px 24px 16px 24px;color:#888888;font-size:12px;">'
        f"{e(view.footer)}</td></tr>"
        "</table></td></tr></table></body></html>"
    )


def _text(view: Layout, w: dict[str, str]) -> str:
    lines = [view.title, view.period, ""]
    lines += [
        f"{n.label}: {n.value:,}" + (f" ({n.vs(w)})" if n.vs(w) else "") for n in view.numbers
    ]
    lines += [f"{label}: {value}" for label, value in view.times]
    for section in view.sections:
        lines += ["", f"{section.title}:"]
        for line in section.lines:
            code = f" [{line.code}]" if line.code else ""
            status = f" · {line.status}" if line.status else ""
            lines.append(f"  {line.name}{code} {line.detail}{status}")
        if not section.lines:
            lines.append(f"  {section.empty}")
    lines += ["", "--", view.footer]
    return "\n".join(lines) + "\n"
