"""Once-only delivery against a real (moto) idempotency table."""

from __future__ import annotations

import json

import boto3
import pytest
from alert_service import clients, delivery


def test_key_survives_a_renamed_function(
    idempotency_table: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The key used to hold the Lambda function's name: a redeploy under another stack name forgot
    # every delivery, and a replay of the failure queue sent them all again.
    sends: list[str] = []
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "ott-alert-service-slack-relay")
    first = delivery.deliver_once("slack", "m-1", "webhook", lambda: sends.append("a") or "ts-1")
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "renamed-stack-slack-relay")
    delivery.reset()  # a new deployment is a new process
    again = delivery.deliver_once("slack", "m-1", "webhook", lambda: sends.append("b") or "ts-2")

    assert sends == ["a"]
    assert (first.sent, again.sent) == (True, False)
    items = boto3.client("dynamodb").scan(TableName=idempotency_table)["Items"]
    assert [item["id"]["S"].split("#")[0] for item in items] == [delivery.KEY_PREFIX]
    assert "relay" not in json.dumps(items)


def test_a_repeat_returns_what_the_first_send_returned(idempotency_table: str) -> None:
    # The Slack incident view keeps the ts of the message it posted: a retry must get it back.
    first = delivery.deliver_once("slack-app", "m-2", "C1", lambda: {"ts": "1700000000.000100"})
    again = delivery.deliver_once("slack-app", "m-2", "C1", lambda: {"ts": "never"})
    assert first == delivery.Delivered(sent=True, result={"ts": "1700000000.000100"})
    assert again == delivery.Delivered(sent=False, result={"ts": "1700000000.000100"})


def test_each_channel_and_recipient_is_its_own_delivery(idempotency_table: str) -> None:
    sends: list[tuple[str, str]] = []
    for channel, recipient in [("email", "a@x.io"), ("email", "b@x.io"), ("sms", "a@x.io")]:
        delivery.deliver_once(
            channel, "m-3", recipient, lambda c=channel, r=recipient: sends.append((c, r))
        )
    delivery.deliver_once("email", "m-3", "a@x.io", lambda: sends.append(("again", "")))
    assert sends == [("email", "a@x.io"), ("email", "b@x.io"), ("sms", "a@x.io")]


def test_a_failed_send_is_not_remembered(idempotency_table: str) -> None:
    def broken() -> None:
        raise RuntimeError("Slack is down")

    with pytest.raises(RuntimeError):
        delivery.deliver_once("slack", "m-4", "webhook", broken)
    assert delivery.deliver_once("slack", "m-4", "webhook", lambda: "ok").sent


def test_a_disabled_table_sends_every_time_and_makes_no_client(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # POWERTOOLS_IDEMPOTENCY_DISABLED turns the table off; the store was still built, and with it a
    # DynamoDB client: tens of ms of every cold start for a table nobody writes.
    made: list[str] = []
    real = clients.client
    monkeypatch.setattr(clients, "client", lambda service: made.append(service) or real(service))
    monkeypatch.setenv("POWERTOOLS_IDEMPOTENCY_DISABLED", "true")
    delivery.reset()
    sends: list[str] = []
    delivery.register_lambda_context(None)
    first = delivery.deliver_once("slack", "m-5", "webhook", lambda: sends.append("a") or "ts-a")
    again = delivery.deliver_once("slack", "m-5", "webhook", lambda: sends.append("b") or "ts-b")
    assert sends == ["a", "b"]
    assert (first, again) == (
        delivery.Delivered(sent=True, result="ts-a"),
        delivery.Delivered(sent=True, result="ts-b"),
    )
    assert made == []


def test_without_an_idempotency_table_the_history_table_keeps_the_records(
    aws: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # CONTRACT.md names only HISTORY_TABLE_NAME for the Slack incident view: once-only must hold
    # with that alone.
    ddb = boto3.client("dynamodb")
    ddb.create_table(
        TableName="history",
        KeySchema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    monkeypatch.delenv("IDEMPOTENCY_TABLE_NAME", raising=False)
    monkeypatch.setenv("HISTORY_TABLE_NAME", "history")
    sends: list[int] = []
    first = delivery.deliver_once(
        "slack-app", "m-5", "C1", lambda: sends.append(1) or {"ts": "1.1"}
    )
    again = delivery.deliver_once(
        "slack-app", "m-5", "C1", lambda: sends.append(2) or {"ts": "2.2"}
    )
    assert sends == [1]
    assert again.result == first.result == {"ts": "1.1"}
    (item,) = ddb.scan(TableName="history")["Items"]
    assert item["pk"]["S"] == delivery.HISTORY_CLAIMS_PK
    assert item["sk"]["S"].startswith(delivery.KEY_PREFIX + "#")
    assert int(item["expires_at"]["N"]) > 0  # the table's TTL removes it


def test_without_any_table_delivery_refuses_rather_than_risk_a_repeat(
    aws: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from alert_service.config import ConfigurationError

    monkeypatch.delenv("IDEMPOTENCY_TABLE_NAME", raising=False)
    monkeypatch.delenv("HISTORY_TABLE_NAME", raising=False)
    with pytest.raises(ConfigurationError, match="IDEMPOTENCY_TABLE_NAME"):
        delivery.deliver_once("slack", "m-6", "webhook", lambda: None)
