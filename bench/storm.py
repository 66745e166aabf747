"""An alarm storm through the local pipeline, with every outcome checked.

    python -m bench.storm [--notifications 1000] [--alarms 20] [--concurrency 4] [--redeliver 50]

``--notifications`` CloudWatch notifications over ``--alarms`` alarms that flap (ALARM/OK, some
INSUFFICIENT_DATA) are published to the topic in moto (PublishBatch); moto fans each out to one
SQS queue per function (local.pipeline's subscriptions); every queued envelope becomes the SNS
Lambda event and is handled by ``--concurrency`` warm workers per function, the built code in
local.runtime's workers. ``--redeliver`` envelopes are delivered a second time (SNS delivers at
least once). A failed invocation is retried twice, as Lambda retries asynchronous invocations.

Each alarm's notifications reach the history function in the order CloudWatch emitted them
(minutes apart in reality): they are partitioned by alarm across the history workers, so
concurrency is across alarms. Slack and fan-out take them in any order.

Checks: every notification stored once (a Query per UTC day on gsi1), incidents exactly as the
sequence implies (ids, status, alert_count, per alarm via gsi2), the loopback Slack got exactly one
post per notification, SES and SNS-SMS sent exactly what EMAIL_STATES / SMS_STATES imply.
Reports wall time and the functions' AWS requests per notification (counted at moto).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import queue
import random
import re
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from bench import BUILD_DIR, FUNCTIONS, OUT_DIR, events, server
from bench.runner import check_build, with_caller
from bench.server import caller_key
from local.pipeline import LocalPipeline, sns_lambda_event
from local.runtime import Worker

MAX_ATTEMPTS = 3  # Lambda: the first invocation and two retries
FANOUT = "NotifyFanoutFunction"
HISTORY = "AlarmHistoryFunction"
_TOKEN = re.compile(re.escape(events.TOKEN_PREFIX) + r"(\d{6})")


@dataclass
class Expected:
    """What the history must hold for one alarm, from its sequence of states."""

    incidents: list[dict[str, Any]] = field(default_factory=list)  # id, status, alert_count
    incident_of: dict[int, str | None] = field(default_factory=dict)  # seq -> incident id


def incident_key(name: str) -> str:
    text = f"{events.ACCOUNT}|{events.REGION}|{name}"  # CONTRACT: account|region code|AlarmName
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def expected_history(notes: list[events.Note]) -> dict[str, Expected]:
    """CONTRACT: ALARM opens an incident or joins the open one, OK resolves the open one,
    INSUFFICIENT_DATA joins an open one; alert_count counts the distinct notifications."""
    out: dict[str, Expected] = {}
    open_incident: dict[str, dict[str, Any]] = {}
    for note in notes:  # in publish order, which is each alarm's time order
        exp = out.setdefault(note.alarm_name, Expected())
        current = open_incident.get(note.alarm_name)
        if current is None and note.state == "ALARM":
            key = incident_key(note.alarm_name)
            current = {
                "incident_id": f"INC-{note.at:%Y%m%d%H%M%S}-{key}",
                "status": "active",
                "alert_count": 1,
            }
            exp.incidents.append(current)
            open_incident[note.alarm_name] = current
        elif current is not None:
            current["alert_count"] += 1
            if note.state == "OK":
                current["status"] = "resolved"
                del open_incident[note.alarm_name]
        else:
            exp.incident_of[note.seq] = None
            continue
        exp.incident_of[note.seq] = current["incident_id"]
    return out


@dataclass
class Delivery:
    function: str
    seq: int
    event: dict[str, Any]
    attempt: int = 1


class FunctionPool:
    """``size`` warm workers of one function; each thread drives its own worker."""

    def __init__(self, stack: LocalPipeline, logical_id: str, size: int) -> None:
        spec = stack.specs[logical_id]
        env = with_caller(stack.local_env(spec), logical_id)
        self.logical_id = logical_id
        self.workers = [Worker(spec, env, build_dir=BUILD_DIR) for _ in range(size)]
        self.invocations = 0
        self.retries = 0
        self.failures: list[str] = []
        self._lock = threading.Lock()

    def wait_ready(self) -> None:
        for worker in self.workers:
            if not worker.init.ok:
                raise SystemExit(f"{self.logical_id}: init failed\n{worker.init.traceback}")

    def run(self, lanes: list[queue.Queue[Delivery | None]]) -> list[threading.Thread]:
        threads = [
            threading.Thread(target=self._drive, args=(worker, lane), daemon=True)
            for worker, lane in zip(self.workers, lanes, strict=True)
        ]
        for thread in threads:
            thread.start()
        return threads

    def _drive(self, worker: Worker, lane: queue.Queue[Delivery | None]) -> None:
        while (item := lane.get()) is not None:
            invocation = worker.invoke(item.event)
            with self._lock:
                self.invocations += 1
            if invocation.ok:
                continue
            reason = f"{invocation.error_type}: {(invocation.error_message or '')[:300]}"
            if item.attempt < MAX_ATTEMPTS:
                # Lambda retries after a delay; the same lane keeps the alarm's order for history.
                with self._lock:
                    self.retries += 1
                time.sleep(0.05 * item.attempt)
                lane.put(Delivery(item.function, item.seq, item.event, item.attempt + 1))
            else:
                with self._lock:
                    self.failures.append(f"seq {item.seq}: {reason}")

    def close(self) -> None:
        for worker in self.workers:
            worker.close()


def publish(stack: LocalPipeline, notes: list[events.Note]) -> dict[str, int]:
    """PublishBatch to the topic, 10 at a time; returns the SNS MessageId -> seq."""
    sns = stack.aws.client("sns")
    topic = stack.topics["AlarmTopic"]
    by_id: dict[str, int] = {}
    for start in range(0, len(notes), 10):
        chunk = notes[start : start + 10]
        response = sns.publish_batch(
            TopicArn=topic,
            PublishBatchRequestEntries=[
                {
                    "Id": str(note.seq),
                    "Message": json.dumps(
                        events.message(note, events.alarm_index(note)), ensure_ascii=False
                    ),
                    "Subject": events.subject(note),
                }
                for note in chunk
            ],
        )
        if response.get("Failed"):
            raise SystemExit(f"publish failed: {response['Failed'][:3]}")
        for entry in response["Successful"]:
            by_id[entry["MessageId"]] = int(entry["Id"])
    return by_id


def drain(
    stack: LocalPipeline, logical_id: str, seq_of: dict[str, int], expected: int
) -> list[Delivery]:
    """The ``expected`` envelopes queued for one function, as SNS Lambda events, in publish
    order (stops early if the queue runs dry)."""
    sqs = stack.aws.client("sqs")
    queue_url, subscription_arn = stack.queues[logical_id]
    out: list[Delivery] = []
    while len(out) < expected:
        messages = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0
        ).get("Messages", [])
        if not messages:
            break
        for message in messages:
            envelope = json.loads(message["Body"])
            out.append(
                Delivery(
                    logical_id,
                    seq_of[envelope["MessageId"]],
                    sns_lambda_event(envelope, subscription_arn),
                )
            )
        sqs.delete_message_batch(
            QueueUrl=queue_url,
            Entries=[
                {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(messages)
            ],
        )
    out.sort(key=lambda d: d.seq)
    return out


class Dispatcher:
    """Hands each queued delivery to a worker lane, and schedules the redeliveries."""

    def __init__(
        self,
        pools: dict[str, FunctionPool],
        notes: list[events.Note],
        redeliver: set[int],
        rng: random.Random,
    ) -> None:
        self.lanes = {
            lid: [queue.Queue[Delivery | None]() for _ in pool.workers]
            for lid, pool in pools.items()
        }
        self.notes = notes
        self.redeliver = redeliver
        self.rng = rng
        self.dispatched: Counter[str] = Counter()
        self.pending: list[tuple[int, Delivery]] = []  # (due at dispatch count, second copy)
        self.queued: Counter[str] = Counter()

    def lane(self, item: Delivery) -> int:
        size = len(self.lanes[item.function])
        if item.function == HISTORY:  # an alarm's notifications in order, on one worker
            return events.alarm_index(self.notes[item.seq]) % size
        return self.dispatched[item.function] % size  # round robin

    def put(self, item: Delivery) -> None:
        self.queued[item.function] += 1
        self._send(item)
        if item.seq in self.redeliver:
            # SNS delivers at least once: a second copy 1-100 deliveries later. For Slack and
            # fan-out it may land on another worker while the first is still in flight.
            due = self.dispatched[item.function] + self.rng.randint(1, 100)
            self.pending.append((due, Delivery(item.function, item.seq, item.event)))
        self._release(lambda due, fn: due <= self.dispatched[fn])

    def finish(self) -> None:
        self._release(lambda due, fn: True)
        for lanes in self.lanes.values():
            for lane in lanes:
                lane.put(None)

    def _send(self, item: Delivery) -> None:
        self.lanes[item.function][self.lane(item)].put(item)
        self.dispatched[item.function] += 1

    def _release(self, ready: Any) -> None:
        keep = []
        for due, item in self.pending:
            if ready(due, item.function):
                self._send(item)
            else:
                keep.append((due, item))
        self.pending = keep


# --- checks ------------------------------------------------------------------------------------
def query_all(ddb: Any, **kwargs: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    while True:
        response = ddb.query(**kwargs)
        items.extend(response.get("Items", []))
        if not response.get("LastEvaluatedKey"):
            return items
        kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]


def check_history(
    stack: LocalPipeline, notes: list[events.Note], seq_of: dict[str, int]
) -> list[str]:
    problems: list[str] = []
    ddb = stack.aws.client("dynamodb")
    table = stack.tables["AlarmHistoryTable"]
    first, last = min(n.at for n in notes).date(), max(n.at for n in notes).date()
    stored: Counter[int] = Counter()
    incident_of: dict[int, str | None] = {}
    day: date = first
    while day <= last:  # one Query per UTC day (gsi1 DAY#<date>), as the history is read
        for item in query_all(
            ddb,
            TableName=table,
            IndexName="gsi1",
            KeyConditionExpression="gsi1pk = :pk",
            ExpressionAttributeValues={":pk": {"S": f"DAY#{day.isoformat()}"}},
        ):
            seq = seq_of.get(item["message_id"]["S"])
            if seq is None:
                problems.append(f"unexpected event item {item['message_id']['S']}")
                continue
            stored[seq] += 1
            incident_of[seq] = item["incident_id"]["S"] if "incident_id" in item else None
        day += timedelta(days=1)
    missing = [n.seq for n in notes if stored[n.seq] == 0]
    twice = [seq for seq, count in stored.items() if count > 1]
    if missing:
        problems.append(f"{len(missing)} notifications not stored, e.g. seq {missing[:5]}")
    if twice:
        problems.append(f"{len(twice)} notifications stored more than once, e.g. {twice[:5]}")

    expected = expected_history(notes)
    for name, exp in sorted(expected.items()):
        key = incident_key(name)
        found = query_all(
            ddb,
            TableName=table,
            IndexName="gsi2",
            KeyConditionExpression="gsi2pk = :pk",
            ExpressionAttributeValues={":pk": {"S": f"ALARM#{key}"}},
        )
        actual = sorted(
            (
                {
                    "incident_id": i["incident_id"]["S"],
                    "status": i["status"]["S"],
                    "alert_count": int(i["alert_count"]["N"]),
                }
                for i in found
            ),
            key=lambda i: i["incident_id"],
        )
        wanted = sorted(exp.incidents, key=lambda i: i["incident_id"])
        if actual != wanted:
            diff = [(a, w) for a, w in zip(actual, wanted, strict=False) if a != w][:2]
            problems.append(
                f"{name}: {len(actual)} incidents stored, {len(wanted)} expected; first "
                f"differences (stored, expected): {diff}"
            )
        for seq, incident in exp.incident_of.items():
            if seq in incident_of and incident_of[seq] != incident:
                problems.append(
                    f"seq {seq} ({name}) belongs to {incident_of[seq]}, expected {incident}"
                )
                break
    return problems


def check_slack(stack: LocalPipeline, notes: list[events.Note]) -> tuple[int, list[str]]:
    posts = stack.slack.posts
    tokens: Counter[int] = Counter()
    for post in posts:
        found = _TOKEN.findall(post.body.decode("utf-8", "replace"))
        tokens.update({int(t) for t in found})
    problems = []
    if len(posts) != len(notes):
        problems.append(f"Slack got {len(posts)} posts for {len(notes)} notifications")
    missing = [n.seq for n in notes if tokens[n.seq] == 0]
    twice = [seq for seq, count in tokens.items() if count > 1]
    if missing:
        problems.append(f"{len(missing)} notifications never posted, e.g. seq {missing[:5]}")
    if twice:
        problems.append(f"{len(twice)} notifications posted more than once, e.g. {twice[:5]}")
    return len(posts), problems


def check_fanout(
    stack: LocalPipeline, notes: list[events.Note]
) -> tuple[dict[str, int], list[str]]:
    env = stack.specs[FANOUT].environment | stack.local_env(stack.specs[FANOUT])
    emails = [a for a in env.get("EMAIL_RECIPIENTS", "").split(",") if a.strip()]
    numbers = [n for n in env.get("SMS_RECIPIENTS", "").split(",") if n.strip()]
    email_states = set((env.get("EMAIL_STATES") or "ALARM,OK").split(","))
    sms_states = set((env.get("SMS_STATES") or "ALARM").split(","))
    want_email = sum(n.state in email_states for n in notes) * len(emails)
    want_sms = sum(n.state in sms_states for n in notes) * len(numbers)
    # moto runs in this process: read its backends (moto-api/data.json would serialize every
    # table too, which takes longer than its client's timeout after a storm).
    from moto.ses.models import ses_backends
    from moto.sns.models import sns_backends

    sent = {
        "emails": len(ses_backends[events.ACCOUNT][events.REGION].sent_messages),
        "sms": len(sns_backends[events.ACCOUNT][events.REGION].sms_messages),
    }
    problems = []
    if sent["emails"] != want_email:
        problems.append(f"SES sent {sent['emails']} emails, expected {want_email}")
    if sent["sms"] != want_sms:
        problems.append(f"SNS sent {sent['sms']} SMS, expected {want_sms}")
    return sent, problems


# --- the run -----------------------------------------------------------------------------------
def run(count: int, alarms: int, concurrency: int, redeliveries: int, seed: int) -> dict[str, Any]:
    notes = events.flapping(count, alarms=alarms, seed=seed)
    rng = random.Random(seed)
    redeliver = set(rng.sample(range(count), min(redeliveries, count)))
    # moto's state is per process, not per server: start from nothing (python -m bench ran first).
    from moto.moto_api._internal.models import moto_api_backend

    moto_api_backend.reset()
    with LocalPipeline(functions=FUNCTIONS, start_workers=False) as stack:
        counter = server.install(stack.aws)
        pools = {lid: FunctionPool(stack, lid, concurrency) for lid in FUNCTIONS}
        try:
            for pool in pools.values():
                pool.wait_ready()
            dispatcher = Dispatcher(pools, notes, redeliver, rng)
            threads = [t for lid, pool in pools.items() for t in pool.run(dispatcher.lanes[lid])]
            began = time.perf_counter()
            seq_of: dict[str, int] = {}
            # SNS -> SQS as it happens: each batch is published, then every function's queue is
            # drained into its workers, which are busy with the previous batches meanwhile.
            # (moto's SQS scans the whole queue on every send and receive: short queues.)
            for start in range(0, count, 10):
                batch = notes[start : start + 10]
                seq_of.update(publish(stack, batch))
                for lid in FUNCTIONS:
                    for item in drain(stack, lid, seq_of, len(batch)):
                        dispatcher.put(item)
            published = time.perf_counter()
            dispatcher.finish()
            for thread in threads:
                thread.join()
            finished = time.perf_counter()
        finally:
            for pool in pools.values():
                pool.close()

        problems: list[str] = []
        for lid, pool in pools.items():
            if dispatcher.queued[lid] != count:
                problems.append(f"{lid}: {dispatcher.queued[lid]} messages queued, not {count}")
            problems += [f"{lid}: gave up on {f}" for f in pool.failures[:5]]
        problems += check_history(stack, notes, seq_of)
        posts, slack_problems = check_slack(stack, notes)
        problems += slack_problems
        sent, fanout_problems = check_fanout(stack, notes)
        problems += fanout_problems
        requests = {lid: counter.by_operation(caller_key(lid)) for lid in FUNCTIONS}
        harness = counter.by_operation(server.HARNESS)

    expected = expected_history(notes)
    total_requests = sum(sum(c.values()) for c in requests.values())
    return {
        "notifications": count,
        "alarms": alarms,
        "concurrency_per_function": concurrency,
        "redeliveries": len(redeliver),
        "states": dict(Counter(n.state for n in notes)),
        "incidents_expected": sum(len(e.incidents) for e in expected.values()),
        "incidents_open_expected": sum(
            1 for e in expected.values() for i in e.incidents if i["status"] == "active"
        ),
        "wall_seconds": finished - began,
        "publish_seconds": published - began,  # the last batch published and queued
        "tail_seconds": finished - published,  # handling what was still queued then
        "invocations": {lid: pool.invocations for lid, pool in pools.items()},
        "retries": {lid: pool.retries for lid, pool in pools.items()},
        "slack_posts": posts,
        "sent": sent,
        "aws_requests_per_notification": total_requests / count,
        "aws_requests_per_notification_by_function": {
            lid: sum(c.values()) / count for lid, c in requests.items()
        },
        "aws_requests_by_function": {lid: dict(c.most_common()) for lid, c in requests.items()},
        "harness_requests": dict(harness.most_common()),
        "problems": problems,
    }


def table(r: dict[str, Any]) -> str:
    per = r["aws_requests_per_notification_by_function"]
    lines = [
        f"### Storm: {r['notifications']} notifications, {r['alarms']} alarms, "
        f"{r['concurrency_per_function']} workers per function, {r['redeliveries']} redelivered",
        "",
        "| measure | value |",
        "|---|---|",
        f"| states published | {', '.join(f'{k} {v}' for k, v in sorted(r['states'].items()))} |",
        f"| wall time, first publish to last handler | {r['wall_seconds']:.1f} s "
        f"(all published and queued after {r['publish_seconds']:.1f} s) |",
        f"| throughput | {r['notifications'] / r['wall_seconds']:.0f} notifications/s "
        f"(each through 3 functions) |",
        f"| AWS requests per notification (all functions) | "
        f"{r['aws_requests_per_notification']:.2f} |",
    ]
    for lid, value in per.items():
        ops = ", ".join(
            f"{op} {n / r['notifications']:.2f}"
            for op, n in r["aws_requests_by_function"][lid].items()
        )
        lines.append(f"| … {lid} | {value:.2f} ({ops}) |")
    lines += [
        f"| invocations (incl. redeliveries, retries) | "
        f"{', '.join(f'{k} {v}' for k, v in r['invocations'].items())} |",
        f"| retries | {', '.join(f'{k} {v}' for k, v in r['retries'].items())} |",
        f"| incidents expected (still open) | {r['incidents_expected']} "
        f"({r['incidents_open_expected']}) |",
        f"| Slack posts | {r['slack_posts']} |",
        f"| emails / SMS sent | {r['sent']['emails']} / {r['sent']['sms']} |",
        "",
        "Checks: "
        + (
            "PASS (stored once each, incidents exact, one Slack post each, email/SMS counts exact)"
            if not r["problems"]
            else "FAIL"
        ),
    ]
    lines += [f"- {p}" for p in r["problems"]]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.storm", description=__doc__)
    parser.add_argument("--notifications", type=int, default=1000)
    parser.add_argument("--alarms", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=4, help="workers per function")
    parser.add_argument("--redeliver", type=int, default=50, help="envelopes delivered twice")
    parser.add_argument("--seed", type=int, default=2024)
    args = parser.parse_args(argv)
    check_build()
    print(
        f"storm: {args.notifications} notifications, {args.alarms} alarms, "
        f"{args.concurrency} workers per function",
        file=sys.stderr,
        flush=True,
    )
    result = run(args.notifications, args.alarms, args.concurrency, args.redeliver, args.seed)
    print()
    print(table(result))
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    (OUT_DIR / "storm.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwrote {OUT_DIR / 'storm.json'}")
    return 1 if result["problems"] else 0


if __name__ == "__main__":
    sys.exit(main())
