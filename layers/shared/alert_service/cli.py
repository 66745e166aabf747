"""``alert-incidents``: the operator CLI for incidents and history (Query and GetItem, never Scan).

    alert-incidents list [--status open|active|acknowledged|resolved|all] [--severity S] [--limit N]
    alert-incidents show INC-...
    alert-incidents ack INC-... --by NAME [--note TEXT]
    alert-incidents resolve INC-... --by NAME [--note TEXT]
    alert-incidents summary --since YYYY-MM-DD [--until YYYY-MM-DD]
    alert-incidents silence add --match 'OTT-DB-*' --for 2h --comment TEXT --by NAME
    alert-incidents silence list | silence expire SIL-... --by NAME
    alert-incidents route EVENT.json [--rules FILE] [--severity S | --lookup-tags]
    alert-incidents digest [--since T] [--until T] [--format text|slack|html|json]

``silence`` is ``alert_service.silences.cli``; ``route`` and ``digest`` hand their arguments to
``alert_service.routing.explain`` and ``alert_service.digest.cli`` (also installed as
``alert-route`` and ``alert-digest``). Every command takes ``--json`` (for scripts) and ``--table``
(default: HISTORY_TABLE_NAME; ``route`` reads no table). AWS
access is boto3's default chain, so ``AWS_PROFILE``, ``AWS_REGION`` and ``AWS_ENDPOINT_URL`` (the
local endpoint of ``make demo``) work as usual. Times are shown in UTC.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from typing import Any, TextIO

from alert_service import incidents
from alert_service.config import ConfigurationError
from alert_service.render import one_line
from alert_service.silences.cli import add_subcommands as add_silence_commands
from alert_service.terminal import dump as _dump
from alert_service.terminal import span as _duration
from alert_service.terminal import table as _table
from alert_service.terminal import utc as _time

STATUS_CHOICES = ("open", "active", "acknowledged", "resolved", "all")


def main(argv: Sequence[str] | None = None, *, out: TextIO | None = None) -> int:
    """Run one command; returns the exit status (0 ok, 1 refused or not found, 2 usage)."""
    out = out or sys.stdout
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in DELEGATED:
        # Commands with their own parser and their own needs (route reads no table).
        return DELEGATED[argv[0]]()(argv[1:], out=out)
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


def _route() -> Callable[..., int]:
    from alert_service.routing.explain import main as explain

    return explain


def _digest() -> Callable[..., int]:
    from alert_service.digest.cli import main as digest

    return digest


# name -> (the entry point, imported only when that command runs; its one-line help)
DELEGATED: dict[str, Callable[[], Callable[..., int]]] = {"route": _route, "digest": _digest}
_DELEGATED_HELP = {
    "route": "which routing rules match a sample event, who would get what (alert-route)",
    "digest": "the daily digest's report for a period (alert-digest)",
}


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
    p.add_argument("--severity", type=str.lower, help="only incidents of this severity")
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

    add_silence_commands(commands, parents=[common])
    for name, what in _DELEGATED_HELP.items():
        # Listed for --help; main() hands their arguments over before parsing.
        commands.add_parser(name, help=what, add_help=False)
    return parser


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


# --- commands ---------------------------------------------------------------------------------
def _list(args: argparse.Namespace, out: TextIO) -> int:
    found = incidents.list_incidents(
        args.status, args.limit, severity=args.severity, store=args.store
    )
    if args.json:
        return _dump(found, out)
    if not found:
        severity = f" {args.severity}" if args.severity else ""
        print(f"No {args.status}{severity} incidents.", file=out)
        return 0
    rows = [
        [
            i["incident_id"],
            i["status"],
            i.get("severity") or "-",
            i.get("alarm_name", ""),
            str(i.get("alert_count", 0)),
            _time(i.get("first_seen_at")),
            _time(i.get("last_seen_at")),
            _duration(i.get("duration_seconds")),
            ", ".join(_marks(i)),
        ]
        for i in found
    ]
    headers = [
        "INCIDENT",
        "STATUS",
        "SEVERITY",
        "ALARM",
        "ALERTS",
        "FIRST SEEN (UTC)",
        "LAST SEEN",
        "TTR",
        "MARKS",
    ]
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
            "silenced" if e.get("silenced_by") else "",
            e["message_id"],
            one_line(e.get("reason", ""), 60),
        ]
        for e in events
    ]
    print(f"Notifications ({len(events)}):", file=out)
    headers = ["TIME (UTC)", "STATE", "ACTION", "HELD", "MESSAGE ID", "REASON"]
    print(_table(headers, rows), file=out)
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
def _marks(incident: dict[str, Any]) -> list[str]:
    """``silenced``/``flapping`` while the incident's latest notification says so."""
    marks = []
    if incident.get("silenced_by"):
        marks.append("silenced")
    if incident.get("flapping_since"):
        marks.append("flapping")
    return marks


def _describe(incident: dict[str, Any], out: TextIO) -> None:
    fields = [
        ("Incident", incident["incident_id"]),
        ("Status", incident["status"]),
        ("Severity", incident.get("severity") or "-"),
        ("Alarm", incident.get("alarm_name", "")),
        ("Account / region", f"{incident.get('account') or '-'} / {incident.get('region') or '-'}"),
        ("Incident key", incident.get("incident_key", "")),
        ("Alerts", str(incident.get("alert_count", 0))),
        ("First seen (UTC)", _time(incident.get("first_seen_at"))),
        ("Last seen (UTC)", _time(incident.get("last_seen_at"))),
        ("Last state", incident.get("last_state", "")),
    ]
    if incident.get("silenced_by"):
        ids = ", ".join(incident["silenced_by"])
        until = _time(incident.get("silenced_until"))
        fields.append(("Silenced", f"by {ids} until {until} (nobody notified; all stored)"))
    if incident.get("flapping_since"):
        fields.append(("Flapping", f"since {_time(incident['flapping_since'])}"))
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


if __name__ == "__main__":
    raise SystemExit(main())
