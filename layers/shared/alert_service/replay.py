"""Replay failed notifications from a failure queue or SNS dead-letter queue (``alert-replay``).

Two kinds of queue hold what a function did not deliver (template.yaml):

* a function's **failure queue** (``<stack>-slack-relay-failed`` ...): Lambda's on-failure
  destination. After the asynchronous retries, Lambda sends an invocation record whose
  ``requestPayload`` is the original SNS event and whose ``responsePayload`` says why it failed;
* a subscription's **dead-letter queue** (``<stack>-slack-relay-sns-dlq`` ...): SNS could not
  invoke the function at all. The body is the SNS envelope (``Type``, ``MessageId``,
  ``Message``...), which is wrapped back into the SNS Lambda event the function expects.

Each message is run through the function synchronously and deleted only when that invocation
succeeded; a message that still fails stays in the queue (it is visible again after the visibility
timeout) and is reported, so a replay can never lose anything.

Every message must still be ours when its invocation ends, or its delete fails (the receipt handle
expired) and another reader may replay it meanwhile. So a receive takes only as many messages as
the visibility timeout covers at one invocation's worst case (``invocation_seconds``), and each
message's visibility is extended to that worst case just before it is invoked
(ChangeMessageVisibility). A delete that fails anyway is reported and the run goes on: the
deliveries were made once, and replaying the message again sends nothing twice.

The functions deliver once per (channel, SNS MessageId, recipient) through Powertools
Idempotency, so replaying a message whose deliveries partly succeeded only sends what is missing.

    alert-replay --queue-url <failure queue url> --dry-run  # what would be replayed
    alert-replay --queue-url <failure queue url>            # function taken from each record
    alert-replay --queue-url <sns-dlq url> --function alert-service-slack-relay

In tests and local runs the invoker is a plain callable ``(function_name, event) -> None`` that
raises on failure, so a handler can be called in-process: ``replay(url, invoker=lambda fn, ev:
app.handler(ev, context))``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from alert_service import clients, parse
from alert_service.redact import redact_url
from alert_service.render import one_line

# (function name or ARN, event) -> None; raises when the invocation failed.
Invoker = Callable[[str, dict[str, Any]], None]

SQS_BATCH_MAX = 10  # ReceiveMessage's MaxNumberOfMessages limit
# Hidden from other readers while this run handles a batch; a message that failed becomes visible
# again this long after its failure.
DEFAULT_VISIBILITY_SECONDS = 300
# A dry run hides what it reads only while it runs, then makes it visible again.
DRY_RUN_VISIBILITY_SECONDS = 30
# Long polling asks every SQS server; short polling samples some and may answer "empty" while
# messages remain.
DEFAULT_WAIT_SECONDS = 2
REASON_MAX_CHARS = 300

# Outcomes whose message is still in the queue: the run exits non-zero.
LEFT_IN_QUEUE = ("failed", "not-deleted", "skipped")

DESTINATION_RECORD = "lambda-destination"
SNS_DLQ_MESSAGE = "sns-dlq"
UNKNOWN = "unknown"


class InvokeFailed(Exception):
    """The function ran and returned an error (Lambda's FunctionError), or could not be invoked."""


@dataclass
class Outcome:
    """What happened to one queue message. Holds no secret: texts are redacted and truncated."""

    sqs_message_id: str
    kind: str
    # replayed | failed | would-replay | skipped (no longer ours: left in the queue) |
    # not-deleted (delivered, but the delete failed: still in the queue)
    status: str
    function: str | None = None
    sns_message_ids: list[str] = field(default_factory=list)
    alarm_names: list[str] = field(default_factory=list)
    failure_reason: str | None = None  # why the message is in the queue
    error: str | None = None  # why the replay did not succeed
    note: str | None = None


@dataclass
class Report:
    queue_url: str
    dry_run: bool
    outcomes: list[Outcome] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(1 for outcome in self.outcomes if outcome.status == status)

    @property
    def ok(self) -> bool:
        """Nothing left behind: every message replayed (or would be, in a dry run)."""
        return all(self.count(status) == 0 for status in LEFT_IN_QUEUE)

    def to_json(self) -> dict[str, Any]:
        return {
            "queue_url": self.queue_url,
            "dry_run": self.dry_run,
            "replayed": self.count("replayed"),
            "would_replay": self.count("would-replay"),
            "failed": self.count("failed"),
            "not_deleted": self.count("not-deleted"),
            "skipped": self.count("skipped"),
            "messages": [asdict(outcome) for outcome in self.outcomes],
        }


@dataclass
class _Replayable:
    kind: str
    event: dict[str, Any] | None
    function: str | None  # from the record itself, if it names one
    failure_reason: str | None
    problem: str | None = None  # why it cannot be replayed


# ------------------------------------------------------------------------------------------------
# Reading queue messages
# ------------------------------------------------------------------------------------------------


def interpret(message: Mapping[str, Any]) -> _Replayable:
    """An SQS message (as ReceiveMessage returns it) -> the event to replay, or why not."""
    try:
        body = json.loads(message.get("Body") or "")
    except (ValueError, RecursionError):
        body = None
    if isinstance(body, dict) and "requestContext" in body and "requestPayload" in body:
        return _from_destination_record(body)
    if isinstance(body, dict) and body.get("Type") == "Notification" and "MessageId" in body:
        return _from_sns_envelope(body, message.get("MessageAttributes") or {})
    return _Replayable(
        UNKNOWN,
        None,
        None,
        None,
        problem="not a Lambda destination record nor an SNS message; left in the queue",
    )


def _from_destination_record(record: Mapping[str, Any]) -> _Replayable:
    # https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-retain-records.html
    context = record.get("requestContext") or {}
    response = record.get("responsePayload")
    parts = [str(context.get("condition") or "failed")]
    if context.get("approximateInvokeCount"):
        parts.append(f"after {context['approximateInvokeCount']} attempts")
    if isinstance(response, Mapping):
        error = ": ".join(
            str(response[key]) for key in ("errorType", "errorMessage") if response.get(key)
        )
        if error:
            parts.append(f"- {error}")
    elif (record.get("responseContext") or {}).get("functionError"):
        parts.append(f"- {record['responseContext']['functionError']}")
    payload = record.get("requestPayload")
    return _Replayable(
        DESTINATION_RECORD,
        payload if isinstance(payload, dict) else None,
        _function_name(context.get("functionArn")),
        _clean(" ".join(parts)),
        problem=None if isinstance(payload, dict) else "the record holds no request payload",
    )


def _from_sns_envelope(envelope: Mapping[str, Any], attributes: Mapping[str, Any]) -> _Replayable:
    # SNS adds ErrorCode / ErrorMessage attributes to what it moves to a subscription's DLQ.
    def attribute(name: str) -> str | None:
        value = attributes.get(name)
        return value.get("StringValue") if isinstance(value, Mapping) else None

    reason = " ".join(filter(None, [attribute("ErrorCode"), attribute("ErrorMessage")]))
    return _Replayable(
        SNS_DLQ_MESSAGE,
        sns_event(envelope),
        None,
        _clean(reason or "SNS could not invoke the function"),
    )


def sns_event(envelope: Mapping[str, Any]) -> dict[str, Any]:
    """The SNS envelope (an SQS body) as the one-record SNS event Lambda would have passed.

    Lambda's records spell ``SigningCertUrl`` and ``UnsubscribeUrl`` where the envelope has ``URL``.
    The subscription ARN is not in the envelope: the topic ARN stands in for it.
    """
    renamed = {"SigningCertURL": "SigningCertUrl", "UnsubscribeURL": "UnsubscribeUrl"}
    sns = {renamed.get(key, key): value for key, value in envelope.items()}
    sns.setdefault("MessageAttributes", {})
    return {
        "Records": [
            {
                "EventSource": "aws:sns",
                "EventVersion": "1.0",
                "EventSubscriptionArn": str(envelope.get("TopicArn") or ""),
                "Sns": sns,
            }
        ]
    }


def _function_name(arn: Any) -> str | None:
    """``arn:aws:lambda:<region>:<account>:function:<name>[:<qualifier>]`` -> the unqualified ARN.

    The qualifier (``$LATEST``, a version) is dropped on purpose: a replay runs the code deployed
    now, which holds the fix, not the version that failed.
    """
    if not isinstance(arn, str) or not arn:
        return None
    parts = arn.split(":")
    if len(parts) >= 7 and parts[5] == "function":
        return ":".join(parts[:7])
    return arn


def _clean(text: str) -> str:
    return one_line(redact_url(text), REASON_MAX_CHARS)


def _describe(event: Mapping[str, Any] | None) -> tuple[list[str], list[str]]:
    """SNS MessageIds and alarm names in an event, for the report."""
    if not event:
        return [], []
    try:
        found = parse.notifications(event)
    except parse.NotAnSnsEvent:
        return [], []  # the function will say so (it fails such an event), and it stays queued
    names = [n.alarm.name for n in found if n.alarm is not None]
    return [n.message_id for n in found], [_clean(name) for name in names]


# ------------------------------------------------------------------------------------------------
# Invoking
# ------------------------------------------------------------------------------------------------


def lambda_invoker(function: str, event: dict[str, Any]) -> None:
    """Invoke the deployed function synchronously; raise ``InvokeFailed`` on a function error."""
    response = clients.client("lambda").invoke(
        FunctionName=function,
        InvocationType="RequestResponse",
        Payload=json.dumps(event).encode(),
    )
    if response.get("FunctionError"):
        body = response["Payload"].read()
        try:
            payload = json.loads(body or b"{}")
        except ValueError:
            payload = {}
        detail = ": ".join(
            str(payload[key])
            for key in ("errorType", "errorMessage")
            if isinstance(payload, dict) and payload.get(key)
        )
        raise InvokeFailed(f"{response['FunctionError']} function error: {detail or 'no detail'}")


# ------------------------------------------------------------------------------------------------
# The replay loop
# ------------------------------------------------------------------------------------------------


def replay(
    queue_url: str,
    *,
    function: str | None = None,
    max_messages: int | None = None,
    dry_run: bool = False,
    invoker: Invoker | None = None,
    visibility_timeout: int = DEFAULT_VISIBILITY_SECONDS,
    wait_seconds: int = DEFAULT_WAIT_SECONDS,
) -> Report:
    """Replay up to ``max_messages`` (all when None) messages of the queue; see the module doc."""
    sqs = clients.client("sqs")
    invoke = invoker or lambda_invoker
    report = Report(queue_url, dry_run)
    seen: set[str] = set()
    peeked: list[str] = []
    visibility = _Visibility(sqs, queue_url, visibility_timeout)

    while max_messages is None or len(report.outcomes) < max_messages:
        # A dry run invokes nothing: a full batch is quick. Otherwise only what stays ours.
        wanted = SQS_BATCH_MAX if dry_run else batch_size(visibility_timeout)
        if max_messages is not None:
            wanted = min(wanted, max_messages - len(report.outcomes))
        batch = sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=wanted,
            VisibilityTimeout=DRY_RUN_VISIBILITY_SECONDS if dry_run else visibility_timeout,
            WaitTimeSeconds=wait_seconds,
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        # A message seen before came back after its visibility timeout (it failed earlier in this
        # run): stop rather than loop on it.
        fresh = [m for m in batch if m["MessageId"] not in seen]
        if not fresh:
            break
        for message in fresh:
            seen.add(message["MessageId"])
            if dry_run:
                peeked.append(message["ReceiptHandle"])
            report.outcomes.append(_handle(visibility, message, function, dry_run, invoke))

    for receipt in peeked:
        sqs.change_message_visibility(
            QueueUrl=queue_url, ReceiptHandle=receipt, VisibilityTimeout=0
        )
    return report


def invocation_seconds() -> int:
    """One message's worst case: the Invoke client's bounds (a whole function run, retried once)."""
    return math.ceil(clients.bounds("lambda").worst_case_seconds())


def batch_size(visibility_timeout: int) -> int:
    """Messages per receive that can all be finished within ``visibility_timeout``."""
    return max(1, min(SQS_BATCH_MAX, visibility_timeout // invocation_seconds()))


@dataclass
class _Visibility:
    """Keeps a received message ours while it is replayed."""

    sqs: Any
    queue_url: str
    after_failure: int  # seconds a failed message stays hidden (--visibility-timeout)

    def set(self, receipt: str, seconds: int) -> str | None:
        """Hide the message ``seconds`` from now; the error code when it is no longer ours."""
        from botocore.exceptions import ClientError

        try:
            self.sqs.change_message_visibility(
                QueueUrl=self.queue_url, ReceiptHandle=receipt, VisibilityTimeout=seconds
            )
        except ClientError as error:
            return str(error.response.get("Error", {}).get("Code", "error"))
        return None

    def delete(self, receipt: str) -> str | None:
        """Delete the message; the error code when that failed (it then stays in the queue)."""
        from botocore.exceptions import ClientError

        try:
            self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=receipt)
        except ClientError as error:
            return str(error.response.get("Error", {}).get("Code", "error"))
        return None


def _handle(
    visibility: _Visibility,
    message: Mapping[str, Any],
    function: str | None,
    dry_run: bool,
    invoke: Invoker,
) -> Outcome:
    item = interpret(message)
    message_ids, alarm_names = _describe(item.event)
    target = function or item.function
    outcome = Outcome(
        sqs_message_id=message["MessageId"],
        kind=item.kind,
        status="failed",
        function=target,
        sns_message_ids=message_ids,
        alarm_names=alarm_names,
        failure_reason=item.failure_reason,
    )
    if function and item.function and _short(function) != _short(item.function):
        outcome.note = f"record came from {_short(item.function)}; replaying into {function}"
    if item.problem or item.event is None:
        outcome.error = item.problem or "nothing to replay"
        return outcome
    if not target:
        outcome.error = "the message does not name its function: pass --function"
        return outcome
    if dry_run:
        outcome.status = "would-replay"
        return outcome
    receipt = message["ReceiptHandle"]
    lost = visibility.set(receipt, invocation_seconds())
    if lost:
        # Its visibility ran out before its turn: another reader may hold it now. Leave it.
        outcome.status = "skipped"
        outcome.error = f"no longer ours ({lost}): left in the queue for the next replay"
        return outcome
    try:
        invoke(target, item.event)
    except Exception as exc:
        # Any failure (function error, throttling, no permission) leaves it for the next replay.
        outcome.error = _clean(f"{type(exc).__name__}: {exc}")
        visibility.set(receipt, visibility.after_failure)  # reappears as --visibility-timeout says
        return outcome
    # Only now: the function delivered (or had delivered) everything in this event.
    failed_delete = visibility.delete(receipt)
    if failed_delete:
        outcome.status = "not-deleted"
        outcome.error = (
            f"delivered, but the delete failed ({failed_delete}): still in the queue; "
            "replaying it again sends nothing twice"
        )
        return outcome
    outcome.status = "replayed"
    return outcome


def _short(function: str) -> str:
    return (
        function.split(":")[6]
        if function.startswith("arn:") and function.count(":") >= 6
        else function
    )


# ------------------------------------------------------------------------------------------------
# Command line
# ------------------------------------------------------------------------------------------------

DESCRIPTION = """\
Replay failed alert notifications from a function's failure queue (Lambda on-failure
destination records) or an SNS subscription dead-letter queue (SNS envelopes) once the cause
is fixed. Each message is invoked synchronously through the function and deleted only after the
invocation succeeded; a message that fails again stays in the queue and is reported.

Safe to repeat: the functions deliver once per (channel, SNS MessageId, recipient) through
Powertools Idempotency, so a replay never sends again what was already delivered, it only
completes what is missing."""

EPILOG = """\
examples:
  alert-replay --dry-run --queue-url "$(aws sqs get-queue-url \\
      --queue-name alert-service-prod-slack-relay-failed --query QueueUrl --output text)"
  alert-replay --queue-url <failure queue url>
  alert-replay --queue-url <sns dlq url> --function alert-service-prod-slack-relay

exit status: 0 when every message was replayed (or there was nothing to do), 1 when any message
failed or could not be read (it is still in the queue), 2 on wrong usage."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="alert-replay",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--queue-url", required=True, help="the failure queue or DLQ to drain")
    parser.add_argument(
        "--function",
        help="function name or ARN to invoke (default: the functionArn of each destination "
        "record; required for SNS dead-letter queues, whose messages do not name it)",
    )
    parser.add_argument(
        "--max",
        type=int,
        default=None,
        metavar="N",
        help="handle at most N messages (default: all)",
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="show what would be replayed (SNS MessageIds, alarm names, failure reason); "
        "invoke nothing, delete nothing",
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument(
        "--visibility-timeout",
        type=int,
        default=DEFAULT_VISIBILITY_SECONDS,
        metavar="SECONDS",
        help="how long a message being replayed is hidden from other readers "
        f"(default {DEFAULT_VISIBILITY_SECONDS}); one that fails reappears after it",
    )
    parser.add_argument(
        "--wait-seconds",
        type=int,
        default=DEFAULT_WAIT_SECONDS,
        metavar="SECONDS",
        help=f"long-poll wait per receive (default {DEFAULT_WAIT_SECONDS}); the run ends on the "
        "first receive that brings nothing new",
    )
    return parser


def _print_text(report: Report) -> None:
    for o in report.outcomes:
        what = ", ".join(o.alarm_names) or "(no alarm)"
        ids = ",".join(o.sns_message_ids) or "-"
        print(
            f"{o.status:<12} sqs={o.sqs_message_id} sns={ids} alarms={what} fn={o.function or '-'}"
        )
        if o.failure_reason:
            print(f"{'':<12} was: {o.failure_reason}")
        if o.error:
            print(f"{'':<12} error: {o.error}")
        if o.note:
            print(f"{'':<12} note: {o.note}")
    if not report.outcomes:
        print("nothing to replay: the queue is empty")
        return
    if report.dry_run:
        summary = f"{report.count('would-replay')} would be replayed"
    else:
        summary = f"{report.count('replayed')} replayed"
    left = sum(report.count(status) for status in LEFT_IN_QUEUE)
    print(f"{summary}, {report.count('failed')} failed ({left} left in the queue)")


def main(argv: Sequence[str] | None = None, *, invoker: Invoker | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.max is not None and args.max < 1:
        _parser().error("--max must be at least 1")
    report = replay(
        args.queue_url,
        function=args.function,
        max_messages=args.max,
        dry_run=args.dry_run,
        invoker=invoker,
        visibility_timeout=args.visibility_timeout,
        wait_seconds=args.wait_seconds,
    )
    if args.json:
        print(json.dumps(report.to_json(), ensure_ascii=False, indent=2))
    else:
        _print_text(report)
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
