"""``make demo``: every sample event through the whole system, on this machine.

Each file in events/ is published to the db-alarm topic in moto; moto fans it out to every
function's subscription; the built functions (run as Lambda loads them) deliver to the loopback
Slack, to SES and SNS in moto, and to the history table. This prints, per event, what Slack
received, the emails and SMS that were sent, and writes each email's HTML body to demo-output/.
Then the Slack incident view: each incident's card and thread as a reader of the channel sees them
(the loopback Slack Web API, fed by SlackIncidentFunction from the history table's stream). It ends
with the incidents, as the history CLI prints them. Exit status 1 if any function failed where it
should not have.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
import time
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from alert_service.render import one_line

from local import EVENTS_DIR, ROOT
from local.pipeline import Delivery, LocalPipeline, webhook_name
from local.runtime import RuntimeMissing
from local.scheduled_jobs import run_demo as run_scheduled_jobs
from local.slack_api import render as render_slack_message

OUTPUT_DIR = ROOT / "demo-output"
ROUTING_EXAMPLE = ROOT / "routing.example.yaml"
FLAPPING_ALARM = "OTT-DB-CPU-Utilization-High"
# (event file stem, function logical id) pairs whose failure is the point of the sample.
# None today: the contract says nothing is dropped, not even malformed or empty messages.
EXPECTED_FAILURES: set[tuple[str, str]] = set()

# Hook for the Slack actions step (SlackActionsFunction): a callable that clicks a button on a card
# as Slack would (a signed request to the built actions function) and returns True when it changed
# something; the demo then runs the stream again and shows the cards as they changed.

BOLD, DIM, RED, GREEN, RESET = "\033[1m", "\033[2m", "\033[31m", "\033[32m", "\033[0m"


def _colour() -> bool:
    return sys.stdout.isatty() and not os.environ.get("NO_COLOR")


def style(text: str, code: str) -> str:
    return f"{code}{text}{RESET}" if _colour() else text


def width(text: str) -> int:
    """Terminal columns: Korean and other wide characters take two."""
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text)


def pad(text: str, columns: int) -> str:
    return text + " " * max(0, columns - width(text))


def indent(text: str, prefix: str) -> str:
    lines = str(text).splitlines() or [""]
    return lines[0] + "".join(f"\n{prefix}{line}" for line in lines[1:])


def print_slack(payload: Any, prefix: str = "      ") -> None:
    if not isinstance(payload, dict):
        print(f"{prefix}(not JSON) {payload!r}")
        return
    print(f"{prefix}text    {indent(payload.get('text', ''), prefix + '        ')}")
    for attachment in payload.get("attachments") or []:
        if attachment.get("title"):
            print(f"{prefix}title   {attachment['title']}")
        if attachment.get("color"):
            print(f"{prefix}colour  {attachment['color']}")
        if attachment.get("text"):  # a quiet notice (flapping, summary, silence ended)
            print(f"{prefix}body    {indent(attachment['text'], prefix + '        ')}")
        fields = attachment.get("fields") or []
        label_width = max((width(str(f.get("title", ""))) for f in fields), default=0)
        for f in fields:
            label = pad(str(f.get("title", "")), label_width)
            value = indent(str(f.get("value", "")), prefix + "  " + " " * label_width + "  ")
            print(f"{prefix}  {label}  {value}")
        if attachment.get("footer"):
            print(f"{prefix}footer  {attachment['footer']}")
    for block in payload.get("blocks") or []:
        print(f"{prefix}block   {json.dumps(block, ensure_ascii=False)[:200]}")


def failure_text(delivery: Delivery) -> str:
    inv = delivery.invocation
    lines = [f"{inv.error_type}: {inv.error_message}"]
    # The function's own error log says more than the exception, when there is one.
    for record in inv.log_records():
        if record.get("level") in ("ERROR", "CRITICAL") and record.get("message"):
            lines.append(f"log: {record['message']}")
    return "\n".join(lines[:4])


def short(text: Any, limit: int = 160) -> str:
    return one_line(str(text), limit)


def show_event(path: Path, deliveries: list[Delivery], email_count: list[int]) -> list[str]:
    """Print one event's results; returns the unexpected failures."""
    failures = []
    n = 0
    by_function: dict[str, list[Delivery]] = {}
    for delivery in deliveries:
        by_function.setdefault(delivery.function, []).append(delivery)
    for function, runs in by_function.items():
        ok = sum(d.invocation.ok for d in runs)
        ms = ", ".join(f"{d.invocation.duration_ms:.0f}" for d in runs)
        mark = style("ok", GREEN) if ok == len(runs) else style("FAILED", RED)
        notes = {d.note for d in runs if d.note}
        extra = f"  ({'; '.join(notes)})" if notes else ""
        print(f"  {style(function, BOLD)}  {mark}  {len(runs)} invocation(s), ms: {ms}{extra}")
        for d in runs:
            if not d.invocation.ok:
                expected = (path.stem, function) in EXPECTED_FAILURES
                label = "expected failure" if expected else "error"
                print(style(f"    {label}: {indent(failure_text(d), '      ')}", RED))
                if not expected:
                    failures.append(f"{path.name}: {function}: {d.invocation.error_type}")
            for post in d.slack:
                print(f"    Slack [{webhook_name(post.path)}] <- POST")
                print_slack(post.payload)
            for mail in d.emails:
                email_count[0] += 1
                n += 1
                out = OUTPUT_DIR / f"{path.stem}-{n}.html"
                out.write_text(str(mail.get("body", "")), encoding="utf-8")
                to = ", ".join(mail.get("destinations", {}).get("ToAddresses", []) or []) or str(
                    mail.get("destinations")
                )
                print(f"    Email -> {to}")
                print(f"      subject {mail.get('subject')}")
                print(f"      html    {out.relative_to(ROOT)}")
            for sms in d.sms:
                print(f"    SMS   -> {sms.get('phone_number')}")
                print(f"      {sms.get('message')}  ({len(str(sms.get('message', '')))} chars)")
            delivered = d.slack or d.emails or d.sms
            if d.invocation.ok and not delivered and d.invocation.result not in (None, {}, []):
                print(
                    f"    {DIM if _colour() else ''}returned {short(d.invocation.result)}"
                    f"{RESET if _colour() else ''}"
                )
    return failures


@contextlib.contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def show_incidents(stack: LocalPipeline) -> None:
    """The incidents the demo created, as the history CLI (alert_service.cli) prints them."""
    try:
        from alert_service import cli  # the operator CLI, in the layer's package
    except ImportError:
        print("  (the history CLI alert_service.cli is not there yet)")
        return
    spec = stack.specs.get("AlarmHistoryFunction")
    table = spec.environment.get("HISTORY_TABLE_NAME") if spec else None
    env = {**stack.aws.env(), **({"HISTORY_TABLE_NAME": table} if table else {})}
    with environment(env):
        with contextlib.suppress(ImportError, AttributeError):
            from alert_service import clients

            clients.reset()  # the CLI's clients must be made against the local endpoint
        for argv in (["list", "--status", "all"], ["list"]):
            out, err = io.StringIO(), io.StringIO()
            try:
                with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                    code = cli.main(argv)
            except SystemExit as exit_:
                code = exit_.code
            except Exception as error:
                print(f"  alert-incidents {' '.join(argv)} failed: {type(error).__name__}: {error}")
                return
            if code in (0, None):
                print(f"  $ alert-incidents {' '.join(argv)}")
                print("  " + out.getvalue().rstrip().replace("\n", "\n  "))
                return
        print(f"  alert-incidents list failed: {short(err.getvalue() or out.getvalue(), 400)}")


def click_acknowledge(stack: LocalPipeline) -> bool:
    """Press Acknowledge on the first active incident's card as Slack would: a signed request to
    the built SlackActionsFunction. True when a click was made (the card then changes through the
    stream, like any other change of the incident)."""
    from local.pipeline import LOCAL_SIGNING_SECRET
    from local.slack_click import DEMO_USER, click

    worker = stack.workers.get("SlackActionsFunction")
    if worker is None or not stack.slack_api.roots():
        return False
    with environment(stack.aws.env()):
        ddb = stack.aws.client("dynamodb")
        table = stack.specs["AlarmHistoryFunction"].environment["HISTORY_TABLE_NAME"]
        found = ddb.query(
            TableName=table,
            IndexName="gsi1",
            KeyConditionExpression="gsi1pk = :pk",
            ExpressionAttributeValues={":pk": {"S": "STATUS#active"}},
            Limit=1,
        ).get("Items", [])
    if not found:
        return False
    incident = found[0]["incident_id"]["S"]
    answer = click(
        worker,
        incident,
        signing_secret=LOCAL_SIGNING_SECRET,
        response_url=f"{stack.slack.base_url}/actions/demo-click",
    )
    replies = [p.payload for p in stack.slack.take() if "/actions/" in p.path]
    print(style(f"━━ {DEMO_USER} clicks Acknowledge on {incident}", BOLD))
    status = (answer.result or {}).get("statusCode") if answer.ok else answer.error_type
    print(f"  SlackActionsFunction answered {status} in {answer.duration_ms:.0f} ms")
    for reply in replies:
        print(f"  ephemeral reply to the clicker: {one_line(str(reply.get('text', '')), 120)}")
    print()
    return True


def show_incident_view(stack: LocalPipeline) -> None:
    """Every message of the Slack app's channel with its thread, oldest first."""
    roots = stack.slack_api.roots()
    if not roots:
        print("  (no Slack incident view: SlackAppSecretName is empty)\n")
        return
    calls = stack.slack_api.calls
    counts = {
        m: sum(c.method == m and bool(c.answer.get("ok")) for c in calls)
        for m in ("chat.postMessage", "chat.update")
    }
    print(
        f"  {len(roots)} messages; Web API calls: {counts['chat.postMessage']} chat.postMessage, "
        f"{counts['chat.update']} chat.update\n"
    )
    for message in roots:
        print("  " + render_slack_message(message).replace("\n", "\n  "))
        print()


def sample_events() -> list[Path]:
    """events/*.json in the order they happened (their first record's SNS Timestamp), so the
    history builds up as it would: the CPU alarm opens an incident before its OK resolves it."""

    def when(path: Path) -> tuple[str, str]:
        try:
            records = json.loads(path.read_text(encoding="utf-8")).get("Records") or [{}]
            return str(records[0].get("Sns", {}).get("Timestamp") or ""), path.name
        except ValueError:
            return "", path.name

    return sorted(EVENTS_DIR.glob("*.json"), key=when)


# --- silences and flapping (issue 12) ------------------------------------------------------------
def history_table(stack: LocalPipeline) -> str:
    return stack.template.physical_name("AlarmHistoryTable")


def add_demo_silence(stack: LocalPipeline) -> Any:
    """A one-hour silence on the memory alarm, as `alert-incidents silence add` makes it."""
    from datetime import UTC, datetime, timedelta

    from alert_service.silences.model import new_silence
    from alert_service.silences.store import SilenceStore

    store = SilenceStore(history_table(stack), client=stack.aws.client("dynamodb"))
    return store.add(
        new_silence(
            match="OTT-DB-FreeableMemory*",
            created_by="demo",
            comment="planned failover test",
            now=datetime.now(UTC),
            duration=timedelta(hours=1),
        )
    )


def alarm_change(name: str, state: str, at: Any, message_id: str, sample: str) -> dict[str, Any]:
    """A sample event as the alarm ``name`` changing to ``state`` at ``at``."""
    event = json.loads((EVENTS_DIR / sample).read_text(encoding="utf-8"))
    sns = event["Records"][0]["Sns"]
    message = json.loads(sns["Message"])
    message.update(
        AlarmName=name,
        NewStateValue=state,
        OldStateValue="OK" if state == "ALARM" else "ALARM",
        StateChangeTime=at.strftime("%Y-%m-%dT%H:%M:%S.000+0000"),
    )
    sns.update(Message=json.dumps(message, ensure_ascii=False), MessageId=message_id)
    sns["Subject"] = f'{state}: "{name}"'
    return event


def sent(deliveries: list[Delivery]) -> str:
    """What the channels got from one notification, in one line."""
    slack = [webhook_name(p.path) for d in deliveries if d.note != "table stream" for p in d.slack]
    emails = sum(len(d.emails) for d in deliveries)
    sms = sum(len(d.sms) for d in deliveries)
    return f"Slack {len(slack)} ({', '.join(slack) or '-'}), email {emails}, SMS {sms}"


def failed(deliveries: list[Delivery], what: str) -> list[str]:
    return [
        f"{what}: {d.function}: {d.invocation.error_type}"
        for d in deliveries
        if not d.invocation.ok
    ]


def show_silenced(stack: LocalPipeline, silence: Any) -> list[str]:
    from datetime import UTC, datetime, timedelta

    print(style(f"━━ a silenced alarm: silence {silence.id} on {silence.match!r}", BOLD))
    at = datetime.now(UTC) + timedelta(seconds=1)
    event = alarm_change(
        "OTT-DB-FreeableMemory-Low", "ALARM", at, "demo-silenced-1", "freeable_memory_alarm.json"
    )
    deliveries = stack.publish(event)
    # SNS gave the published message its own MessageId: the one the functions saw.
    message_id = deliveries[0].event["Records"][0]["Sns"]["MessageId"]
    item = stack.aws.client("dynamodb").get_item(
        TableName=history_table(stack),
        Key={"pk": {"S": f"MSG#{message_id}"}, "sk": {"S": "EVENT"}},
    )
    print(f"  sent: {sent(deliveries)}")
    print(f"  stored in history: {'yes' if 'Item' in item else style('NO', RED)}\n")
    return failed(deliveries, "silenced") + ([] if "Item" in item else ["silenced: not stored"])


def show_flapping(stack: LocalPipeline) -> list[str]:
    """8 changes a minute apart (FLAP_THRESHOLD 6): 5 messages, the notice, 2 held; then the
    sweep, the alarm stable for the window, sends the summary once per destination."""
    from datetime import UTC, datetime, timedelta

    print(style(f"━━ a flapping alarm: {FLAPPING_ALARM}, 8 changes a minute apart", BOLD))
    start = datetime.now(UTC) - timedelta(minutes=70)
    problems: list[str] = []
    for n in range(8):
        state = "ALARM" if n % 2 == 0 else "OK"
        event = alarm_change(
            FLAPPING_ALARM, state, start + timedelta(minutes=n), f"demo-flap-{n}", "cpu_alarm.json"
        )
        deliveries = stack.publish(event)
        print(f"  change {n + 1} {state:<5} {sent(deliveries)}")
        for post in (p for d in deliveries for p in d.slack):
            attachments = (post.payload or {}).get("attachments") or [{}]
            if "fields" not in attachments[0]:  # a quiet notice, not the alarm's message
                print(f"    Slack [{webhook_name(post.path)}] <- POST")
                print_slack(post.payload, prefix="      ")
        problems += failed(deliveries, f"flapping change {n + 1}")
    print("  QuietSweepFunction (the alarm has been stable for the window):")
    problems += run_sweep(stack)
    print("  QuietSweepFunction again: nothing is sent twice")
    problems += run_sweep(stack)
    print()
    return problems


def run_sweep(stack: LocalPipeline) -> list[str]:
    tick = {"detail-type": "Scheduled Event", "source": "aws.events", "detail": {}}
    delivery = stack.direct("QuietSweepFunction", tick)
    print(f"    {sent([delivery])}")
    for post in delivery.slack:
        print(f"    Slack [{webhook_name(post.path)}] <- POST")
        print_slack(post.payload, prefix="        ")
    return failed([delivery], "quiet sweep")


def show_silence_ended(stack: LocalPipeline, silence: Any) -> list[str]:
    """The silence ends while its alarm is still in ALARM: the page it held back, once."""
    from datetime import UTC, datetime

    from alert_service.silences.store import SilenceStore

    print(style(f"━━ silence {silence.id} expired, the memory alarm still in ALARM", BOLD))
    store = SilenceStore(history_table(stack), client=stack.aws.client("dynamodb"))
    store.expire(silence.id, by="demo", now=datetime.now(UTC))
    problems = run_sweep(stack)
    print()
    return problems


def main() -> int:
    started = time.perf_counter()
    events = sample_events()
    OUTPUT_DIR.mkdir(exist_ok=True)
    for old in OUTPUT_DIR.glob("*.html"):
        old.unlink()
    try:
        # The example rules (named webhooks dba and platform, severity, an SMS page), not the
        # repository's routing.yaml, which ships with no rules (every alarm: the default route).
        stack = LocalPipeline(routing_file=ROUTING_EXAMPLE)
    except RuntimeMissing as error:
        print(f"demo: {error}", file=sys.stderr)
        return 2
    failures: list[str] = []
    email_count = [0]
    with stack:
        setup = time.perf_counter() - started
        print(style("alert-service demo", BOLD))
        print(f"  local AWS (moto) {stack.aws.endpoint}   Slack (loopback) {stack.slack.base_url}")
        for logical_id, worker in stack.workers.items():
            init = worker.init
            error = f"INIT FAILED {init.error_type}: {init.error_message}"
            state = "ok" if init.ok else style(error, RED)
            print(
                f"  {logical_id}: cold init {init.init_ms:.0f} ms (process ready in "
                f"{init.startup_ms:.0f} ms) {state}"
            )
            if not init.ok:
                failures.append(f"{logical_id}: init failed")
        print(f"  set up in {setup:.1f} s")
        print(f"  routing rules: {ROUTING_EXAMPLE.relative_to(ROOT)}\n")
        # Before any event: the relay's and fan-out's warm workers then read it on first use
        # (each process reuses the list of silences for SILENCE_CACHE_SECONDS).
        silence = add_demo_silence(stack)
        for path in events:
            event = json.loads(path.read_text(encoding="utf-8"))
            records = event.get("Records", [])
            subject = records[0].get("Sns", {}).get("Subject") if records else None
            title = f"━━ {path.name} ({len(records)} record{'s' if len(records) != 1 else ''})"
            print(style(title + (f"  {short(subject, 70)}" if subject else ""), BOLD))
            failures += show_event(path, stack.publish(event), email_count)
            print()
        failures += show_silenced(stack, silence)
        failures += show_flapping(stack)
        failures += show_silence_ended(stack, silence)
        print(style("━━ Slack incident view (the channel, as a reader sees it)", BOLD))
        show_incident_view(stack)
        if click_acknowledge(stack):
            stack.run_streams()
            print(style("━━ Slack incident view after the click", BOLD))
            show_incident_view(stack)
        print(style("━━ incidents in the history table", BOLD))
        show_incidents(stack)
        print("\n".join(run_scheduled_jobs(stack)))
    total = time.perf_counter() - started
    print()
    output = OUTPUT_DIR.relative_to(ROOT)
    print(
        f"{len(events)} events, {email_count[0]} emails written to {output}/, total {total:.1f} s"
    )
    if failures:
        print(style(f"{len(failures)} unexpected failure(s):", RED))
        for failure in failures:
            print(f"  {failure}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
