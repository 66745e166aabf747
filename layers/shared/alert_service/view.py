"""What to show about a notification, computed once and shared by every channel.

A view holds plain, unescaped text: each renderer escapes and lays it out for its own medium.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote

from alert_service.alarm import Alarm, AlarmKind, Notification, State
from alert_service.config import DisplaySettings
from alert_service.i18n import text
from alert_service.parse import alarm_names_in_rule
from alert_service.units import format_value, unit_for

STATE_COLORS = {State.ALARM: "#eb4034", State.OK: "#2eb886", State.INSUFFICIENT_DATA: "#9e9e9e"}
STATE_EMOJI = {State.ALARM: "🚨", State.OK: "✅", State.INSUFFICIENT_DATA: "⚠️"}
NOTICE_COLOR = "#439fe0"
NOTICE_EMOJI = "📢"

_COMPARISON_SYMBOLS = {
    "GreaterThanOrEqualToThreshold": ">=",
    "GreaterThanThreshold": ">",
    "LessThanThreshold": "<",
    "LessThanOrEqualToThreshold": "<=",
}
_BAND_COMPARISONS = {
    "GreaterThanUpperThreshold": "band_above",
    "LessThanLowerThreshold": "band_below",
    "LessThanLowerOrGreaterThanUpperThreshold": "band_outside",
}


@dataclass(frozen=True)
class Field:
    key: str
    label: str
    value: str
    short: bool = True


@dataclass(frozen=True)
class View:
    locale: str
    platform: str
    state: State | None  # None for a notice that is not an alarm
    emoji: str
    color: str
    prefix: str  # "[OTT 인프라 감지]"
    headline: str  # "상태가 {state}로 변경되었습니다." with {state} left for the renderer's markup
    title: str
    name: str  # the alarm name, or the notice's subject
    fields: tuple[Field, ...]
    footer: str
    occurred_at: datetime | None  # in the display time zone
    timestamp: int | None  # epoch seconds
    console_url: str | None
    threshold_text: str
    observed_text: str | None
    # ">=", ">", "<" or "<=" for a static threshold; None for a band, a composite rule, a notice or
    # an alarm whose comparison is unknown (EventBridge events carry none). Lets a channel set the
    # observed value against the threshold without parsing the condition field's text.
    comparison_symbol: str | None = None
    # The alarm's severity (its ``severity`` tag, else the routing rule's), lower case; None when
    # unknown, and then no channel shows one (alert_service.severity, alert_service.routing).
    severity: str | None = None


def build_view(
    notification: Notification, settings: DisplaySettings, severity: str | None = None
) -> View:
    """What every channel shows; ``severity`` (an alarm's only) adds a field and a label."""
    if notification.alarm is not None:
        return _alarm_view(notification, notification.alarm, settings, severity)
    return _notice_view(notification, settings)


def _alarm_view(
    notification: Notification, alarm: Alarm, settings: DisplaySettings, severity: str | None
) -> View:
    loc = settings.locale
    moment = alarm.state_changed_at or notification.published_at
    local = moment.astimezone(settings.timezone) if moment else None
    when = _format_time(local)
    unit = unit_for(alarm.metric_name, alarm.unit)
    metric, threshold = _metric_and_threshold(alarm, unit, loc)
    observed = (
        format_value(alarm.observed_value, unit) if alarm.observed_value is not None else None
    )

    fields = [
        Field("region", text(loc, "region"), alarm.region or "-"),
        Field("metric", text(loc, "metric"), metric),
        Field("threshold", text(loc, "threshold"), threshold),
        Field("occurred_at", text(loc, "occurred_at"), when),
        Field("reason", text(loc, "reason"), alarm.reason or "-", short=False),
    ]
    # First of the extra fields: the contract's five keep their order (CONTRACT.md, Slack message).
    if severity:
        fields.append(Field("severity", text(loc, "severity"), severity_label(severity)))
    if observed is not None and not alarm.is_composite:
        fields.append(Field("observed", text(loc, "observed"), observed))
    condition = _condition(alarm, unit, loc)
    if condition:
        fields.append(Field("condition", text(loc, "condition"), condition))
    if alarm.dimensions:
        fields.append(
            Field(
                "dimensions",
                text(loc, "dimensions"),
                ", ".join(f"{k}={v}" for k, v in alarm.dimensions),
            )
        )
    if alarm.triggering_children:
        fields.append(
            Field(
                "children", text(loc, "children"), ", ".join(alarm.triggering_children), short=False
            )
        )
    if alarm.description:
        fields.append(
            Field("description", text(loc, "description"), alarm.description, short=False)
        )

    return View(
        locale=loc,
        platform=settings.platform,
        state=alarm.state,
        emoji=STATE_EMOJI[alarm.state],
        color=STATE_COLORS[alarm.state],
        prefix=text(loc, "alert_prefix", platform=settings.platform),
        headline=text(loc, "state_changed", state="{state}"),
        title=text(loc, "title", name=alarm.name),
        name=alarm.name,
        fields=tuple(fields),
        footer=text(loc, "footer", platform=settings.platform),
        occurred_at=local,
        timestamp=int(moment.timestamp()) if moment else None,
        console_url=console_url(alarm),
        threshold_text=threshold,
        observed_text=observed,
        comparison_symbol=_comparison_symbol(alarm),
        severity=severity or None,
    )


def severity_label(severity: str) -> str:
    """``critical`` -> ``CRITICAL``: how every channel shows a severity."""
    return severity.upper()


def _notice_view(notification: Notification, settings: DisplaySettings) -> View:
    loc = settings.locale
    moment = notification.published_at
    local = moment.astimezone(settings.timezone) if moment else None
    when = _format_time(local)
    subject = notification.subject or text(loc, "notice_untitled")
    fields = [
        Field("topic", text(loc, "topic"), notification.topic_arn or "-", short=False),
        Field("received_at", text(loc, "received_at"), when),
        Field("problem", text(loc, "problem"), text(loc, f"problem_{notification.problem}")),
        Field(
            "message",
            text(loc, "message"),
            notification.raw_message or text(loc, "empty"),
            short=False,
        ),
    ]
    return View(
        locale=loc,
        platform=settings.platform,
        state=None,
        emoji=NOTICE_EMOJI,
        color=NOTICE_COLOR,
        prefix=text(loc, "notice_prefix", platform=settings.platform),
        headline=text(loc, "notice_received"),
        title=text(loc, "notice_title", subject=subject),
        name=subject,
        fields=tuple(fields),
        footer=text(loc, "footer", platform=settings.platform),
        occurred_at=local,
        timestamp=int(moment.timestamp()) if moment else None,
        console_url=None,
        threshold_text="-",
        observed_text=None,
        comparison_symbol=None,
    )


def _metric_and_threshold(alarm: Alarm, unit: str | None, loc: str) -> tuple[str, str]:
    threshold = format_value(alarm.threshold, unit) if alarm.threshold is not None else "-"
    if alarm.kind is AlarmKind.COMPOSITE:
        return text(loc, "composite"), alarm_names_in_rule(alarm.alarm_rule or "") or "-"
    if alarm.kind is AlarmKind.ANOMALY:
        band = alarm.expression or "ANOMALY_DETECTION_BAND"
        key = _BAND_COMPARISONS.get(alarm.comparison or "", "band_outside")
        return alarm.metric_name or alarm.expression_label or "-", text(loc, key, band=band)
    if alarm.kind is AlarmKind.METRIC_MATH:
        expression = alarm.expression or "-"
        label = alarm.expression_label
        return (f"{label} ({expression})" if label else expression), threshold
    return alarm.metric_name or "-", threshold


def _comparison_symbol(alarm: Alarm) -> str | None:
    if alarm.kind in (AlarmKind.COMPOSITE, AlarmKind.ANOMALY):
        return None
    return _COMPARISON_SYMBOLS.get(alarm.comparison or "")


def _condition(alarm: Alarm, unit: str | None, loc: str) -> str | None:
    """``Average >= 80% · 5분 × 1회``: how the alarm decides, for those who did not write it."""
    if alarm.kind in (AlarmKind.COMPOSITE, AlarmKind.ANOMALY):
        return None
    parts = []
    symbol = _COMPARISON_SYMBOLS.get(alarm.comparison or "")
    if symbol and alarm.threshold is not None:
        stat = f"{alarm.statistic} " if alarm.statistic else ""
        parts.append(f"{stat}{symbol} {format_value(alarm.threshold, unit)}")
    if alarm.period_seconds:
        seconds = alarm.period_seconds
        period = (
            text(loc, "minutes", n=seconds // 60)
            if seconds % 60 == 0
            else text(loc, "seconds", n=seconds)
        )
        # EventBridge events do not say how many periods are evaluated: show the period alone rather
        # than a made-up "× 1".
        if alarm.evaluation_periods:
            parts.append(text(loc, "periods", period=period, n=alarm.evaluation_periods))
        else:
            parts.append(period)
    return " · ".join(parts) or None


def _format_time(local: datetime | None) -> str:
    return local.strftime("%Y-%m-%d %H:%M:%S %Z") if local else "-"


# CloudWatch alarm names are at most 255 characters; a longer one cannot be linked to, and would
# put a URL of any size (SNS allows 256 KB) into every channel's payload.
MAX_ALARM_NAME_CHARS = 255


def console_url(alarm: Alarm) -> str | None:
    if not alarm.region or len(alarm.name) > MAX_ALARM_NAME_CHARS:
        return None
    region = alarm.region
    return (
        f"https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}"
        # errors="replace": a lone surrogate (a JSON "\\ud800" escape) cannot be UTF-8 encoded; it
        # becomes "?" rather than an exception that would lose the whole notification.
        f"#alarmsV2:alarm/{quote(alarm.name, safe='', errors='replace')}"
    )
