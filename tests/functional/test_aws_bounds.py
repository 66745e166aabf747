"""Every AWS call is bounded, and a send that may have been delivered is never repeated at once.

A loopback HTTP server stands in for AWS: it can hang without answering (a read timeout), answer
throttling or 5xx, then succeed; it counts the requests that reached it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from alert_service import channels, clients
from alert_service.channels import DeliveryError
from alert_service.channels import email as email_channel
from alert_service.channels import sms as sms_channel
from alert_service.render.email import Email

NUMBER = "+821012345678"
# Generous: the bound is what is asserted, not the machine's speed.
MARGIN_SECONDS = 5.0
SNS_OK = (
    200,
    "<PublishResponse><PublishResult><MessageId>m-1</MessageId></PublishResult>"
    "<ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></PublishResponse>",
)


def sns_error(status: int, code: str) -> tuple[int, str]:
    return (
        status,
        f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>no</Message>"
        "</Error><RequestId>r</RequestId></ErrorResponse>",
    )


@dataclass
class FakeAws:
    """Answers scripted (status, body) pairs in order; None (or an empty script) hangs."""

    url: str = ""
    script: list[tuple[int, str] | None] = field(default_factory=list)
    requests: int = 0
    released: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def next_answer(self) -> tuple[int, str] | None:
        with self.lock:
            self.requests += 1
            return self.script.pop(0) if self.script else None


@pytest.fixture
def fake_aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeAws]:
    fake = FakeAws()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            answer = fake.next_answer()
            if answer is None:
                fake.released.wait(60)  # never answer while the test runs
                return
            status, body = answer
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/xml")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    for name, value in {
        "AWS_ENDPOINT_URL": fake.url,
        "AWS_REGION": "ap-northeast-2",
        "AWS_DEFAULT_REGION": "ap-northeast-2",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setattr(channels, "SEND_BACKOFF_SECONDS", 0.0)
    clients.reset()
    yield fake
    fake.released.set()
    server.shutdown()
    server.server_close()
    clients.reset()


def short_reads(monkeypatch: pytest.MonkeyPatch, service: str, read: float) -> clients.Bounds:
    """The service's configured bounds with a short read timeout, to keep the test quick."""
    configured = clients.bounds(service)
    bounds = clients.Bounds(connect=configured.connect, read=read, attempts=configured.attempts)
    monkeypatch.setitem(clients.BOUNDS, service, bounds)
    return bounds


# --- configuration ------------------------------------------------------------------------------


@pytest.mark.parametrize("service", sorted(clients.FUNCTION_SERVICES))
def test_each_function_client_has_deliberate_bounds_that_fit_the_function(
    fake_aws: FakeAws, service: str
) -> None:
    bounds = clients.bounds(service)
    config = clients.client(service).meta.config

    assert (config.connect_timeout, config.read_timeout) == (bounds.connect, bounds.read)
    assert config.retries == {"mode": "standard", "total_max_attempts": bounds.attempts}
    assert bounds.worst_case_seconds() <= clients.CALL_BUDGET_SECONDS
    assert clients.CALL_BUDGET_SECONDS < clients.FUNCTION_TIMEOUT_SECONDS


@pytest.mark.parametrize("service", ["sesv2", "sns"])
def test_sends_that_are_not_idempotent_make_one_attempt_per_client_call(service: str) -> None:
    bounds = clients.bounds(service)
    assert bounds.attempts == 1
    # send_with_retries' own attempts (only when nothing was sent) also fit the budget.
    backoff = sum(channels.SEND_BACKOFF_SECONDS * 2**n for n in range(channels.SEND_ATTEMPTS - 1))
    worst = channels.SEND_ATTEMPTS * (bounds.connect + bounds.read) + backoff
    assert worst <= clients.CALL_BUDGET_SECONDS


# --- sends: never repeated when they may have been delivered ------------------------------------


def test_sms_after_a_read_timeout_is_not_sent_again(
    fake_aws: FakeAws, monkeypatch: pytest.MonkeyPatch
) -> None:
    bounds = short_reads(monkeypatch, "sns", 0.5)

    started = time.monotonic()
    with pytest.raises(DeliveryError, match=r"SNS unreachable .*ReadTimeout") as raised:
        sms_channel.send(NUMBER, "CPU high")
    elapsed = time.monotonic() - started

    assert fake_aws.requests == 1
    assert raised.value.retryable  # Lambda's retry, a minute later, may send it
    assert elapsed < bounds.worst_case_seconds() + MARGIN_SECONDS
    assert NUMBER not in str(raised.value)


def test_email_after_a_read_timeout_is_not_sent_again(
    fake_aws: FakeAws, monkeypatch: pytest.MonkeyPatch
) -> None:
    bounds = short_reads(monkeypatch, "sesv2", 0.5)

    started = time.monotonic()
    with pytest.raises(DeliveryError, match="SES unreachable"):
        email_channel.send("alerts@example.com", "dba@example.com", Email("s", "<p>h</p>", "t"))

    assert fake_aws.requests == 1
    assert time.monotonic() - started < bounds.worst_case_seconds() + MARGIN_SECONDS


def test_throttled_sms_is_repeated_then_sent(fake_aws: FakeAws) -> None:
    fake_aws.script = [sns_error(400, "Throttling"), sns_error(400, "Throttling"), SNS_OK]

    assert sms_channel.send(NUMBER, "CPU high") == "m-1"
    assert fake_aws.requests == 3


def test_sms_server_error_is_not_repeated_in_the_call(fake_aws: FakeAws) -> None:
    # SNS may have handed the SMS to a carrier before failing: Lambda's retry decides, later.
    fake_aws.script = [sns_error(500, "InternalError"), SNS_OK]

    with pytest.raises(DeliveryError, match="InternalError") as raised:
        sms_channel.send(NUMBER, "CPU high")

    assert fake_aws.requests == 1
    assert raised.value.retryable


def test_persistent_throttling_gives_up_after_the_attempts(fake_aws: FakeAws) -> None:
    fake_aws.script = [sns_error(400, "Throttling")] * 5

    with pytest.raises(DeliveryError, match="Throttling") as raised:
        sms_channel.send(NUMBER, "CPU high")

    assert fake_aws.requests == 3
    assert raised.value.retryable


def test_refused_sms_is_not_retryable(fake_aws: FakeAws) -> None:
    fake_aws.script = [sns_error(400, "InvalidParameter")]

    with pytest.raises(DeliveryError, match="InvalidParameter") as raised:
        sms_channel.send(NUMBER, "CPU high")

    assert fake_aws.requests == 1
    assert not raised.value.retryable


# --- idempotent calls: retried, within the bound ------------------------------------------------


def test_dynamodb_call_gives_up_within_its_bound(
    fake_aws: FakeAws, monkeypatch: pytest.MonkeyPatch
) -> None:
    from botocore.exceptions import ReadTimeoutError

    bounds = short_reads(monkeypatch, "dynamodb", 0.3)

    started = time.monotonic()
    with pytest.raises(ReadTimeoutError):
        clients.client("dynamodb").get_item(TableName="t", Key={"pk": {"S": "x"}})
    elapsed = time.monotonic() - started

    assert fake_aws.requests == bounds.attempts == 3
    assert elapsed < bounds.worst_case_seconds() + MARGIN_SECONDS
