"""``alert-incidents summary``: a period's incidents, notifications and noise.

Reads: the period's incident items (gsi1 ``STATUS#<status>``, a few per day), and per UTC day the
``gsi1slim`` index (gsi1's keys, projecting only ``state`` and ``alarm_name``): about 200 bytes per
notification instead of the whole event with its ``raw_payload``. At 1 million notifications a day,
30 days is 30 million index entries, about 6 GB: about 0.73 million read units (eventually
consistent, 0.5 per 4 KB) and 6,000 Query pages of 1 MB, against about 9 million read units and
75,000 pages for whole items of about 2.5 KB. Counters kept in the write path would read 30 items,
at the price of a hot counter item in every notification's transaction; see README "History".
"""

from __future__ import annotations

import math
from collections import Counter
from datetime import date, timedelta
from typing import Any

from alert_service import history
from alert_service.history import RESOLVED, STATUSES
from alert_service.incidents.store import HistoryStore, values

SLIM_INDEX = "gsi1slim"


def percentile(numbers: list[float], fraction: float) -> float | None:
    """Nearest-rank percentile (p90 of 10 values is the 9th smallest)."""
    if not numbers:
        return None
    ordered = sorted(numbers)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def summary(
    since: date, until: date, *, top: int = 5, store: HistoryStore | None = None
) -> dict[str, Any]:
    """Incidents opened and notifications received in [since, until] (UTC days, inclusive)."""
    if until < since:
        raise ValueError("--until is before --since")
    if (until - since).days > 366:
        raise ValueError("a summary covers at most 367 days (one Query per day)")
    store = store or HistoryStore.from_environment()
    low, high = since.isoformat(), f"{until.isoformat()}~"  # '~' sorts after any time of that day
    incidents: list[dict[str, Any]] = []
    for status in STATUSES:
        incidents.extend(
            store.query(
                IndexName="gsi1",
                KeyConditionExpression="gsi1pk = :pk AND gsi1sk BETWEEN :low AND :high",
                ExpressionAttributeValues=values(pk=history.status_pk(status), low=low, high=high),
                ProjectionExpression="#status, alarm_name, duration_seconds",
                ExpressionAttributeNames={"#status": "status"},
            )
        )
    states: Counter[str] = Counter()
    per_alarm: Counter[str] = Counter()
    day = since
    while day <= until:
        for entry in store.query(
            IndexName=SLIM_INDEX,
            KeyConditionExpression="gsi1pk = :pk",
            ExpressionAttributeValues=values(pk=history.day_pk(day.isoformat())),
            ProjectionExpression="#state, alarm_name",
            ExpressionAttributeNames={"#state": "state"},
        ):
            states[entry.get("state", "unparsed")] += 1
            if entry.get("alarm_name"):
                per_alarm[entry["alarm_name"]] += 1
        day += timedelta(days=1)

    durations = [float(i["duration_seconds"]) for i in incidents if i["status"] == RESOLVED]
    incidents_per_alarm: Counter[str] = Counter(i["alarm_name"] for i in incidents)
    by_status = Counter(i["status"] for i in incidents)
    return {
        "since": since.isoformat(),
        "until": until.isoformat(),
        "incidents": len(incidents),
        "incidents_by_status": {s: by_status.get(s, 0) for s in STATUSES},
        "notifications": sum(states.values()),
        "notifications_by_state": dict(sorted(states.items())),
        "resolved": len(durations),
        "mean_time_to_resolve_seconds": (sum(durations) / len(durations)) if durations else None,
        "p90_time_to_resolve_seconds": percentile(durations, 0.9),
        "noisiest_alarms": [
            {
                "alarm_name": name,
                "notifications": count,
                "incidents": incidents_per_alarm.get(name, 0),
            }
            for name, count in sorted(per_alarm.items(), key=lambda kv: (-kv[1], kv[0]))[:top]
        ],
    }
