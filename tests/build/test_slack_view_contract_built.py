"""The Slack incident view, BUILT, driven exactly as CONTRACT.md's "Slack incident view" says.

An outside check knows only CONTRACT.md: it creates the history table from template.yaml's
``AlarmHistoryTable`` (keys, indexes, TTL, stream), runs the built functions with the contract's
variables and nothing else (no IDEMPOTENCY_TABLE_NAME, no POWERTOOLS_* or FLAP_* variables, none
of Lambda's own), reads the table's stream unfiltered and hands it to SlackIncidentFunction, and
sends signed Function URL events to SlackActionsFunction. This module does the same: bare workers
(local/runtime.py, ``bare=True``) holding the contract's variables plus the AWS endpoint, region
and credentials of moto's server, and SLACK_ALLOW_INSECURE_WEBHOOK=true for the loopback Web API.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from test_built_artifacts import load, with_new_message_ids

from local import BUILD_DIR, EVENTS_DIR
from local.aws import LocalAws, Template, create_tables
from local.runtime import RUNTIME_PYTHON, Worker
from local.slack_api import BOT_TOKEN, CHANNEL, LocalSlackApi
from local.slack_click import ACK, RESOLVE, block_actions, form_body, function_url_event
from local.slack_click import signed_event as slack_signed_event
from local.stream import HistoryStream

SECRET_NAME = "contract/slack/app"
SIGNING_SECRET = "contract-signing-secret-0123456789abcdef"
ONCALL, INTERN = "U0ONCALL", "U0INTERN"
FUNCTIONS = ("AlarmHistoryFunction", "SlackIncidentFunction", "SlackActionsFunction")

pytestmark = [
    pytest.mark.skipif(
        not all((BUILD_DIR / f).is_dir() for f in FUNCTIONS), reason="run `make build`"
    ),
    pytest.mark.skipif(not RUNTIME_PYTHON.exists(), reason="run `make test` (runtime venv)"),
]


@dataclasses.dataclass
class Contract:
    aws: LocalAws
    api: LocalSlackApi
    table: str
    stream: HistoryStream
    history: Worker
    incident: Worker
    actions: Worker

    def notify(self, name: str, **fields: Any) -> dict[str, Any]:
        """A sample event under new MessageIds through the built history function."""
        event = with_new_message_ids(load(EVENTS_DIR / name))
        for record in event["Records"] if fields else []:
            message = {**json.loads(record["Sns"]["Message"]), **fields}
            record["Sns"]["Message"] = json.dumps(message)
        inv = self.history.invoke(event)
        assert inv.ok, f"{inv.error_type}: {inv.error_message}\n{inv.traceback}"
        return event

    def project(self) -> dict[str, Any]:
        """Everything new on the stream, unfiltered, as one batch to the incident function."""
        event = {"Records": self.stream.read()}
        inv = self.incident.invoke(event)
        assert inv.ok, f"{inv.error_type}: {inv.error_message}\n{inv.traceback}"
        assert inv.result == {"batchItemFailures": []}, inv.logs
        return event

    def chat(self, method: str) -> list[Any]:
        return self.api.ok_calls(method)

    def incident_item(self, incident_id: str) -> dict[str, Any]:
        item = self.aws.client("dynamodb").get_item(
            TableName=self.table,
            Key={"pk": {"S": f"INC#{incident_id}"}, "sk": {"S": "META"}},
            ConsistentRead=True,
        )["Item"]
        return {k: next(iter(v.values())) for k, v in item.items()}

    def click(
        self, payload: dict[str, Any] | bytes, worker: Worker | None = None, **kw: Any
    ) -> int:
        inv = (worker or self.actions).invoke(slack_signed_event(payload, SIGNING_SECRET, **kw))
        assert inv.ok, f"{inv.error_type}: {inv.error_message}\n{inv.traceback}"
        return int(inv.result["statusCode"])


def bare_worker(template: Template, logical_id: str, env: dict[str, str], aws: LocalAws) -> Worker:
    spec = dataclasses.replace(template.function(logical_id), environment=env)
    return Worker(spec, {**aws.env(), "SLACK_ALLOW_INSECURE_WEBHOOK": "true"}, bare=True)


@pytest.fixture(scope="module")
def contract() -> Iterator[Contract]:
    template = Template(parameters={"SlackAppSecretName": SECRET_NAME})
    aws = LocalAws()
    api = LocalSlackApi()
    workers: list[Worker] = []
    try:
        table = create_tables(aws.client("dynamodb"), template, only={"AlarmHistoryTable"})[
            "AlarmHistoryTable"
        ]
        aws.create_secret(
            SECRET_NAME,
            {"bot_token": BOT_TOKEN, "signing_secret": SIGNING_SECRET, "channel": CHANNEL},
        )
        app = {"SLACK_APP_SECRET_ID": SECRET_NAME, "HISTORY_TABLE_NAME": table}
        workers = [
            bare_worker(template, "AlarmHistoryFunction", {"HISTORY_TABLE_NAME": table}, aws),
            bare_worker(template, "SlackIncidentFunction", {**app, "SLACK_API_URL": api.url}, aws),
            bare_worker(
                template, "SlackActionsFunction", {**app, "SLACK_ALLOWED_USERS": ONCALL}, aws
            ),
        ]
        for worker in workers:
            init = worker.init
            assert init.ok, f"{init.error_type}: {init.error_message}\n{init.traceback}"
        stream = HistoryStream(aws.client("dynamodbstreams"), table)
        yield Contract(aws, api, table, stream, *workers)
    finally:
        for worker in workers:
            worker.close()
        api.stop()
        aws.stop()


def card_text(payload: dict[str, Any]) -> str:
    return json.dumps(
        {k: payload.get(k) for k in ("text", "blocks", "attachments")}, ensure_ascii=False
    )


def action_ids(payload: dict[str, Any]) -> list[str]:
    """The buttons' action ids anywhere in the message (blocks, or blocks in attachments)."""
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "button" and "action_id" in node:
                found.append(node["action_id"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk({k: payload.get(k) for k in ("blocks", "attachments")})
    return found


def test_the_incident_view_and_its_buttons_through_the_contract_only(contract: Contract) -> None:
    c = contract
    name = "OTT-DB-CPU-Utilization-High"
    # First notification: one root post, with both buttons; the root kept on the incident.
    c.notify("cpu_alarm.json")
    first = c.project()
    (root_call,) = c.chat("chat.postMessage")
    assert "thread_ts" not in root_call.payload
    assert root_call.payload["channel"] == CHANNEL
    incident_id = next(
        r["dynamodb"]["NewImage"]["incident_id"]["S"]
        for r in first["Records"]
        if r["dynamodb"]["NewImage"].get("sk", {}).get("S") == "META"
    )
    text = card_text(root_call.payload)
    for part in (name, incident_id, "active", "1"):
        assert part in text
    assert {ACK, RESOLVE} <= set(action_ids(root_call.payload))
    buttons = json.dumps(root_call.payload, ensure_ascii=False)
    assert f'"value": "{incident_id}"' in buttons
    item = c.incident_item(incident_id)
    root = (root_call.answer["channel"], root_call.answer["ts"])
    assert (item["slack_channel"], item["slack_ts"]) == root

    # A later notification: one threaded post and one chat.update of the root.
    c.notify("cpu_alarm.json", StateChangeTime="2024-01-12T07:40:00.000+0000")
    c.project()
    posts, updates = c.chat("chat.postMessage"), c.chat("chat.update")
    assert (len(posts), len(updates)) == (2, 1)
    assert posts[1].payload["thread_ts"] == root[1]
    assert (updates[0].payload["channel"], updates[0].payload["ts"]) == root
    assert "2" in card_text(updates[0].payload)

    # Slack's signature, timestamp, body and size rules: nothing changes.
    ack = block_actions(incident_id, ACK, user=ONCALL, response_url=c.api.url + "respond")
    assert c.actions.invoke(function_url_event(form_body(ack), {})).result["statusCode"] == 401
    assert c.click(ack, timestamp=int(time.time()) - 400) == 401
    tampered = slack_signed_event(ack, SIGNING_SECRET)
    tampered["body"] = base64.b64encode(
        base64.b64decode(tampered["body"]).replace(ONCALL.encode(), b"U0EVILXX")
    ).decode()
    assert c.actions.invoke(tampered).result["statusCode"] == 401
    assert c.click(b"payload=not-json") == 400
    assert c.click(b"hello") == 400
    assert c.click(dict(ack, padding="x" * 65_536)) == 413
    assert c.click({"type": "view_submission", "user": {"id": ONCALL}}) == 200
    # A user outside SLACK_ALLOWED_USERS: 200, nothing changes.
    assert c.click(block_actions(incident_id, RESOLVE, user=INTERN)) == 200
    assert c.incident_item(incident_id)["status"] == "active"
    c.project()
    assert (len(c.chat("chat.postMessage")), len(c.chat("chat.update"))) == (2, 1)

    # A signed ack click: 200, acknowledged by slack:<user>; the stream: an update and a reply.
    assert c.click(ack) == 200
    item = c.incident_item(incident_id)
    assert (item["status"], item["acknowledged_by"]) == ("acknowledged", f"slack:{ONCALL}")
    assert item["acknowledged_at"]
    assert c.click(ack) == 200  # again: nothing more
    c.project()
    posts, updates = c.chat("chat.postMessage"), c.chat("chat.update")
    assert (len(posts), len(updates)) == (3, 2)
    assert posts[2].payload["thread_ts"] == root[1]
    assert "acknowledged" in card_text(updates[1].payload)
    assert ONCALL in card_text(updates[1].payload)

    # Resolved by OK: one update without buttons and one reply.
    c.notify("cpu_ok.json")
    c.project()
    posts, updates = c.chat("chat.postMessage"), c.chat("chat.update")
    assert (len(posts), len(updates)) == (4, 3)
    assert posts[3].payload["thread_ts"] == root[1]
    final = updates[2].payload
    assert "resolved" in card_text(final)
    assert action_ids(final) == []
    assert c.incident_item(incident_id)["status"] == "resolved"

    # A notice: one top-level post.
    notice = c.notify("plain_text.json")
    batch = c.project()
    posts = c.chat("chat.postMessage")
    assert len(posts) == 5
    assert "thread_ts" not in posts[4].payload
    assert len(c.chat("chat.update")) == 3

    # The same batches again (at least once): nothing new in Slack.
    calls = len(c.api.calls)
    for again in (first, batch):
        inv = c.incident.invoke(again)
        assert (inv.ok, inv.result) == (True, {"batchItemFailures": []})
    assert len(c.api.calls) == calls
    # The same SNS delivery again: stored once, nothing new in Slack either.
    assert c.history.invoke(notice).ok
    c.project()
    assert len(c.api.calls) == calls


def test_records_one_at_a_time_and_a_plain_body_without_an_allowlist(contract: Contract) -> None:
    """Batch size 1 (each stream record its own invocation) gives the same messages; the actions
    function without SLACK_ALLOWED_USERS (optional) lets anyone click, and takes a body that the
    Function URL did not base64-encode."""
    c = contract
    posts, updates = len(c.chat("chat.postMessage")), len(c.chat("chat.update"))
    c.notify("database_connections_alarm.json")
    c.notify("database_connections_alarm.json", StateChangeTime="2024-01-12T08:40:00.000+0000")
    records = c.stream.read()
    for record in records:
        inv = c.incident.invoke({"Records": [record]})
        assert (inv.ok, inv.result) == (True, {"batchItemFailures": []}), inv.error_message
    new_posts = c.chat("chat.postMessage")[posts:]
    assert len(new_posts) == 2  # the root, then one reply in its thread
    assert "thread_ts" not in new_posts[0].payload
    assert new_posts[1].payload["thread_ts"] == new_posts[0].answer["ts"]
    assert len(c.chat("chat.update")) == updates + 1
    incident_id = next(
        r["dynamodb"]["NewImage"]["incident_id"]["S"]
        for r in records
        if r["dynamodb"]["NewImage"].get("sk", {}).get("S") == "META"
    )

    template = Template(parameters={"SlackAppSecretName": SECRET_NAME})
    app = {"SLACK_APP_SECRET_ID": SECRET_NAME, "HISTORY_TABLE_NAME": c.table}
    with bare_worker(template, "SlackActionsFunction", app, c.aws) as anyone:
        resolve = block_actions(incident_id, RESOLVE, user=INTERN, response_url=c.api.url + "r")
        plain = slack_signed_event(resolve, SIGNING_SECRET, base64_encoded=False)
        inv = anyone.invoke(plain)
    assert (inv.ok, inv.result) == (True, {"statusCode": 200}), inv.error_message
    item = c.incident_item(incident_id)
    assert (item["status"], item["resolved_by"]) == ("resolved", f"slack:{INTERN}")
    c.project()
    final = c.chat("chat.update")[-1].payload
    assert action_ids(final) == []
