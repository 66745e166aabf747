"""The incident card (the root message of an incident in Slack) and the short replies in its thread.

The card is the seed 000 message (colour bar, title, the five fields, footer) plus what seed 001
knows about the incident: its id, status, alert count and first notification; who acknowledged it
and when; who or what resolved it and how long it lasted; its severity, and the marks of its latest
notification: "silenced" (which silences, until when) and "flapping" (since when). While the
incident is open it carries the contract's two buttons, ``incident_ack`` and ``incident_resolve``,
and a third, ``incident_silence_1h`` (issue 12), each with the incident id as its value.

Everything sits in one legacy attachment holding Block Kit blocks: the attachment keeps the colour
bar (TIPS.md), the blocks carry the buttons. The card is always rendered whole from the incident
item (never patched), so ``chat.update`` with it shows the latest state; ``blocks: []`` is sent too,
because ``chat.update`` keeps what it is not given (a resolved card must lose its buttons).

Limits (api.slack.com/reference/block-kit/blocks): 50 blocks a message, 3,000 characters a section
text, 2,000 a section field, 10 fields a section, 75 a button text, 2,000 a button value; a message
is best kept under about 13,000 characters (longer ones are truncated or refused). Every value from
the alarm is escaped and cut like the webhook message (render/slack.py).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from alert_service.alarm import Notification, State
from alert_service.config import DisplaySettings
from alert_service.history import ACKNOWLEDGED, ACTIVE, RESOLVED, parse_iso
from alert_service.i18n import text
from alert_service.render import one_line
from alert_service.render.slack import _safe as fit
from alert_service.render.slack import escape
from alert_service.view import STATE_COLORS, STATE_EMOJI, View, build_view

MAX_BLOCKS = 50
MAX_SECTION_CHARS = 3000
MAX_FIELD_CHARS = 2000
MAX_FIELDS_PER_SECTION = 10
MAX_BUTTON_VALUE_CHARS = 2000
MAX_MESSAGE_CHARS = 13000
# Our own, tighter budgets, so the sum of every part stays far below MAX_MESSAGE_CHARS.
SHORT_CHARS = 300  # a short field's value
LONG_CHARS = 1500  # the reason, the description, the child alarms
TITLE_CHARS = 500
REPLY_REASON_CHARS = 500
FALLBACK_CHARS = 1000

ACTION_ACK = "incident_ack"
ACTION_RESOLVE = "incident_resolve"
ACTION_SILENCE = "incident_silence_1h"
MAX_SILENCE_IDS_SHOWN = 3  # a card names a few silences; the CLI lists them all

# Open: the ALARM red; someone is on it: amber; resolved: the OK green (as the webhook message).
STATUS_COLORS = {
    ACTIVE: STATE_COLORS[State.ALARM],
    ACKNOWLEDGED: "#f2a33a",
    RESOLVED: STATE_COLORS[State.OK],
}
STATUS_EMOJI = {
    ACTIVE: STATE_EMOJI[State.ALARM],
    ACKNOWLEDGED: "👀",
    RESOLVED: STATE_EMOJI[State.OK],
}
_SLACK_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,20}$")
# The five fields of the seed 000 message, then the extra ones, all short.
_LONG_FIELDS = ("reason", "description", "children")


def status_word(incident: Mapping[str, Any]) -> str:
    status = str(incident.get("status") or ACTIVE)
    return status if status in STATUS_COLORS else ACTIVE


def is_open(incident: Mapping[str, Any]) -> bool:
    return status_word(incident) != RESOLVED


def local_time(iso: Any, settings: DisplaySettings) -> str:
    """An ISO UTC time of the history table, as the webhook message shows times."""
    if not iso:
        return "-"
    try:
        moment = parse_iso(str(iso))
    except ValueError:
        return escape(str(iso))
    return moment.astimezone(settings.timezone).strftime("%Y-%m-%d %H:%M:%S %Z")


def duration_text(seconds: Any, locale: str) -> str:
    try:
        total = max(0, int(float(seconds)))
    except (TypeError, ValueError):
        return "-"
    h, rest = divmod(total, 3600)
    m, s = divmod(rest, 60)
    if h:
        return text(locale, "duration_hms", h=h, m=m, s=s)
    if m:
        return text(locale, "duration_ms", m=m, s=s)
    return text(locale, "duration_s", s=s)


def actor(who: Any, locale: str) -> str:
    """``slack:U123`` -> a mention, ``cli:alice`` -> ``CLI (alice)``, ``cloudwatch:OK`` -> words."""
    value = str(who or "")
    kind, _, name = value.partition(":")
    if kind == "slack" and _SLACK_USER_ID.match(name):
        return f"<@{name}>"
    if kind == "cloudwatch":
        return text(locale, "by_cloudwatch_ok")
    if kind == "cli":
        return escape(text(locale, "by_cli", user=one_line(name, 100)))
    return escape(one_line(value, 100)) or "-"


def _field(label: str, value: str) -> dict[str, str]:
    # ``value`` is already escaped markup; the label is ours.
    return {"type": "mrkdwn", "text": f"*{label}*\n{value}"[:MAX_FIELD_CHARS]}


def _section(markup: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": markup[:MAX_SECTION_CHARS]}}


def _view(notification: Notification | None, settings: DisplaySettings) -> View | None:
    return build_view(notification, settings) if notification is not None else None


def is_silenced(incident: Mapping[str, Any]) -> bool:
    """The incident's latest notification was held by a silence (nobody was notified of it)."""
    return bool(incident.get("silenced_by"))


def marks(incident: Mapping[str, Any], settings: DisplaySettings) -> list[str]:
    """The "silenced" and "flapping" lines of the card (escaped markup), when they apply."""
    loc = settings.locale
    lines = []
    ids = [str(i) for i in incident.get("silenced_by") or []]
    if ids:
        shown = ", ".join(f"`{fit(i, 60)}`" for i in ids[:MAX_SILENCE_IDS_SHOWN])
        if len(ids) > MAX_SILENCE_IDS_SHOWN:
            shown += f" +{len(ids) - MAX_SILENCE_IDS_SHOWN}"
        until = local_time(incident.get("silenced_until"), settings)
        lines.append(text(loc, "card_silenced", ids=shown, until=until))
    if incident.get("flapping_since"):
        since = local_time(incident.get("flapping_since"), settings)
        lines.append(text(loc, "card_flapping", since=since))
    return lines


def incident_fields(incident: Mapping[str, Any], settings: DisplaySettings) -> list[dict[str, str]]:
    loc = settings.locale
    status = status_word(incident)
    fields = [
        _field(text(loc, "incident"), f"`{fit(str(incident.get('incident_id', '-')), 200)}`"),
        _field(text(loc, "status"), f"{text(loc, f'status_{status}')} ({status})"),
        _field(
            text(loc, "alert_count"),
            text(loc, "alert_count_value", n=int(incident.get("alert_count") or 0)),
        ),
        _field(text(loc, "first_seen"), local_time(incident.get("first_seen_at"), settings)),
    ]
    if incident.get("severity"):
        fields.append(_field(text(loc, "severity"), fit(str(incident["severity"]), SHORT_CHARS)))
    if incident.get("acknowledged_by"):
        fields.append(_field(text(loc, "acknowledged_by"), actor(incident["acknowledged_by"], loc)))
        fields.append(
            _field(
                text(loc, "acknowledged_at"), local_time(incident.get("acknowledged_at"), settings)
            )
        )
    if status == RESOLVED:
        fields.append(_field(text(loc, "resolved_by"), actor(incident.get("resolved_by"), loc)))
        fields.append(
            _field(text(loc, "duration"), duration_text(incident.get("duration_seconds"), loc))
        )
    return fields[:MAX_FIELDS_PER_SECTION]


def root_message(
    incident: Mapping[str, Any], notification: Notification | None, settings: DisplaySettings
) -> dict[str, Any]:
    """The card: ``text`` (notifications, search), one attachment with the blocks, no top blocks."""
    loc = settings.locale
    status = status_word(incident)
    view = _view(notification, settings)
    name = str(incident.get("alarm_name") or (view.name if view else "") or "-")
    prefix = view.prefix if view else text(loc, "alert_prefix", platform=settings.platform)
    title = fit(text(loc, "title", name=name), TITLE_CHARS)
    if view is not None and view.console_url:
        title = f"<{view.console_url}|{title}>"
    emoji = STATUS_EMOJI[status]
    incident_id = fit(str(incident.get("incident_id", "-")), 200)
    count = int(incident.get("alert_count") or 0)
    fallback = one_line(
        f"{emoji} {prefix} {name} · {incident_id} · {status} · {text(loc, 'alert_count')} {count}",
        FALLBACK_CHARS,
    )
    blocks: list[dict[str, Any]] = [
        _section(f"{emoji} *{escape(prefix)}* *{title}*"),
        {"type": "section", "fields": incident_fields(incident, settings)},
    ]
    shown_marks = marks(incident, settings)
    if shown_marks:
        blocks.append(_section("\n".join(shown_marks)))
    if view is not None:
        short = [f for f in view.fields if f.key not in _LONG_FIELDS]
        if short:
            blocks.append(
                {
                    "type": "section",
                    "fields": [
                        _field(f.label, fit(f.value, SHORT_CHARS))
                        for f in short[:MAX_FIELDS_PER_SECTION]
                    ],
                }
            )
        for f in view.fields:
            if f.key in _LONG_FIELDS:
                blocks.append(_section(f"*{f.label}*\n{fit(f.value, LONG_CHARS)}"))
    if status != RESOLVED:
        value = str(incident.get("incident_id", ""))[:MAX_BUTTON_VALUE_CHARS]
        blocks.append(
            {
                "type": "actions",
                "block_id": "incident_actions",
                "elements": [
                    _button(text(loc, "button_ack"), ACTION_ACK, value, style="primary"),
                    _button(text(loc, "button_resolve"), ACTION_RESOLVE, value, style="danger"),
                    _button(text(loc, "button_silence_1h"), ACTION_SILENCE, value),
                ],
            }
        )
    footer = view.footer if view else text(loc, "footer", platform=settings.platform)
    blocks.append(
        {"type": "context", "elements": [{"type": "mrkdwn", "text": fit(footer, SHORT_CHARS)}]}
    )
    return {
        "text": escape(fallback),
        "blocks": [],  # chat.update keeps blocks it is not given
        "attachments": [
            {"color": STATUS_COLORS[status], "fallback": escape(fallback), "blocks": blocks}
        ],
    }


def _button(label: str, action_id: str, value: str, *, style: str | None = None) -> dict[str, Any]:
    button = {
        "type": "button",
        "text": {"type": "plain_text", "text": label[:75], "emoji": True},
        "action_id": action_id,
        "value": value,
    }
    if style:  # Slack knows "primary" and "danger"; no style is the plain grey button
        button["style"] = style
    return button


def _alarm_summary(notification: Notification | None, settings: DisplaySettings) -> list[str]:
    """``관측값 95% (임계치 >= 80%)`` and the reason, escaped; empty for a notice."""
    view = _view(notification, settings)
    if view is None or view.state is None:
        return []
    parts = []
    if view.observed_text is not None:
        threshold = view.threshold_text
        if view.comparison_symbol:
            threshold = f"{view.comparison_symbol} {threshold}"
        parts.append(
            escape(
                text(
                    settings.locale,
                    "value_vs_threshold",
                    observed=view.observed_text,
                    threshold=threshold,
                )
            )
        )
    reason = notification.alarm.reason if notification and notification.alarm else ""
    if reason:
        parts.append(fit(one_line(reason, REPLY_REASON_CHARS), REPLY_REASON_CHARS))
    return parts


def notification_reply(
    incident: Mapping[str, Any], notification: Notification | None, settings: DisplaySettings
) -> dict[str, Any]:
    """A later notification of the incident, in its thread: state, value vs threshold, reason."""
    loc = settings.locale
    alarm = notification.alarm if notification else None
    state = alarm.state.value if alarm else str(incident.get("last_state") or "-")
    emoji = STATE_EMOJI[alarm.state] if alarm else "🔔"
    head = text(
        loc,
        "reply_notification",
        n=int(incident.get("alert_count") or 0),
        state=f"*{escape(state)}*",
    )
    return {"text": " · ".join([f"{emoji} {head}", *_alarm_summary(notification, settings)])}


def status_reply(
    incident: Mapping[str, Any], notification: Notification | None, settings: DisplaySettings
) -> dict[str, Any]:
    """Acknowledged or resolved, in the thread. An OK that resolved adds its value and reason."""
    loc = settings.locale
    status = status_word(incident)
    if status == ACKNOWLEDGED:
        line = text(
            loc,
            "reply_acknowledged",
            by=actor(incident.get("acknowledged_by"), loc),
            at=local_time(incident.get("acknowledged_at"), settings),
        )
        return {"text": f"{STATUS_EMOJI[status]} {line}"}
    line = text(
        loc,
        "reply_resolved",
        by=actor(incident.get("resolved_by"), loc),
        duration=duration_text(incident.get("duration_seconds"), loc),
    )
    parts = [f"{STATUS_EMOJI[RESOLVED]} {line}"]
    if str(incident.get("resolved_by") or "").startswith("cloudwatch:"):
        parts += _alarm_summary(notification, settings)
    return {"text": " · ".join(parts)}


def message_chars(message: Mapping[str, Any]) -> int:
    """Characters of every text a reader could see (what Slack's size limit counts, roughly)."""

    def walk(node: Any) -> int:
        if isinstance(node, str):
            return len(node)
        if isinstance(node, Mapping):
            return sum(walk(v) for k, v in node.items() if k not in ("type", "style", "action_id"))
        if isinstance(node, list):
            return sum(walk(v) for v in node)
        return 0

    return walk(message)
