"""What ``sam build`` produced, run as Lambda runs it.

Each built function runs in a worker process (local/runtime.py) whose path holds only the built
function, the built layer's ``python/`` and boto3 (``.venv-runtime``), against moto's server and
the loopback Slack: a module missing from the layer, a layer folder one level too deep, or a
dependency that only the dev venv has fails here as it would after ``sam deploy``.

One warm worker per function serves every sample event (fast); one fresh worker per function
measures and checks the cold start.
"""

from __future__ import annotations

import copy
import io
import json
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from local import BUILD_DIR, EVENTS_DIR
from local.aws import Template
from local.runtime import RUNTIME_PYTHON, RUNTIME_VENV

LAYER_ID = "SharedLayer"
FUNCTION_CODE_LIMIT = 50 * 1024  # zipped; the handlers are thin, the work is in the layer
# What Lambda's python3.11 runtime itself provides next to the standard library.
RUNTIME_PACKAGES = {"boto3", "botocore", "s3transfer", "jmespath", "dateutil", "six", "urllib3"}

pytestmark = [
    pytest.mark.skipif(
        not BUILD_DIR.is_dir(), reason=f"{BUILD_DIR} is missing: run `make build` (make test does)"
    ),
    pytest.mark.skipif(
        not RUNTIME_PYTHON.exists(),
        reason=f"{RUNTIME_VENV} is missing: run `make test` (it creates the boto3-only venv)",
    ),
]

TEMPLATE = Template()
FUNCTIONS = [spec.logical_id for spec in TEMPLATE.functions()]
# The functions on the db-alarm topic take its SNS events; the others have events of their own.
SNS_FUNCTIONS = [spec.logical_id for spec in TEMPLATE.functions() if spec.subscriptions]
EVENTS = sorted(EVENTS_DIR.glob("*.json"))


def load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def stack() -> Iterator[Any]:
    from local.pipeline import LocalPipeline

    with LocalPipeline() as pipeline:
        yield pipeline


def first_event(stack: Any, function: str) -> dict[str, Any]:
    """The first event a function gets in a cold start: an alarm for the SNS functions; for the
    scheduled ones what their trigger sends (a stream record, a schedule's input, a cron tick)."""
    if function in SNS_FUNCTIONS:
        return with_new_message_ids(load(EVENTS_DIR / "cpu_alarm.json"))
    env = stack.specs[function].environment
    if function == "IncidentTimersFunction":
        from local.scheduled_jobs import ScheduledJobs

        table = stack.template.physical_name("AlarmHistoryTable")
        ScheduledJobs(stack.aws.client, table=table, group=env["SCHEDULE_GROUP_NAME"]).prepare()
        return incident_insert_record()
    if function == "IncidentEscalationFunction":
        return {"incident_id": f"INC-20240112073000-{uuid.uuid4().hex[:16]}", "step": "escalate-1"}
    if function == "DailyDigestFunction":
        return {}  # ScheduleV2 without an Input
    raise AssertionError(f"{function}: no first event known; add one here")


def incident_insert_record() -> dict[str, Any]:
    """A DynamoDB stream event: the CPU sample's incident item inserted, under a fresh key."""
    from alert_service import history, parse

    from local.scheduled_jobs import insert_event

    (notification,) = parse.notifications(load(EVENTS_DIR / "cpu_alarm.json"))
    key = uuid.uuid4().hex[:16]
    item = history.incident_item(
        notification.alarm,
        key=key,
        incident=history.incident_id(notification.alarm.state_changed_at, key),
        at="2024-01-12T07:30:00.000Z",
        message_id=notification.message_id,
    )
    return insert_event(item)


def with_new_message_ids(event: dict[str, Any]) -> dict[str, Any]:
    """The event with fresh MessageIds, so once-only delivery does not skip it as a repeat."""
    event = copy.deepcopy(event)
    for record in event.get("Records", []):
        record["Sns"]["MessageId"] = str(uuid.uuid4())
    return event


# --------------------------------------------------------------------------------------------
# The artifacts themselves
# --------------------------------------------------------------------------------------------
def test_layer_has_the_package_at_the_top_of_python() -> None:
    python = BUILD_DIR / LAYER_ID / "python"
    assert (python / "alert_service" / "__init__.py").is_file()
    assert not (python / "python").exists(), "the package would land in /opt/python/python"


def test_layer_leaves_boto3_to_the_runtime() -> None:
    python = BUILD_DIR / LAYER_ID / "python"
    bundled = sorted(
        p.name
        for p in python.iterdir()
        if p.name.split("-")[0] in ("boto3", "botocore", "s3transfer")
    )
    assert bundled == [], f"the layer bundles what the runtime already has: {bundled}"


def test_runtime_venv_holds_only_boto3() -> None:
    """The worker's interpreter must not see the dev venv (moto, pytest, requests, ...)."""
    site = next(RUNTIME_VENV.glob("lib/python3.*/site-packages"))
    packages = {
        p.name.removesuffix(".py")
        for p in site.iterdir()
        if not p.name.endswith((".dist-info", ".pth"))
        and p.name not in ("__pycache__", "bin")
        and not p.name.startswith(("_", "."))
    }
    assert packages <= RUNTIME_PACKAGES, packages - RUNTIME_PACKAGES


@pytest.mark.parametrize("function", FUNCTIONS)
def test_function_code_is_small(function: str) -> None:
    """The function's own zip (what sam package uploads for it) stays under 50 KB."""
    folder = BUILD_DIR / function
    if not folder.is_dir():
        pytest.fail(f"{function} was not built")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(folder))
    size = len(buffer.getvalue())
    assert size < FUNCTION_CODE_LIMIT, f"{function}: {size} bytes zipped"
    assert (folder / "app.py").is_file()


# --------------------------------------------------------------------------------------------
# Running them
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("function", FUNCTIONS)
def test_cold_start_in_a_fresh_process(stack: Any, function: str, record_property: Any) -> None:
    event = first_event(stack, function)
    with stack.fresh_worker(function) as worker:
        init = worker.init
        assert init.ok, f"{function} failed to import: {init.error_type}: {init.error_message}"
        delivery = stack.direct(function, event, worker=worker)
    inv = delivery.invocation
    assert inv.ok, f"{inv.error_type}: {inv.error_message}\n{inv.traceback}"
    record_property("init_ms", round(init.init_ms, 1))
    record_property("first_invoke_ms", round(inv.duration_ms, 1))
    print(f"{function}: init {init.init_ms:.0f} ms, first invoke {inv.duration_ms:.0f} ms")


@pytest.mark.parametrize("event_path", EVENTS, ids=[p.stem for p in EVENTS])
@pytest.mark.parametrize("function", SNS_FUNCTIONS)
def test_every_event_is_delivered(stack: Any, function: str, event_path: Path) -> None:
    event = load(event_path)
    delivery = stack.direct(function, event)
    inv = delivery.invocation
    assert inv.ok, f"{inv.error_type}: {inv.error_message}\n{inv.traceback}"
    check_delivered(stack, function, event, delivery)


def test_published_event_reaches_every_subscribed_function(stack: Any) -> None:
    """Through the topic: moto fans one publish out to each function's subscription."""
    event = load(EVENTS_DIR / "multi_record.json")
    deliveries = stack.publish(event)
    records = len(event["Records"])
    for function in stack.specs:
        runs = [d for d in deliveries if d.function == function]
        subscriptions = stack.specs[function].subscriptions
        if not subscriptions:
            continue
        if any(s.filter_policy for s in subscriptions):  # the filter may leave some out
            assert len(runs) <= records, f"{function}: {len(runs)} invocations"
        else:
            assert len(runs) == records, f"{function}: {len(runs)} invocations"
        for run in runs:
            assert run.invocation.ok, f"{function}: {run.invocation.error_message}"
            # SNS delivers one record per Lambda invocation, under a MessageId of its own.
            assert run.event["Records"][0]["EventSource"] == "aws:sns"
            check_delivered(stack, function, run.event, run)


# --------------------------------------------------------------------------------------------
# What "delivered" means for each function
# --------------------------------------------------------------------------------------------
def check_delivered(stack: Any, function: str, event: dict[str, Any], delivery: Any) -> None:
    records = event.get("Records", [])
    env = stack.specs[function].environment
    if function == "SlackRelayFunction":
        assert len(delivery.slack) == len(records), "one Slack POST per record"
        for post in delivery.slack:
            payload = post.payload
            assert isinstance(payload, dict)
            assert payload.get("text")
            assert payload.get("attachments") or payload.get("blocks")
    elif function == "NotifyFanoutFunction":
        emails, sms = expected_fanout(event, env)
        assert len(delivery.emails) == emails, [m.get("subject") for m in delivery.emails]
        assert len(delivery.sms) == sms, [m.get("message") for m in delivery.sms]
        for mail in delivery.emails:
            assert mail.get("subject")
            assert mail.get("body")
    elif function == "AlarmHistoryFunction":
        table = env["HISTORY_TABLE_NAME"]
        ddb = stack.aws.client("dynamodb")
        for record in records:
            message_id = record["Sns"]["MessageId"]
            items = ddb.scan(  # a test may scan; the function and CLI only query
                TableName=table,
                FilterExpression="message_id = :m",
                ExpressionAttributeValues={":m": {"S": message_id}},
            )["Items"]
            assert items, f"no history item for MessageId {message_id}"
            assert any(
                item.get("raw_payload", {}).get("S") == record["Sns"]["Message"] for item in items
            ), "the raw payload is kept unchanged"
    else:  # a function added later: it ran without error, which is all that is known here
        assert delivery.invocation.ok


def expected_fanout(event: dict[str, Any], env: dict[str, str]) -> tuple[int, int]:
    """Emails and SMS the fan-out should send: by state (EMAIL_STATES / SMS_STATES); a
    notification that is not an alarm goes by email only (issue 3, part 3)."""
    from alert_service import parse

    def items(name: str, default: str = "") -> set[str]:
        return {x.strip().upper() for x in (env.get(name) or default).split(",") if x.strip()}

    email_to = len(items("EMAIL_RECIPIENTS"))
    sms_to = len(items("SMS_RECIPIENTS"))
    email_states = items("EMAIL_STATES", "ALARM,OK")
    sms_states = items("SMS_STATES", "ALARM")
    emails = sms = 0
    for notification in parse.notifications(event):
        state = notification.state
        if state is None or state.value in email_states:
            emails += email_to
        if state is not None and state.value in sms_states:
            sms += sms_to
    return emails, sms


def test_scheduled_jobs_after_the_events(stack: Any) -> None:
    """What make demo can show after the sample events: escalations, a reminder, the digest."""
    from local.scheduled_jobs import run_demo

    for path in EVENTS:  # the history the earlier tests left may be empty when run alone
        stack.direct("AlarmHistoryFunction", load(path))
    lines = run_demo(stack)
    text = "\n".join(lines)
    assert "escalate-1" in text
    assert "<!here>" in text
    assert "<!channel>" in text
    assert "remind-1" in text
    assert "daily digest, period ending" in text
