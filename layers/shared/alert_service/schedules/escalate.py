"""The schedules' target: re-read the incident, decide, send, and schedule the next reminder.

Sends are once-only per (channel, ``<incident_id>#<step>``, recipient) through
``delivery.deliver_once``: Scheduler and Lambda both retry, and a retried step must not page twice.
A failed send raises (after the other sends were tried), so Lambda retries the invocation and its
failure destination keeps it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any

from alert_service import delivery
from alert_service.channels import sms as sms_channel
from alert_service.history import OPEN_STATUSES, parse_iso
from alert_service.incidents.queries import get_incident
from alert_service.incidents.store import HistoryStore
from alert_service.notices import SlackNotices
from alert_service.redact import mask_phone
from alert_service.schedules import timers
from alert_service.schedules.policy import Settings, check_step, decide
from alert_service.silences.reads import incident_alarm
from alert_service.silences.store import SilenceStore

# The step's input is built by timers.create; anything else is refused loudly, not guessed at.
INPUT_KEYS = ("incident_id", "step")


class BadInput(ValueError):
    """The event is not a schedule input of ours."""


@dataclass
class Outcome:
    incident_id: str
    step: str
    reason: str
    sent: list[str] = field(default_factory=list)  # "slack", "sms:+82******5678"
    skipped: list[str] = field(default_factory=list)  # already delivered before
    next_step: str | None = None
    next_created: bool | None = None


def parse_input(event: Any) -> tuple[str, str]:
    if not isinstance(event, Mapping) or any(not isinstance(event.get(k), str) for k in INPUT_KEYS):
        raise BadInput(f"expected {{incident_id, step}} (strings), got {type(event).__name__}")
    incident_id, step = str(event["incident_id"]), str(event["step"])
    if not incident_id.startswith("INC-"):
        raise BadInput(f"not an incident id: {incident_id[:60]!r}")
    return incident_id, check_step(step)


def is_silenced(
    incident: Mapping[str, Any], *, now: datetime, silences: SilenceStore | None
) -> bool:
    """Whether the incident's alarm is held by a silence at ``now``: the one place that asks.

    - the history's mark: ``silenced_by`` (ids of the silences that held the incident's latest
      notification) is not empty, and ``silenced_until`` (when the last of them ends), when
      stored, is still ahead: a silence that ended lets reminders resume;
    - the silences themselves (``SilenceStore.matching``, one cached Query): a silence created
      after the incident opened, or after its latest notification, stops reminders too.
    """
    marked = incident.get("silenced_by") or ()
    until = incident.get("silenced_until")
    if marked and (not until or now < parse_iso(str(until))):
        return True
    return silences is not None and bool(silences.matching(incident_alarm(incident), now))


def run(
    event: Any,
    *,
    now: datetime,
    settings: Settings,
    slack: SlackNotices | None,
    target: timers.Target | None,
    store: HistoryStore,
    silences: SilenceStore | None = None,
) -> Outcome:
    """One fired step. ``now`` is the caller's clock (tests move it; Lambda passes the time).

    ``store``: the history table (one strongly consistent GetItem of the incident); ``silences``:
    asked only while the incident is open (default: the silences in the same table).
    """
    incident_id, step = parse_input(event)
    incident = get_incident(incident_id, store=store)
    silenced = (
        incident is not None
        and incident.get("status") in OPEN_STATUSES
        and is_silenced(incident, now=now, silences=silences or SilenceStore(store.table))
    )
    decision = decide(incident, step, now, settings, silenced=silenced)
    outcome = Outcome(incident_id, step, decision.reason)
    attempts = delivery.OnceAttempts(f"{incident_id}#{step}")
    if decision.text is not None and incident is not None:
        if slack is None:
            attempts.failures.append(
                f"{attempts.message_id}: no Slack configured (SLACK_APP_SECRET_ID or webhook)"
            )
        else:
            send = partial(slack.reply, incident, decision.text, decision.mention)
            attempts.attempt(f"slack-{slack.kind}", "incident-thread", "slack", send)
    if decision.sms_text:
        for number in decision.sms_to:
            send = partial(sms_channel.send, number, decision.sms_text)
            attempts.attempt("sms", number, f"sms:{mask_phone(number)}", send)
    outcome.sent, outcome.skipped = attempts.sent, attempts.skipped
    if decision.next_timer is not None and target is not None:
        outcome.next_step = decision.next_timer.step
        outcome.next_created = timers.create(decision.next_timer, target, now)
    attempts.raise_failures()
    return outcome
