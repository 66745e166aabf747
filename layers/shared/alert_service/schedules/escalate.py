"""The schedules' target: re-read the incident, decide, send, and schedule the next reminder.

Sends are once-only per (channel, ``<incident_id>#<step>``, recipient) through
``delivery.deliver_once``: Scheduler and Lambda both retry, and a retried step must not page twice.
A failed send raises (after the other sends were tried), so Lambda retries the invocation and its
failure destination keeps it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any

from alert_service import delivery, incidents
from alert_service.channels import DeliveriesFailed
from alert_service.channels import sms as sms_channel
from alert_service.notices import SlackNotices
from alert_service.redact import mask_phone
from alert_service.schedules import timers
from alert_service.schedules.policy import Settings, check_step, decide

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


def is_silenced(incident: Mapping[str, Any]) -> bool:
    """Whether the incident's alarm is held by a silence.

    The silences (issue 12) are not here yet: an incident item that names a silence counts as
    silenced. When they land, this is the one place to ask them instead.
    """
    return bool(incident.get("silence_id") or incident.get("silenced"))


def run(
    event: Any,
    *,
    now: datetime,
    settings: Settings,
    slack: SlackNotices | None,
    target: timers.Target | None,
    get_incident: Callable[[str], dict[str, Any] | None] = incidents.get_incident,
) -> Outcome:
    """One fired step. ``now`` is the caller's clock (tests move it; Lambda passes the time)."""
    incident_id, step = parse_input(event)
    incident = get_incident(incident_id)  # one strongly consistent GetItem
    silenced = incident is not None and is_silenced(incident)
    decision = decide(incident, step, now, settings, silenced=silenced)
    outcome = Outcome(incident_id, step, decision.reason)
    failures: list[str] = []
    message_id = f"{incident_id}#{step}"

    def attempt(channel: str, recipient: str, shown: str, send: Callable[[], object]) -> None:
        try:
            done = delivery.deliver_once(channel, message_id, recipient, send)
        except Exception as error:  # one failure must not cost the others their message
            reason = str(error) if hasattr(error, "retryable") else type(error).__name__
            failures.append(f"{message_id} {shown}: {reason}")
            return
        (outcome.sent if done.sent else outcome.skipped).append(shown)

    if decision.text is not None and incident is not None:
        if slack is None:
            failures.append(f"{message_id}: no Slack configured (SLACK_APP_SECRET_ID or webhook)")
        else:
            send = partial(slack.reply, incident, decision.text, decision.mention)
            attempt(f"slack-{slack.kind}", "incident-thread", "slack", send)
    if decision.sms_text:
        for number in decision.sms_to:
            send = partial(sms_channel.send, number, decision.sms_text)
            attempt("sms", number, f"sms:{mask_phone(number)}", send)
    if decision.next_timer is not None and target is not None:
        outcome.next_step = decision.next_timer.step
        outcome.next_created = timers.create(decision.next_timer, target, now)
    if failures:
        raise DeliveriesFailed(failures)
    return outcome
