"""Email layout (subject, HTML, plain text) from a view: the Slack card, as a mail.

Mail clients' quirks handled here:
- Gmail, Outlook and most webmail strip ``<style>`` blocks and external CSS, so every style is
  inline, and layout is done with tables (Outlook's Word engine ignores flexbox, grid and floats).
- Every string from the view goes through ``html.escape``: an alarm name or a notice message is
  data, never markup (``<script>`` in a name arrives as text).
- A notice can be a whole SNS message (up to 256 KiB): values are cut at ``MAX_VALUE_CHARS`` with a
  note saying so, so the mail stays readable and far below SES's 40 MB message limit.

Which fields, units and times to show is the view's business (``alert_service.view``): this module
only lays them out, in the view's order.
"""

from __future__ import annotations

import html
import re
from typing import TYPE_CHECKING, NamedTuple

from alert_service.i18n import text
from alert_service.render import ELLIPSIS, truncate
from alert_service.view import View, severity_label

if TYPE_CHECKING:  # the notices are built elsewhere; the relay's cold start does not import them
    from alert_service.silences.notices import QuietView

# A notice message longer than this is cut (a full SNS message is 256 KiB, unreadable in a mail).
MAX_VALUE_CHARS = 10_000
# RFC 5322 §2.1.1: a header line SHOULD stay within 78 characters and MUST within 998; SES folds
# long subjects, but mail clients show only the start anyway.
MAX_SUBJECT_CHARS = 200
# The title repeats the alarm name (CloudWatch allows 255 characters); a notice's subject is the
# SNS Subject (100). Anything longer is hostile or broken input.
MAX_TITLE_CHARS = 1024

# Words only email uses. Kept here rather than in i18n.py, which holds the words all channels share.
_WORDS = {
    "ko": {
        "notice_subject": "[알림] {subject}",
        "truncated": "(전체 {total:,}자 중 {shown:,}자만 표시)",
    },
    "en": {
        "notice_subject": "[Notice] {subject}",
        "truncated": "(showing {shown:,} of {total:,} characters)",
    },
}

_FONT = (
    "font-family:-apple-system,'Segoe UI','Apple SD Gothic Neo','Malgun Gothic',Arial,sans-serif"
)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


class Email(NamedTuple):
    subject: str
    html: str
    text: str


def render(view: View) -> Email:
    """Lay out ``view`` as a mail.

    >>> mail = render(build_view(notification, display_settings()))
    >>> mail.subject
    '[ALARM] OTT-DB-CPU-Utilization-High'
    """
    return Email(subject(view), _html(view), _text(view))


def subject(view: View) -> str:
    words = _words(view.locale)
    if view.state is not None:
        label = f"[{severity_label(view.severity)}]" if view.severity else ""
        line = f"[{view.state.value}]{label} {view.name}"
    else:
        line = words["notice_subject"].format(subject=view.name)
    # A header holds one line: newlines in an alarm name or SNS subject would break it.
    line = _CONTROL.sub(" ", line).strip()
    return truncate(line, MAX_SUBJECT_CHARS)


def _words(locale: str) -> dict[str, str]:
    return _WORDS.get(locale, _WORDS["ko"])


def _bounded(value: str, locale: str) -> str:
    if len(value) <= MAX_VALUE_CHARS:
        return value
    note = _words(locale)["truncated"].format(shown=MAX_VALUE_CHARS, total=len(value))
    return f"{value[:MAX_VALUE_CHARS]}{ELLIPSIS}\n{note}"


def _headline(view: View) -> str:
    """Plain headline: ``[OTT 인프라 감지] 상태가 ALARM로 변경되었습니다.``"""
    state = view.state.value if view.state is not None else ""
    return f"{view.prefix} {view.headline.format(state=state)}"


def _text(view: View) -> str:
    lines = [f"{view.emoji} {_headline(view)}", "", truncate(view.title, MAX_TITLE_CHARS), ""]
    for field in view.fields:
        value = _bounded(field.value, view.locale)
        if field.short and "\n" not in value:
            lines.append(f"{field.label}: {value}")
        else:
            lines += [f"{field.label}:", *(f"  {line}" for line in value.splitlines() or [""])]
    if view.console_url:
        lines += ["", f"{text(view.locale, 'console')}: {view.console_url}"]
    lines += ["", "--", view.footer]
    return "\n".join(lines) + "\n"


def _html(view: View) -> str:
    e = html.escape  # quote=True by default: safe inside attribute values too
    if view.state is not None:
        headline = e(view.headline).replace(
            "{state}", f'<strong style="font-weight:700;">{e(view.state.value)}</strong>'
        )
    else:
        headline = e(view.headline)

    rows = []
    for field in view.fields:
        value = e(_bounded(field.value, view.locale))
        # Long values (reasons, messages) keep their line breaks and wrap anywhere, so a 300-char
        # token cannot widen the table past a phone screen.
        rows.append(
            "<tr>"
            f'<th align="left" valign="top" style="padding:8px 12px;width:30%;color:#555555;'
            f'font-size:13px;font-weight:600;border-top:1px solid #eeeeee;">{e(field.label)}</th>'
            f'<td valign="top" style="padding:8px 12px;color:#222222;font-size:14px;'
            f"border-top:1px solid #eeeeee;white-space:pre-wrap;word-break:break-word;"
            f'overflow-wrap:anywhere;">{value}</td>'
            "</tr>"
        )

    link = ""
    if view.console_url:
        link = (
            '<tr><td style="padding:16px 24px 8px 24px;">'
            f'<a href="{e(view.console_url)}" style="display:inline-block;padding:10px 16px;'
            f"background:{e(view.color)};color:#ffffff;text-decoration:none;border-radius:4px;"
            f'font-size:14px;font-weight:600;">{e(text(view.locale, "console"))}</a>'
            "</td></tr>"
        )

    return (
        "<!DOCTYPE html>"
        f'<html lang="{e(view.locale)}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{e(subject(view))}</title></head>"
        f'<body style="margin:0;padding:0;background:#f4f5f7;{_FONT};">'
        '<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0" '
        'style="background:#f4f5f7;"><tr><td align="center" style="padding:24px 12px;">'
        '<table role="presentation" width="600" cellpadding="0" cellspacing="0" border="0" '
        'style="width:100%;max-width:600px;background:#ffffff;border:1px solid #dddddd;'
        f'border-collapse:collapse;{_FONT};">'
        # The state band: the Slack attachment's colour bar, as a header.
        f'<tr><td style="background:{e(view.color)};padding:16px 24px;color:#ffffff;">'
        f'<div style="font-size:13px;opacity:0.9;">{e(view.emoji)} {e(view.prefix)}</div>'
        f'<div style="font-size:18px;font-weight:400;padding-top:4px;">{headline}</div>'
        "</td></tr>"
        '<tr><td style="padding:20px 24px 8px 24px;">'
        f'<h1 style="margin:0;font-size:18px;color:#222222;word-break:break-word;">'
        f"{e(truncate(view.title, MAX_TITLE_CHARS))}</h1></td></tr>"
        '<tr><td style="padding:8px 12px;">'
        '<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0" '
        'style="border-collapse:collapse;">'
        f"{''.join(rows)}</table></td></tr>"
        f"{link}"
        '<tr><td style="padding:16px 24px;border-top:1px solid #eeeeee;color:#888888;'
        f'font-size:12px;">{e(view.footer)}</td></tr>'
        "</table></td></tr></table></body></html>"
    )


# --- silences and flapping (issue 12) -------------------------------------------------------
def render_quiet(view: QuietView) -> Email:
    """The flapping notice, the stabilised summary or the "silence ended" notice as a mail:
    the same band and card as an alarm, with the notice's lines instead of fields."""
    e = html.escape
    line = _CONTROL.sub(" ", view.title).strip()
    subject_line = truncate(line, MAX_SUBJECT_CHARS)
    lines = [_bounded(value, view.locale) for value in view.lines]
    plain = "\n".join(
        [
            f"{view.emoji} {view.prefix}",
            "",
            truncate(view.title, MAX_TITLE_CHARS),
            "",
            *lines,
            "",
            "--",
            view.footer,
        ]
    )
    paragraphs = "".join(
        f'<p style="margin:0 0 8px 0;color:#222222;font-size:14px;white-space:pre-wrap;'
        f'overflow-wrap:anywhere;">{e(value)}</p>'
        for value in lines
    )
    body = (
        "<!DOCTYPE html>"
        f'<html lang="{e(view.locale)}"><head><meta charset="utf-8">'
        f"<title>{e(subject_line)}</title></head>"
        f'<body style="margin:0;padding:0;background:#f4f5f7;{_FONT};">'
        '<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0" '
        'style="background:#f4f5f7;"><tr><td align="center" style="padding:24px 12px;">'
        '<table role="presentation" width="600" cellpadding="0" cellspacing="0" border="0" '
        'style="width:100%;max-width:600px;background:#ffffff;border:1px solid #dddddd;">'
        f'<tr><td style="background:{e(view.color)};padding:16px 24px;color:#ffffff;">'
        f'<div style="font-size:13px;">{e(view.emoji)} {e(view.prefix)}</div></td></tr>'
        '<tr><td style="padding:20px 24px 8px 24px;">'
        f'<h1 style="margin:0 0 12px 0;font-size:18px;color:#222222;word-break:break-word;">'
        f"{e(truncate(view.title, MAX_TITLE_CHARS))}</h1>{paragraphs}</td></tr>"
        '<tr><td style="padding:16px 24px;border-top:1px solid #eeeeee;color:#888888;'
        f'font-size:12px;">{e(view.footer)}</td></tr>'
        "</table></td></tr></table></body></html>"
    )
    return Email(subject_line, body, plain + "\n")
