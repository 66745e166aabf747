"""What every handler owes the contract (CONTRACT.md "Handlers"), checked for each function.

- An event that is not an SNS event fails the invocation: returning success would let
  ``make replay`` delete a failure-queue message that nobody delivered.
- A payload the parser fails on is still delivered, and the failure is logged and counted.
- A delivery a retry cannot help still fails the invocation (the failure destination keeps it),
  reported as needing an operator.
"""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from alert_service import parse, secrets
from alert_service.channels import DeliveriesFailed, DeliveriesRefused
from conftest import FakeLambdaContext, load_event, load_function

HANDLERS = ("slack_relay", "notify_fanout", "alarm_history")
SQS_EVENT = {
    "Records": [
        {"messageId": "m", "body": "{}", "eventSource": "aws:sqs", "EventSource": "aws:sqs"}
    ]
}
NOT_SNS_EVENTS = {
    "empty": {},
    "scheduled": {"source": "aws.events", "detail-type": "Scheduled Event", "detail": {}},
    "sqs": SQS_EVENT,
    "record_without_sns": {"Records": [{"EventSource": "aws:sns"}]},
    "sns_and_another_source": {
        "Records": [load_event("cpu_alarm.json")["Records"][0], SQS_EVENT["Records"][0]]
    },
}
# A CloudWatch alarm whose TriggeringChildren is not a list: the parser fails on it.
BROKEN_ALARM = json.dumps(
    {"AlarmName": "OTT-DB-Broken", "NewStateValue": "ALARM", "TriggeringChildren": 5}
)


@pytest.fixture
def configured(aws: str, idempotency_table: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every function's variables set (nothing behind them needs to exist for these tests)."""
    monkeypatch.setenv("SLACK_WEBHOOK_SECRET_ID", "ott/slack/webhook")
    monkeypatch.setenv("SLACK_ALLOW_INSECURE_WEBHOOK", "true")
    monkeypatch.setenv("EMAIL_SENDER", "alerts@ott.example.com")
    monkeypatch.setenv("EMAIL_RECIPIENTS", "oncall@example.com")
    monkeypatch.setenv("SMS_RECIPIENTS", "+821012345678")
    monkeypatch.setenv("HISTORY_TABLE_NAME", "alert-history-missing")
    secrets.reset()


@pytest.mark.parametrize("name", HANDLERS)
@pytest.mark.parametrize("kind", sorted(NOT_SNS_EVENTS))
def test_an_event_that_is_not_sns_fails_every_handler(
    configured: None, name: str, kind: str
) -> None:
    app = load_function(name)

    with pytest.raises(parse.NotAnSnsEvent, match="not an SNS event"):
        app.handler(NOT_SNS_EVENTS[kind], FakeLambdaContext(name))


def with_message(message: str) -> dict[str, Any]:
    event = load_event("cpu_alarm.json")
    event["Records"][0]["Sns"]["Message"] = message
    return event


def test_a_parser_failure_is_delivered_logged_and_counted(
    configured: None, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    from moto.ses.models import ses_backends

    boto3.client("sesv2").create_email_identity(EmailIdentity="ott.example.com")
    app = load_function("notify_fanout")

    assert app.handler(with_message(BROKEN_ALARM), FakeLambdaContext("fanout")) == {"delivered": 1}

    [mail] = ses_backends["123456789012"]["ap-northeast-2"].sent_messages  # still delivered
    assert mail.destinations["ToAddresses"] == ["oncall@example.com"]
    [line] = [r for r in caplog.records if r.name == "alert_service.parse"]
    assert line.levelname == "ERROR"
    assert line.error_type == "TypeError"  # type: ignore[attr-defined]
    assert "OTT-DB-Broken" not in caplog.text  # the payload stays out of the log
    emf = [json.loads(s) for s in capsys.readouterr().out.splitlines() if '"_aws"' in s]
    assert [m[parse.PARSE_ERROR_METRIC] for m in emf if parse.PARSE_ERROR_METRIC in m] == [[1.0]]


def test_a_refusal_no_retry_can_fix_still_fails_and_names_the_operator(
    configured: None,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The fan-out reads the quiet state from the history table when it has one; this test is
    # about SES (test_notification_path covers refusals with the quiet state on).
    monkeypatch.delenv("HISTORY_TABLE_NAME")
    # The sender is not verified in SES: every retry would be refused the same way.
    app = load_function("notify_fanout")
    event = load_event("cpu_ok.json")  # OK: email only (SMS_STATES defaults to ALARM)

    with pytest.raises(DeliveriesRefused, match="needs an operator") as raised:
        app.handler(event, FakeLambdaContext("fanout"))

    assert isinstance(raised.value, DeliveriesFailed)  # Lambda retries, the destination keeps it
    [failed] = [r for r in caplog.records if r.getMessage().startswith("Delivery failed")]
    assert failed.levelname == "ERROR"
    assert "needs an operator" in failed.getMessage()
    assert failed.retryable is False  # type: ignore[attr-defined]
    out = capsys.readouterr().out
    emf = [json.loads(s) for s in out.splitlines() if '"_aws"' in s]
    [refused] = [m for m in emf if "DeliveriesRefused" in m]
    assert (refused["DeliveriesRefused"], refused["channel"]) == ([1.0], "email")


def test_an_unexpected_failure_counts_as_retryable(
    configured: None, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    # AWS (the idempotency table, the secret) unreachable: a retry may help, so no "refused".
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # discard port: refused
    from alert_service import clients

    clients.reset()
    secrets.reset()
    app = load_function("slack_relay")

    with pytest.raises(DeliveriesFailed) as raised:
        app.handler(load_event("cpu_alarm.json"), FakeLambdaContext("relay"))

    assert not isinstance(raised.value, DeliveriesRefused)
    [failed] = [r for r in caplog.records if r.getMessage().startswith("slack delivery failed")]
    assert failed.levelname == "ERROR"  # logger.exception: not a DeliveryError, traceback kept
    assert failed.retryable is True  # type: ignore[attr-defined]
