"""Slack relay end to end: SNS event -> handler -> moto (secrets, idempotency) -> loopback Slack.

Slack is pytest-httpserver on 127.0.0.1; every test asserts what arrived there.
"""

from __future__ import annotations

import io
import json
import logging
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
import requests
from alert_service import secrets
from alert_service.channels import DeliveriesFailed
from alert_service.channels import slack as slack_channel
from aws_lambda_powertools.metrics.provider import cold_start
from conftest import load_event
from slack_relay_support import (
    ROTATED_PATH,
    SECRET_ID,
    SECRET_TOKENS,
    WEBHOOK_PATH,
    Relay,
    load_handler_module,
    with_alarm_fields,
    with_message_id,
)
from werkzeug import Request, Response

CPU_ALARM_ID = "7b2e4f1a-3c5d-5e6f-8a9b-0c1d2e3f4a5b"
MULTI_IDS = (
    "6c0e2a4f-8b5d-5b9e-a3d7-1f3b5d7e9a2c",  # CPU ALARM
    "b3f5d7a9-1c6e-5a8b-9e2d-4f6a8c0e2d5b",  # DatabaseConnections ALARM
    "0a4c6e8b-2d7f-5c1a-b5e9-7d9f1b3a5c8e",  # plain-text notice
)


@pytest.fixture(scope="module")
def relay_module() -> Any:
    with pytest.MonkeyPatch.context() as env:
        # Its own logger name, so other functions' tests in this process keep theirs.
        env.setenv("POWERTOOLS_SERVICE_NAME", "slack-relay")
        env.setenv("POWERTOOLS_METRICS_NAMESPACE", "AlertService")
        module = load_handler_module()
    yield module
    module.webhook.close()


@pytest.fixture
def relay(
    relay_module: Any,
    aws: str,
    idempotency_table: str,
    httpserver_ipv4: Any,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> Iterator[Relay]:
    for name in ("ALERT_LOCALE", "ALERT_TIMEZONE", "ALERT_PLATFORM_NAME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "slack-relay")
    monkeypatch.setenv("SLACK_WEBHOOK_SECRET_ID", SECRET_ID)
    monkeypatch.setenv("SLACK_ALLOW_INSECURE_WEBHOOK", "true")  # the loopback "Slack"
    secrets.reset()
    relay_module.webhook.close()  # a fresh session per test, as after a cold start
    stream = io.StringIO()
    monkeypatch.setattr(relay_module.logger.registered_handler, "stream", stream)
    caplog.set_level(logging.INFO)  # as deployed (POWERTOOLS_LOG_LEVEL, Lambda ApplicationLogLevel)
    relay = Relay(relay_module, httpserver_ipv4, stream)
    yield relay
    # Whatever a test did, no output of it may hold the webhook's secret path.
    captured = capsys.readouterr()
    for text in (relay.log_text(), caplog.text, captured.out, captured.err):
        for token in SECRET_TOKENS:
            assert token not in text
    secrets.reset()


def put_secret(relay: Relay, path: str = WEBHOOK_PATH, **extra: str) -> None:
    value = {"webhook_url": relay.url(path), **extra}
    boto3.client("secretsmanager").create_secret(Name=SECRET_ID, SecretString=json.dumps(value))


def rotate_secret(relay: Relay, path: str) -> None:
    boto3.client("secretsmanager").put_secret_value(
        SecretId=SECRET_ID, SecretString=json.dumps({"webhook_url": relay.url(path)})
    )


def slack_ok(relay: Relay, path: str = WEBHOOK_PATH) -> None:
    relay.server.expect_request(path, method="POST").respond_with_data("ok")


def emf_lines(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    """EMF metric lines printed so far (printed again, so the leak check still sees them)."""
    out = capsys.readouterr().out
    print(out, end="")
    return [json.loads(line) for line in out.splitlines() if '"_aws"' in line]


class RetrySleeps:
    """The waits urllib3's Retry asks for, recorded (and really slept) as they happen.

    Asserting these, not the wall clock, keeps the tests exact on a loaded machine: a slow host
    stretches elapsed time, never the waits the retry logic decides.
    """

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.waits: list[float] = []
        real_sleep = time.sleep

        def sleep(seconds: float) -> None:
            if sys._getframe(1).f_globals.get("__name__") == "urllib3.util.retry":
                self.waits.append(seconds)
            real_sleep(seconds)

        monkeypatch.setattr(time, "sleep", sleep)


def assert_no_secret(*texts: str) -> None:
    for text in texts:
        for token in SECRET_TOKENS:
            assert token not in text


# --- the message --------------------------------------------------------------------------------


def test_cpu_alarm_arrives_as_the_contract_says(relay: Relay) -> None:
    put_secret(relay)
    slack_ok(relay)

    assert relay.invoke(load_event("cpu_alarm.json")) == {"delivered": 1}

    [(path, payload)] = relay.posts()
    assert path == WEBHOOK_PATH
    assert set(payload) == {"text", "attachments"}
    assert payload["text"] == "🚨 *[OTT 인프라 감지]* 상태가 *ALARM*로 변경되었습니다."
    [attachment] = payload["attachments"]
    assert attachment["color"] == "#eb4034"
    assert attachment["title"] == "경보 상세: OTT-DB-CPU-Utilization-High"
    assert attachment["fields"][:5] == [
        {"title": "대상 리전", "value": "ap-northeast-2", "short": True},
        {"title": "감시 메트릭", "value": "CPUUtilization", "short": True},
        {"title": "임계치", "value": "80%", "short": True},
        {"title": "발생 시간", "value": "2024-01-12 16:30:00 KST", "short": True},
        {
            "title": "상세 사유",
            "value": "Threshold Crossed: 1 out of the last 1 datapoints "
            "[87.43166666666667 (12/01/24 07:25:00)] was greater than or equal to the threshold "
            "(80.0) (minimum 1 datapoint for OK -&gt; ALARM transition).",
            "short": False,
        },
    ]
    assert attachment["footer"] == "OTT 플랫폼 통합 관제 시스템"
    assert attachment["ts"] == 1705044600
    request = relay.server.log[0][0]
    assert request.headers["Content-Type"] == "application/json"


def test_ok_event_is_green(relay: Relay) -> None:
    put_secret(relay)
    slack_ok(relay)

    relay.invoke(load_event("cpu_ok.json"))

    [(_, payload)] = relay.posts()
    assert payload["text"] == "✅ *[OTT 인프라 감지]* 상태가 *OK*로 변경되었습니다."
    assert payload["attachments"][0]["color"] == "#2eb886"


def test_channel_ping_in_alarm_name_arrives_escaped(relay: Relay) -> None:
    put_secret(relay)
    slack_ok(relay)
    event = with_alarm_fields(load_event("cpu_alarm.json"), AlarmName="<!channel> DB & <b|link>")

    relay.invoke(event)

    [(_, payload)] = relay.posts()
    title = payload["attachments"][0]["title"]
    assert title == "경보 상세: &lt;!channel&gt; DB &amp; &lt;b|link&gt;"
    raw_body = relay.server.log[0][0].get_data(as_text=True)
    assert "<!channel>" not in raw_body


def test_english_locale(relay: Relay, monkeypatch: pytest.MonkeyPatch) -> None:
    from alert_service import config

    monkeypatch.setenv("ALERT_LOCALE", "en")
    config.display_settings.cache_clear()
    put_secret(relay)
    slack_ok(relay)

    relay.invoke(load_event("cpu_alarm.json"))

    [(_, payload)] = relay.posts()
    attachment = payload["attachments"][0]
    assert payload["text"] == "🚨 *[OTT Infrastructure Alert]* State changed to *ALARM*."
    assert attachment["title"] == "Alarm details: OTT-DB-CPU-Utilization-High"
    assert [f["title"] for f in attachment["fields"][:5]] == [
        "Region",
        "Metric",
        "Threshold",
        "Time",
        "Reason",
    ]
    assert attachment["footer"] == "OTT Platform Monitoring"


# --- retries ------------------------------------------------------------------------------------


def test_rate_limit_is_waited_out_then_delivered(
    relay: Relay, monkeypatch: pytest.MonkeyPatch
) -> None:
    put_secret(relay)
    relay.server.expect_oneshot_request(WEBHOOK_PATH, method="POST").respond_with_data(
        "rate_limited", status=429, headers={"Retry-After": "1"}
    )
    slack_ok(relay)
    sleeps = RetrySleeps(monkeypatch)

    assert relay.invoke(load_event("cpu_alarm.json")) == {"delivered": 1}

    posts = relay.posts()
    assert len(posts) == 2
    assert posts[0][1] == posts[1][1]
    assert sleeps.waits == [1.0]  # Retry-After honoured
    [line] = [line for line in relay.log_lines() if line["message"] == "slack delivered"]
    assert line["attempts"] == 2


def test_rate_limit_longer_than_the_cap_is_left_to_lambdas_retry(
    relay: Relay, monkeypatch: pytest.MonkeyPatch
) -> None:
    put_secret(relay)
    relay.server.expect_request(WEBHOOK_PATH, method="POST").respond_with_data(
        "rate_limited", status=429, headers={"Retry-After": "60"}
    )
    sleeps = RetrySleeps(monkeypatch)

    with pytest.raises(DeliveriesFailed, match="429"):
        relay.invoke(load_event("cpu_alarm.json"))

    assert len(relay.posts()) == 1
    assert sleeps.waits == []  # the 60 s are not waited inside the invocation


def test_persisting_server_error_fails_after_bounded_attempts(
    relay: Relay, monkeypatch: pytest.MonkeyPatch
) -> None:
    put_secret(relay)
    relay.server.expect_request(WEBHOOK_PATH, method="POST").respond_with_data(
        "internal_error", status=500
    )
    sleeps = RetrySleeps(monkeypatch)

    with pytest.raises(DeliveriesFailed) as raised:
        relay.invoke(load_event("cpu_alarm.json"))

    assert len(relay.posts()) == 1 + slack_channel.MAX_RETRIES
    # Backoff 0 + 0.5 + 1 s between the four attempts, well inside the retry window.
    assert sleeps.waits == [0.5, 1.0]
    assert sum(sleeps.waits) < slack_channel.RETRY_WINDOW_SECONDS
    assert raised.value.failures == (
        f"{CPU_ALARM_ID}: Slack server error 500 after 4 attempts: internal_error",
    )


def test_read_timeout_is_not_retried(relay: Relay, monkeypatch: pytest.MonkeyPatch) -> None:
    # A POST that timed out while reading may already be in the channel: no second copy.
    monkeypatch.setattr(slack_channel, "TIMEOUTS", (1.0, 0.3))
    put_secret(relay)

    answer = threading.Event()
    received: list[str] = []

    def slow(request: Request) -> Response:
        received.append(request.path)  # counted on arrival, before any answer
        answer.wait(10)  # answers only once the relay has given up on it
        return Response("ok")

    relay.server.expect_request(WEBHOOK_PATH, method="POST").respond_with_handler(slow)
    relay.server.expect_request("/sentinel").respond_with_data("done")

    with pytest.raises(DeliveriesFailed, match="did not answer in time") as raised:
        relay.invoke(load_event("cpu_alarm.json"))

    answer.set()
    # A request of our own, answered only after every request the relay sent before it (the
    # server takes connections in order): then every copy the relay sent has arrived.
    assert requests.get(relay.server.url_for("/sentinel"), timeout=10).text == "done"
    assert received == [WEBHOOK_PATH]
    assert_no_secret(str(raised.value))


def test_unreachable_slack_is_reported_without_the_url(relay: Relay) -> None:
    # A port nothing listens on: connection refused, retried as a connect error, then reported.
    with socket_closed_port() as port:
        url = f"http://127.0.0.1:{port}{WEBHOOK_PATH}"
        boto3.client("secretsmanager").create_secret(
            Name=SECRET_ID, SecretString=json.dumps({"webhook_url": url})
        )
        with pytest.raises(DeliveriesFailed, match="unreachable") as raised:
            relay.invoke(load_event("cpu_alarm.json"))

    assert_no_secret(str(raised.value), repr(raised.value.__context__))
    assert raised.value.__cause__ is None


# --- an invalid webhook and the secret ----------------------------------------------------------


def test_revoked_webhook_reads_the_rotated_secret_and_uses_it(relay: Relay) -> None:
    put_secret(relay)

    def revoked(request: Request) -> Response:
        # Rotated while the function still had the old URL cached.
        rotate_secret(relay, ROTATED_PATH)
        return Response("no_service", status=404)

    relay.server.expect_request(WEBHOOK_PATH, method="POST").respond_with_handler(revoked)
    slack_ok(relay, ROTATED_PATH)

    assert relay.invoke(load_event("cpu_alarm.json")) == {"delivered": 1}

    posts = relay.posts()
    assert [path for path, _ in posts] == [WEBHOOK_PATH, ROTATED_PATH]
    assert posts[0][1] == posts[1][1]


def test_revoked_webhook_after_refetch_still_revoked_raises(relay: Relay) -> None:
    put_secret(relay)

    def revoked(request: Request) -> Response:
        rotate_secret(relay, ROTATED_PATH)
        return Response("no_service", status=404)

    relay.server.expect_request(WEBHOOK_PATH, method="POST").respond_with_handler(revoked)
    relay.server.expect_request(ROTATED_PATH, method="POST").respond_with_data(
        "channel_is_archived", status=410
    )

    with pytest.raises(DeliveriesFailed) as raised:
        relay.invoke(load_event("cpu_alarm.json"))

    assert [path for path, _ in relay.posts()] == [WEBHOOK_PATH, ROTATED_PATH]
    assert raised.value.failures == (
        f"{CPU_ALARM_ID}: Slack rejected the webhook: 410 channel_is_archived",
    )


def test_revoked_webhook_with_unchanged_secret_is_not_posted_again(relay: Relay) -> None:
    put_secret(relay)
    relay.server.expect_request(WEBHOOK_PATH, method="POST").respond_with_data(
        "no_service", status=404
    )

    with pytest.raises(DeliveriesFailed, match="404 no_service"):
        relay.invoke(load_event("cpu_alarm.json"))

    assert len(relay.posts()) == 1


def test_missing_secret_names_the_secret(relay: Relay) -> None:
    slack_ok(relay)

    with pytest.raises(DeliveriesFailed) as raised:
        relay.invoke(load_event("cpu_alarm.json"))

    assert raised.value.failures == (
        f"{CPU_ALARM_ID}: Slack webhook secret '{SECRET_ID}' does not exist",
    )
    assert relay.posts() == []


def test_secret_without_webhook_url_names_the_secret(relay: Relay) -> None:
    boto3.client("secretsmanager").create_secret(
        Name=SECRET_ID, SecretString=json.dumps({"url": "https://hooks.slack.com/x"})
    )

    with pytest.raises(DeliveriesFailed, match=f"'{SECRET_ID}' has no 'webhook_url' key"):
        relay.invoke(load_event("cpu_alarm.json"))


def test_loopback_webhook_refused_without_the_local_switch(
    relay: Relay, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SLACK_ALLOW_INSECURE_WEBHOOK")
    put_secret(relay)
    slack_ok(relay)

    with pytest.raises(DeliveriesFailed, match="SLACK_ALLOW_INSECURE_WEBHOOK=true") as raised:
        relay.invoke(load_event("cpu_alarm.json"))

    assert relay.posts() == []
    assert SECRET_ID in str(raised.value)


# --- once per MessageId, every record attempted -------------------------------------------------


def test_redelivered_message_is_posted_once(relay: Relay) -> None:
    put_secret(relay)
    slack_ok(relay)
    event = load_event("cpu_alarm.json")

    assert relay.invoke(event) == {"delivered": 1}
    assert relay.invoke(event) == {"delivered": 0}

    assert len(relay.posts()) == 1
    messages = [line["message"] for line in relay.log_lines()]
    assert messages.count("slack delivered") == 1
    assert messages.count("slack already delivered") == 1


def test_one_bad_record_of_three_fails_alone_and_its_retry_posts_only_it(relay: Relay) -> None:
    put_secret(relay)
    healthy = {"value": False}

    def slack(request: Request) -> Response:
        if "OTT-DB-Connections-High" in request.get_data(as_text=True) and not healthy["value"]:
            return Response("service_unavailable", status=503)
        return Response("ok")

    relay.server.expect_request(WEBHOOK_PATH, method="POST").respond_with_handler(slack)
    event = load_event("multi_record.json")

    with pytest.raises(DeliveriesFailed) as raised:
        relay.invoke(event)

    [failure] = raised.value.failures
    assert failure.startswith(f"{MULTI_IDS[1]}: Slack server error 503")
    assert MULTI_IDS[0] not in str(raised.value)
    assert MULTI_IDS[2] not in str(raised.value)
    titles = [payload["attachments"][0]["title"] for _, payload in relay.posts()]
    assert titles.count("경보 상세: OTT-DB-CPU-Utilization-High") == 1
    assert titles.count("알림: [OTT] Load test notice") == 1
    assert titles.count("경보 상세: OTT-DB-Connections-High") == 4  # 1 + 3 retries
    first_round = len(titles)

    healthy["value"] = True
    assert relay.invoke(event) == {"delivered": 1}  # Lambda's retry of the same event

    retried = [payload["attachments"][0]["title"] for _, payload in relay.posts()[first_round:]]
    assert retried == ["경보 상세: OTT-DB-Connections-High"]


def test_failures_never_reveal_the_webhook(
    relay: Relay, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    put_secret(relay)
    answers = iter(
        [
            Response(f"error at {relay.url()}", status=400),  # Slack echoing the URL back
            Response("internal_error", status=500),
            Response("invalid_token", status=403),
        ]
    )
    relay.server.expect_request(WEBHOOK_PATH, method="POST").respond_with_handler(
        lambda request: next(answers, Response("internal_error", status=500))
    )

    for index in range(3):
        event = with_message_id(load_event("cpu_alarm.json"), f"leak-check-{index}")
        with pytest.raises(DeliveriesFailed) as raised:
            relay.invoke(event)
        assert_no_secret(str(raised.value))

    out = capsys.readouterr()
    logs = relay.log_text()
    assert logs.count("slack delivery failed") == 3
    assert_no_secret(logs, caplog.text, out.out, out.err)
    # What is logged instead: scheme and host, the path replaced.
    assert f"http://127.0.0.1:{relay.server.port}/<redacted>" in logs


# --- observability ------------------------------------------------------------------------------


def test_logs_and_metrics(relay: Relay, capsys: pytest.CaptureFixture[str]) -> None:
    put_secret(relay)
    slack_ok(relay)

    cold_start.reset_cold_start_flag()  # another test may have had this process's cold start

    relay.invoke(load_event("cpu_alarm.json"))

    [line] = [line for line in relay.log_lines() if line["message"] == "slack delivered"]
    assert line["level"] == "INFO"
    assert line["message_id"] == CPU_ALARM_ID
    assert line["correlation_id"] == CPU_ALARM_ID
    assert line["alarm_name"] == "OTT-DB-CPU-Utilization-High"
    assert line["state"] == "ALARM"
    assert line["status"] == 200
    assert line["function_name"] == "ott-alert-service-slack-relay"
    emf = emf_lines(capsys)
    [delivered] = [m for m in emf if "NotificationsDelivered" in m]
    assert delivered["NotificationsDelivered"] == [1.0]
    assert delivered["channel"] == "slack"
    assert delivered["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "AlertService"
    [cold] = [m for m in emf if "ColdStart" in m]
    assert cold["function_name"] == "ott-alert-service-slack-relay"


def test_failed_delivery_is_counted(relay: Relay, capsys: pytest.CaptureFixture[str]) -> None:
    put_secret(relay)
    relay.server.expect_request(WEBHOOK_PATH, method="POST").respond_with_data(
        "invalid_payload", status=400
    )

    with pytest.raises(DeliveriesFailed, match="400 invalid_payload"):
        relay.invoke(load_event("cpu_alarm.json"))

    assert len(relay.posts()) == 1  # a 400 is not retried
    [failed] = [m for m in emf_lines(capsys) if "NotificationsFailed" in m]
    assert failed["NotificationsFailed"] == [1.0]
    assert failed["channel"] == "slack"


class socket_closed_port:
    """A loopback port that refuses connections (bound, then closed)."""

    def __enter__(self) -> int:
        import socket

        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        sock.close()
        return self.port

    def __exit__(self, *exc: object) -> None:
        return None
