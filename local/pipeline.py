"""The whole system on loopback: topic -> subscriptions -> built functions -> channels.

``LocalPipeline`` starts moto's server and the loopback Slack, creates what template.yaml declares,
and starts one warm worker per function of the template (runtime.Worker). Then either:

- ``publish(event)``: every record's message is published to the topic in moto; moto delivers it
  to one SQS queue per function, subscribed with that function's FilterPolicy (and scope) from the
  template, as SNS would filter it for the Lambda subscription; each queued SNS envelope is
  wrapped as the SNS Lambda event and handed to that function. MessageIds are new (moto's).
- ``direct(logical_id, event)``: the event file handed to the function unchanged (its MessageIds
  kept), as ``sam local invoke -e`` would.

Functions on a table's stream (SlackIncidentFunction on AlarmHistoryTable) get its new records
after each ``publish`` (or ``run_streams()``), in Lambda's event shape and batches
(local/stream.py), and talk to the loopback Slack Web API (local/slack_api.py).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from local import ROOT, TEMPLATE
from local.aws import FunctionSpec, LocalAws, Template
from local.runtime import Invocation, Worker
from local.slack import LocalSlack, SlackPost
from local.slack_api import BOT_TOKEN, CHANNEL, LocalSlackApi
from local.stream import HistoryStream, StreamRun, deliver

# Demo values for the channels whose settings are template parameters left empty by default.
DEMO_PARAMETERS = {
    "EmailSender": "alerts@ott.example.com",
    "EmailRecipients": "dba-oncall@ott.example.com,platform-lead@ott.example.com",
    "SmsRecipients": "+821012345678",
    # The Slack app (incident view): its functions exist only with this parameter set.
    "SlackAppSecretName": "ott/slack/app",
}
# What the local Slack app secret holds; the signing secret is for the actions function's demo.
LOCAL_SIGNING_SECRET = "local-demo-signing-secret-0123456789abcdef"


@dataclass
class Delivery:
    """One invocation of one function, with what the channels received during it."""

    function: str
    invocation: Invocation
    event: dict[str, Any]
    slack: list[SlackPost] = field(default_factory=list)
    emails: list[dict[str, Any]] = field(default_factory=list)
    sms: list[dict[str, Any]] = field(default_factory=list)
    note: str = ""


class LocalPipeline:
    def __init__(
        self,
        parameters: dict[str, str] | None = None,
        functions: Iterable[str] | None = None,
        start_workers: bool = True,
        template_path: Path = TEMPLATE,
        routing_file: Path | None = None,
    ) -> None:
        """``routing_file``: routing rules (YAML) for the functions instead of those the layer
        ships (ALERT_ROUTING_FILE); the webhook secret then holds every webhook they name."""
        self.template = Template(template_path, {**DEMO_PARAMETERS, **(parameters or {})})
        self.routing_file = routing_file
        # The layer reads JSON only: the file converted, where the demo keeps its output.
        self.routing_json = (
            routing_json(routing_file, ROOT / "demo-output") if routing_file else None
        )
        specs = self.template.functions()
        if functions is not None:
            wanted = set(functions)
            specs = [s for s in specs if s.logical_id in wanted]
        self.specs: dict[str, FunctionSpec] = {s.logical_id: s for s in specs}
        self.aws = LocalAws()
        self.slack = LocalSlack()
        self.slack_api = LocalSlackApi()
        self.streams: dict[str, HistoryStream] = {}  # function -> the stream it reads
        self.workers: dict[str, Worker] = {}
        self.queues: dict[str, tuple[str, str]] = {}  # function -> (queue url, subscription arn)
        try:
            self._create_resources()
            if start_workers:
                self.start_workers()
        except BaseException:
            self.close()
            raise

    # --- set-up --------------------------------------------------------------------------------
    def _create_resources(self) -> None:
        self.topics = self.aws.create_topics(self.template)
        self.tables = self.aws.create_tables(self.template)
        # EventBridge Scheduler's groups (escalation schedules): without one, every schedule the
        # timers function makes from the stream fails in moto.
        scheduler = self.aws.client("scheduler")
        for rid in self.template.of_type("AWS::Scheduler::ScheduleGroup"):
            condition = self.template.resources[rid].get("Condition")
            if not condition or self.template.condition(condition):
                scheduler.create_schedule_group(Name=self.template.physical_name(rid))
        self.secrets: dict[str, str] = {}
        for spec in self.specs.values():
            secret_id = spec.environment.get("SLACK_WEBHOOK_SECRET_ID")
            if secret_id and secret_id not in self.secrets:
                self.secrets[secret_id] = self.aws.create_secret(secret_id, self.webhook_secret())
            app_secret = spec.environment.get("SLACK_APP_SECRET_ID")
            if app_secret and app_secret not in self.secrets:
                self.secrets[app_secret] = self.aws.create_secret(
                    app_secret,
                    {
                        "bot_token": BOT_TOKEN,
                        "signing_secret": LOCAL_SIGNING_SECRET,
                        "channel": CHANNEL,
                    },
                )
            for source in spec.streams:
                self.streams[spec.logical_id] = HistoryStream(
                    self.aws.client("dynamodbstreams"),
                    self.tables[source.table_id],
                    filters=source.filters,
                )
            sender = spec.environment.get("EMAIL_SENDER")
            if sender:
                self.aws.verify_sender(sender)
        sqs = self.aws.client("sqs")
        sns = self.aws.client("sns")
        for spec in self.specs.values():
            for n, sub in enumerate(spec.subscriptions):
                queue_url = sqs.create_queue(QueueName=f"local-{spec.logical_id}-{n}")["QueueUrl"]
                queue_arn = sqs.get_queue_attributes(
                    QueueUrl=queue_url, AttributeNames=["QueueArn"]
                )["Attributes"]["QueueArn"]
                attributes = {}
                if sub.filter_policy is not None:
                    attributes["FilterPolicy"] = json.dumps(sub.filter_policy)
                    attributes["FilterPolicyScope"] = sub.filter_policy_scope or "MessageAttributes"
                arn = sns.subscribe(
                    TopicArn=self.topics[sub.topic_id],
                    Protocol="sqs",
                    Endpoint=queue_arn,
                    Attributes=attributes,
                    ReturnSubscriptionArn=True,
                )["SubscriptionArn"]
                # One queue per function and topic; the template subscribes each to one topic.
                self.queues[spec.logical_id] = (queue_url, arn)

    def webhook_secret(self) -> dict[str, Any]:
        """The webhook secret: the default webhook and every webhook the routing rules name
        (``routed_webhooks``), each its own path on the loopback Slack."""
        secret: dict[str, Any] = {"webhook_url": self.slack.webhook_url}
        names = routed_webhooks(self.routing_file)
        if names:
            secret["webhooks"] = {n: self.slack.base_url + webhook_path(n) for n in names}
        return secret

    def local_env(self, spec: FunctionSpec) -> dict[str, str]:
        """Overrides of the function's environment for local runs."""
        env = {
            **self.aws.env(),
            "SLACK_ALLOW_INSECURE_WEBHOOK": "true",  # the loopback Slack speaks http://127.0.0.1
            "POWERTOOLS_METRICS_NAMESPACE": spec.environment.get(
                "POWERTOOLS_METRICS_NAMESPACE", "AlertService"
            ),
            "POWERTOOLS_SERVICE_NAME": spec.environment.get(
                "POWERTOOLS_SERVICE_NAME", spec.logical_id
            ),
        }
        if "SLACK_API_URL" in spec.environment:
            env["SLACK_API_URL"] = self.slack_api.url
        if self.routing_json is not None:
            env["ALERT_ROUTING_FILE"] = str(self.routing_json)
        for key in ("EMAIL_SENDER", "EMAIL_RECIPIENTS", "SMS_RECIPIENTS"):
            if key in spec.environment:
                env[key] = spec.environment[key]
        return env

    def start_workers(self) -> None:
        """One warm worker per function, started side by side (their imports overlap)."""
        for logical_id, spec in self.specs.items():
            if logical_id not in self.workers:
                self.workers[logical_id] = Worker(spec, self.local_env(spec))
        with ThreadPoolExecutor(max_workers=len(self.workers) or 1) as pool:
            list(pool.map(lambda w: w.init, self.workers.values()))

    def fresh_worker(self, logical_id: str) -> Worker:
        """A new (cold) worker for one function; the caller closes it."""
        spec = self.specs[logical_id]
        return Worker(spec, self.local_env(spec))

    # --- running events ------------------------------------------------------------------------
    def direct(
        self, logical_id: str, event: dict[str, Any], worker: Worker | None = None
    ) -> Delivery:
        """Invoke one function with the event unchanged."""
        mark = self._mark()
        invocation = (worker or self.workers[logical_id]).invoke(event)
        return self._delivery(logical_id, invocation, event, mark)

    def publish(self, event: dict[str, Any]) -> list[Delivery]:
        """Publish every record to its topic; deliver to each subscribed function through SQS."""
        sns = self.aws.client("sns")
        deliveries: list[Delivery] = []
        fallback: list[tuple[dict[str, Any], str]] = []
        default_topic = next(iter(self.topics.values()))
        topic_by_name = {arn.rsplit(":", 1)[-1]: arn for arn in self.topics.values()}
        for record in event.get("Records", []):
            message = record.get("Sns", {})
            topic_name = str(message.get("TopicArn", "")).rsplit(":", 1)[-1]
            request: dict[str, Any] = {
                "TopicArn": topic_by_name.get(topic_name, default_topic),
                "Message": message.get("Message") or "",
            }
            if message.get("Subject"):
                request["Subject"] = message["Subject"]
            attributes = _publish_attributes(message.get("MessageAttributes") or {})
            if attributes:
                request["MessageAttributes"] = attributes
            if not request["Message"]:
                # SNS refuses to publish an empty message, but a Lambda event can carry one (the
                # sample does): hand that record to every function directly.
                fallback.append((record, "SNS cannot publish an empty message: invoked directly"))
                continue
            sns.publish(**request)
        for logical_id in self.specs:
            for sns_event in self._drain(logical_id):
                mark = self._mark()
                invocation = self.workers[logical_id].invoke(sns_event)
                deliveries.append(self._delivery(logical_id, invocation, sns_event, mark))
            # Only to functions subscribed to the topic (not to those on a table's stream).
            for record, note in fallback if self.specs[logical_id].subscriptions else []:
                single = {"Records": [record]}
                mark = self._mark()
                invocation = self.workers[logical_id].invoke(single)
                delivery = self._delivery(logical_id, invocation, single, mark)
                delivery.note = note
                deliveries.append(delivery)
        for logical_id, run in self.run_streams().items():
            for invocation, event in run.invocations:
                deliveries.append(Delivery(logical_id, invocation, event, note="table stream"))
        return deliveries

    def run_streams(self) -> dict[str, StreamRun]:
        """Hand each stream function the records that are new on its table's stream."""
        runs = {}
        for logical_id, stream in self.streams.items():
            if logical_id not in self.workers:
                continue
            records = stream.read()
            if not records:
                continue
            worker = self.workers[logical_id]
            source = self.specs[logical_id].streams[0]

            def invoke(event: dict[str, Any], worker: Worker = worker) -> tuple[bool, Any, Any]:
                invocation = worker.invoke(event)
                return invocation.ok, invocation.result, (invocation, event)

            run = deliver(
                records,
                invoke,
                batch_size=source.batch_size,
                max_retries=max(0, source.max_retries),
            )
            runs[logical_id] = run
        return runs

    def _drain(self, logical_id: str) -> list[dict[str, Any]]:
        if logical_id not in self.queues:
            return []
        queue_url, subscription_arn = self.queues[logical_id]
        sqs = self.aws.client("sqs")
        events = []
        while True:
            messages = sqs.receive_message(
                QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0
            ).get("Messages", [])
            if not messages:
                return events
            for message in messages:
                events.append(sns_lambda_event(json.loads(message["Body"]), subscription_arn))
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])

    def _mark(self) -> tuple[int, int]:
        self.slack.take()
        return len(self.aws.sent_emails()), len(self.aws.sent_sms())

    def _delivery(
        self, logical_id: str, invocation: Invocation, event: dict[str, Any], mark: tuple[int, int]
    ) -> Delivery:
        return Delivery(
            function=logical_id,
            invocation=invocation,
            event=event,
            slack=self.slack.take(),
            emails=self.aws.sent_emails()[mark[0] :],
            sms=self.aws.sent_sms()[mark[1] :],
        )

    def close(self) -> None:
        for worker in self.workers.values():
            worker.close()
        self.workers.clear()
        self.slack.stop()
        self.slack_api.stop()
        self.aws.stop()

    def __enter__(self) -> LocalPipeline:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def webhook_path(name: str) -> str:
    """The loopback path of webhook ``name`` (the default one keeps slack.WEBHOOK_PATH)."""
    return f"/services/T00000000/B{name.upper()}/LOCAL{name.upper()}WEBHOOK"


def webhook_name(path: str) -> str:
    """Which webhook a post to ``path`` went to: what the demo prints beside it."""
    match = re.fullmatch(r"/services/T00000000/B([A-Z0-9_-]+)/LOCAL\1WEBHOOK", path)
    return match.group(1).lower() if match else "default"


def routed_webhooks(routing_file: Path | None) -> list[str]:
    """The webhook names a routing file sends to, besides ``default`` (none without a file)."""
    if routing_file is None:
        return []
    from alert_service.routing import load_file

    table = load_file(routing_file)
    names = [n for rule in table.rules for n in rule.to.slack_webhooks]
    names += table.default.slack_webhooks or ()
    return [n for n in dict.fromkeys(names) if n != "default"]


def routing_json(source: Path, out_dir: Path) -> Path:
    """``source`` (YAML) checked and written as the JSON the layer reads (no YAML parser there)."""
    from alert_service.routing.loader import parse_text

    data, _ = parse_text(source.read_text(encoding="utf-8"), str(source))
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"{source.stem}.json"
    target.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return target


def _publish_attributes(attributes: dict[str, Any]) -> dict[str, dict[str, str]]:
    """Lambda-event attributes ({"Type", "Value"}) -> SNS Publish attributes."""
    out = {}
    for name, attr in attributes.items():
        kind = attr.get("Type", "String")
        if kind == "Binary":
            continue  # a base64 text in the event; not needed by the samples
        out[name] = {"DataType": kind, "StringValue": str(attr.get("Value", ""))}
    return out


def sns_lambda_event(envelope: dict[str, Any], subscription_arn: str) -> dict[str, Any]:
    """An SNS envelope (as SNS writes it to SQS) as the SNS event Lambda hands a function."""
    sns = {
        "Type": envelope.get("Type", "Notification"),
        "MessageId": envelope["MessageId"],
        "TopicArn": envelope["TopicArn"],
        "Subject": envelope.get("Subject") or None,
        "Message": envelope.get("Message", ""),
        "Timestamp": envelope.get("Timestamp")
        or time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
        "SignatureVersion": envelope.get("SignatureVersion", "1"),
        "Signature": envelope.get("Signature", "EXAMPLE"),
        # Lambda spells these two ...Url where SNS's JSON says ...URL.
        "SigningCertUrl": envelope.get("SigningCertURL", envelope.get("SigningCertUrl", "")),
        "UnsubscribeUrl": envelope.get("UnsubscribeURL", envelope.get("UnsubscribeUrl", "")),
        "MessageAttributes": envelope.get("MessageAttributes") or {},
    }
    return {
        "Records": [
            {
                "EventSource": "aws:sns",
                "EventVersion": "1.0",
                "EventSubscriptionArn": subscription_arn,
                "Sns": sns,
            }
        ]
    }
