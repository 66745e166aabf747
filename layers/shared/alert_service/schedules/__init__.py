"""Escalation and reminders for open incidents (issue 14), on EventBridge Scheduler.

- ``policy``: what to do, as pure functions of (incident, step, now, settings, silenced);
- ``timers``: the one-time schedules (create per incident, delete on acknowledge/resolve) and the
  history table's stream records that drive them (IncidentTimersFunction);
- ``escalate``: the schedules' target (IncidentEscalationFunction): re-read, decide, send.

Settings come from the environment, read and checked once per process:
``ESCALATE_AFTER_MINUTES`` (10; 0 turns escalation off), ``REMIND_EVERY_HOURS`` (4; 0 turns
reminders off), ``ESCALATION_SMS_RECIPIENTS`` (E.164 numbers texted at the second escalation).
"""

from __future__ import annotations

from datetime import timedelta
from functools import cache

from alert_service import config
from alert_service.redact import mask_phone
from alert_service.schedules.policy import Settings


@cache
def settings() -> Settings:
    numbers = config.env_list("ESCALATION_SMS_RECIPIENTS")  # the one list parser
    for number in numbers:
        if not config.E164.match(number):  # and the one E.164 rule
            raise config.ConfigurationError(
                "ESCALATION_SMS_RECIPIENTS holds a number not in E.164 form (+<country><number>): "
                f"{mask_phone(number)}"
            )
    return Settings(
        # At most a day and a week: EventBridge Scheduler takes any date, but a larger value is a
        # unit mistake (hours given as minutes).
        escalate_after=timedelta(minutes=config.env_number("ESCALATE_AFTER_MINUTES", 10, 0, 1440)),
        remind_every=timedelta(hours=config.env_number("REMIND_EVERY_HOURS", 4, 0, 168)),
        sms_recipients=numbers,
        locale=config.display_settings().locale,
    )
