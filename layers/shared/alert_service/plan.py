"""What one notification needs before the pure decide step: its severity, route and quiet state.

The handlers of the notification path (Slack relay, fan-out) read::

    planned = plan.plan(notification, channels=("slack",), defaults=..., display=..., table=...)
    for target in planned.deliveries: render and send (or skip it when held)

Asks AWS only where needed: the severity tag once per alarm ARN per ten minutes
(``severity.of_alarm``), the routing file once per process, and the quiet state
(``silences.gate.check``: a cached silences Query and the flap count) only for an alarm and only
when the function has the history table. A notice that is not an alarm asks nothing.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING

from alert_service import decide
from alert_service.alarm import Notification

if TYPE_CHECKING:
    from alert_service import routing
    from alert_service.config import DisplaySettings
    from alert_service.silences.gate import Quiet


@dataclass(frozen=True)
class Plan:
    severity: str | None
    deliveries: list[decide.Delivery]
    quiet: Quiet | None = None


def plan(
    notification: Notification,
    *,
    channels: Collection[decide.Channel],
    defaults: routing.Defaults,
    display: DisplaySettings,
    table: str | None,
) -> Plan:
    """Severity -> route -> quiet state -> ``decide.decide``. Raises when DynamoDB fails (the
    handler fails that record, Lambda retries it); a severity lookup never raises."""
    # Imported here: the routing file and the quiet state are first needed by the first event.
    from alert_service import routing, severity

    found = severity.of_alarm(notification.alarm)
    route = routing.route(notification, found, defaults=defaults)
    holds: list[decide.Hold] = []
    notices = []
    quiet = None
    if table and notification.alarm is not None:
        from alert_service.silences import gate

        quiet = gate.check(notification, table=table)
        holds.append(decide.quiet_hold(quiet))
        notices = quiet.notices(notification, display)
    deliveries = decide.decide(
        notification,
        decide.from_route(route),
        channels=channels,
        holds=holds,
        notices=notices,
    )
    return Plan(route.severity, deliveries, quiet)


def count_held(target: decide.Delivery, service: str) -> None:
    """``DeliveriesHeld`` with the channel and the reason (silence, flapping) as dimensions: one
    EMF record of its own, so the function's other metrics keep their dimensions."""
    from aws_lambda_powertools.metrics import MetricUnit, single_metric

    with single_metric(
        name="DeliveriesHeld",
        unit=MetricUnit.Count,
        value=1,
        default_dimensions={"service": service},
    ) as metric:
        metric.add_dimension(name="channel", value=target.channel)
        metric.add_dimension(name="reason", value=target.hold_reason or "held")
