"""``alert-incidents digest``: the daily digest's report for any period, on the terminal.

    alert-incidents digest [--since T] [--until T] [--format text|slack|html|json] [--table NAME]

``T`` is a date (``2024-01-12``: midnight in ALERT_TIMEZONE) or a time with its offset
(``2024-01-12T09:00+09:00``). Default: the 24 hours before now; a report that ends now (no
``--until``) also lists the alarms flapping now and the silences ending within a day.
``--format html`` prints the email as it would be sent (open it in a browser); ``slack`` the Block
Kit message; ``json`` the figures.
The read cost (requests, items, read units) goes to stderr. Query and GetItem only.

Also installed as its own console script, ``alert-digest``; ``main(argv)`` takes the arguments
after ``digest``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from datetime import UTC, date, datetime
from datetime import time as day_time
from typing import TextIO

from alert_service import config
from alert_service.digest import DAY, HistoryReader, collect, quiet_now, render


def _moment(text: str) -> datetime:
    """A date (midnight in ALERT_TIMEZONE) or an ISO time; a time without offset is UTC."""
    try:
        day = date.fromisoformat(text)
    except ValueError:
        pass
    else:
        return datetime.combine(day, day_time(0), tzinfo=config.display_settings().timezone)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date or ISO time: {text!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="alert-incidents digest",
        description="The daily digest's report (incidents, MTTA, MTTR, noisiest) for a period.",
    )
    p.add_argument("--since", type=_moment, help="start (default: 24 h before --until)")
    p.add_argument("--until", type=_moment, help="end, excluded (default: now)")
    p.add_argument("--format", choices=("text", "slack", "html", "json"), default="text")
    p.add_argument("--json", action="store_true", help="same as --format json")
    p.add_argument("--table", help="history table (default: $HISTORY_TABLE_NAME)")
    return p


def main(argv: Sequence[str] | None = None, *, out: TextIO | None = None) -> int:
    """0 ok, 1 a bad period, 2 usage."""
    out = out or sys.stdout
    args = parser().parse_args(argv)
    table = args.table or config.env("HISTORY_TABLE_NAME")
    if not table:
        print("alert-incidents digest: set --table or HISTORY_TABLE_NAME", file=sys.stderr)
        return 2
    until = args.until or datetime.now(UTC)
    since = args.since or until - DAY
    display = config.display_settings()
    reader = HistoryReader(table)
    started = time.perf_counter()
    # "Flapping now" and "ending soon" describe the present: only for a report that ends now.
    flapping, ending = quiet_now(reader, until) if args.until is None else ([], [])
    try:
        report = collect(
            reader, since=since, until=until, flapping=flapping, silences_ending=ending
        )
    except ValueError as error:
        print(f"alert-incidents digest: {error}", file=sys.stderr)
        return 1
    elapsed = time.perf_counter() - started
    fmt = "json" if args.json else args.format
    if fmt == "json":
        out.write(json.dumps(report.as_json(), ensure_ascii=False, indent=2) + "\n")
    elif fmt == "slack":
        text, blocks = render.slack(report, display)
        out.write(json.dumps({"text": text, "blocks": blocks}, ensure_ascii=False, indent=2) + "\n")
    elif fmt == "html":
        out.write(render.email(report, display).html + "\n")
    else:
        out.write(render.email(report, display).text)
    cost = reader.cost
    print(
        f"read {cost.items:,} items in {cost.requests:,} queries, {cost.bytes / 1e6:.1f} MB, "
        f"{cost.read_units:,.1f} read units, {elapsed:.2f} s",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
