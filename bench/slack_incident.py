"""The Slack incident view under an alarm storm, through the local pipeline, every outcome checked.

    python -m bench.slack_incident [--notifications 1000] [--alarms 20] [--minutes 10]
                                   [--window 5] [--single 100] [--seed 7]

Flapping notifications (bench.events) are handed to the built AlarmHistoryFunction in each
alarm's order; the history table's stream is read from moto and handed to the built
SlackIncidentFunction as Lambda's event source mapping would: the records of each ``--window``
seconds (MaximumBatchingWindowInSeconds) in batches of the template's BatchSize, the storm
arriving evenly over ``--minutes``. Every 7th batch is delivered twice (at least once).

Two runs: ``--single`` notifications one batch each (the cost of one notification: Slack calls and
the DynamoDB requests the projection adds, counted at moto by caller), then the storm.

Checks: exactly one root message per incident, one thread reply per later notification
(alert_count - 1; the resolving OK is one), and every card showing its incident's final status,
alert count and buttons (open) or none (resolved). Reports chat.update calls per minute of storm
time after coalescing, against one update per later notification without it.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from typing import Any

from bench import BUILD_DIR, events, server
from bench.runner import check_build, with_caller
from bench.server import caller_key
from local.pipeline import LocalPipeline
from local.runtime import Worker
from local.stream import deliver

HISTORY = "AlarmHistoryFunction"
VIEW = "SlackIncidentFunction"
REDELIVER_EVERY = 7


def run(
    notes: list[events.Note], *, window: float, minutes: float, batch_per_note: bool
) -> dict[str, Any]:
    from moto.moto_api._internal.models import moto_api_backend

    moto_api_backend.reset()  # moto's state is per process: start from nothing
    with LocalPipeline(functions=[HISTORY, VIEW], start_workers=False) as stack:
        counter = server.install(stack.aws)
        history = Worker(
            stack.specs[HISTORY],
            with_caller(stack.local_env(stack.specs[HISTORY]), HISTORY),
            build_dir=BUILD_DIR,
        )
        view = Worker(
            stack.specs[VIEW],
            with_caller(stack.local_env(stack.specs[VIEW]), VIEW),
            build_dir=BUILD_DIR,
        )
        try:
            for worker in (history, view):
                if not worker.init.ok:
                    raise SystemExit(f"{worker.spec.logical_id}: {worker.init.traceback}")
            stream = stack.streams[VIEW]
            batch_size = stack.specs[VIEW].streams[0].batch_size
            spacing = minutes * 60 / max(1, len(notes))  # seconds between notifications

            def slot(note: events.Note) -> int:
                return note.seq if batch_per_note else int(note.seq * spacing // window)

            groups: list[list[events.Note]] = []
            for note in notes:  # the notifications of one batching window
                if not groups or slot(groups[-1][-1]) != slot(note):
                    groups.append([])
                groups[-1].append(note)
            batches = 0
            failures: list[str] = []
            updates_by_minute: Counter[int] = Counter()

            def invoke(event: dict[str, Any]) -> tuple[bool, Any, Any]:
                nonlocal batches
                batches += 1
                result = view.invoke(event)
                if batches % REDELIVER_EVERY == 0:  # the same batch again
                    view.invoke(event)
                if not result.ok:
                    failures.append(f"view: {result.error_type}: {result.error_message}")
                return result.ok, result.result, None

            began = time.perf_counter()
            for group in groups:
                for note in group:
                    done = history.invoke(events.sns_event(note, events.alarm_index(note)))
                    if not done.ok:
                        failures.append(f"history seq {note.seq}: {done.error_message}")
                minute = int(group[-1].seq * spacing // 60)
                before = len(stack.slack_api.ok_calls("chat.update"))
                run_ = deliver(stream.read(), invoke, batch_size=batch_size, max_retries=2)
                failures += [f"gave up on {r['dynamodb']['SequenceNumber']}" for r in run_.given_up]
                updates_by_minute[minute] += len(stack.slack_api.ok_calls("chat.update")) - before
            wall = time.perf_counter() - began
        finally:
            history.close()
            view.close()
        problems = failures + check(stack)
        calls = Counter(c.method for c in stack.slack_api.calls if c.answer.get("ok"))
        requests = counter.by_operation(caller_key(VIEW))
    n = len(notes)
    dynamodb = {op: c for op, c in requests.items() if op.startswith("dynamodb:")}
    roots = [m for m in stack.slack_api.roots() if "INC-" in str(m.payload.get("text"))]
    incidents = len(roots)
    later = sum(
        len(m.replies) for m in roots
    )  # changes after the root: one update each, uncoalesced
    return {
        "notifications": n,
        "incidents": incidents,
        "batches": batches,
        "wall_seconds": round(wall, 1),
        "slack_calls": dict(calls),
        "chat_postMessage_per_notification": round(calls["chat.postMessage"] / n, 3),
        "chat_update_per_notification": round(calls["chat.update"] / n, 3),
        "chat_update_without_coalescing": later,
        "chat_update_per_minute_avg": round(calls["chat.update"] / max(minutes, 1e-9), 1),
        "chat_update_per_minute_max": max(updates_by_minute.values(), default=0),
        "dynamodb_requests_per_notification": round(sum(dynamodb.values()) / n, 2),
        "dynamodb_requests_by_operation": dict(sorted(dynamodb.items())),
        "other_aws_requests": {op: c for op, c in requests.items() if op not in dynamodb},
        "problems": problems,
    }


def check(stack: LocalPipeline) -> list[str]:
    """One root per incident, alert_count - 1 replies, the final state on every card."""
    table = stack.specs[HISTORY].environment["HISTORY_TABLE_NAME"]
    ddb = stack.aws.client("dynamodb")
    items: list[dict[str, Any]] = []
    start: dict[str, Any] | None = None
    while True:  # the harness may scan; the functions never do
        page = ddb.scan(TableName=table, **({"ExclusiveStartKey": start} if start else {}))
        items += page["Items"]
        start = page.get("LastEvaluatedKey")
        if not start:
            break
    incidents = {i["incident_id"]["S"]: i for i in items if i.get("sk", {}).get("S") == "META"}
    roots: dict[str, Any] = {}
    problems = []
    for message in stack.slack_api.roots():
        parts = str(message.payload.get("text", "")).split(" · ")
        incident = parts[1] if len(parts) > 1 else ""
        if incident in roots:
            problems.append(f"{incident}: two root messages")
        roots[incident] = message
    for incident, item in incidents.items():
        message = roots.get(incident)
        if message is None:
            problems.append(f"{incident}: no root message")
            continue
        count, status = int(item["alert_count"]["N"]), item["status"]["S"]
        if len(message.replies) != count - 1:
            problems.append(f"{incident}: {len(message.replies)} replies for {count} alerts")
        text = json.dumps(message.payload, ensure_ascii=False)
        head = str(message.payload.get("text", "")).split(" · ")
        if head[2:3] != [status] or not head[-1].endswith(f" {count}"):
            problems.append(f"{incident}: card says {head[2:]} not {status}/{count}")
        if ("incident_ack" in text) == (status == "resolved"):
            problems.append(f"{incident}: buttons do not match status {status}")
        if item.get("slack_ts", {}).get("S") != message.ts:
            problems.append(f"{incident}: slack_ts not kept on the incident item")
    extra = set(roots) - set(incidents)
    if extra:
        problems.append(f"root messages without an incident: {sorted(extra)[:3]}")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.slack_incident", description=__doc__)
    parser.add_argument("--notifications", type=int, default=1000)
    parser.add_argument("--alarms", type=int, default=20)
    parser.add_argument("--minutes", type=float, default=10.0, help="storm duration")
    parser.add_argument("--window", type=float, default=5.0, help="batching window, seconds")
    parser.add_argument("--single", type=int, default=100, help="notifications, one batch each")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    check_build()
    results = {}
    if args.single:
        notes = events.flapping(args.single, alarms=args.alarms, seed=args.seed)
        results["single"] = run(notes, window=1.0, minutes=args.minutes, batch_per_note=True)
    notes = events.flapping(args.notifications, alarms=args.alarms, seed=args.seed)
    results["storm"] = run(notes, window=args.window, minutes=args.minutes, batch_per_note=False)
    print(json.dumps(results, indent=2, ensure_ascii=False))
    return 1 if any(r["problems"] for r in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
