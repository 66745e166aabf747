"""Click-to-200 of the built SlackActionsFunction: cold and warm (issue 11: Slack gives 3 s).

    python -m bench.click [--cold 10] [--warm 200]

Runs the built function as Lambda loads it (local.runtime's worker: the built function, the built
layer and boto3 only) against moto and the loopback Slack (which takes the ephemeral replies),
with signed Function URL events exactly as Slack sends them (local/slack_click.py). Incidents are
opened by the built AlarmHistoryFunction from synthetic alarms (bench/events.py).

- cold: ``--cold`` fresh workers; each imports the handler (init) and handles one Acknowledge on
  its own incident (first click). Cold click-to-200 = init + first click, measured inside the
  worker; "wall" adds the interpreter's own start, as seen from outside.
- warm: one worker, a first click not counted, then ``--warm`` clicks (Acknowledge then Resolve
  on each of ``--warm / 2`` incidents): p50/p95 of the handler's duration.

Every click must answer 200 and change its incident; the numbers go to stdout (markdown) and
bench/out/click.json.
"""

from __future__ import annotations

import argparse
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from bench import OUT_DIR, events, stats
from local.pipeline import LocalPipeline
from local.runtime import Worker
from local.slack_click import ACK, RESOLVE, click

FUNCTION = "SlackActionsFunction"
HISTORY = "AlarmHistoryFunction"
SECRET_NAME = "ott/slack/app"
SIGNING_SECRET = "bench-signing-secret-0123456789abcdef"
SLACK_DEADLINE_MS = 3000.0


def open_incidents(stack: LocalPipeline, count: int, start: int) -> list[str]:
    """``count`` new incidents, opened by the built history function; their ids."""
    ids = []
    ddb = stack.aws.client("dynamodb")
    table = stack.specs[HISTORY].environment["HISTORY_TABLE_NAME"]
    for n in range(start, start + count):
        note = events.Note(
            message_id=str(uuid.uuid4()),
            alarm_name=f"OTT-DB-Click-{n:04d}",
            state="ALARM",
            previous_state="OK",
            at=datetime(2024, 3, 1, tzinfo=UTC) + timedelta(minutes=n),
            seq=n,
        )
        inv = stack.direct(HISTORY, events.sns_event(note, n)).invocation
        if not inv.ok:
            raise SystemExit(f"{HISTORY} failed: {inv.error_message}")
        item = ddb.get_item(
            TableName=table, Key={"pk": {"S": f"MSG#{note.message_id}"}, "sk": {"S": "EVENT"}}
        )["Item"]
        ids.append(item["incident_id"]["S"])
    return ids


def press(stack: LocalPipeline, worker: Worker, incident_id: str, action: str) -> Any:
    inv = click(
        worker,
        incident_id,
        signing_secret=SIGNING_SECRET,
        action_id=action,
        response_url=f"{stack.slack.base_url}/actions/T0BENCH/1/click",
    )
    if not inv.ok or inv.result != {"statusCode": 200}:
        raise SystemExit(f"click on {incident_id} failed: {inv.error_message or inv.result}")
    replies = stack.slack.take()
    expected = "You acknowledged" if action == ACK else "You resolved"
    if len(replies) != 1 or expected not in replies[0].payload.get("text", ""):
        raise SystemExit(f"click on {incident_id}: reply {[r.payload for r in replies]}")
    return inv


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.click", description=__doc__)
    parser.add_argument("--cold", type=int, default=10, help="fresh workers (default 10)")
    parser.add_argument("--warm", type=int, default=200, help="warm clicks (default 200)")
    args = parser.parse_args(argv)

    with LocalPipeline(
        parameters={"SlackAppSecretName": SECRET_NAME, "Locale": "en"},
        functions=[HISTORY, FUNCTION],
        start_workers=False,
    ) as stack:
        stack.aws.create_secret(
            SECRET_NAME,
            {"bot_token": "xoxb-bench", "signing_secret": SIGNING_SECRET, "channel": "C0BENCH"},
        )
        stack.start_workers()
        cold_ids = open_incidents(stack, args.cold, 0)
        pairs = max(1, args.warm // 2)
        warm_ids = open_incidents(stack, pairs + 1, args.cold)

        cold: list[dict[str, float]] = []
        for incident_id in cold_ids:
            with stack.fresh_worker(FUNCTION) as worker:
                init = worker.init
                if not init.ok:
                    raise SystemExit(f"{FUNCTION} failed to import: {init.error_message}")
                inv = press(stack, worker, incident_id, ACK)
            cold.append(
                {
                    "init_ms": init.init_ms,
                    "first_click_ms": inv.duration_ms,
                    "click_to_200_ms": init.init_ms + inv.duration_ms,
                    "wall_ms": init.startup_ms + inv.duration_ms,
                }
            )

        worker = stack.workers[FUNCTION]
        press(stack, worker, warm_ids[0], ACK)  # the worker's first click: not counted
        warm: list[float] = []
        for incident_id in warm_ids[1:]:
            for action in (ACK, RESOLVE):
                warm.append(press(stack, worker, incident_id, action).duration_ms)

    result = {
        "cold": {key: stats.summary([c[key] for c in cold]) for key in cold[0]},
        "warm": {
            "n": len(warm),
            "p50_ms": stats.percentile(warm, 0.5),
            "p95_ms": stats.percentile(warm, 0.95),
            "max_ms": max(warm),
        },
    }
    OUT_DIR.mkdir(exist_ok=True)
    (OUT_DIR / "click.json").write_text(json.dumps(result, indent=2), encoding="utf-8")
    print(f"SlackActionsFunction click-to-200 ({len(cold)} cold, {len(warm)} warm clicks)\n")
    print("| measure | median ms | q1-q3 ms | max ms |")
    print("|---|---|---|---|")
    for key, label in (
        ("init_ms", "cold: import of the handler"),
        ("first_click_ms", "cold: first click"),
        ("click_to_200_ms", "cold: click-to-200 (import + first click)"),
        ("wall_ms", "cold: with interpreter start"),
    ):
        s = result["cold"][key]
        print(f"| {label} | {s['median']:.0f} | {s['q1']:.0f}-{s['q3']:.0f} | {s['max']:.0f} |")
    w = result["warm"]
    print(f"\nwarm: p50 {w['p50_ms']:.1f} ms, p95 {w['p95_ms']:.1f} ms, max {w['max_ms']:.1f} ms")
    worst = result["cold"]["wall_ms"]["max"]
    print(f"Slack's deadline {SLACK_DEADLINE_MS:.0f} ms: worst cold wall {worst:.0f} ms")
    return 0 if worst < SLACK_DEADLINE_MS else 1


if __name__ == "__main__":
    raise SystemExit(main())
