"""SMS text from a view: always one segment, so it arrives whole and is billed once.

One SMS segment holds 160 GSM-7 characters, or 70 UCS-2 characters as soon as a single character
is outside the GSM 03.38 alphabet (any Korean does): 3GPP TS 23.038 §6.2.1 (7-bit default
alphabet) and §6.2.1.1 (extension table, each character sent as ESC + code, so it counts twice);
docs.aws.amazon.com/sms-voice/latest/userguide/sms-limitations-character.html gives the same
limits for SNS; a character outside the Basic Multilingual Plane (an emoji) is a surrogate pair,
two of the 70 UTF-16 units. Content, in order: state, alarm name, value against threshold, time
(``[ALARM] OTT-DB-CPU-Utilization-High 87.43% >= 80% 16:30 KST``). Only the name is shortened:
state, value and time always fit.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Final

from alert_service.view import View, severity_label

if TYPE_CHECKING:  # the notices are built elsewhere; the relay's cold start does not import them
    from alert_service.silences.notices import QuietView

GSM_SEGMENT_CHARS: Final = 160
UCS2_SEGMENT_CHARS: Final = 70

# 3GPP TS 23.038 §6.2.1, the GSM 7-bit default alphabet in code order 0x00-0x7F, without 0x1B
# (ESC, the escape to the extension table). 0x09 is "Ç" in the standard (handsets often show ç).
GSM_BASIC_CHARS: Final = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅå"
    "Δ_ΦΓΛΩΠΨΣΘΞÆæßÉ"
    " !\"#¤%&'()*+,-./"
    "0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNO"
    "PQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmno"
    "pqrstuvwxyzäöñüà"
)
# 3GPP TS 23.038 §6.2.1.1, the default extension table: form feed, ^ { } \ [ ~ ] | €.
GSM_EXTENSION_CHARS: Final = frozenset("\f^{}\\[~]|€")

# Shortening marks: "…" is not GSM, so a GSM message is cut with "..." instead, which keeps the
# 160-character limit (one "…" would turn the whole message into UCS-2 and 70 characters).
UNICODE_ELLIPSIS: Final = "…"
GSM_ELLIPSIS: Final = "..."
# The value part ("87.43% >= 80%") is left out when longer than this, so the alarm name keeps room
# even in 70 characters (an anomaly band or a composite rule does not fit an SMS anyway).
MAX_VALUE_CHARS: Final = 24

_SPACES = re.compile(r"\s+")
# C0 and C1 controls (line breaks, tabs, NUL, ESC...) have no place in a one-line SMS.
_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_LONE_SURROGATES = re.compile(r"[\ud800-\udfff]")


def is_gsm(message: str) -> bool:
    return all(c in GSM_BASIC_CHARS or c in GSM_EXTENSION_CHARS for c in message)


def segment_cost(message: str) -> tuple[int, int, str]:
    """``(cost, limit, encoding)`` of one segment: extension characters cost 2 in GSM-7; in UCS-2
    a character outside the Basic Multilingual Plane (an emoji) takes two UTF-16 units."""
    if is_gsm(message):
        return (
            sum(2 if c in GSM_EXTENSION_CHARS else 1 for c in message),
            GSM_SEGMENT_CHARS,
            "GSM-7",
        )
    return utf16_units(message), UCS2_SEGMENT_CHARS, "UCS-2"


def fits_one_segment(message: str) -> bool:
    cost, limit, _ = segment_cost(message)
    return cost <= limit


def render(view: View) -> str:
    """One-segment SMS for ``view``.

    >>> render(build_view(notification, display_settings()))
    '[ALARM] OTT-DB-CPU-Utilization-High 87.43% >= 80% 16:30 KST'
    """
    state = f"[{view.state.value}]" if view.state is not None else view.emoji
    if view.severity:
        state += f"[{severity_label(view.severity)}]"  # "[ALARM][CRITICAL]": never shortened
    # A name longer than a whole segment is cut anyway: bounding it first keeps the shortening
    # loop below linear in a segment, not in the name (an SNS subject or name can be 256 KB).
    name = _clean(view.name)[: GSM_SEGMENT_CHARS + 1]
    value, time = _value(view), _clean(_time(view))
    # The name gives way first; value and time only if even "[STATE] … value time" cannot fit
    # (never with today's bounded parts, but a view field may grow one day).
    for rest in ((value, time), (time,), ()):
        message = _shortened(state, name, " ".join(part for part in rest if part))
        if message is not None:
            return message
    return _cut_to_segment(f"{state} {name}")


def _shortened(state: str, name: str, rest: str) -> str | None:
    """``state name rest`` with the name cut (and marked) until it fits one segment, else None."""

    def compose(shown: str) -> str:
        return " ".join(part for part in (state, shown, rest) if part)

    message = compose(name)
    if fits_one_segment(message):
        return message
    for keep in range(len(name) - 1, -1, -1):
        head = name[:keep].rstrip()
        mark = GSM_ELLIPSIS if is_gsm(compose(head)) else UNICODE_ELLIPSIS
        message = compose(head + mark)
        if fits_one_segment(message):
            return message
    return None


def _cut_to_segment(message: str) -> str:
    """Last resort: drop characters from the end until one segment holds the rest."""
    while not fits_one_segment(message):
        message = message[:-1]
    return message


def utf16_units(value: str) -> int:
    # "surrogatepass": a lone surrogate (possible after json.loads of "\ud800") still counts one.
    return len(value.encode("utf-16-le", "surrogatepass")) // 2


def _clean(value: str) -> str:
    """One line of sendable text: control characters and line breaks become single spaces, and a
    lone surrogate (valid in a JSON escape, not in any SMS encoding) becomes U+FFFD."""
    value = _LONE_SURROGATES.sub("\ufffd", value)
    return _SPACES.sub(" ", _CONTROLS.sub(" ", value)).strip()


def _value(view: View) -> str:
    """``87.43% >= 80%``, else the observed value or the threshold alone, else nothing."""
    observed = view.observed_text
    threshold = view.threshold_text if view.threshold_text not in ("", "-") else None
    candidates = []
    if observed and threshold:
        # EventBridge events carry no comparison: "/" still sets value against threshold.
        candidates.append(f"{observed} {view.comparison_symbol or '/'} {threshold}")
    candidates += [value for value in (observed, threshold) if value]
    for candidate in candidates:
        candidate = _clean(candidate)
        # Counted as sent (UTF-16 units, or septets with extension characters twice): 24 code
        # points of emoji would be 48 units, more than half of a 70-unit segment.
        if segment_cost(candidate)[0] <= MAX_VALUE_CHARS:
            return candidate
    return ""


def _time(view: View) -> str:
    # "%Z" gives the zone's abbreviation (KST for Asia/Seoul, as the contract shows it).
    return view.occurred_at.strftime("%H:%M %Z").strip() if view.occurred_at else ""


# --- silences and flapping (issue 12) -------------------------------------------------------
def render_quiet(view: QuietView) -> str:
    """One segment: ``[FLAPPING] OTT-DB-CPU-Utilization-High 6x in 30m``; only the name is cut."""
    label, name, detail = (_clean(part) for part in view.sms_parts)
    message = _shortened(label, name[: GSM_SEGMENT_CHARS + 1], detail)
    return message if message is not None else _cut_to_segment(f"{label} {detail}")
