"""IncidentEscalationFunction: a fired one-time schedule -> escalation or reminder.

Input (set by IncidentTimersFunction): ``{"incident_id": "INC-...", "step": "escalate-1"}``. The
incident is read again, and the step acts only if it still should (``schedules.policy``): an
acknowledged incident is not escalated, a resolved one gets nothing, a silenced alarm is quiet
(the history's ``silenced_by`` mark, or a silence matching the alarm now).
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from typing import Any

from alert_service import delivery, notices, schedules
from alert_service.incidents.store import HistoryStore
from alert_service.schedules import escalate, timers
from aws_lambda_powertools import Logger

logger = Logger()


@cache
def _slack() -> notices.SlackNotices | None:
    return notices.from_env()  # one Web API client (or webhook session) per process


@cache
def _store() -> HistoryStore:
    return HistoryStore.from_environment()  # HISTORY_TABLE_NAME, read once per process


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    delivery.register_lambda_context(context)
    return handle(event, now=datetime.now(UTC))


def handle(event: dict[str, Any], *, now: datetime) -> dict[str, Any]:
    outcome = escalate.run(
        event,
        now=now,
        settings=schedules.settings(),
        slack=_slack(),
        target=timers.Target.from_env(),
        store=_store(),
    )
    logger.info("step done", extra=vars(outcome))
    return vars(outcome)
