"""Issue 14's numbers: the digest's reads over 30 days of storm-like history, and the cold start of
the three new functions against baselines.

    .venv/bin/python -m bench.digest [--days 30] [--reps 5]

History: ``--days`` storm-like days (``local.history_seed.storm_items``: 20 alarms flapping, 1,000
notifications a day), plus the day before (the daily digest compares with it), written with
BatchWriteItem as the items ``incidents.record`` leaves (same ``history`` functions), into moto's
server. Then, in this process:
- the daily digest (24 hours and the 24 before, open and resolved incidents, the alarms flapping
  and the silences ending soon);
- ``alert-incidents digest`` over the whole period (and the period before it, which is empty);
each with the requests, items, bytes and read units it took (``ReadCost``) and the time.

The reads here use a DynamoDB client with a long read timeout: moto scans the whole table for
every Query page (seconds for a month of storm), beyond the functions' 3 s bound (clients.BOUNDS),
which fits DynamoDB (tens of milliseconds a page), not moto.

Cold start: each built function (IncidentTimersFunction, IncidentEscalationFunction,
DailyDigestFunction) in a fresh runtime process, as Lambda loads it (local.runtime), ``--reps``
times, next to a baseline doing the same AWS work with boto3 and urllib only (no layer, no
once-only delivery): import + first event, medians. They read a second history table holding
``COLD_DAYS`` storm days (the daily digest's period and the day before), so moto answers each page
within the functions' read timeout. Run once; nothing here is a test.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import statistics
import sys
import tempfile
import time as clock
import uuid
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from alert_service import clients, history
from alert_service.digest import HistoryReader, collect, quiet_now
from alert_service.digest.send import period_end
from alert_service.incidents.store import HistoryStore

from bench import BASELINES_DIR
from local.aws import Template, create_tables
from local.history_seed import alarm, batch_write, storm_items
from local.pipeline import LocalPipeline
from local.runtime import Worker
from local.scheduled_jobs import ScheduledJobs, insert_event

FUNCTIONS = ("IncidentTimersFunction", "IncidentEscalationFunction", "DailyDigestFunction")
# The daily digest's period ends at the last 09:00 KST, as the function computes it from the clock,
# so its cold run reads a full storm day too.
END = period_end(datetime.now(UTC), time(9, 0), ZoneInfo("Asia/Seoul"))
BASELINE_DIR = Path(tempfile.gettempdir()) / "alert-service-bench" / "digest-baselines"
COLD_DAYS = 2
COLD_STACK = "alert-service-cold"

# Baselines (bench/baselines/<name>/app.py): the same AWS work with boto3 and urllib only.
BASELINES = {
    "IncidentTimersFunction": "incident_timers",
    "IncidentEscalationFunction": "incident_escalation",
    "DailyDigestFunction": "daily_digest",
}


def seed(pipeline: LocalPipeline, table: str, days: int) -> dict[str, Any]:
    ddb = pipeline.aws.client("dynamodb")
    started = clock.perf_counter()
    written = 0
    # The day before the period too: the daily digest compares with it.
    written += batch_write(ddb, table, storm_items(END - timedelta(days=days + 1), days + 1))
    return {"items": written, "seconds": round(clock.perf_counter() - started, 1)}


def patient_store(table: str) -> HistoryStore:
    """The history table through a client that waits for moto's slow Query pages."""
    import boto3
    from botocore.config import Config

    config = Config(read_timeout=600, retries={"mode": "standard", "total_max_attempts": 1})
    return HistoryStore(table, client_=boto3.client("dynamodb", config=config))


def read(table: str, since: datetime, until: datetime) -> dict[str, Any]:
    """One report's reads and time; a report ending at END (as the daily function's and a CLI
    report without --until) also reads the flapping alarms and the silences ending soon."""
    reader = HistoryReader(patient_store(table))
    started = clock.perf_counter()
    flapping, ending = quiet_now(reader, until) if until == END else ([], [])
    report = collect(reader, since=since, until=until, flapping=flapping, silences_ending=ending)
    seconds = clock.perf_counter() - started
    cost = reader.cost
    return {
        "seconds": round(seconds, 2),
        "queries": cost.requests,
        "items": cost.items,
        "megabytes": round(cost.bytes / 1e6, 2),
        "read_units": cost.read_units,
        "notifications": report.notifications.now,
        "opened": report.opened.now,
        "resolved": report.resolved.now,
        "open_now": len(report.open_incidents),
        "mttr_median_s": report.mttr.median,
    }


def event_item_bytes(table: str) -> float:
    """Mean DynamoDB size of one event item of the seed (one day's partition)."""
    reader = HistoryReader(patient_store(table))
    items = reader.events(END - timedelta(days=1), END)
    return reader.cost.bytes / max(1, len(items))


def baseline_dir() -> Path:
    """Each baseline copied to ``<tmp>/.../<LogicalId>/app.py`` (the worker's build layout)."""
    for logical_id, name in BASELINES.items():
        folder = BASELINE_DIR / logical_id
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(BASELINES_DIR / name / "app.py", folder / "app.py")
    return BASELINE_DIR


def cold_table(pipeline: LocalPipeline) -> str:
    """A second history table (the template's, under another stack name) with COLD_DAYS days."""
    tables = create_tables(pipeline.aws.client("dynamodb"), Template(stack_name=COLD_STACK))
    table = tables["AlarmHistoryTable"]
    start = END - timedelta(days=COLD_DAYS)
    batch_write(pipeline.aws.client("dynamodb"), table, storm_items(start, COLD_DAYS))
    return table


def cold(pipeline: LocalPipeline, table: str, reps: int) -> dict[str, float]:
    """Median import and first event of each function and its baseline, fresh processes, reading
    ``table``. The first event includes moto's own time, which for the digest's Queries is most
    of it (moto scans the table for every Query page; DynamoDB does not)."""
    open_ids = [i["incident_id"] for i in HistoryReader(patient_store(table)).open_incidents()]
    baselines = baseline_dir()
    samples: dict[str, list[float]] = {}
    for rep in range(reps):
        for logical_id in FUNCTIONS:
            spec = pipeline.specs[logical_id]
            env = {**pipeline.local_env(spec), "HISTORY_TABLE_NAME": table}
            if logical_id == "IncidentTimersFunction":
                event = timers_event(rep, f"{rep:04d}{uuid.uuid4().hex[:12]}")
            elif logical_id == "IncidentEscalationFunction":
                event = {"incident_id": open_ids[rep % len(open_ids)], "step": "escalate-1"}
            else:
                event = {}
            for label, build_dir in ((logical_id, None), (f"baseline:{logical_id}", baselines)):
                worker = (
                    Worker(spec, env)
                    if build_dir is None  # a baseline has no layer: boto3 and stdlib only
                    else Worker(dataclasses.replace(spec, layers=()), env, build_dir=build_dir)
                )
                with worker:
                    init = worker.init
                    if not init.ok:
                        raise SystemExit(f"{label}: init failed\n{init.traceback}")
                    invocation = worker.invoke(event)
                    if not invocation.ok:
                        raise SystemExit(
                            f"{label}: {invocation.error_type}: {invocation.error_message}\n"
                            f"{invocation.traceback}"
                        )
                for part, ms in (
                    ("import_ms", init.init_ms),
                    ("first_event_ms", invocation.duration_ms),
                ):
                    samples.setdefault(f"{label} {part}", []).append(ms)
        print(f"  cold round {rep + 1}/{reps}", file=sys.stderr, flush=True)
    return {label: round(statistics.median(v), 1) for label, v in sorted(samples.items())}


def timers_event(rep: int, key: str) -> dict[str, Any]:
    """An incident opened now (its schedules are in the future), under a key of its own."""
    now = datetime.now(UTC)
    note = alarm(f"OTT-DB-Cold-{rep:02d}", "ALARM", now, f"cold-{key}")
    item = history.incident_item(
        note.alarm,
        key=key,
        incident=history.incident_id(now, key),
        at=history.iso(now),
        message_id=note.message_id,
    )
    return insert_event(item)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.digest")
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args(argv)
    result: dict[str, Any] = {"days": args.days}
    with LocalPipeline(functions=FUNCTIONS, start_workers=False) as pipeline:
        table = pipeline.template.physical_name("AlarmHistoryTable")
        spec = pipeline.specs["IncidentTimersFunction"]
        jobs = ScheduledJobs(
            pipeline.aws.client, table=table, group=spec.environment["SCHEDULE_GROUP_NAME"]
        )
        jobs.prepare()
        # This process reads through alert_service as the functions do: same endpoint.
        os.environ.update(pipeline.aws.env())
        clients.reset()
        print(f"seeding {args.days + 1} storm-like days ...", file=sys.stderr, flush=True)
        result["seed"] = seed(pipeline, table, args.days)
        result["daily"] = read(table, END - timedelta(days=1), END)
        result["period"] = read(table, END - timedelta(days=args.days), END)
        result["event_item_bytes"] = round(event_item_bytes(table))
        result["cold"] = cold(pipeline, cold_table(pipeline), args.reps)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
