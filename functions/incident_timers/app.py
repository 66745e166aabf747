"""IncidentTimersFunction: the history table's stream -> escalation and reminder schedules.

An incident item inserted (opened): its schedules are created (``escalate-1``, ``escalate-2``,
``remind-1``); its status changed to acknowledged or resolved: the ones that no longer make sense
are deleted. Records come at least once and a batch may come again: schedules are named by
incident and step, so a repeat finds them created (or deleted) already. A record that fails is
reported as the batch's first failure (``ReportBatchItemFailures``): Lambda retries from there.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any

from alert_service import schedules
from alert_service.schedules import timers
from aws_lambda_powertools import Logger

logger = Logger()


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return handle(event, now=datetime.now(UTC))


def handle(event: dict[str, Any], *, now: datetime) -> dict[str, Any]:
    settings = schedules.settings()
    target = timers.Target.from_env()
    done: Counter[str] = Counter()
    for change in timers.incident_changes(event):
        try:
            done.update(timers.apply(change, settings, target, now))
        except Exception:
            logger.exception("schedule change failed", extra={"sequence": change.sequence_number})
            # Stream order matters per shard: retry from this record on (later ones are repeats).
            return {"batchItemFailures": [{"itemIdentifier": change.sequence_number}], **done}
    if done:
        logger.info("schedules changed", extra={"schedules": dict(done)})
    return {"batchItemFailures": [], **done}
