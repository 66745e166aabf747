"""Test support for the Slack incident view: the history table as the template declares it (with its
stream) in moto's server, the history writer and SlackIncidentFunction loaded in-process, the
stream read back from moto and handed over in Lambda's shape, and the loopback Slack Web API.
"""

from __future__ import annotations

import copy
import io
import json
import logging
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import boto3
import pytest
from conftest import ROOT, FakeLambdaContext, load_event, load_function

if str(ROOT) not in sys.path:  # the local pipeline's modules (local/)
    sys.path.insert(0, str(ROOT))

from local.aws import Template, create_tables
from local.slack_api import BOT_TOKEN, CHANNEL, LocalSlackApi
from local.stream import HistoryStream, StreamRun, deliver

SECRET_ID = "ott/slack/app"
SIGNING_SECRET = "test-signing-secret-not-used-here"
TEMPLATE = Template(parameters={"SlackAppSecretName": SECRET_ID})
TABLE = TEMPLATE.physical_name("AlarmHistoryTable")
IDEMPOTENCY_TABLE = TEMPLATE.physical_name("IdempotencyTable")


def alarm_event(name: str = "cpu_alarm.json", **fields: Any) -> dict[str, Any]:
    """A sample event with a new MessageId (and some alarm message fields replaced)."""
    event = copy.deepcopy(load_event(name))
    for record in event["Records"]:
        record["Sns"]["MessageId"] = str(uuid.uuid4())
        if fields:
            message = json.loads(record["Sns"]["Message"])
            message.update(fields)
            record["Sns"]["Message"] = json.dumps(message)
    return event


@dataclass
class IncidentView:
    """The history writer and the Slack incident view on one moto table and one loopback Slack."""

    slack: LocalSlackApi
    history: ModuleType
    view: ModuleType
    stream: HistoryStream
    logs: io.StringIO
    results: list[Any] = field(default_factory=list)

    def notify(self, event: dict[str, Any]) -> None:
        """What AlarmHistoryFunction does with an SNS event: the table changes, the stream fills."""
        self.history.handler(event, FakeLambdaContext("alarm-history"))

    def invoke(self, event: dict[str, Any]) -> dict[str, Any]:
        result = self.view.handler(event, FakeLambdaContext("slack-incident"))
        self.results.append(result)
        return result

    def records(self) -> list[dict[str, Any]]:
        """New stream records, in Lambda's event shape."""
        return self.stream.read()

    def pump(self, batch_size: int = 50, max_retries: int = 2) -> StreamRun:
        """Hand the new records to the function as the event source mapping would."""
        return self.deliver(self.records(), batch_size=batch_size, max_retries=max_retries)

    def deliver(
        self, records: list[dict[str, Any]], batch_size: int = 50, max_retries: int = 2
    ) -> StreamRun:
        def invoke(event: dict[str, Any]) -> tuple[bool, Any, Any]:
            result = self.invoke(event)
            return True, result, result

        return deliver(records, invoke, batch_size=batch_size, max_retries=max_retries)

    def incident(self, incident_id: str) -> dict[str, Any]:
        from alert_service import incidents

        found = incidents.get_incident(incident_id)
        assert found is not None
        return found

    def calls(self, method: str) -> list[Any]:
        return self.slack.ok_calls(method)

    def log_text(self) -> str:
        return self.logs.getvalue()


def card_text(payload: dict[str, Any]) -> str:
    """Every text a reader could see in a message (text, blocks, attachments), as one string."""
    parts: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, str):
            parts.append(node)
        elif isinstance(node, dict):
            for key, value in node.items():
                if key not in ("type", "style", "action_id", "color", "block_id"):
                    walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk({k: payload.get(k) for k in ("text", "blocks", "attachments")})
    return "\n".join(parts)


def buttons(payload: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for container in [payload, *(payload.get("attachments") or [])]:
        for block in container.get("blocks") or []:
            if block.get("type") == "actions":
                found.extend(e for e in block.get("elements", []) if e.get("type") == "button")
    return found


# Fixtures under their own names, so a test module imports them without shadowing its arguments.
@pytest.fixture(name="slack_api")
def slack_api_fixture() -> Iterator[LocalSlackApi]:
    api = LocalSlackApi()
    yield api
    api.stop()


# The bot tokens a test may use: no output of any test may hold one.
WRONG_TOKEN = "xoxb-999999999999-999999999999-WR0NGT0KENxxxxxxxxxxxxxx"
TOKENS = (BOT_TOKEN, WRONG_TOKEN)


@pytest.fixture(name="incident_view")
def incident_view_fixture(
    aws: str,
    slack_api: LocalSlackApi,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> Iterator[IncidentView]:
    from alert_service import secrets

    create_tables(boto3.client("dynamodb"), TEMPLATE)
    put_app_secret(BOT_TOKEN, CHANNEL)
    for name, value in {
        "HISTORY_TABLE_NAME": TABLE,
        "IDEMPOTENCY_TABLE_NAME": IDEMPOTENCY_TABLE,
        "SLACK_APP_SECRET_ID": SECRET_ID,
        "SLACK_API_URL": slack_api.url,
        "SLACK_ALLOW_INSECURE_WEBHOOK": "true",
        "POWERTOOLS_SERVICE_NAME": "slack-incident",
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("HISTORY_RETENTION_DAYS", "ALERT_LOCALE", "ALERT_TIMEZONE", "ALERT_PLATFORM_NAME"):
        monkeypatch.delenv(name, raising=False)
    secrets.reset()
    logs = io.StringIO()
    view = load_function("slack_incident")
    monkeypatch.setattr(view.logger.registered_handler, "stream", logs)
    caplog.set_level(logging.INFO)  # as deployed (Lambda ApplicationLogLevel INFO)
    incident_view = IncidentView(
        slack=slack_api,
        history=load_function("alarm_history"),
        view=view,
        stream=HistoryStream(
            boto3.client("dynamodbstreams"),
            TABLE,
            filters=template_filters("SlackIncidentFunction"),
        ),
        logs=logs,
    )
    yield incident_view
    captured = capsys.readouterr()
    outputs = (
        logs.getvalue(),
        caplog.text,
        captured.out,
        captured.err,
        repr(incident_view.results),
    )
    for text in outputs:
        for token in TOKENS:
            assert token not in text
    secrets.reset()


def template_filters(function: str) -> tuple[dict[str, Any], ...]:
    """The FilterCriteria patterns of ``function``'s stream event source, as the template says."""
    from local.aws import read_template

    events = read_template()["Resources"][function]["Properties"]["Events"]
    return tuple(
        json.loads(f["Pattern"])
        for event in events.values()
        if event.get("Type") == "DynamoDB"
        for f in event["Properties"].get("FilterCriteria", {}).get("Filters", [])
    )


def put_app_secret(token: str, channel: str) -> None:
    value = json.dumps({"bot_token": token, "signing_secret": SIGNING_SECRET, "channel": channel})
    client = boto3.client("secretsmanager")
    try:
        client.create_secret(Name=SECRET_ID, SecretString=value)
    except client.exceptions.ResourceExistsException:
        client.put_secret_value(SecretId=SECRET_ID, SecretString=value)
