"""The Slack incident view as a projection of the history table's stream (CONTRACT.md).

The incident item is the one source of truth; every change to it (a notification, a button, the
CLI) reaches Slack through the table's stream, so there is one path to get right:

- incident INSERT (opened): ``chat.postMessage`` to the secret's channel, the root;
- incident MODIFY with ``alert_count`` up (notification): a reply in the root's thread and a
  ``chat.update`` of the root;
- incident MODIFY, status -> acknowledged or resolved: one reply and a ``chat.update``;
- event INSERT without ``incident_id`` that is not an alarm (notice): one top-level post;
- a MODIFY of ``slack_*`` attributes only (our own write of the root's ts): nothing.

An OK that resolves is one MODIFY (count and status together): one change, one reply.

Silenced (issue 12: the incident view skips a silenced notification): while the incident item
says its latest notification was held by a silence (``silenced_by``), no message is posted, neither
the root nor a thread reply, so nobody is notified; the incident still opens and resolves in the
table. A root that exists already is still updated (``chat.update`` notifies nobody), so the card
shows the count, the status and the "silenced" mark. The first change after the silence posts the
root if there was none, showing the incident as it is then. Flapping changes nothing here: the
thread keeps every notification, the card shows the mark.

Exactly once, whatever the stream does (at least once; a batch again after a partial failure):
every Slack call runs through ``delivery.deliver_once`` under the change's key (incident id plus
what changed: ``#root``, ``#n<alert_count>``, ``#acknowledged``, ``#resolved``). The root's
answer (channel, ts) is stored with that key, so a later change finds the root even before its
``slack_ts`` reached the incident item (two notifications of a new incident in one batch), and the
root is posted once. The ts is then kept on the incident item (conditional UpdateItem); that write
comes back as a MODIFY of ``slack_*`` only, which is ignored.

Coalescing: an incident's changes in one batch give one reply each but a single ``chat.update``
with the state of its last change (``chat.update`` allows ~50 a minute).

Failures: an incident's records are processed in order and stop at the first failure; the
failed record's sequence number goes into ``batchItemFailures`` so Lambda retries from there
(ReportBatchItemFailures), and once-only keys skip what was already sent.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from alert_service import clients, delivery, history, parse
from alert_service.alarm import Notification
from alert_service.config import DisplaySettings
from alert_service.history import ACKNOWLEDGED, RESOLVED
from alert_service.slack_app import card
from alert_service.slack_app.web_api import WebApi

# The once-only channel of deliver_once; keys are (this, change key, kind of call).
ONCE_CHANNEL = "slack-app"
SLACK_ATTRIBUTES = frozenset({"slack_channel", "slack_ts"})
ROOT, NOTIFICATION, ACKED, RESOLVED_CHANGE, NOTICE = (
    "opened",
    "notification",
    "acknowledged",
    "resolved",
    "notice",
)


class NotAStreamEvent(ValueError):
    """The event is not a DynamoDB stream event (nothing was done)."""


@dataclass(frozen=True)
class Change:
    """One change of the view, from one stream record."""

    kind: str
    key: str  # the once-only key of this change
    sequence: str  # the record's SequenceNumber (batchItemFailures' itemIdentifier)
    group: str  # incident id, or the notice's MessageId
    image: dict[str, Any]  # the item after the change (NewImage), plain values


@dataclass
class Outcome:
    """What one batch did: the failures to report and the Slack calls made."""

    failed: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    posts: int = 0
    replies: int = 0
    updates: int = 0
    skipped: int = 0  # changes already projected (a redelivery)
    silenced: int = 0  # changes of a silenced incident: no post, no reply (the card may update)


# --- stream records -> changes -----------------------------------------------------------------
def plain(value: Mapping[str, Any]) -> Any:
    """One attribute value in the stream's JSON (``{"S": ...}``) as a plain Python value."""
    ((kind, inner),) = value.items()
    if kind in ("S", "BOOL"):
        return inner
    if kind == "N":
        number = Decimal(inner)
        return int(number) if number == number.to_integral_value() else float(number)
    if kind == "NULL":
        return None
    if kind == "M":
        return image(inner)
    if kind == "L":
        return [plain(v) for v in inner]
    if kind == "SS":
        return list(inner)
    if kind == "NS":
        return [plain({"N": v}) for v in inner]
    if kind == "B":  # base64 text in Lambda's JSON
        return base64.b64decode(inner)
    if kind == "BS":
        return [base64.b64decode(v) for v in inner]
    raise ValueError(f"unknown DynamoDB type {kind!r}")


def image(item: Mapping[str, Any] | None) -> dict[str, Any]:
    return {k: plain(v) for k, v in (item or {}).items()}


def changes_of(record: Mapping[str, Any]) -> list[Change]:
    """The view's changes in one stream record (none for most records)."""
    data = record.get("dynamodb") or {}
    name = record.get("eventName")
    new, old = image(data.get("NewImage")), image(data.get("OldImage"))
    sequence = str(data.get("SequenceNumber") or "")
    if name not in ("INSERT", "MODIFY") or not new:
        return []
    if new.get("sk") == history.INCIDENT_SK and str(new.get("pk", "")).startswith("INC#"):
        incident = str(new.get("incident_id") or str(new["pk"])[4:])

        def change(kind: str, suffix: str) -> Change:
            return Change(kind, f"{incident}#{suffix}", sequence, incident, new)

        if name == "INSERT":
            return [change(ROOT, "root")]
        changed = {k for k in new.keys() | old.keys() if new.get(k) != old.get(k)}
        if changed <= SLACK_ATTRIBUTES:
            return []  # our own write of the root's ts
        status, was = new.get("status"), old.get("status")
        if status != was and status == RESOLVED:
            return [change(RESOLVED_CHANGE, RESOLVED)]  # an OK that resolves: one change
        out = []
        count, before = int(new.get("alert_count") or 0), int(old.get("alert_count") or 0)
        if count > before:
            out.append(change(NOTIFICATION, f"n{count}"))
        if status != was and status == ACKNOWLEDGED:
            out.append(change(ACKED, ACKNOWLEDGED))
        return out
    if (
        name == "INSERT"
        and new.get("sk") == history.EVENT_SK
        and not new.get("incident_id")
        and not new.get("state")  # an alarm without an incident (a late copy) is history only
    ):
        mid = str(new.get("message_id") or new.get("pk"))
        return [Change(NOTICE, f"notice#{mid}", sequence, f"notice#{mid}", new)]
    return []


def stream_records(event: Any) -> list[Mapping[str, Any]]:
    records = event.get("Records") if isinstance(event, Mapping) else None
    if not isinstance(records, list) or any(
        not isinstance(r, Mapping) or r.get("eventSource") != "aws:dynamodb" for r in records
    ):
        raise NotAStreamEvent("not a DynamoDB stream event (Records of eventSource aws:dynamodb)")
    return records


# --- the event behind a change -----------------------------------------------------------------
def notification_of(item: Mapping[str, Any]) -> Notification:
    """An event item (raw payload as received) parsed again, as the relay parsed it."""
    published = item.get("received_at")
    return parse.parse_message(
        str(item.get("raw_payload") or ""),
        message_id=str(item.get("message_id") or ""),
        topic_arn=item.get("topic_arn"),
        subject=item.get("subject"),
        published_at=history.parse_iso(published) if published else None,
    )


class Projector:
    """Projects one batch of stream records onto Slack."""

    def __init__(self, api: WebApi, settings: DisplaySettings, table: str) -> None:
        self.api = api
        self.settings = settings
        self.table = table
        self.events: dict[str, Notification | None] = {}
        self.outcome = Outcome()

    def project(self, records: Iterable[Mapping[str, Any]]) -> Outcome:
        groups: dict[str, list[Change]] = {}
        for record in records:
            new = image((record.get("dynamodb") or {}).get("NewImage"))
            if record.get("eventName") == "INSERT" and new.get("sk") == history.EVENT_SK:
                # The event item usually comes in the same batch as its incident's change.
                self.events[str(new.get("message_id"))] = notification_of(new)
            for change in changes_of(record):
                groups.setdefault(change.group, []).append(change)
        for changes in groups.values():
            self._project_group(changes)
        return self.outcome

    def _project_group(self, changes: list[Change]) -> None:
        current = changes[0]
        try:
            if current.kind == NOTICE:
                self._notice(current)
                return
            root: dict[str, Any] | None = None
            for current in changes:
                if card.is_silenced(current.image):
                    root = root or _existing_root(current.image)  # never posted for a silence
                    self.outcome.silenced += 1
                    continue
                root = self._root(current, root)
                if current.kind != ROOT:
                    self._reply(current, root)
            last = changes[-1]
            if root is not None and any(c.kind != ROOT for c in changes):
                current = last
                self._update(last, root)
        except Exception as error:
            self.outcome.failed.append(current.sequence)
            self.outcome.errors.append(f"{current.key}: {_describe(error)}")

    # --- the calls -------------------------------------------------------------------------------
    def _once(self, key: str, kind: str, send: Callable[[], Any]) -> tuple[bool, Any]:
        done = delivery.deliver_once(ONCE_CHANNEL, key, kind, send)
        if not done.sent:
            self.outcome.skipped += 1
        return done.sent, done.result

    def _notification(self, item: Mapping[str, Any], attribute: str) -> Notification | None:
        mid = item.get(attribute) or item.get("opened_by_message_id")
        if not mid:
            return None
        mid = str(mid)
        if mid not in self.events:
            response = clients.client("dynamodb").get_item(
                TableName=self.table,
                Key={"pk": {"S": history.event_pk(mid)}, "sk": {"S": history.EVENT_SK}},
            )
            found = response.get("Item")
            # An expired event (TTL) leaves the card without the alarm's fields, not failing.
            self.events[mid] = notification_of(image(found)) if found else None
        return self.events[mid]

    def _root(self, change: Change, known: dict[str, Any] | None) -> dict[str, Any]:
        """The root message's channel and ts: known, on the item, or posted now (once)."""
        existing = known or _existing_root(change.image)
        if existing is not None:
            return existing
        item = change.image
        incident = str(item.get("incident_id"))
        message = card.root_message(
            item, self._notification(item, "last_message_id"), self.settings
        )

        channel = self._channel(self._notification(item, "opened_by_message_id"), item)

        def post() -> dict[str, Any]:
            answer = self.api.call("chat.postMessage", {"channel": channel, **message})
            return {"channel": answer["channel"], "ts": answer["ts"]}

        sent, root = self._once(f"{incident}#root", "root", post)
        self.outcome.posts += sent
        self._keep_root(incident, root)
        return root

    def _channel(self, notification: Notification | None, item: Mapping[str, Any]) -> str:
        """Where a root or a notice goes: the ``slack_channel`` of the routing rules that match
        the alarm (routing.yaml, issue 13), else the app secret's channel. Later posts of an
        incident follow its root (``slack_channel`` on the item)."""
        if notification is not None:
            from alert_service import routing

            severity = item.get("severity")
            chosen = routing.route(notification, str(severity) if severity else None)
            if chosen.slack_channel:
                return chosen.slack_channel
        return self.api.app().channel

    def _keep_root(self, incident: str, root: Mapping[str, Any]) -> None:
        try:
            clients.client("dynamodb").update_item(
                TableName=self.table,
                Key={"pk": {"S": history.incident_pk(incident)}, "sk": {"S": history.INCIDENT_SK}},
                UpdateExpression="SET slack_channel = :c, slack_ts = :t",
                ConditionExpression="attribute_exists(pk) AND attribute_not_exists(slack_ts)",
                ExpressionAttributeValues={
                    ":c": {"S": str(root["channel"])},
                    ":t": {"S": str(root["ts"])},
                },
            )
        except Exception as error:
            if clients.error_code(error) != "ConditionalCheckFailedException":
                raise  # kept already (a redelivery): nothing to do

    def _reply(self, change: Change, root: Mapping[str, Any]) -> None:
        item = change.image
        notification = self._notification(item, "last_message_id")
        if change.kind == NOTIFICATION:
            message = card.notification_reply(item, notification, self.settings)
        else:
            message = card.status_reply(item, notification, self.settings)
        sent, _ = self._once(
            change.key,
            "reply",
            lambda: _ts(
                self.api.call(
                    "chat.postMessage",
                    {"channel": root["channel"], "thread_ts": root["ts"], **message},
                )
            ),
        )
        self.outcome.replies += sent

    def _update(self, change: Change, root: Mapping[str, Any] | None) -> None:
        assert root is not None  # noqa: S101 - _root ran for every change of the group
        item = change.image
        message = card.root_message(
            item, self._notification(item, "last_message_id"), self.settings
        )
        sent, _ = self._once(
            change.key,
            "update",
            lambda: _ts(
                self.api.call(
                    "chat.update", {"channel": root["channel"], "ts": root["ts"], **message}
                )
            ),
        )
        self.outcome.updates += sent

    def _notice(self, change: Change) -> None:
        from alert_service.render import slack as slack_layout
        from alert_service.view import build_view

        notification = notification_of(change.image)
        message = slack_layout.render(build_view(notification, self.settings))
        channel = self._channel(notification, change.image)
        sent, _ = self._once(
            change.key,
            "post",
            lambda: _ts(self.api.call("chat.postMessage", {"channel": channel, **message})),
        )
        self.outcome.posts += sent


def _existing_root(item: Mapping[str, Any]) -> dict[str, Any] | None:
    """The root message kept on the incident item, if it was posted."""
    if item.get("slack_ts") and item.get("slack_channel"):
        return {"channel": item["slack_channel"], "ts": item["slack_ts"]}
    return None


def _ts(answer: Mapping[str, Any]) -> dict[str, Any]:
    """What is kept of Slack's answer in the once-only record: where the message is."""
    return {"channel": answer.get("channel"), "ts": answer.get("ts")}


def _describe(error: Exception) -> str:
    """Our errors carry safe messages; anything else only its type and AWS error code."""
    from alert_service.channels import DeliveryError

    if isinstance(error, DeliveryError):
        return str(error)
    code = clients.error_code(error)
    return f"{type(error).__name__}{f' ({code})' if code else ''}"
