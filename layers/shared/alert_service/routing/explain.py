"""Explain a route: for a sample event, which rules matched and who would get what.

A routing change is reviewed before it is deployed: ``alert-route events/cpu_alarm.json`` (or
``make route EVENT=...``) prints, for each notification of the event, the rules that matched (with
their lines), the severity and where it came from, and every destination. Phone numbers are masked;
email addresses are shown (the operator wrote them in the reviewed file). Nothing is sent.

The default route's recipients come from the same variables as the functions' (EMAIL_RECIPIENTS,
EMAIL_STATES, SMS_RECIPIENTS, SMS_STATES), so set them to see what a deployed stack would do.

    $ alert-route events/cpu_alarm.json --rules routing.yaml --severity critical
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from alert_service import config, parse
from alert_service.alarm import Notification
from alert_service.redact import mask_phone
from alert_service.routing.loader import RoutingFileError, load_file, shipped_table
from alert_service.routing.match import route
from alert_service.routing.model import Defaults, RoutingTable

DEFAULT_RULES = Path("routing.yaml")


def explain(
    notification: Notification, severity: str | None, table: RoutingTable, defaults: Defaults
) -> list[str]:
    """The lines that describe where ``notification`` goes (``severity``: its tag, if any)."""
    chosen = route(notification, severity, table, defaults)
    alarm = notification.alarm
    lines = [f"notification {notification.message_id}"]
    if alarm is None:
        lines.append(f"  notice      {notification.problem}: not an alarm, so the default route")
    else:
        about = [f"{alarm.name} ({alarm.state.value})"]
        about += [part for part in (alarm.namespace, alarm.metric_name) if part]
        about += [f"{k}={v}" for k, v in alarm.dimensions]
        about += [part for part in (alarm.account, alarm.region) if part]
        lines.append(f"  alarm       {' '.join(about)}")
    if chosen.is_default:
        lines.append(f"  rules       none matched: default route ({_default_origin(table)})")
    else:
        by_name = {rule.name: rule for rule in table.rules}
        shown = []
        for name in chosen.matched:
            rule = by_name[name]
            where = f"{table.source}:{rule.line}" if rule.line else table.source
            shown.append(f"{name} ({where}{', continue' if rule.continue_ else ''})")
        lines.append(f"  rules       {' -> '.join(shown)}")
    origin = {"tag": "the alarm's severity tag", None: "no tag, no rule severity"}.get(
        chosen.severity_source, f"rule {(chosen.severity_source or '').removeprefix('rule:')}"
    )
    lines.append(f"  severity    {chosen.severity or 'none'} ({origin})")
    channel = chosen.slack_channel or "the Slack app secret's channel (when app mode is on)"
    lines.append(f"  slack       webhooks: {_list(chosen.slack_webhooks)}")
    lines.append(f"  slack view  {channel}")
    lines.append(f"  email       {_list(chosen.email)}")
    lines.append(f"  sms         {_list(tuple(map(mask_phone, chosen.sms)))}")
    return lines


def _list(items: tuple[str, ...]) -> str:
    return ", ".join(items) or "nobody"


def _default_origin(table: RoutingTable) -> str:
    overridden = [
        key for key, value in vars(table.default).items() if value is not None and value != ()
    ]
    base = "template parameters"
    return f"{base}, with {', '.join(overridden)} from {table.source}" if overridden else base


def main(argv: Sequence[str] | None = None, *, out: TextIO | None = None) -> int:
    """``alert-route EVENT [--rules FILE] [--severity S | --lookup-tags]``; 0 ok, 1 bad input."""
    out = out or sys.stdout
    parser = argparse.ArgumentParser(
        prog="alert-route",
        description="Which routing rules match a sample event, and who would get what.",
    )
    parser.add_argument("event", type=Path, help="an SNS Lambda event (events/*.json)")
    parser.add_argument(
        "--rules",
        type=Path,
        help="routing file (default: ./routing.yaml if present, else the one the layer ships)",
    )
    tags = parser.add_mutually_exclusive_group()
    tags.add_argument("--severity", help="pretend every alarm carries this severity tag")
    tags.add_argument(
        "--lookup-tags",
        action="store_true",
        help="read each alarm's severity tag from CloudWatch (your AWS credentials)",
    )
    args = parser.parse_args(argv)
    try:
        table = _table(args.rules)
        event = json.loads(args.event.read_text(encoding="utf-8"))
        defaults = Defaults.from_settings(config.fanout_settings())
        notifications = parse.notifications(event)
    except (RoutingFileError, config.ConfigurationError, OSError, ValueError) as error:
        print(f"alert-route: {error}", file=sys.stderr)
        return 1
    for index, notification in enumerate(notifications):
        severity = _severity(notification, args)
        if index:
            print(file=out)
        print("\n".join(explain(notification, severity, table, defaults)), file=out)
    return 0


def _table(rules: Path | None) -> RoutingTable:
    if rules is not None:
        return load_file(rules)
    return load_file(DEFAULT_RULES) if DEFAULT_RULES.exists() else shipped_table()


def _severity(notification: Notification, args: argparse.Namespace) -> str | None:
    if args.lookup_tags:
        from alert_service import severity

        return severity.of_alarm(notification.alarm)
    if args.severity and notification.alarm is not None:
        from alert_service.severity import normalise

        return normalise(args.severity)
    return None


if __name__ == "__main__":
    sys.exit(main())
