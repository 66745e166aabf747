"""Matching: a notification and its severity -> the ``Route`` (first match wins unless continue).

Pure and fast: rules are compiled at load (one regex per glob list, sets for exact values), so a
notification costs a few look-ups per rule (``python -m bench.routing`` measures 50 rules).
"""

from __future__ import annotations

from alert_service.alarm import Alarm, Notification
from alert_service.routing.model import (
    Defaults,
    Match,
    Route,
    RoutingTable,
    default_route,
)


def matches(match: Match, alarm: Alarm, severity: str | None) -> bool:
    """Every field given in ``match`` holds for ``alarm`` (a field absent from the alarm fails)."""
    if match._name_re is not None and not match._name_re.fullmatch(alarm.name):
        return False
    if match.state and alarm.state not in match.state:
        return False
    if match.namespace and alarm.namespace not in match.namespace:
        return False
    if match.metric and alarm.metric_name not in match.metric:
        return False
    if match.account and alarm.account not in match.account:
        return False
    if match.region and alarm.region not in match.region:
        return False
    if match.severity and severity not in match.severity:
        return False
    if match._dimension_res:
        dimensions = dict(alarm.dimensions)
        for name, pattern in match._dimension_res:
            value = dimensions.get(name)
            if value is None or not pattern.fullmatch(value):
                return False
    return True


def route(
    notification: Notification,
    severity: str | None,
    table: RoutingTable | None = None,
    defaults: Defaults | None = None,
) -> Route:
    """Where ``notification`` goes. ``severity`` is the alarm's ``severity`` tag (or None).

    ``table`` defaults to the routing file shipped with the layer, ``defaults`` to the template
    parameters (Slack's ``default`` webhook only, when the caller passes no fan-out settings).
    A notice (not an alarm) always takes the default route: rules describe alarms.
    """
    if table is None:
        from alert_service.routing.loader import shipped_table

        table = shipped_table()
    defaults = defaults or Defaults()
    alarm = notification.alarm
    if alarm is None:
        return default_route(notification, severity, defaults, table.default)

    matched: list[str] = []
    webhooks: dict[str, None] = {}  # dicts keep order and drop repeats: one post per webhook
    emails: dict[str, None] = {}
    numbers: dict[str, None] = {}
    channel: str | None = None
    rule_severity: tuple[str, str] | None = None
    for rule in table.rules:
        if not matches(rule.match, alarm, severity):
            continue
        matched.append(rule.name)
        webhooks.update(dict.fromkeys(rule.to.slack_webhooks))
        emails.update(dict.fromkeys(rule.to.email))
        numbers.update(dict.fromkeys(rule.to.sms))
        channel = channel or rule.to.slack_channel
        if rule_severity is None and rule.severity:
            rule_severity = (rule.severity, rule.name)
        if not rule.continue_:
            break
    if not matched:
        return default_route(notification, severity, defaults, table.default)

    if severity:
        chosen, source = severity, "tag"
    elif rule_severity:
        chosen, source = rule_severity[0], f"rule:{rule_severity[1]}"
    else:
        chosen, source = None, None
    return Route(
        slack_webhooks=tuple(webhooks),
        slack_channel=channel,
        email=tuple(emails),
        sms=tuple(numbers),
        severity=chosen,
        severity_source=source,
        matched=tuple(matched),
    )
