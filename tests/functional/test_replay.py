"""Replay end to end: Slack down -> failure queue -> Slack back -> alert-replay -> delivered once.

Everything is real but Lambda itself: the Slack relay handler runs in this process against moto's
server (Secrets Manager, DynamoDB idempotency table, SQS, SNS) and a loopback HTTP server as Slack.
Lambda's part is played by the test: it invokes the handler as often as asynchronous invocation
would (1 + 2 retries) and then puts the on-failure destination record, in the shape AWS documents,
on the failure queue; the SNS dead-letter shape comes from moto's own SNS -> SQS delivery.
"""

from __future__ import annotations

import contextlib
import io
import json
import traceback
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest
from alert_service import clients, replay, secrets
from alert_service.channels import DeliveriesFailed
from botocore.response import StreamingBody
from botocore.stub import Stubber
from conftest import FakeLambdaContext, load_event, load_function

ROOT = Path(__file__).resolve().parents[2]

ACCOUNT = "123456789012"
REGION = "ap-northeast-2"
FUNCTION_NAME = "alert-service-slack-relay"
FUNCTION_ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{FUNCTION_NAME}"
SECRET_ID = "ott/slack/webhook"
# The path of a webhook URL is its credential: it must never appear in the replay's output.
WEBHOOK_TOKEN = "x0FAKEr3playT0k3nCCCC"
WEBHOOK_PATH = f"/services/T00000000/B22222222/{WEBHOOK_TOKEN}"
ALARM_NAME = "OTT-DB-CPU-Utilization-High"
CPU_ALARM_ID = "7b2e4f1a-3c5d-5e6f-8a9b-0c1d2e3f4a5b"


@pytest.fixture(scope="module")
def relay_app() -> Iterator[ModuleType]:
    """functions/slack_relay/app.py, loaded by path (every function's module is ``app``)."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("POWERTOOLS_SERVICE_NAME", "slack-relay")
        env.setenv("POWERTOOLS_METRICS_NAMESPACE", "AlertService")
        module = load_function("slack_relay")
    yield module
    module.webhook.close()


@dataclass
class Setup:
    app: ModuleType
    slack: Any  # pytest_httpserver.HTTPServer on 127.0.0.1
    handler_output: io.StringIO  # the handler's logs and metrics, kept out of the CLI's stdout
    invoked: list[str] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)

    def run_handler(self, event: dict[str, Any]) -> Any:
        with contextlib.redirect_stdout(self.handler_output):
            return self.app.handler(event, FakeLambdaContext(FUNCTION_NAME))

    def invoker(self, function: str, event: dict[str, Any]) -> None:
        """What ``lambda.invoke`` does in AWS, done in-process: a raise is a FunctionError."""
        self.invoked.append(function)
        self.events.append(event)
        self.run_handler(event)

    def slack_down(self) -> None:
        self.slack.clear()
        self.slack.expect_request(WEBHOOK_PATH, method="POST").respond_with_data(
            "internal_error", status=500
        )

    def slack_up(self) -> None:
        self.slack.clear()
        self.slack.expect_request(WEBHOOK_PATH, method="POST").respond_with_data("ok")

    def slack_posts(self) -> list[dict[str, Any]]:
        return [json.loads(request.get_data()) for request, _ in self.slack.log]


@pytest.fixture
def setup(
    relay_app: ModuleType,
    aws: str,
    idempotency_table: str,
    httpserver_ipv4: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Setup]:
    for name in ("ALERT_LOCALE", "ALERT_TIMEZONE", "ALERT_PLATFORM_NAME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SLACK_WEBHOOK_SECRET_ID", SECRET_ID)
    monkeypatch.setenv("SLACK_ALLOW_INSECURE_WEBHOOK", "true")  # the loopback "Slack"
    secrets.reset()
    relay_app.webhook.close()
    output = io.StringIO()
    monkeypatch.setattr(relay_app.logger.registered_handler, "stream", output)
    boto3.client("secretsmanager").create_secret(
        Name=SECRET_ID,
        SecretString=json.dumps({"webhook_url": httpserver_ipv4.url_for(WEBHOOK_PATH)}),
    )
    yield Setup(relay_app, httpserver_ipv4, output)
    assert WEBHOOK_TOKEN not in output.getvalue()
    secrets.reset()


def create_queue(name: str) -> str:
    return boto3.client("sqs").create_queue(QueueName=name)["QueueUrl"]


def queue_depth(url: str) -> int:
    """Visible plus in flight: everything still in the queue."""
    attributes = boto3.client("sqs").get_queue_attributes(
        QueueUrl=url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(
        attributes["ApproximateNumberOfMessagesNotVisible"]
    )


def visible(url: str) -> int:
    attributes = boto3.client("sqs").get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"])


ON_FAILURE_RECORD = ROOT / "tests" / "fixtures" / "lambda" / "on_failure_record.json"


def destination_record(
    event: dict[str, Any], error: BaseException | None = None, attempts: int = 3
) -> dict[str, Any]:
    """What Lambda's on-failure destination writes for ``event``, in the documented shape.

    Built from AWS's example record (tests/fixtures/lambda/SOURCES.md); only what depends on the
    test changes: our function, the event, and the error the handler raised (the Python runtime's
    error object). Without an error, the example's own crash ("Process exited ...") stays.
    """
    record = json.loads(ON_FAILURE_RECORD.read_text(encoding="utf-8"))
    request_id = str(uuid.uuid4())
    record["requestContext"].update(
        requestId=request_id,
        functionArn=f"{FUNCTION_ARN}:$LATEST",
        approximateInvokeCount=attempts,
    )
    record["requestPayload"] = event
    if error is not None:
        record["responsePayload"] = {
            "errorMessage": str(error),
            "errorType": type(error).__name__,
            "requestId": request_id,
            "stackTrace": traceback.format_tb(error.__traceback__),
        }
    return record


def fail_as_lambda_would(setup: Setup, event: dict[str, Any], attempts: int = 3) -> dict[str, Any]:
    """Invoke like asynchronous invocation (1 try + 2 retries); return the on-failure record."""
    error: DeliveriesFailed | None = None
    for _ in range(attempts):
        with pytest.raises(DeliveriesFailed) as raised:
            setup.run_handler(event)
        error = raised.value
    assert error is not None
    return destination_record(event, error, attempts)


def cli(setup: Setup, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    capsys.readouterr()
    code = replay.main([*args, "--wait-seconds", "0"], invoker=setup.invoker)
    out = capsys.readouterr().out
    assert WEBHOOK_TOKEN not in out
    return code, out


# --- the destination record (function failed after Lambda's retries) ---------------------------


def test_slack_down_then_replay_delivers_once_and_empties_the_queue(
    setup: Setup, capsys: pytest.CaptureFixture[str]
) -> None:
    event = load_event("cpu_alarm.json")
    queue = create_queue("alert-service-slack-relay-failed")

    setup.slack_down()
    record = fail_as_lambda_would(setup, event)
    assert setup.slack.log  # it did try: Slack answered 500 every time
    boto3.client("sqs").send_message(QueueUrl=queue, MessageBody=json.dumps(record))

    # A dry run says what is waiting and why, touches nothing and leaves the message visible.
    code, out = cli(setup, capsys, "--queue-url", queue, "--dry-run")
    assert code == 0
    assert "would-replay" in out
    assert CPU_ALARM_ID in out
    assert ALARM_NAME in out
    assert "RetriesExhausted after 3 attempts" in out
    assert "DeliveriesFailed" in out
    assert "Slack server error 500" in out
    assert setup.invoked == []
    assert visible(queue) == 1

    setup.slack_up()
    code, out = cli(setup, capsys, "--queue-url", queue)
    assert code == 0, out
    assert "1 replayed, 0 failed" in out
    # The function came from the record; its qualifier is dropped so today's code runs.
    assert setup.invoked == [FUNCTION_ARN]
    [payload] = setup.slack_posts()
    assert payload["attachments"][0]["title"] == f"경보 상세: {ALARM_NAME}"
    assert queue_depth(queue) == 0

    # Nothing left: a second replay has nothing to do and succeeds.
    code, out = cli(setup, capsys, "--queue-url", queue)
    assert code == 0
    assert "nothing to replay" in out
    assert setup.invoked == [FUNCTION_ARN]
    assert len(setup.slack_posts()) == 1


def test_replaying_a_delivered_event_again_posts_nothing(
    setup: Setup, capsys: pytest.CaptureFixture[str]
) -> None:
    """The record of an event that was delivered meanwhile (e.g. SNS delivered it twice)."""
    event = load_event("cpu_alarm.json")
    queue = create_queue("alert-service-slack-relay-failed")
    setup.slack_down()
    record = fail_as_lambda_would(setup, event, attempts=1)  # its failure is not the point here
    setup.slack_up()
    setup.run_handler(event)  # a second copy of the event got through
    assert len(setup.slack_posts()) == 1
    boto3.client("sqs").send_message(QueueUrl=queue, MessageBody=json.dumps(record))

    code, out = cli(setup, capsys, "--queue-url", queue)

    assert code == 0, out
    assert setup.invoked == [FUNCTION_ARN]
    assert len(setup.slack_posts()) == 1  # idempotent per SNS MessageId: not posted again
    assert queue_depth(queue) == 0


def test_replay_that_fails_again_keeps_the_message_and_exits_non_zero(
    setup: Setup, capsys: pytest.CaptureFixture[str]
) -> None:
    event = load_event("cpu_alarm.json")
    queue = create_queue("alert-service-slack-relay-failed")
    setup.slack_down()
    record = fail_as_lambda_would(setup, event)
    boto3.client("sqs").send_message(QueueUrl=queue, MessageBody=json.dumps(record))
    tried_before = len(setup.slack.log)

    # Slack is still down.
    code, out = cli(setup, capsys, "--queue-url", queue, "--json", "--visibility-timeout", "0")

    assert code == 1
    report = json.loads(out)
    assert report["failed"] == 1
    assert report["replayed"] == 0
    [message] = report["messages"]
    assert message["status"] == "failed"
    assert message["sns_message_ids"] == [CPU_ALARM_ID]
    assert message["alarm_names"] == [ALARM_NAME]
    assert "Slack server error 500" in message["error"]
    assert len(setup.slack.log) > tried_before  # it really tried
    assert queue_depth(queue) == 1
    # The same record, unchanged, for the next replay.
    [left] = boto3.client("sqs").receive_message(QueueUrl=queue).get("Messages", [])
    assert json.loads(left["Body"]) == record


# --- the SNS subscription dead-letter queue (SNS could not invoke the function) -----------------


def test_sns_dead_letter_message_is_replayed_as_an_sns_event(
    setup: Setup, capsys: pytest.CaptureFixture[str]
) -> None:
    # What SNS puts in a subscription DLQ is what it sends an SQS subscriber: the SNS envelope.
    sns, sqs = boto3.client("sns"), boto3.client("sqs")
    topic = sns.create_topic(Name="ott-db-alarm-topic")["TopicArn"]
    queue = create_queue("alert-service-slack-relay-sns-dlq")
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    original = load_event("cpu_alarm.json")["Records"][0]["Sns"]
    published = sns.publish(
        TopicArn=topic, Message=original["Message"], Subject=original["Subject"]
    )["MessageId"]
    envelope = json.loads(
        sqs.receive_message(QueueUrl=queue, VisibilityTimeout=0)["Messages"][0]["Body"]
    )
    assert envelope["Type"] == "Notification"
    assert "SigningCertURL" in envelope
    setup.slack_up()

    # The envelope does not say which function it was for.
    code, out = cli(setup, capsys, "--queue-url", queue, "--visibility-timeout", "0")
    assert code == 1
    assert "pass --function" in out
    assert queue_depth(queue) == 1

    code, out = cli(setup, capsys, "--queue-url", queue, "--function", FUNCTION_NAME)

    assert code == 0, out
    assert setup.invoked == [FUNCTION_NAME]
    [event] = setup.events
    [lambda_record] = event["Records"]
    assert lambda_record["EventSource"] == "aws:sns"
    assert lambda_record["EventVersion"] == "1.0"
    assert lambda_record["Sns"]["MessageId"] == published
    assert lambda_record["Sns"]["TopicArn"] == topic
    assert lambda_record["Sns"]["Message"] == original["Message"]
    assert "SigningCertUrl" in lambda_record["Sns"]
    assert "SigningCertURL" not in lambda_record["Sns"]
    [payload] = setup.slack_posts()
    assert payload["attachments"][0]["title"] == f"경보 상세: {ALARM_NAME}"
    assert queue_depth(queue) == 0


# --- what cannot be replayed, and the default invoker --------------------------------------------


def test_unrecognised_message_stays_in_the_queue(
    setup: Setup, capsys: pytest.CaptureFixture[str]
) -> None:
    queue = create_queue("alert-service-slack-relay-failed")
    boto3.client("sqs").send_message(QueueUrl=queue, MessageBody="not a record")

    code, out = cli(setup, capsys, "--queue-url", queue, "--function", FUNCTION_NAME)

    assert code == 1
    assert "left in the queue" in out
    assert setup.invoked == []
    assert queue_depth(queue) == 1


def _payload(body: dict[str, Any]) -> StreamingBody:
    data = json.dumps(body).encode()
    return StreamingBody(io.BytesIO(data), len(data))


@pytest.mark.parametrize(
    ("response", "error"),
    [
        ({"StatusCode": 200, "Payload": None}, None),
        (
            {
                "StatusCode": 200,
                "FunctionError": "Unhandled",
                "Payload": {"errorType": "DeliveriesFailed", "errorMessage": "1 deliveries failed"},
            },
            "Unhandled function error: DeliveriesFailed: 1 deliveries failed",
        ),
    ],
)
def test_lambda_invoker_raises_on_function_error(
    aws: str, response: dict[str, Any], error: str | None
) -> None:
    event = load_event("cpu_alarm.json")
    client = clients.client("lambda")
    answer = {**response, "Payload": _payload(response["Payload"] or {"delivered": 1})}
    with Stubber(client) as stub:
        stub.add_response(
            "invoke",
            answer,
            {
                "FunctionName": FUNCTION_NAME,
                "InvocationType": "RequestResponse",
                "Payload": json.dumps(event).encode(),
            },
        )
        if error is None:
            replay.lambda_invoker(FUNCTION_NAME, event)
        else:
            with pytest.raises(replay.InvokeFailed, match=error):
                replay.lambda_invoker(FUNCTION_NAME, event)
        stub.assert_no_pending_responses()


# --- the documented record as it is, and events that are not SNS events --------------------------


def test_a_crashed_invocations_record_is_read_and_replayed(
    setup: Setup, capsys: pytest.CaptureFixture[str]
) -> None:
    # The documented example: the function crashed, so the payload holds only errorMessage.
    queue = create_queue("alert-service-slack-relay-failed")
    record = destination_record(load_event("cpu_alarm.json"))
    boto3.client("sqs").send_message(QueueUrl=queue, MessageBody=json.dumps(record))

    code, out = cli(setup, capsys, "--queue-url", queue, "--dry-run")
    assert code == 0
    assert "RetriesExhausted after 3 attempts" in out
    assert "Process exited before completing request" in out

    setup.slack_up()
    code, out = cli(setup, capsys, "--queue-url", queue)
    assert code == 0, out
    assert len(setup.slack_posts()) == 1
    assert queue_depth(queue) == 0


def test_a_record_whose_event_is_not_sns_is_never_deleted(
    setup: Setup, capsys: pytest.CaptureFixture[str]
) -> None:
    # Returning success for it (as the handlers once did) would delete it unread.
    queue = create_queue("alert-service-slack-relay-failed")
    record = destination_record({"detail-type": "Scheduled Event", "detail": {}})
    boto3.client("sqs").send_message(QueueUrl=queue, MessageBody=json.dumps(record))
    setup.slack_up()

    code, out = cli(setup, capsys, "--queue-url", queue, "--json", "--visibility-timeout", "0")

    assert code == 1
    [message] = json.loads(out)["messages"]
    assert message["status"] == "failed"
    assert "NotAnSnsEvent" in message["error"]
    assert setup.invoked == [FUNCTION_ARN]
    assert queue_depth(queue) == 1


# --- every message stays ours until it is deleted ------------------------------------------------


def queue_records(queue: str, count: int) -> list[str]:
    """Put ``count`` failure records of distinct CPU alarm notifications on ``queue``."""
    ids = [str(uuid.uuid4()) for _ in range(count)]
    for message_id in ids:
        event = load_event("cpu_alarm.json")
        event["Records"][0]["Sns"]["MessageId"] = message_id
        boto3.client("sqs").send_message(
            QueueUrl=queue, MessageBody=json.dumps(destination_record(event))
        )
    return ids


def record_sqs_calls(calls: list[tuple[str, Any]]) -> None:
    def seen(params: dict[str, Any], model: Any, **_: Any) -> None:
        body = params.get("body")
        parsed = (
            json.loads(body) if isinstance(body, bytes | str) and body[:1] in (b"{", "{") else {}
        )
        if model.name == "ReceiveMessage":
            calls.append(("receive", parsed.get("MaxNumberOfMessages")))
        elif model.name == "ChangeMessageVisibility":
            calls.append(("visibility", parsed.get("VisibilityTimeout")))
        elif model.name == "DeleteMessage":
            calls.append(("delete", None))

    clients.client("sqs").meta.events.register("before-call.sqs", seen)


def test_a_receive_takes_only_what_it_can_finish_and_each_message_is_extended(
    setup: Setup, capsys: pytest.CaptureFixture[str]
) -> None:
    queue = create_queue("alert-service-slack-relay-failed")
    queue_records(queue, 5)
    setup.slack_up()
    calls: list[tuple[str, Any]] = []
    record_sqs_calls(calls)
    invoke = setup.invoker

    def noted(function: str, event: dict[str, Any]) -> None:
        calls.append(("invoke", None))
        invoke(function, event)

    setup.invoker = noted  # type: ignore[method-assign]

    code, out = cli(setup, capsys, "--queue-url", queue, "--visibility-timeout", "300")

    assert code == 0, out
    assert queue_depth(queue) == 0
    # 300 s covers three invocations at their worst case (2 x (3 s connect + 40 s read) + 1 s).
    assert replay.invocation_seconds() == 87
    receives = [n for kind, n in calls if kind == "receive"]
    assert receives
    assert all(n <= replay.batch_size(300) == 3 for n in receives)
    # Just before each invoke, the message is hidden for a whole invocation's worst case.
    for index, (kind, _) in enumerate(calls):
        if kind == "invoke":
            assert calls[index - 1] == ("visibility", replay.invocation_seconds())
            assert calls[index + 1] == ("delete", None)
    assert [kind for kind, _ in calls].count("invoke") == 5


def test_a_failed_delete_is_reported_and_the_run_goes_on(
    setup: Setup, capsys: pytest.CaptureFixture[str]
) -> None:
    from botocore.awsrequest import AWSResponse

    queue = create_queue("alert-service-slack-relay-failed")
    queue_records(queue, 2)
    setup.slack_up()
    refused: list[bool] = []

    def expire_first(**_: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
        if refused:
            return None
        refused.append(True)  # as SQS answers once the receipt handle expired
        return AWSResponse("", 400, {}, None), {
            "Error": {"Code": "ReceiptHandleIsInvalid", "Message": "expired"},
            "ResponseMetadata": {"HTTPStatusCode": 400},
        }

    clients.client("sqs").meta.events.register("before-call.sqs.DeleteMessage", expire_first)

    code, out = cli(setup, capsys, "--queue-url", queue, "--json", "--visibility-timeout", "0")

    assert code == 1  # something is still in the queue
    report = json.loads(out)
    assert sorted(m["status"] for m in report["messages"]) == ["not-deleted", "replayed"]
    [kept] = [m for m in report["messages"] if m["status"] == "not-deleted"]
    assert "ReceiptHandleIsInvalid" in kept["error"]
    assert (report["replayed"], report["not_deleted"]) == (1, 1)
    assert len(setup.slack_posts()) == 2  # both delivered, the second after the failed delete
    assert queue_depth(queue) == 1  # a later replay of it sends nothing twice (test above)
