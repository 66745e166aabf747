"""``alert-incidents silence``: maintenance windows from the terminal.

    alert-incidents silence add --match 'OTT-DB-*' --for 2h --comment "failover test" --by "$USER"
    alert-incidents silence add --match 'OTT-DB-CPU*' --start 2024-01-13T02:00+09:00 \\
        --end 2024-01-13T04:00+09:00 --account 123456789012 --region ap-northeast-2 \\
        --comment "index rebuild" --by kim
    alert-incidents silence list          # pending, active, ended in the last 30 days, time left
    alert-incidents silence expire SIL-20240112073000-a1b2c3 --by kim

``add_subcommands(subparsers, parents)`` adds the ``silence`` command to ``alert-incidents``; run
alone, ``python -m alert_service.silences.cli silence ...`` does the same. The table is ``--table``
or ``HISTORY_TABLE_NAME``. Times are shown in UTC.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO

from alert_service.silences.model import (
    Silence,
    SilenceError,
    SilenceStatus,
    describe,
    new_silence,
    parse_duration,
    parse_time,
)
from alert_service.silences.store import SilenceStore
from alert_service.terminal import dump as _dump
from alert_service.terminal import span as _span

# A silence that ended holding nothing: its pattern or scope was probably wrong (a typo hides
# nothing, and people believed they were covered) - or it was not needed.
NOTHING_MATCHED = "NOTHING MATCHED: this silence held no notification in its whole life"

Clock = Callable[[], datetime]


def add_subcommands(
    subparsers: Any, parents: Sequence[argparse.ArgumentParser] = (), clock: Clock | None = None
) -> None:
    """Add ``silence add|list|expire`` to ``subparsers`` (``parser.add_subparsers()``).

    ``parents``: the CLI's shared options (``--json``, ``--table``); added here when not given.
    Each leaf sets ``run(args, out) -> exit status`` like the other commands.
    """
    common = list(parents) or [_common()]
    now = clock or (lambda: datetime.now(UTC))
    silence = subparsers.add_parser(
        "silence", help="maintenance windows: notifications held, still stored"
    )
    commands = silence.add_subparsers(dest="silence_command", required=True)

    p = commands.add_parser("add", parents=common, help="hold notifications of matching alarms")
    p.add_argument("--match", required=True, help="alarm name glob, e.g. 'OTT-DB-*'")
    p.add_argument("--account", help="only alarms of this AWS account")
    p.add_argument("--region", help="only alarms of this region code (ap-northeast-2)")
    p.add_argument("--start", type=_time_arg, help="ISO time (default: now)")
    end = p.add_mutually_exclusive_group(required=True)
    end.add_argument("--for", dest="duration", type=_duration_arg, help="30m, 2h, 1d (max 7d)")
    end.add_argument("--end", type=_time_arg, help="ISO time, at most 7 days ahead")
    p.add_argument("--comment", required=True, help="why (required: others read it)")
    p.add_argument("--by", required=True, help="who (name or handle)")
    p.set_defaults(run=lambda args, out: _add(args, out, now()))

    p = commands.add_parser("list", parents=common, help="pending, active, recently ended")
    p.set_defaults(run=lambda args, out: _list(args, out, now()))

    p = commands.add_parser("expire", parents=common, help="end a silence now")
    p.add_argument("silence_id")
    p.add_argument("--by", required=True, help="who ends it")
    p.set_defaults(run=lambda args, out: _expire(args, out, now()))


def _common() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", help="machine-readable output")
    common.add_argument("--table", help="history table (default: $HISTORY_TABLE_NAME)")
    return common


def _time_arg(text: str) -> datetime:
    try:
        return parse_time(text)
    except SilenceError as error:
        raise argparse.ArgumentTypeError(str(error)) from error


def _duration_arg(text: str) -> timedelta:
    try:
        return parse_duration(text)
    except SilenceError as error:
        raise argparse.ArgumentTypeError(str(error)) from error


def _store(args: argparse.Namespace) -> SilenceStore:
    table = (getattr(args, "table", None) or os.environ.get("HISTORY_TABLE_NAME", "")).strip()
    if not table:
        raise SilenceError("set --table or HISTORY_TABLE_NAME")
    return SilenceStore(table)


def _add(args: argparse.Namespace, out: TextIO, now: datetime) -> int:
    silence = new_silence(
        match=args.match,
        created_by=args.by,
        comment=args.comment,
        now=now,
        starts_at=args.start,
        ends_at=args.end,
        duration=args.duration,
        account=args.account,
        region=args.region,
    )
    _store(args).add(silence)
    if args.json:
        return _dump(_entry(silence, now), out)
    print(f"{silence.id} added", file=out)
    _show(silence, now, out)
    return 0


def _list(args: argparse.Namespace, out: TextIO, now: datetime) -> int:
    order = {SilenceStatus.ACTIVE: 0, SilenceStatus.PENDING: 1, SilenceStatus.EXPIRED: 2}
    silences = sorted(
        _store(args).recent(now),
        key=lambda s: (order[s.status(now)], s.ends_at if s.ends_at > now else now - s.ends_at),
    )
    if args.json:
        return _dump([_entry(s, now) for s in silences], out)
    if not silences:
        print("no silences (none pending, active or ended in the last 30 days)", file=out)
    for silence in silences:
        _show(silence, now, out)
    return 0


def _expire(args: argparse.Namespace, out: TextIO, now: datetime) -> int:
    silence = _store(args).expire(args.silence_id, by=args.by, now=now)
    if args.json:
        return _dump(_entry(silence, now), out)
    print(f"{silence.id} expired by {args.by}", file=out)
    _show(silence, now, out)
    return 0


def _entry(silence: Silence, now: datetime) -> dict[str, Any]:
    status = silence.status(now)
    return {
        **describe(silence),
        "status": status.value,
        "seconds_left": _left(silence, now).total_seconds(),
        "matched_nothing": status is SilenceStatus.EXPIRED and silence.hits == 0,
    }


def _left(silence: Silence, now: datetime) -> timedelta:
    """Until it starts (pending), until it ends (active), 0 once ended."""
    status = silence.status(now)
    if status is SilenceStatus.PENDING:
        return silence.starts_at - now
    return max(silence.ends_at - now, timedelta(0))


def _show(silence: Silence, now: datetime, out: TextIO) -> None:
    status = silence.status(now)
    when = {
        SilenceStatus.PENDING: f"starts in {_span(silence.starts_at - now)}",
        SilenceStatus.ACTIVE: f"ends in {_span(silence.ends_at - now)}",
        SilenceStatus.EXPIRED: f"ended {_span(now - silence.ends_at)} ago",
    }[status]
    scope = ", ".join(
        part
        for part in (
            f"account {silence.account}" if silence.account else "",
            f"region {silence.region}" if silence.region else "",
        )
        if part
    )
    if silence.hits:
        held = f"{silence.hits} notification{'s' if silence.hits != 1 else ''}"
    elif status is SilenceStatus.EXPIRED:
        held = NOTHING_MATCHED
    else:
        held = "nothing yet"
    lines = [
        f"{silence.id}  {status.value}  {when}",
        f"  match    {silence.match}" + (f"  ({scope})" if scope else ""),
        f"  window   {_utc(silence.starts_at)} -> {_utc(silence.ends_at)}",
        f"  by       {silence.created_by}: {' '.join(silence.comment.split())}",
        f"  held     {held}",
    ]
    if silence.expired_by:
        lines.append(f"  expired  by {silence.expired_by}")
    print("\n".join(lines), file=out)


def _utc(moment: datetime) -> str:
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M} UTC"


def main(
    argv: Sequence[str] | None = None, *, out: TextIO | None = None, clock: Clock | None = None
) -> int:
    """Standalone entry point (0 ok, 1 refused or not found, 2 usage)."""
    parser = argparse.ArgumentParser(prog="alert-incidents", description="Silences.")
    add_subcommands(parser.add_subparsers(dest="command", required=True), clock=clock)
    args = parser.parse_args(argv)
    try:
        return int(args.run(args, out or sys.stdout))
    except SilenceError as error:
        print(f"alert-incidents: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
