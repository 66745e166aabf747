"""Escalation and reminder policy: pure functions, no I/O, no clock of their own.

An incident item (as stored in the history table), the time "now" and the settings go in; what to do
comes out. The plumbing (``timers``: EventBridge Scheduler; ``escalate``: the scheduled target)
only carries these decisions out, so every rule here is tested without AWS and without waiting.

Steps of one incident, each a one-time schedule named after the incident and the step:

| step | due (after ``first_seen_at``) | acts when | does |
|---|---|---|---|
| ``escalate-1`` | ``ESCALATE_AFTER_MINUTES`` | still ``active`` (nobody acknowledged) | thread reply with ``@here`` |
| ``escalate-2`` | twice that | still ``active`` | thread reply with ``@channel`` + SMS to the escalation list |
| ``remind-<n>`` | n × ``REMIND_EVERY_HOURS`` | still open (``active`` or ``acknowledged``) | thread reply: open for how long, alert count; schedules ``remind-<n+1>`` |

Never for a silenced alarm ("silenced" is an input: the silences live elsewhere); a silenced
reminder sends nothing but keeps the chain going, so reminders resume when the silence ends.
Escalation stops at acknowledgement; reminders go on while the incident is open, as
Alertmanager's ``repeat_interval`` does, because an acknowledged incident can be forgotten too.
"""  # noqa: E501 - the table is easier to read unwrapped

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from alert_service.durations import format_age
from alert_service.history import ACKNOWLEDGED, ACTIVE, OPEN_STATUSES, RESOLVED, parse_iso
from alert_service.render.slack import escape

ESCALATE_HERE, ESCALATE_CHANNEL = "escalate-1", "escalate-2"
ESCALATION_STEPS = (ESCALATE_HERE, ESCALATE_CHANNEL)
REMIND_PREFIX = "remind-"
_STEP = re.compile(r"^(escalate-[12]|remind-[1-9][0-9]{0,4})$")
# A schedule may fire a little early or late (FlexibleTimeWindow OFF is "on time", but clocks
# differ): a step fired this much before its due time still counts as due.
EARLY_TOLERANCE = timedelta(seconds=30)


class Mention(StrEnum):
    HERE = "here"
    CHANNEL = "channel"


@dataclass(frozen=True)
class Settings:
    """``escalate_after``/``remind_every`` of zero turn that part off."""

    escalate_after: timedelta = timedelta(minutes=10)
    remind_every: timedelta = timedelta(hours=4)
    sms_recipients: tuple[str, ...] = ()
    locale: str = "ko"


@dataclass(frozen=True)
class Timer:
    """One step of one incident, due at ``at`` (UTC)."""

    incident_id: str
    step: str
    at: datetime


@dataclass(frozen=True)
class Decision:
    """What a fired step does. ``text`` None: send nothing (``reason`` says why)."""

    reason: str
    text: str | None = None
    mention: Mention | None = None
    sms_text: str | None = None
    sms_to: tuple[str, ...] = ()
    next_timer: Timer | None = None


class UnknownStep(ValueError):
    """A step name this policy never schedules (a hand-made or corrupted schedule input)."""


def check_step(step: str) -> str:
    if not isinstance(step, str) or not _STEP.match(step):
        raise UnknownStep(f"unknown step {step!r}")
    return step


def reminder_step(n: int) -> str:
    return f"{REMIND_PREFIX}{n}"


def reminder_number(step: str) -> int | None:
    return int(step[len(REMIND_PREFIX) :]) if step.startswith(REMIND_PREFIX) else None


def due_at(incident: Mapping[str, Any], step: str, settings: Settings) -> datetime:
    first = parse_iso(str(incident["first_seen_at"]))
    n = reminder_number(step)
    if n is not None:
        return first + n * settings.remind_every
    return first + (ESCALATION_STEPS.index(step) + 1) * settings.escalate_after


def opening_timers(incident: Mapping[str, Any], settings: Settings) -> list[Timer]:
    """The schedules a newly opened incident gets: both escalations and the first reminder."""
    if incident.get("status") != ACTIVE:
        return []
    steps = list(ESCALATION_STEPS) if settings.escalate_after > timedelta(0) else []
    if settings.remind_every > timedelta(0):
        steps.append(reminder_step(1))
    incident_id = str(incident["incident_id"])
    return [Timer(incident_id, s, due_at(incident, s, settings)) for s in steps]


def steps_to_cancel(
    old: Mapping[str, Any] | None, new: Mapping[str, Any], settings: Settings, now: datetime
) -> list[str]:
    """The steps whose schedules an incident's status change makes pointless.

    Acknowledged: the escalations. Resolved: the escalations (unless acknowledged before, when
    they are gone already) and the pending reminder. Only one reminder is pending at a time (each
    schedules the next); near a boundary it may be the one before, so both are named. A schedule
    that already fired deleted itself (ActionAfterCompletion DELETE): the plumbing treats "not
    found" as done.
    """
    before = (old or {}).get("status")
    after = new.get("status")
    if before == after or after not in (ACKNOWLEDGED, RESOLVED):
        return []
    steps = list(ESCALATION_STEPS) if before == ACTIVE else []
    if after == RESOLVED and settings.remind_every > timedelta(0):
        first = parse_iso(str(new["first_seen_at"]))
        pending = _next_reminder_number(first, now, settings)
        steps += [reminder_step(n) for n in (pending - 1, pending) if n >= 1]
    return steps


def _next_reminder_number(first: datetime, now: datetime, settings: Settings) -> int:
    """The number of the first reminder due after ``now``."""
    elapsed = (now - first) / settings.remind_every
    return max(1, math.floor(elapsed) + 1)


def decide(
    incident: Mapping[str, Any] | None,
    step: str,
    now: datetime,
    settings: Settings,
    *,
    silenced: bool = False,
) -> Decision:
    """What the fired ``step`` does for ``incident`` (as read now) at ``now``."""
    check_step(step)
    if incident is None:
        return Decision("no such incident")
    status = incident.get("status")
    if status not in OPEN_STATUSES:
        return Decision(f"incident is {status}")
    if now + EARLY_TOLERANCE < due_at(incident, step, settings):
        return Decision("not due yet")
    n = reminder_number(step)
    if n is None:
        if status != ACTIVE:
            return Decision(f"incident is {status}")
        if silenced:
            return Decision("alarm is silenced")
        return _escalation(incident, step, now, settings)
    # A reminder: the next one is due whatever happens now, unless the incident closes first.
    first = parse_iso(str(incident["first_seen_at"]))
    following = max(n + 1, _next_reminder_number(first, now, settings))
    next_timer = Timer(
        str(incident["incident_id"]),
        reminder_step(following),
        first + following * settings.remind_every,
    )
    if silenced:
        return Decision("alarm is silenced", next_timer=next_timer)
    return Decision("reminder", text=_reminder_text(incident, now, settings), next_timer=next_timer)


def _escalation(
    incident: Mapping[str, Any], step: str, now: datetime, settings: Settings
) -> Decision:
    words = _words(settings.locale)
    age = format_age(now - parse_iso(str(incident["first_seen_at"])), settings.locale)
    line = words[step].format(age=age, **_facts(incident))
    if step == ESCALATE_HERE:
        return Decision("escalated", text=line, mention=Mention.HERE)
    to = settings.sms_recipients
    if to:
        line += " " + words["sms_sent"].format(n=len(to))
    sms = words["sms"].format(
        age=age,
        name=str(incident.get("alarm_name", ""))[:40],
        id=str(incident["incident_id"])[4:18],  # the UTC time part: short, and enough to find it
    )
    return Decision(
        "escalated", text=line, mention=Mention.CHANNEL, sms_text=sms if to else None, sms_to=to
    )


def _reminder_text(incident: Mapping[str, Any], now: datetime, settings: Settings) -> str:
    words = _words(settings.locale)
    age = format_age(now - parse_iso(str(incident["first_seen_at"])), settings.locale)
    line = words["reminder"].format(age=age, **_facts(incident))
    if incident.get("status") == ACKNOWLEDGED and incident.get("acknowledged_by"):
        line += " " + words["acked_by"].format(by=escape(str(incident["acknowledged_by"])))
    else:
        line += " " + words["unacked"]
    return line


def _facts(incident: Mapping[str, Any]) -> dict[str, Any]:
    """Alarm text is escaped: an alarm name cannot ping a channel or forge a link."""
    return {
        "name": escape(str(incident.get("alarm_name", "?"))),
        "id": escape(str(incident["incident_id"])),
        "count": int(incident.get("alert_count") or 0),
    }


_WORDS: dict[str, dict[str, Any]] = {
    "ko": {
        ESCALATE_HERE: "*{age} 동안 아무도 확인하지 않았습니다*: {name} (`{id}`), 알림 {count}건. "
        "확인(Acknowledge)하거나 해결해 주세요.",
        ESCALATE_CHANNEL: "*{age}이 지나도록 확인되지 않았습니다*: {name} (`{id}`), "
        "알림 {count}건.",
        "sms_sent": "비상 연락망 {n}명에게 SMS를 보냈습니다.",
        "sms": "[미확인 {age}] {name} ({id})",
        "reminder": "⏰ 알림: {name} (`{id}`) 인시던트가 {age}째 열려 있습니다, 알림 {count}건.",
        "acked_by": "확인: {by}.",
        "unacked": "아직 아무도 확인하지 않았습니다.",
    },
    "en": {
        ESCALATE_HERE: "*Unacknowledged for {age}*: {name} (`{id}`), {count} alerts. "
        "Acknowledge or resolve it.",
        ESCALATE_CHANNEL: "*Still unacknowledged after {age}*: {name} (`{id}`), {count} alerts.",
        "sms_sent": "SMS sent to the escalation list ({n}).",
        "sms": "[UNACKED {age}] {name} ({id})",
        "reminder": "⏰ Reminder: {name} (`{id}`) has been open for {age}, {count} alerts.",
        "acked_by": "Acknowledged by {by}.",
        "unacked": "Nobody has acknowledged it yet.",
    },
}


def _words(locale: str) -> dict[str, Any]:
    return _WORDS.get(locale, _WORDS["ko"])
