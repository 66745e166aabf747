"""The digest's figures from what was read: a pure function, tested without AWS.

- notifications, incidents opened and resolved in the window, each against the window before;
- open incidents now, oldest first, with their age and who acknowledged them;
- MTTA (first ALARM -> acknowledged) over the incidents acknowledged in the window, and MTTR
  (first ALARM -> resolved, ``duration_seconds``) over those resolved in it: mean and median;
- the noisiest alarms (notifications in the window; ties by name);
- flapping alarms and silences that end soon, when the caller has them (issue 12 owns both).
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from alert_service.history import parse_iso

TOP_ALARMS = 5


@dataclass(frozen=True)
class Compared:
    now: int
    before: int

    @property
    def change(self) -> int:
        return self.now - self.before


@dataclass(frozen=True)
class Durations:
    """Mean and median in seconds, over ``count`` incidents (None when there were none)."""

    count: int
    mean: float | None
    median: float | None

    @classmethod
    def of(cls, seconds: Sequence[float]) -> Durations:
        if not seconds:
            return cls(0, None, None)
        return cls(len(seconds), statistics.fmean(seconds), statistics.median(seconds))


@dataclass(frozen=True)
class OpenIncident:
    incident_id: str
    alarm_name: str
    status: str
    age: timedelta
    alert_count: int
    acknowledged_by: str | None


@dataclass(frozen=True)
class NoisyAlarm:
    alarm_name: str
    notifications: int
    incidents: int


@dataclass(frozen=True)
class Flapping:
    """``changes`` state changes in the last ``window_minutes`` (since its episode began)."""

    alarm_name: str
    changes: int
    window_minutes: int


@dataclass(frozen=True)
class SilenceEnding:
    silence_id: str
    matcher: str
    ends_at: datetime
    created_by: str
    comment: str


@dataclass(frozen=True)
class Digest:
    since: datetime
    until: datetime
    notifications: Compared
    opened: Compared
    resolved: Compared
    open_incidents: list[OpenIncident]
    mtta: Durations
    mttr: Durations
    noisiest: list[NoisyAlarm]
    flapping: list[Flapping] = field(default_factory=list)
    silences_ending: list[SilenceEnding] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        """Plain JSON for ``--json`` and logs: times ISO, durations in seconds."""

        def plain(value: Any) -> Any:
            if isinstance(value, datetime):
                return value.isoformat()
            if isinstance(value, timedelta):
                return int(value.total_seconds())
            if isinstance(value, list):
                return [plain(v) for v in value]
            if hasattr(value, "__dataclass_fields__"):
                out = {k: plain(getattr(value, k)) for k in value.__dataclass_fields__}
                if isinstance(value, Compared):
                    out["change"] = value.change
                return out
            return value

        return plain(self)


def _seconds_between(start: str, end: str) -> float:
    return max(0.0, (parse_iso(end) - parse_iso(start)).total_seconds())


def build(
    *,
    since: datetime,
    until: datetime,
    events: Sequence[Mapping[str, Any]],
    events_before: int,
    opened: Sequence[Mapping[str, Any]],
    opened_before: int,
    resolved: Sequence[Mapping[str, Any]],
    resolved_before: int,
    acknowledged: Iterable[Mapping[str, Any]],
    open_now: Iterable[Mapping[str, Any]],
    flapping: Iterable[Flapping] = (),
    silences_ending: Iterable[SilenceEnding] = (),
    top: int = TOP_ALARMS,
) -> Digest:
    """``acknowledged``: incidents whose ``acknowledged_at`` falls in the window (any status)."""
    per_alarm = Counter(str(e["alarm_name"]) for e in events if e.get("alarm_name"))
    incidents_per_alarm = Counter(
        str(e["alarm_name"])
        for e in events
        if e.get("alarm_name") and e.get("incident_action") == "opened"
    )
    noisiest = [
        NoisyAlarm(name, count, incidents_per_alarm.get(name, 0))
        for name, count in sorted(per_alarm.items(), key=lambda kv: (-kv[1], kv[0]))[:top]
    ]
    mtta = [
        _seconds_between(str(i["first_seen_at"]), str(i["acknowledged_at"]))
        for i in acknowledged
        if i.get("acknowledged_at")
    ]
    mttr = [
        float(i["duration_seconds"])
        if i.get("duration_seconds") is not None
        else _seconds_between(str(i["first_seen_at"]), str(i["resolved_at"]))
        for i in resolved
    ]
    still_open = sorted(
        (
            OpenIncident(
                incident_id=str(i["incident_id"]),
                alarm_name=str(i.get("alarm_name", "")),
                status=str(i["status"]),
                age=until - parse_iso(str(i["first_seen_at"])),
                alert_count=int(i.get("alert_count") or 0),
                acknowledged_by=i.get("acknowledged_by") or None,
            )
            for i in open_now
        ),
        key=lambda o: (-o.age, o.incident_id),
    )
    return Digest(
        since=since,
        until=until,
        notifications=Compared(len(events), events_before),
        opened=Compared(len(opened), opened_before),
        resolved=Compared(len(resolved), resolved_before),
        open_incidents=still_open,
        mtta=Durations.of(mtta),
        mttr=Durations.of(mttr),
        noisiest=noisiest,
        flapping=sorted(flapping, key=lambda f: (-f.changes, f.alarm_name)),
        silences_ending=sorted(silences_ending, key=lambda s: s.ends_at),
    )
