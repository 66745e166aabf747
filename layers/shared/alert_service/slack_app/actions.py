"""The incident card's buttons: Slack interactivity requests -> incident transitions.

SlackActionsFunction hands every Function URL request (payload format 2.0) to ``handle``, which
answers with an HTTP status (CONTRACT.md, Slack incident view), checking in this order:

1. the body, base64-decoded when the Function URL encoded it, is at most 64 KiB (413): checked
   before the HMAC, so a large body costs no hashing;
2. ``X-Slack-Signature`` over the raw body, with a timestamp within 300 s (401, nothing read,
   nothing changed). Junk without the two headers, or with a stale timestamp, is refused before
   the signing secret is even fetched;
3. a form ``payload=<JSON>`` holding a Slack interaction (400);
4. anything but a ``block_actions`` click on ``incident_ack`` / ``incident_resolve`` /
   ``incident_silence_1h``: 200, ignored;
5. a user outside ``SLACK_ALLOWED_USERS`` (when set): 200, nothing changed, told so;
6. the transition, conditional in DynamoDB (``incidents.acknowledge`` / ``incidents.resolve``): a
   second click, a stale card or two people at once leave one outcome, and each clicker is told
   which, in an ephemeral reply through the click's ``response_url`` (``send_reply``);
7. "Silence 1h" (issue 12): a one-hour silence of the incident's alarm (its exact name, account and
   region), created by ``slack:<user>`` with a comment naming the incident; the clicker is told
   its id and end time. A second click while such a silence has most of its hour left changes
   nothing and names that silence.

The card itself changes through the table's stream (SlackIncidentFunction), never from here: one
path to get right. Slack wants the 200 within 3 s, so nothing heavy is imported up front: the
incident store (boto3) when a click is authentic, urllib when a reply is sent.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

from alert_service.config import env, required
from alert_service.slack_app import signature

# Slack's own payloads are a few KiB; 64 KiB is the contract's ceiling for a body (decoded).
MAX_BODY_BYTES = 64 * 1024
_BASE64_LIMIT = (MAX_BODY_BYTES + 2) // 3 * 4
ACK, RESOLVE, SILENCE = "incident_ack", "incident_resolve", "incident_silence_1h"
SILENCE_FOR = timedelta(hours=1)
# A click within this long of an earlier "Silence 1h" of the same alarm finds it, and adds none.
SILENCE_AGAIN_AFTER = timedelta(minutes=5)
SECRET_ENV = "SLACK_APP_SECRET_ID"  # noqa: S105 - the variable's name, not a secret
ALLOWED_USERS_ENV = "SLACK_ALLOWED_USERS"
# response_url is always on hooks.slack.com
# (docs.slack.dev/interactivity/handling-user-interaction).
RESPONSE_URL_HOST = "hooks.slack.com"
# Slack shows the clicker an error when the 200 takes over 3 s (counted from its request, so the
# cold start is in it). The reply is sent before the 200, so it gets what is left of 2.5 s, at
# most REPLY_TIMEOUT_SECONDS, and is skipped below MIN_REPLY_SECONDS: the click itself has been
# written by then, and the card shows it whatever happens to the reply.
REPLY_BUDGET_SECONDS = 2.5
REPLY_TIMEOUT_SECONDS = 2.0
MIN_REPLY_SECONDS = 0.2
# A button value is at most 2,000 characters; an incident id is 35. Anything far longer is not one.
MAX_INCIDENT_ID_CHARS = 200
# Tries of one click when a concurrent write cancelled it while the incident stayed open.
MAX_ATTEMPTS = 3


@dataclass(frozen=True)
class Outcome:
    """What one request came to: the HTTP status, a word for the logs, the clicker's reply."""

    status: int
    result: str  # e.g. "acknowledged", "unchanged", "not_allowed", "bad_signature"
    action: str | None = None
    incident_id: str | None = None
    user: str | None = None
    reply: str | None = None  # ephemeral text for the clicker, if any
    response_url: str | None = None

    @property
    def changed(self) -> bool:
        return self.result in ("acknowledged", "resolved", "silenced")


# --- replies (kept here: a handful of strings, ko and en) ------------------------------------
_STATUS_WORDS = {
    "ko": {"active": "진행 중", "acknowledged": "확인됨", "resolved": "해결됨"},
    "en": {"active": "active", "acknowledged": "acknowledged", "resolved": "resolved"},
}
_REPLIES = {
    "ko": {
        "acknowledged": "👀 `{id}` 인시던트를 확인(Acknowledge) 처리했습니다.",
        "resolved": "✅ `{id}` 인시던트를 해결(Resolve) 처리했습니다.",
        "unchanged": "ℹ️ `{id}` 인시던트는 이미 *{status}* 상태입니다{by}. 변경하지 않았습니다.",
        "not_found": "⚠️ `{id}` 인시던트를 찾을 수 없습니다. 변경하지 않았습니다.",
        "not_allowed": "⛔ 인시던트를 처리할 권한이 없습니다(SLACK_ALLOWED_USERS). "
        "변경하지 않았습니다. 관리자에게 요청하세요.",
        "by": " ({who})",
        "silenced": "🔕 `{alarm}` 경보를 {until}까지 사일런스했습니다 (`{silence}`). 알림은 "
        "보내지 않고 기록은 남습니다. 해제: `alert-incidents silence expire {silence}`",
        "silenced_already": "ℹ️ `{alarm}` 경보는 이미 {until}까지 사일런스 중입니다 (`{silence}`). "
        "변경하지 않았습니다.",
    },
    "en": {
        "acknowledged": "👀 You acknowledged `{id}`.",
        "resolved": "✅ You resolved `{id}`.",
        "unchanged": "ℹ️ `{id}` is already *{status}*{by}. Nothing changed.",
        "not_found": "⚠️ Incident `{id}` was not found. Nothing changed.",
        "not_allowed": "⛔ You may not act on incidents here (SLACK_ALLOWED_USERS). "
        "Nothing changed; ask an admin to add you.",
        "by": " (by {who})",
        "silenced": "🔕 You silenced `{alarm}` until {until} (`{silence}`): nobody is notified, "
        "history keeps everything. End it: `alert-incidents silence expire {silence}`",
        "silenced_already": "ℹ️ `{alarm}` is already silenced until {until} (`{silence}`). "
        "Nothing changed.",
    },
}


def _escape(text: str) -> str:
    # Slack's three control characters (as render/slack.py escapes alarm text), so a value
    # echoed back cannot ping a channel or forge a link. Backticks would end the code span.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("`", "'")


def _who(by: str) -> str:
    """``slack:U123`` -> a mention (it does not notify in an ephemeral reply); else the text."""
    kind, _, ident = by.partition(":")
    if kind == "slack" and ident.isascii() and ident.isalnum():
        return f"<@{ident}>"
    return _escape(by)


def _reply(result: str, incident_id: str = "", current: dict[str, Any] | None = None) -> str:
    from alert_service.config import display_settings

    locale = display_settings().locale
    texts, words = _REPLIES[locale], _STATUS_WORDS[locale]
    status = str((current or {}).get("status", ""))
    by = (current or {}).get(f"{status}_by") if status in ("acknowledged", "resolved") else None
    return texts[result].format(
        id=_escape(incident_id),
        status=words.get(status, _escape(status)),
        by=texts["by"].format(who=_who(str(by))) if by else "",
    )


# --- the request -----------------------------------------------------------------------------
def handle(event: Any, *, now: float | None = None) -> Outcome:
    """Check, decide and (for a permitted click) write; ``now`` is epoch seconds (tests)."""
    if not isinstance(event, dict) or not isinstance(event.get("headers") or {}, dict):
        return Outcome(401, "bad_signature")  # not a Function URL request: nothing to trust
    headers = {str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items()}
    text = event.get("body") or ""
    if not isinstance(text, str):
        return Outcome(401, "bad_signature")
    encoded = bool(event.get("isBase64Encoded"))
    # Base64 grows 3 bytes to 4 characters: a text this long decodes to over the limit.
    if len(text) > (_BASE64_LIMIT if encoded else MAX_BODY_BYTES):
        return Outcome(413, "too_large")
    body = _raw_body(text, encoded)
    if body is None:  # undecodable base64: nothing that could carry a valid signature
        return Outcome(401, "bad_signature")
    if len(body) > MAX_BODY_BYTES:
        return Outcome(413, "too_large")
    timestamp = headers.get("x-slack-request-timestamp")
    sent_signature = headers.get("x-slack-signature")
    if not sent_signature or not signature.fresh(timestamp, now=now):
        return Outcome(401, "bad_signature")
    if not signature.valid(_signing_secret(), body, timestamp, sent_signature, now=now):
        return Outcome(401, "bad_signature")

    payload = _interaction(body)
    if payload is None:
        return Outcome(400, "not_an_interaction")
    if payload["type"] != "block_actions":
        return Outcome(200, "ignored")
    actions = payload.get("actions")
    action = next(
        (
            a
            for a in (actions if isinstance(actions, list) else [])
            if isinstance(a, dict) and a.get("action_id") in (ACK, RESOLVE, SILENCE)
        ),
        None,
    )
    if action is None:
        return Outcome(200, "ignored")
    user = (payload.get("user") or {}).get("id") if isinstance(payload.get("user"), dict) else None
    if not isinstance(user, str) or not user:
        return Outcome(400, "not_an_interaction")  # Slack always says who clicked
    response_url = payload.get("response_url")
    clicked = {
        "action": str(action["action_id"]),
        "user": user,
        "response_url": response_url if isinstance(response_url, str) else None,
    }
    incident_id = action.get("value")
    if not isinstance(incident_id, str) or not 0 < len(incident_id) <= MAX_INCIDENT_ID_CHARS:
        incident_id = str(incident_id or "")[:MAX_INCIDENT_ID_CHARS]
        return Outcome(
            200,
            "not_found",
            incident_id=incident_id,
            **clicked,
            reply=_reply("not_found", incident_id),
        )
    allowed = _allowed_users()
    if allowed and user not in allowed:
        return Outcome(
            200, "not_allowed", incident_id=incident_id, **clicked, reply=_reply("not_allowed")
        )
    if clicked["action"] == SILENCE:
        result, reply = _silence(incident_id, user, now)
        return Outcome(200, result, incident_id=incident_id, **clicked, reply=reply)
    result, current = _transition(clicked["action"], incident_id, f"slack:{user}")
    return Outcome(
        200, result, incident_id=incident_id, **clicked, reply=_reply(result, incident_id, current)
    )


def _raw_body(text: str, encoded: bool) -> bytes | None:
    """The bytes Slack signed, or None when the base64 is broken."""
    if not encoded:
        return text.encode("utf-8", "surrogateescape")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None


def _signing_secret() -> str:
    from alert_service import secrets

    return secrets.slack_app(required(SECRET_ENV)).signing_secret


def _interaction(body: bytes) -> dict[str, Any] | None:
    """Slack's form ``payload=<JSON object with a "type">``, or None."""
    try:
        form = parse_qs(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
        values = form.get("payload") or []
        payload = json.loads(values[0]) if len(values) == 1 else None
    except (UnicodeDecodeError, ValueError):
        return None
    if not isinstance(payload, dict) or not isinstance(payload.get("type"), str):
        return None
    return payload


def _allowed_users() -> frozenset[str]:
    return frozenset(u.strip() for u in env(ALLOWED_USERS_ENV).split(",") if u.strip())


def _transition(action: str, incident_id: str, by: str) -> tuple[str, dict[str, Any] | None]:
    """The conditional write; ("acknowledged"|"resolved"|"unchanged"|"not_found", the item).

    A refusal is believed only when the incident's status says so: a transaction cancelled by a
    concurrent write (the history writer counting a notification of the same incident) refuses
    too while the incident is still open, and that click must not be lost, so it is tried again.
    """
    from alert_service import incidents  # boto3 behind it: only for an authentic click
    from alert_service.clients import error_code

    change = incidents.acknowledge if action == ACK else incidents.resolve
    allowed_from = ("active",) if action == ACK else ("active", "acknowledged")
    for _ in range(MAX_ATTEMPTS):
        try:
            item = change(incident_id, by=by)
        except incidents.IncidentNotFound:
            return "not_found", None
        except incidents.IncidentStateError:
            pass
        except Exception as error:
            if error_code(error) != "TransactionConflictException":
                raise
        else:
            return ("acknowledged" if action == ACK else "resolved"), item
        # Refused: already in that state or beyond (another click, the CLI, an OK), or a conflict.
        current = incidents.get_incident(incident_id)
        if current is None:
            return "not_found", None
        if current.get("status") not in allowed_from:
            return "unchanged", current
    raise RuntimeError(f"{incident_id} kept changing under a {action} click; nothing was written")


def _silence(incident_id: str, user: str, now: float | None) -> tuple[str, str]:
    """A one-hour silence of the incident's alarm; ("silenced"|"unchanged"|"not_found", reply)."""
    import glob

    from alert_service import incidents  # boto3 behind it: only for an authentic click
    from alert_service.config import display_settings
    from alert_service.silences.model import SilenceStatus, new_silence
    from alert_service.silences.store import SilenceStore

    current = incidents.get_incident(incident_id)
    if current is None or not current.get("alarm_name"):
        return "not_found", _reply("not_found", incident_id)
    moment = datetime.fromtimestamp(now, UTC) if now is not None else datetime.now(UTC)
    # The alarm's exact name: "*", "?" and "[" in it must not widen the silence to other alarms.
    match = glob.escape(str(current["alarm_name"]))
    account, region = current.get("account") or None, current.get("region") or None
    store = SilenceStore(required("HISTORY_TABLE_NAME"))
    result, text_key = "silenced", "silenced"
    earlier = [
        s
        for s in store.recent(moment, since=timedelta(0))
        if (s.match, s.account, s.region) == (match, account, region)
        and s.status(moment) is SilenceStatus.ACTIVE
        and s.ends_at >= moment + SILENCE_FOR - SILENCE_AGAIN_AFTER
    ]
    if earlier:  # a double click, or two people at once: one silence is enough
        silence = max(earlier, key=lambda s: s.ends_at)
        result, text_key = "unchanged", "silenced_already"
    else:
        silence = store.add(
            new_silence(
                match=match,
                account=account,
                region=region,
                duration=SILENCE_FOR,
                created_by=f"slack:{user}",
                comment=f"Silence 1h from Slack on {incident_id}",
                now=moment,
            )
        )
    settings = display_settings()
    texts = _REPLIES[settings.locale]
    until = silence.ends_at.astimezone(settings.timezone).strftime("%Y-%m-%d %H:%M %Z")
    return result, texts[text_key].format(
        alarm=_escape(str(current["alarm_name"])), until=until, silence=_escape(silence.id)
    )


# --- the clicker's reply ---------------------------------------------------------------------
def response_url_problem(url: str) -> str | None:
    """Why ``url`` may not receive a reply, or None. Never quotes the URL (it is a credential).

    Only https://hooks.slack.com/, or loopback with SLACK_ALLOW_INSECURE_WEBHOOK=true (local runs):
    the same rule as the webhook secret's URL, so a forged payload cannot make us POST elsewhere.
    """
    from alert_service.secrets import _url_problem

    return _url_problem(url, frozenset({RESPONSE_URL_HOST}))


def send_reply(outcome: Outcome, *, deadline: float) -> str | None:
    """Post the ephemeral reply; None when Slack took it, else why not (for the log).

    Never raises: the click is written already and the card will show it, so a lost reply is
    logged, not turned into an error the clicker would see as a failed click.
    """
    if not outcome.reply:
        return None
    if not outcome.response_url:
        return "no response_url"
    problem = response_url_problem(outcome.response_url)
    if problem:
        return f"response_url {problem}"
    remaining = deadline - time.monotonic()
    if remaining < MIN_REPLY_SECONDS:
        return "no time left before Slack's 3 s"
    import urllib.error
    import urllib.request

    request = urllib.request.Request(  # noqa: S310 - scheme and host checked above
        outcome.response_url,
        data=json.dumps(
            {"response_type": "ephemeral", "replace_original": False, "text": outcome.reply},
            ensure_ascii=False,
        ).encode(),
        headers={"Content-Type": "application/json; charset=utf-8"},
        method="POST",
    )
    try:
        with _opener().open(request, timeout=min(REPLY_TIMEOUT_SECONDS, remaining)) as response:
            response.read(256)
            status = response.status
    except urllib.error.HTTPError as error:
        return f"Slack answered {error.code}"
    except Exception as error:  # timeout, refused connection, TLS: the kind only, never the URL
        return f"response_url unreachable ({type(error).__name__})"
    return None if status == 200 else f"Slack answered {status}"


_OPENER: Any = None


def _opener() -> Any:
    """One opener per process: no proxy lookups (Lambda has none) and no redirects followed (a
    redirect could lead the reply away from Slack)."""
    global _OPENER
    if _OPENER is None:
        import urllib.request

        class NoRedirect(urllib.request.HTTPRedirectHandler):
            def redirect_request(self, *args: Any, **kwargs: Any) -> None:
                return None

        _OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}), NoRedirect())
    return _OPENER
