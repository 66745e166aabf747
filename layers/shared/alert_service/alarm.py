"""The alarm model: what one SNS notification says, independent of where it came from.

Every payload kind (metric, metric math, anomaly detection, composite, EventBridge state change)
becomes an ``Alarm``; anything else stays a ``Notification`` without one, so it is never dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class AlarmKind(StrEnum):
    METRIC = "metric"
    METRIC_MATH = "metric_math"
    ANOMALY = "anomaly"
    COMPOSITE = "composite"


class State(StrEnum):
    ALARM = "ALARM"
    OK = "OK"
    INSUFFICIENT_DATA = "INSUFFICIENT_DATA"

    @classmethod
    def of(cls, value: object) -> State | None:
        try:
            return cls(str(value).strip().upper())
        except ValueError:
            return None


@dataclass(frozen=True)
class Alarm:
    name: str
    state: State
    reason: str = ""
    kind: AlarmKind = AlarmKind.METRIC
    previous_state: State | None = None
    state_changed_at: datetime | None = None  # timezone-aware, UTC
    region: str | None = None  # region code (ap-northeast-2), never the display name
    account: str | None = None
    arn: str | None = None
    description: str | None = None
    # Metric alarms (and the metric behind an anomaly band or a math expression's inputs)
    metric_name: str | None = None
    namespace: str | None = None
    statistic: str | None = None
    unit: str | None = None
    comparison: str | None = None
    threshold: float | None = None
    period_seconds: int | None = None
    evaluation_periods: int | None = None
    dimensions: tuple[tuple[str, str], ...] = ()
    observed_value: float | None = None  # the datapoint that changed the state, when stated
    # Metric math and anomaly detection
    expression: str | None = None
    expression_label: str | None = None
    # Composite alarms
    alarm_rule: str | None = None
    triggering_children: tuple[str, ...] = ()
    source: str = "cloudwatch"  # or "eventbridge"

    @property
    def is_composite(self) -> bool:
        return self.kind is AlarmKind.COMPOSITE


@dataclass(frozen=True)
class Notification:
    """One SNS message, as delivered. ``raw_message`` is kept unchanged for history."""

    message_id: str
    raw_message: str
    alarm: Alarm | None = None
    topic_arn: str | None = None
    subject: str | None = None
    published_at: datetime | None = None
    # Why this is not an alarm ("empty", "not_json", "unknown_json"); None when ``alarm`` is set.
    problem: str | None = None

    @property
    def state(self) -> State | None:
        return self.alarm.state if self.alarm else None
