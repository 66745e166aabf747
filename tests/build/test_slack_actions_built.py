"""The built SlackActionsFunction, run as Lambda runs it, driven exactly as CONTRACT.md says.

The built AlarmHistoryFunction opens the incident from a sample event; the built actions function
(fresh worker: the built function, the built layer and boto3, nothing else) receives Function URL
events (payload 2.0, base64 body) signed as Slack signs them (local/slack_click.py); its ephemeral
replies reach the loopback Slack. DynamoDB is read back from moto.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from local import BUILD_DIR, EVENTS_DIR
from local.runtime import RUNTIME_PYTHON, Worker
from local.slack_click import ACK, RESOLVE, block_actions, click, form_body, function_url_event
from local.slack_click import signed_event as slack_signed_event

FUNCTION = "SlackActionsFunction"
SECRET_NAME = "ott/slack/app"
SIGNING_SECRET = "built-test-signing-secret-0123456789abcdef"
BOT_TOKEN = "xoxb-0000000000-0000000000000-BUILTTESTTOKEN"
# Slack's limit for the 200, cold start included.
SLACK_DEADLINE_MS = 3000

pytestmark = [
    pytest.mark.skipif(not (BUILD_DIR / FUNCTION).is_dir(), reason="run `make build`"),
    pytest.mark.skipif(not RUNTIME_PYTHON.exists(), reason="run `make test` (runtime venv)"),
]


@pytest.fixture(scope="module")
def stack() -> Iterator[Any]:
    from local.pipeline import LocalPipeline

    with LocalPipeline(
        parameters={"SlackAppSecretName": SECRET_NAME, "Locale": "en"},
        functions=["AlarmHistoryFunction", FUNCTION],
        start_workers=False,
    ) as pipeline:
        # The pipeline made the app secret with its demo values; this test signs with its own.
        pipeline.aws.client("secretsmanager").put_secret_value(
            SecretId=SECRET_NAME,
            SecretString=json.dumps(
                {"bot_token": BOT_TOKEN, "signing_secret": SIGNING_SECRET, "channel": "C0LOCALDEMO"}
            ),
        )
        pipeline.start_workers()
        yield pipeline


def open_incident(stack: Any, event_name: str) -> str:
    """The incident id of the ALARM in ``events/<event_name>``, opened by the built history fn."""
    event = json.loads((EVENTS_DIR / event_name).read_text(encoding="utf-8"))
    inv = stack.direct("AlarmHistoryFunction", event).invocation
    assert inv.ok, inv.error_message
    table = stack.specs["AlarmHistoryFunction"].environment["HISTORY_TABLE_NAME"]
    message_id = event["Records"][0]["Sns"]["MessageId"]
    item = stack.aws.client("dynamodb").get_item(
        TableName=table, Key={"pk": {"S": f"MSG#{message_id}"}, "sk": {"S": "EVENT"}}
    )["Item"]
    return str(item["incident_id"]["S"])


def incident(stack: Any, incident_id: str) -> dict[str, str]:
    table = stack.specs[FUNCTION].environment["HISTORY_TABLE_NAME"]
    item = stack.aws.client("dynamodb").get_item(
        TableName=table,
        Key={"pk": {"S": f"INC#{incident_id}"}, "sk": {"S": "META"}},
        ConsistentRead=True,
    )["Item"]
    return {k: next(iter(v.values())) for k, v in item.items()}


def reply_url(stack: Any) -> str:
    return f"{stack.slack.base_url}/actions/T0LOCALDEMO/1/built"


def test_cold_click_acknowledges_within_slacks_deadline(stack: Any, record_property: Any) -> None:
    incident_id = open_incident(stack, "cpu_alarm.json")
    stack.slack.take()
    with stack.fresh_worker(FUNCTION) as worker:
        init = worker.init
        assert init.ok, f"{init.error_type}: {init.error_message}\n{init.traceback}"
        inv = click(
            worker, incident_id, signing_secret=SIGNING_SECRET, response_url=reply_url(stack)
        )
    assert inv.ok, f"{inv.error_type}: {inv.error_message}\n{inv.traceback}"
    assert inv.result == {"statusCode": 200}
    item = incident(stack, incident_id)
    assert item["status"] == "acknowledged"
    assert item["acknowledged_by"] == "slack:U0LOCALDEMO"
    (reply,) = stack.slack.take()
    assert reply.payload["response_type"] == "ephemeral"
    assert incident_id in reply.payload["text"]
    cold_ms = init.init_ms + inv.duration_ms
    record_property("cold_click_ms", round(cold_ms, 1))
    print(f"{FUNCTION}: init {init.init_ms:.0f} ms + first click {inv.duration_ms:.0f} ms")
    assert cold_ms < SLACK_DEADLINE_MS


def test_contract_status_codes(stack: Any) -> None:
    incident_id = open_incident(stack, "freeable_memory_alarm.json")
    worker = stack.workers[FUNCTION]

    def status(event: dict[str, Any]) -> Any:
        inv = worker.invoke(event)
        assert inv.ok, f"{inv.error_type}: {inv.error_message}"
        return inv.result["statusCode"]

    def signed(payload: dict[str, Any] | bytes, **kwargs: Any) -> dict[str, Any]:
        return slack_signed_event(payload, SIGNING_SECRET, **kwargs)

    ack = block_actions(incident_id, ACK, user="U0ONCALL", response_url=reply_url(stack))
    big = dict(ack, padding="x" * 65_536)
    assert status(function_url_event(form_body(ack), {})) == 401
    assert status(signed(ack, timestamp=int(time.time()) - 400)) == 401
    tampered = signed(ack)
    tampered["body"] = base64.b64encode(
        base64.b64decode(tampered["body"]).replace(b"U0ONCALL", b"U0EVILXX")
    ).decode()
    assert status(tampered) == 401
    assert status(signed(big)) == 413
    assert status(signed(b"payload=not-json")) == 400
    assert status(signed({"type": "view_submission", "user": {"id": "U0ONCALL"}})) == 200
    assert incident(stack, incident_id)["status"] == "active"  # nothing above changed it

    # Allowlisted users only (a worker of its own: the variable stays set in a worker): another
    # user changes nothing and is told so.
    spec = stack.specs[FUNCTION]
    with Worker(spec, {**stack.local_env(spec), "SLACK_ALLOWED_USERS": "U0ONCALL"}) as strict:
        intern = block_actions(incident_id, RESOLVE, user="U0INTERN", response_url=reply_url(stack))
        inv = strict.invoke(signed(intern))
    assert inv.result == {"statusCode": 200}
    assert incident(stack, incident_id)["status"] == "active"
    assert "may not" in stack.slack.take()[-1].payload["text"]

    assert status(signed(ack)) == 200
    assert status(signed(ack)) == 200  # a second click: one outcome
    item = incident(stack, incident_id)
    assert (item["status"], item["acknowledged_by"]) == ("acknowledged", "slack:U0ONCALL")
    resolve = block_actions(incident_id, RESOLVE, user="U0ONCALL", response_url=reply_url(stack))
    assert status(signed(resolve)) == 200
    item = incident(stack, incident_id)
    assert (item["status"], item["resolved_by"]) == ("resolved", "slack:U0ONCALL")
    texts = [post.payload["text"] for post in stack.slack.take()]
    assert [("You acknowledged" in t, "already" in t, "You resolved" in t) for t in texts] == [
        (True, False, False),
        (False, True, False),
        (False, False, True),
    ]


def test_logs_hold_no_secret(stack: Any) -> None:
    incident_id = open_incident(stack, "database_connections_alarm.json")
    worker = stack.workers[FUNCTION]
    inv = click(worker, incident_id, signing_secret=SIGNING_SECRET, response_url=reply_url(stack))
    bad = click(worker, incident_id, signing_secret="not-the-secret")
    assert inv.result == {"statusCode": 200}
    assert bad.result == {"statusCode": 401}
    logs = "\n".join(inv.logs + bad.logs)
    assert '"result":"acknowledged"' in logs.replace(" ", "")
    for secret in (SIGNING_SECRET, BOT_TOKEN, "/actions/T0LOCALDEMO/1/built"):
        assert secret not in logs
