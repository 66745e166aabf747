"""History and incidents in DynamoDB (seed 001: Alert != Incident).

Every notification is stored once per SNS MessageId as an event item with its raw payload; alarm
notifications are grouped into incidents that operators manage (active -> acknowledged -> resolved).
One module per job:

- ``transition``: the incident state machine, pure (state + notification -> change);
- ``recording``: ``record`` applies a change to DynamoDB in one transaction, with bounded retries;
- ``marking``: ``marks_for``, a notification's severity, silences and flapping (``Marks``);
- ``queries``: incidents and events by id, status, alarm and day;
- ``actions``: the operator's acknowledge and resolve;
- ``analytics``: the period summary;
- ``store``: ``HistoryStore`` (table name + client) and the request plumbing.

Item shapes and keys are in ``alert_service.history``. Every function takes ``store=``; without it,
a store is made from HISTORY_TABLE_NAME for that call.
"""

from alert_service.incidents.actions import (
    IncidentNotFound,
    IncidentStateError,
    acknowledge,
    resolve,
)
from alert_service.incidents.analytics import percentile, summary
from alert_service.incidents.marking import marks_for
from alert_service.incidents.queries import (
    alarm_incidents,
    day_events,
    get_incident,
    incident_events,
    list_incidents,
)
from alert_service.incidents.recording import MAX_ATTEMPTS, IncidentConflict, record
from alert_service.incidents.store import HistoryStore, retention_days
from alert_service.incidents.transition import AlarmState, Change, Marks, Outcome, decide

__all__ = [
    "MAX_ATTEMPTS",
    "AlarmState",
    "Change",
    "HistoryStore",
    "IncidentConflict",
    "IncidentNotFound",
    "IncidentStateError",
    "Marks",
    "Outcome",
    "acknowledge",
    "alarm_incidents",
    "day_events",
    "decide",
    "get_incident",
    "incident_events",
    "list_incidents",
    "marks_for",
    "percentile",
    "record",
    "resolve",
    "retention_days",
    "summary",
]
