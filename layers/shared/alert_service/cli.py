"""``alert-incidents``: the operator CLI for incidents and history (Query and GetItem, never Scan).

    alert-incidents list [--status open|active|acknowledged|resolved|all] [--limit N]
    alert-incidents show INC-...
    alert-incidents ack INC-... --by NAME [--note TEXT]
    alert-incidents resolve INC-... --by NAME [--note TEXT]
    alert-incidents summary --since YYYY-MM-DD [--until YYYY-MM-DD]

Every command takes ``--json`` (for scripts) and ``--table`` (default: HISTORY_TABLE_NAME). AWS
access is boto3's default chain, so ``AWS_PROFILE``, ``AWS_REGION`` and ``AWS_ENDPOINT_URL`` (the
local endpoint of ``make demo``) work as usual. Times are shown in UTC.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any, TextIO

from alert_service import incidents
from alert_service.config import ConfigurationError
from alert_service.render import one_line

STATUS_CHOICES = ("open", "active", "acknowledged", "resolved", "all")


def main(argv: Sequence[str] | None = None, *, out: TextIO | None = None) -> int:
    """Run one command; returns the exit status (0 ok, 1 refused or not found, 2 usage)."""
    out = out or sys.stdout
    args = _parser().parse_args(argv)
    try:
        args.store = incidents.HistoryStore.from_environment(args.table)
    except ConfigurationError as error:
        hint = "" if args.table else " (set --table or HISTORY_TABLE_NAME)"
        print(f"alert-incidents: {error}{hint}", file=sys.stderr)
        return 2
    try:
        return int(args.run(args, out))
    except (incidents.IncidentNotFound, incidents.IncidentStateError, ValueError) as error:
        text = (
            f"no incident {error}" if isinstance(error, incidents.IncidentNotFound) else str(error)
        )
        print(f"alert-incidents: {text}", file=sys.stderr)
        return 1


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", help="machine-readable output")
    common.add_argument("--table", help="history table (default: $HISTORY_TABLE_NAME)")

    parser = argparse.ArgumentParser(
        prog="alert-incidents", description="Alarm incidents and history (AlarmHistoryTable)."
    )
    commands = parser.add_subparsers(dest="command", required=True)

    p = commands.add_parser("list", parents=[common], help="incidents, newest first")
    p.add_argument("--status", choices=STATUS_CHOICES, default="open")
    p.add_argument("--limit", type=_positive, default=None)
    p.set_defaults(run=_list)

    p = commands.add_parser("show", parents=[common], help="one incident and its notifications")
    p.add_argument("incident_id")
    p.set_defaults(run=_show)

    for name, run, what in (("ack", _ack, "acknowledge"), ("resolve", _resolve, "resolve by hand")):
        p = commands.add_parser(name, parents=[common], help=what)
        p.add_argument("incident_id")
        p.add_argument("--by", required=True, help="who (name or handle)")
        p.add_argument("--note", help="why, what was done")
        p.set_defaults(run=run)

    p = commands.add_parser("summary", parents=[common], help="a period's incidents and noise")
    p.add_argument("--since", type=date.fromisoformat, required=True, help="YYYY-MM-DD (UTC)")
    p.add_argument("--until", type=date.fromisoformat, default=None, help="YYYY-MM-DD (today)")
    p.set_defaults(run=_summary)
    return parser


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


# --- commands ---------------------------------------------------------------------------------
def _list(args: argparse.Namespace, out: TextIO) -> int:
    found = incidents.list_incidents(args.status, args.limit, store=args.store)
    if args.json:
        return _dump(found, out)
    if not found:
        print(f"No {args.status} incidents.", file=out)
        return 0
    rows = [
        [
            i["incident_id"],
            i["status"],
            i.get("alarm_name", ""),
            str(i.get("alert_count", 0)),
            _time(i.get("first_seen_at")),
            _time(i.get("last_seen_at")),
            _duration(i.get("duration_seconds")),
        ]
        for i in found
    ]
    headers = ["INCIDENT", "STATUS", "ALARM", "ALERTS", "FIRST SEEN (UTC)", "LAST SEEN", "TTR"]
    print(_table(headers, rows), file=out)
    return 0


def _show(args: argparse.Namespace, out: TextIO) -> int:
    incident = incidents.get_incident(args.incident_id, store=args.store)
    if incident is None:
        raise incidents.IncidentNotFound(args.incident_id)
    events = incidents.incident_events(args.incident_id, store=args.store)
    if args.json:
        return _dump({"incident": incident, "events": events}, out)
    _describe(incident, out)
    print(file=out)
    rows = [
        [
            _time(e.get("event_at")),
            e.get("state", ""),
            e.get("incident_action", ""),
            e["message_id"],
            one_line(e.get("reason", ""), 60),
        ]
        for e in events
    ]
    print(f"Notifications ({len(events)}):", file=out)
    print(_table(["TIME (UTC)", "STATE", "ACTION", "MESSAGE ID", "REASON"], rows), file=out)
    return 0


def _ack(args: argparse.Namespace, out: TextIO) -> int:
    incident = incidents.acknowledge(args.incident_id, by=args.by, note=args.note, store=args.store)
    if args.json:
        return _dump(incident, out)
    print(
        f"{args.incident_id} acknowledged by {args.by} at {_time(incident['acknowledged_at'])}",
        file=out,
    )
    return 0


def _resolve(args: argparse.Namespace, out: TextIO) -> int:
    incident = incidents.resolve(args.incident_id, by=args.by, note=args.note, store=args.store)
    if args.json:
        return _dump(incident, out)
    print(
        f"{args.incident_id} resolved by {args.by} at {_time(incident['resolved_at'])} "
        f"after {_duration(incident.get('duration_seconds'))}",
        file=out,
    )
    return 0


def _summary(args: argparse.Namespace, out: TextIO) -> int:
    until = args.until or datetime.now(UTC).date()
    report = incidents.summary(args.since, until, store=args.store)
    if args.json:
        return _dump(report, out)
    by_status = ", ".join(f"{k} {v}" for k, v in report["incidents_by_status"].items())
    by_state = ", ".join(f"{k} {v}" for k, v in report["notifications_by_state"].items())
    lines = [
        f"Period (UTC):          {report['since']} .. {report['until']}",
        f"Incidents opened:      {report['incidents']} ({by_status})",
        f"Notifications:         {report['notifications']}"
        + (f" ({by_state})" if by_state else ""),
        f"Mean time to resolve:  {_duration(report['mean_time_to_resolve_seconds'])}",
        f"p90 time to resolve:   {_duration(report['p90_time_to_resolve_seconds'])}",
    ]
    print("\n".join(lines), file=out)
    noisy = report["noisiest_alarms"]
    if noisy:
        print("\nNoisiest alarms:", file=out)
        rows = [[a["alarm_name"], str(a["notifications"]), str(a["incidents"])] for a in noisy]
        print(_table(["ALARM", "NOTIFICATIONS", "INCIDENTS"], rows), file=out)
    return 0


# --- formatting -------------------------------------------------------------------------------
def _describe(incident: dict[str, Any], out: TextIO) -> None:
    fields = [
        ("Incident", incident["incident_id"]),
        ("Status", incident["status"]),
        ("Alarm", incident.get("alarm_name", "")),
        ("Account / region", f"{incident.get('account') or '-'} / {incident.get('region') or '-'}"),
        ("Incident key", incident.get("incident_key", "")),
        ("Alerts", str(incident.get("alert_count", 0))),
        ("First seen (UTC)", _time(incident.get("first_seen_at"))),
        ("Last seen (UTC)", _time(incident.get("last_seen_at"))),
        ("Last state", incident.get("last_state", "")),
    ]
    if incident.get("acknowledged_by"):
        fields.append(
            (
                "Acknowledged",
                f"{incident['acknowledged_by']} at {_time(incident['acknowledged_at'])}",
            )
        )
        if incident.get("ack_note"):
            fields.append(("Ack note", incident["ack_note"]))
    if incident.get("resolved_at"):
        fields.append(
            (
                "Resolved",
                f"{_time(incident['resolved_at'])} by {incident.get('resolved_by', '?')} "
                f"after {_duration(incident.get('duration_seconds'))}",
            )
        )
        if incident.get("resolve_note"):
            fields.append(("Resolve note", incident["resolve_note"]))
    width = max(len(label) for label, _ in fields)
    for label, value in fields:
        print(f"{label + ':':<{width + 1}} {value}", file=out)


def _table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [
        max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=False)
    ]

    def line(cells: list[str]) -> str:
        return "  ".join(f"{cell!s:<{w}}" for cell, w in zip(cells, widths, strict=True)).rstrip()

    return "\n".join([line(headers), line(["-" * w for w in widths]), *(line(r) for r in rows)])


def _time(text: str | None) -> str:
    """``2024-01-12T07:30:00.000Z`` -> ``2024-01-12 07:30:00``."""
    return text[:19].replace("T", " ") if text else "-"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m {secs:02d}s"


def _dump(value: Any, out: TextIO) -> int:
    print(json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True), file=out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
