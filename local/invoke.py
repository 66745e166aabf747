"""``make invoke FN=<LogicalId> EVENT=events/<file>.json``: one built function, one event.

Like ``sam local invoke <Function> -e <event>`` without Docker: the event is handed to the built
function unchanged (its MessageIds kept), in a fresh worker process as Lambda loads it, against
the local AWS endpoint (moto) and the loopback Slack. Prints the result, the function's log lines
and what Slack, SES and SNS received. Exit status 1 if the invocation failed.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from local.demo import print_slack
from local.pipeline import LocalPipeline
from local.runtime import RuntimeMissing


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.invoke", description=__doc__)
    parser.add_argument("function", help="logical id in template.yaml, e.g. SlackRelayFunction")
    parser.add_argument("event", type=Path, help="an SNS Lambda event, e.g. events/cpu_alarm.json")
    args = parser.parse_args(argv)
    event = json.loads(args.event.read_text(encoding="utf-8"))
    try:
        stack = LocalPipeline(functions=[args.function], start_workers=False)
    except RuntimeMissing as error:
        print(f"invoke: {error}", file=sys.stderr)
        return 2
    with stack:
        if args.function not in stack.specs:
            known = ", ".join(s.logical_id for s in stack.template.functions())
            print(f"invoke: {args.function} is not a function of template.yaml ({known})")
            return 2
        with stack.fresh_worker(args.function) as worker:
            init = worker.init
            print(f"{args.function}: init {init.init_ms:.0f} ms", end="")
            delivery = stack.direct(args.function, event, worker=worker)
        inv = delivery.invocation
        print(f", invocation {inv.duration_ms:.0f} ms")
        for line in init.logs + inv.logs:
            print(f"  log | {line}")
        if inv.ok:
            print("result:", json.dumps(inv.result, ensure_ascii=False, default=str))
        else:
            print(f"error: {inv.error_type}: {inv.error_message}")
            if inv.traceback:
                print(inv.traceback.rstrip())
        for post in delivery.slack:
            print("Slack <- POST")
            print_slack(post.payload, prefix="  ")
        for mail in delivery.emails:
            print(f"SES email -> {mail.get('destinations')}  subject: {mail.get('subject')}")
        for sms in delivery.sms:
            print(f"SNS SMS -> {sms.get('phone_number')}: {sms.get('message')}")
        if not (delivery.slack or delivery.emails or delivery.sms):
            print("(no Slack post, email or SMS)")
        return 0 if inv.ok else 1


if __name__ == "__main__":
    sys.exit(main())
