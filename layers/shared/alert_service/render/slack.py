"""Slack incoming-webhook payload (seed 000 layout: text + one legacy attachment).

Slack's quirks handled here:
- Alarm text is escaped (``&``, ``<``, ``>``) so a name like ``<!channel>`` cannot ping a channel or
  forge a link (api.slack.com/reference/surfaces/formatting#escaping).
- Slack truncates or rejects oversized messages, so long values are cut with an ellipsis at the
  limits below instead of leaving the decision to Slack.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from alert_service.render import ELLIPSIS, truncate
from alert_service.view import View

if TYPE_CHECKING:  # the notices are built elsewhere; the relay's cold start does not import them
    from alert_service.silences.notices import QuietView

# api.slack.com/reference/messaging/attachments: `text` of a message is truncated at 40,000
# characters; a section's text at 3,000 (Block Kit). We keep every value under 3,000 and the title
# within Alertmanager's 1,024-rune limit, so the whole message stays far below 40,000.
MAX_TEXT_CHARS = 3000
MAX_TITLE_CHARS = 1024
MAX_FIELD_CHARS = 3000
MAX_SHORT_FIELD_CHARS = 300
MAX_FIELDS = 20


def escape(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _safe(value: str, limit: int) -> str:
    # Truncate before escaping would let "&amp;" grow past the limit; after escaping could cut an
    # entity in half. Truncate, escape, and if escaping grew it past the limit, cut again before
    # any entity the cut would split, so one "&" costs a few characters, not four fifths of them.
    escaped = escape(truncate(value, limit))
    if len(escaped) <= limit:
        return escaped
    cut = escaped[: limit - 1]
    amp = cut.rfind("&")
    if amp != -1 and ";" not in cut[amp:]:
        cut = cut[:amp]
    return cut + ELLIPSIS


def render(view: View) -> dict[str, Any]:
    if view.state is not None:
        headline = view.headline.format(state=f"*{view.state.value}*")
    else:
        headline = view.headline
    attachment: dict[str, Any] = {
        "color": view.color,
        "title": _safe(view.title, MAX_TITLE_CHARS),
        "fields": [
            {
                "title": field.label,
                "value": _safe(
                    field.value, MAX_SHORT_FIELD_CHARS if field.short else MAX_FIELD_CHARS
                ),
                "short": field.short,
            }
            for field in view.fields[:MAX_FIELDS]
        ],
        "footer": _safe(view.footer, MAX_SHORT_FIELD_CHARS),
    }
    if view.console_url:
        attachment["title_link"] = view.console_url
    if view.timestamp is not None:
        attachment["ts"] = view.timestamp
    return {
        "text": truncate(f"{view.emoji} *{escape(view.prefix)}* {headline}", MAX_TEXT_CHARS),
        "attachments": [attachment],
    }


# --- silences and flapping (issue 12) -------------------------------------------------------
def render_quiet(view: QuietView) -> dict[str, Any]:
    """The flapping notice, the stabilised summary or the "silence ended" notice, seed 000 look:
    a headline and one attachment (colour bar, title, the lines, footer)."""
    return {
        "text": truncate(
            f"{view.emoji} *{escape(view.prefix)}* {escape(view.title)}", MAX_TEXT_CHARS
        ),
        "attachments": [
            {
                "color": view.color,
                "title": _safe(view.title, MAX_TITLE_CHARS),
                "text": _safe("\n".join(view.lines), MAX_FIELD_CHARS),
                "footer": _safe(view.footer, MAX_SHORT_FIELD_CHARS),
            }
        ],
    }
