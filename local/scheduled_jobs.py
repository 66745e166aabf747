"""Scheduled jobs on this machine: the history stream, EventBridge Scheduler and a clock you move.

moto's server keeps the history table's stream and stores schedules, but never fires them
(TIPS.md). ``ScheduledJobs`` plays both services' parts on demand, at a time the caller chooses:

- ``pump()``: reads what is new on the table's stream and hands it to IncidentTimersFunction as
  Lambda's DynamoDB stream event (low-level images, ``eventSourceARN``, epoch times);
- ``advance(delta)`` / ``run_until(moment)``: moves the clock; every schedule whose ``at(...)`` has
  come is fired in time order, as Scheduler would: its target is invoked with its ``Input``, at its
  time, and the schedule is then deleted (``ActionAfterCompletion: DELETE``). What the target
  changes (a next reminder) is fired too if it falls before the new time.

Functions are called through ``invoke(function, event, now)``; ``in_process()`` loads
``functions/<name>/app.py`` and calls its ``handle(event, now=...)``, so no real time passes.

    jobs = ScheduledJobs(aws_client, table="alert-service-history", group="alert-service")
    jobs.pump()                                   # incident opened -> 3 schedules
    fired = jobs.advance(timedelta(minutes=10))   # escalate-1 fires
"""

from __future__ import annotations

import importlib.util
import json
import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import ModuleType
from typing import Any

from local import ACCOUNT_ID, REGION, ROOT
from local.stream import HistoryStream

TIMERS, ESCALATION, DIGEST = "incident_timers", "incident_escalation", "daily_digest"
Invoke = Callable[[str, dict[str, Any], datetime], Any]


def load_app(name: str) -> ModuleType:
    """``functions/<name>/app.py`` under a unique module name (every function module is ``app``)."""
    path = ROOT / "functions" / name / "app.py"
    spec = importlib.util.spec_from_file_location(f"{name}_app_{uuid.uuid4().hex}", path)
    if spec is None or spec.loader is None:
        raise ImportError(path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def in_process() -> Invoke:
    """Call the functions' ``handle(event, now=...)`` in this process (the environment is ours)."""
    modules: dict[str, ModuleType] = {}

    def invoke(function: str, event: dict[str, Any], now: datetime) -> Any:
        if function not in modules:
            modules[function] = load_app(function)
        return modules[function].handle(event, now=now)

    return invoke


@dataclass
class Fired:
    name: str
    at: datetime
    input: dict[str, Any]
    result: Any = None
    error: str | None = None


@dataclass
class ScheduledJobs:
    client: Callable[[str], Any]  # service name -> boto3 client on the local endpoint
    table: str
    group: str
    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    invoke: Invoke = field(default_factory=in_process)
    _stream: HistoryStream | None = field(default=None, repr=False)
    stream_results: list[Any] = field(default_factory=list)

    # --- the stream ----------------------------------------------------------------------------
    def prepare(self) -> None:
        """What the template declares but the local endpoint may lack: the table's stream and the
        schedule group (both idempotent)."""
        ddb = self.client("dynamodb")
        spec = ddb.describe_table(TableName=self.table)["Table"].get("StreamSpecification") or {}
        if not spec.get("StreamEnabled"):
            ddb.update_table(
                TableName=self.table,
                StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
            )
        scheduler = self.client("scheduler")
        groups = [g["Name"] for g in scheduler.list_schedule_groups().get("ScheduleGroups", [])]
        if self.group not in groups:
            scheduler.create_schedule_group(Name=self.group)

    def stream_event(self) -> dict[str, Any] | None:
        """New stream records as one Lambda event, or None when nothing is new."""
        if self._stream is None:  # made on first use: prepare() may have just enabled the stream
            self._stream = HistoryStream(self.client("dynamodbstreams"), self.table)
        records = self._stream.read()
        return {"Records": records} if records else None

    def pump(self) -> Any:
        """Hand what is new on the stream to the timers function (None when nothing was new)."""
        event = self.stream_event()
        if event is None:
            return None
        result = self.invoke(TIMERS, event, self.now)
        self.stream_results.append(result)
        return result

    # --- the schedules ---------------------------------------------------------------------------
    def schedules(self) -> list[dict[str, Any]]:
        """Every schedule of the group, with its time and input, soonest first."""
        from alert_service.schedules.timers import parse_at

        scheduler = self.client("scheduler")
        out = []
        for summary in scheduler.list_schedules(GroupName=self.group).get("Schedules", []):
            full = scheduler.get_schedule(Name=summary["Name"], GroupName=self.group)
            out.append(
                {
                    "name": full["Name"],
                    "at": parse_at(full["ScheduleExpression"]),
                    "input": json.loads(full["Target"].get("Input") or "{}"),
                    "after_completion": full.get("ActionAfterCompletion"),
                }
            )
        return sorted(out, key=lambda s: (s["at"], s["name"]))

    def run_until(
        self, moment: datetime, each: Callable[[Fired], None] | None = None
    ) -> list[Fired]:
        """Fire every schedule due by ``moment`` at its own time, then set the clock there.
        ``each`` is called after every firing (to show what it sent as it happens)."""
        fired: list[Fired] = []
        while True:
            self.pump()
            due = [s for s in self.schedules() if s["at"] <= moment]
            if not due:
                break
            first = due[0]
            self.now = max(self.now, first["at"])
            one = Fired(first["name"], first["at"], first["input"])
            try:
                one.result = self.invoke(ESCALATION, first["input"], self.now)
            except Exception as error:  # Scheduler would retry; the caller sees it here
                one.error = f"{type(error).__name__}: {error}"
            fired.append(one)
            if each is not None:
                each(one)
            # ActionAfterCompletion DELETE (a failed target would be retried by Lambda; here the
            # caller decides: a test fires its input again by hand).
            self.client("scheduler").delete_schedule(Name=first["name"], GroupName=self.group)
        self.now = max(self.now, moment)
        return fired

    def advance(self, delta: timedelta) -> list[Fired]:
        return self.run_until(self.now + delta)


def insert_event(item: dict[str, Any], sequence_number: str = "100") -> dict[str, Any]:
    """A DynamoDB stream Lambda event of one item inserted (plain values, as history.py builds
    them), for running the timers function without a table."""
    from boto3.dynamodb.types import TypeSerializer

    serializer = TypeSerializer()
    image = {k: serializer.serialize(v) for k, v in item.items()}
    return {"Records": [insert_record(image, sequence_number)]}


def insert_record(image: dict[str, Any], sequence_number: str) -> dict[str, Any]:
    """One INSERT stream record of a low-level image (``{"S": ...}`` values), as Lambda has it."""
    return {
        "eventID": uuid.uuid4().hex,
        "eventName": "INSERT",
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": REGION,
        "dynamodb": {
            "Keys": {"pk": image["pk"], "sk": image["sk"]},
            "NewImage": image,
            "SequenceNumber": sequence_number,
            "StreamViewType": "NEW_AND_OLD_IMAGES",
        },
        "eventSourceARN": f"arn:aws:dynamodb:{REGION}:{ACCOUNT_ID}:table/local/stream/0",
    }


# --- for make demo ------------------------------------------------------------------------------
@contextmanager
def _function_env(
    pipeline: Any, logical_id: str, extra: dict[str, str] | None = None
) -> Iterator[None]:
    """This process's environment set to the function's (template + local endpoints, then
    ``extra``), and the package's per-process caches emptied, so an in-process call sees what the
    function would."""
    from alert_service import clients, config, delivery, schedules, secrets
    from alert_service.silences import settings as silence_settings
    from alert_service.silences import store as silence_store

    spec = pipeline.specs[logical_id]
    saved = dict(os.environ)
    os.environ.update({**spec.environment, **pipeline.local_env(spec), **(extra or {})})

    def reset() -> None:
        clients.reset()
        delivery.reset()
        secrets.reset()
        silence_store.reset()
        config.display_settings.cache_clear()
        config.fanout_settings.cache_clear()
        schedules.settings.cache_clear()
        silence_settings.flap_settings.cache_clear()
        silence_settings.silence_cache_seconds.cache_clear()

    reset()
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)
        reset()


_LOGICAL_IDS = {
    TIMERS: "IncidentTimersFunction",
    ESCALATION: "IncidentEscalationFunction",
    DIGEST: "DailyDigestFunction",
}


def pipeline_invoker(pipeline: Any, *, log_level: str | None = None) -> Invoke:
    """Run the functions in this process with their template environment against the pipeline's
    endpoints (moto, the loopback Slack), at the time the caller chooses. ``log_level``: their
    Powertools level (the demo keeps their INFO lines out of what it prints)."""
    inner = in_process()
    extra = {"POWERTOOLS_LOG_LEVEL": log_level} if log_level else None

    def invoke(function: str, event: dict[str, Any], now: datetime) -> Any:
        with _function_env(pipeline, _LOGICAL_IDS[function], extra):
            return inner(function, event, now)

    return invoke


def _slack_reader(pipeline: Any) -> Callable[[], list[str]]:
    """What reached Slack since the last call, as lines: the Web API's posts (the Slack app: thread
    replies, broadcast or not, and channel messages) and the incoming webhook's."""
    from alert_service.render import one_line

    seen = len(pipeline.slack_api.calls)

    def read() -> list[str]:
        nonlocal seen
        calls = pipeline.slack_api.calls
        new, seen = calls[seen:], len(calls)
        lines = []
        for call in new:
            if call.method != "chat.postMessage":
                continue
            payload = call.payload
            if payload.get("thread_ts"):
                broadcast = " + channel (reply_broadcast)" if payload.get("reply_broadcast") else ""
                where = f"thread reply{broadcast}"
            else:
                where = "channel message"
            text = one_line(str(payload.get("text", "")), 150)
            answer = "" if call.answer.get("ok") else f" -> {call.answer.get('error')}"
            lines.append(f"      Slack {where}: {text}{answer}")
        for post in pipeline.slack.take():
            text = one_line(str((post.payload or {}).get("text", "")), 150)
            lines.append(f"      Slack webhook: {text}")
        return lines

    return read


def run_demo(pipeline: Any) -> list[str]:
    """After the demo's events went through ``pipeline``: what the scheduled jobs add, as lines.

    The clock starts at the first incident and moves 4 hours and 5 minutes: each incident still
    open and unacknowledged gets ``@here`` at 10 minutes and ``@channel`` at 20, each one still
    open a reminder at 4 hours (a silenced one nothing); then the daily digest of the day after
    the samples. Slack is the pipeline's loopback Web API when the Slack app is configured (thread
    replies), else its webhook; nothing is sent by SMS unless ESCALATION_SMS_RECIPIENTS is set.
    """
    from alert_service import history

    invoke = pipeline_invoker(pipeline, log_level="WARNING")
    table = pipeline.template.physical_name("AlarmHistoryTable")
    group = pipeline.specs["IncidentTimersFunction"].environment["SCHEDULE_GROUP_NAME"]
    jobs = ScheduledJobs(pipeline.aws.client, table=table, group=group, invoke=invoke)
    jobs.prepare()
    lines = ["━━ escalation, reminders and the daily digest (scheduled jobs, the clock moved on)"]
    # The stream was enabled just now: hand the incidents over as the INSERTs they were.
    firsts = []
    query = pipeline.aws.client("dynamodb").query
    for status in history.STATUSES:
        page = query(
            TableName=table,
            IndexName="gsi1",
            KeyConditionExpression="gsi1pk = :p",
            ExpressionAttributeValues={":p": {"S": history.status_pk(status)}},
        )
        firsts += page["Items"]
    if not firsts:
        return [*lines, "no incidents: nothing to escalate"]
    start = min(history.parse_iso(i["first_seen_at"]["S"]) for i in firsts)
    jobs.now = start
    # The built timers function followed the stream while the events went through, on today's
    # clock: the samples' times are long past, so it scheduled each step a minute from now.
    # Replaced by the schedules made at the incidents' own times, which the moved clock fires.
    scheduler = pipeline.aws.client("scheduler")
    for made in jobs.schedules():
        scheduler.delete_schedule(Name=made["name"], GroupName=group)
    # As opened: the timers function schedules only what an INSERT of an active incident asks.
    records = [
        insert_record({**item, "status": {"S": history.ACTIVE}}, str(n))
        for n, item in enumerate(firsts)
    ]
    created = invoke(TIMERS, {"Records": records}, start)
    lines.append(f"schedules created for {len(firsts)} incidents: {created.get('created', 0)}")
    slack = _slack_reader(pipeline)
    pipeline.slack.take()

    def show(fired: Fired) -> None:
        result = fired.result or {}
        lines.append(
            f"{fired.at:%H:%M} UTC {fired.input['step']:<11} {fired.input['incident_id']}: "
            f"{result.get('reason', fired.error)}"
        )
        lines.extend(slack())

    jobs.run_until(start + timedelta(hours=4, minutes=5), each=show)
    digest_at = start + timedelta(days=1)
    result = invoke(DIGEST, {}, digest_at)
    reads = result["reads"]
    lines.append(
        f"daily digest, period ending {result['period_end']}: sent {result['sent']}; read "
        f"{reads['items']} items in {reads['requests']} queries ({reads['read_units']} read units)"
    )
    lines.extend(slack())
    return lines
