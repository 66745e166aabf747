"""Flapping: an alarm that changed state ``FLAP_THRESHOLD`` times within ``FLAP_WINDOW_MINUTES``.

Each notification of an alarm is one state change. ``FlapTracker.observe`` records it and says
what the channels do with it:

| decision | when | channels |
|---|---|---|
| ``normal`` | fewer changes in the window | send as usual |
| ``started_flapping`` | this change made the count reach the threshold (one per episode) | the flapping notice instead of the message, once per channel |
| ``flapping`` | an episode is on | email, SMS and the webhook relay hold it (history keeps it) |
| ``stabilised`` | this change came after a whole window without changes: it ended the episode | the summary (settled state, changes held), then this message as usual |

When no change comes after the episode, ``sweep_stable`` (a scheduled check, every minute) ends it
and hands out the same summary. Each notice has an id (``Decision.notice_id``,
``Summary.notice_id``) for ``delivery.deliver_once``: whoever sends it (any channel's handler, a
retry, the sweep), a channel gets it once.

Exact under concurrency and redelivery, without transactions:
1. a conditional PutItem of a change item keyed by ``<event time>#<MessageId>``: a MessageId is
   counted once, whichever function or retry writes it first;
2. one consistent Query of the alarm's partition from ``event time - window`` (the window's
   changes, and the ``STATE`` item that sorts after them);
3. only when the count reaches the threshold, or a window passed without changes: a conditional
   UpdateItem of ``STATE`` claims the episode's start (``attribute_not_exists(since)``) or end
   (``since = :since``). Exactly one request wins; it records the MessageId that won
   (``started_by``/``closed_by``), so every other function and retry evaluating the same
   notification reaches the same decision (the loser reads the winner from the failed
   condition's returned item).
"""  # noqa: E501 - the table is easier to read unwrapped

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from alert_service import clients, dynamodb
from alert_service.alarm import Alarm, Notification, State
from alert_service.history import event_time, incident_key, iso, parse_iso
from alert_service.silences.settings import FlapSettings, flap_settings

STATE_SK = "STATE"
CHANGE_PREFIX = "CHG#"
FLAPPING_PK = "FLAPPING"  # gsi1 partition: alarms flapping now (the sweep's list)
SUMMARY_PK = "FLAPSUMMARY"  # gsi2 partition: summaries the sweep has not sent yet
KEEP = timedelta(days=7)
MAX_CLAIMS = 4  # each retry follows another request's win; more means something is wrong


class FlapKind(StrEnum):
    NORMAL = "normal"
    STARTED = "started_flapping"
    FLAPPING = "flapping"
    STABILISED = "stabilised"


def flap_pk(key: str) -> str:
    return f"FLAP#{key}"


def change_sk(at: str, message_id: str = "") -> str:
    return f"{CHANGE_PREFIX}{at}#{message_id}" if message_id else f"{CHANGE_PREFIX}{at}"


@dataclass(frozen=True)
class Summary:
    """An episode that ended: the state the alarm settled in and how many changes were held."""

    key: str
    alarm_name: str
    account: str | None
    region: str | None
    since: str  # first change of the episode (the one announced)
    until: str  # last change of the episode
    settled_state: str
    held: int
    closed_by: str  # the MessageId whose arrival ended it, or "sweep"
    # What routing rules match on, so the sweep's summary reaches who got the flapping notice.
    namespace: str | None = None
    metric_name: str | None = None
    dimensions: tuple[tuple[str, str], ...] = ()

    def alarm(self) -> Alarm:
        """The alarm as routing sees it, in the state it settled in."""
        return Alarm(
            name=self.alarm_name,
            state=State.of(self.settled_state) or State.ALARM,
            account=self.account,
            region=self.region,
            namespace=self.namespace,
            metric_name=self.metric_name,
            dimensions=self.dimensions,
        )

    @property
    def notice_id(self) -> str:
        return f"stabilised#{self.key}#{self.since}"


@dataclass(frozen=True)
class Decision:
    kind: FlapKind
    changes: int = 0  # changes counted in the window ending at this notification
    key: str | None = None
    since: str | None = None  # the episode's start (started_flapping, flapping)
    summary: Summary | None = None  # stabilised

    @property
    def holds(self) -> bool:
        """Email, SMS and the webhook relay hold this notification."""
        return self.kind is FlapKind.FLAPPING

    @property
    def notice_id(self) -> str | None:
        """Once-only id of the flapping notice (started_flapping) or the summary (stabilised)."""
        if self.kind is FlapKind.STARTED:
            return f"flapping#{self.key}#{self.since}"
        return self.summary.notice_id if self.summary else None


@dataclass(frozen=True)
class Plan:
    """What the pure rule says: a decision, or a claim to make first (``start``/``close``)."""

    kind: FlapKind
    claim: str | None = None


def classify(
    *,
    message_id: str,
    at: str,
    changes: int,
    earlier_in_window: int,
    state: dict[str, Any],
    threshold: int,
) -> Plan:
    """The decision table, pure. ``changes``: changes in ``[at - window, at]`` including this one;
    ``earlier_in_window``: those strictly before ``at`` (others at the same instant excluded);
    ``state``: the alarm's STATE item (``{}`` when none)."""
    if state.get("started_by") == message_id:
        return Plan(FlapKind.STARTED)
    if state.get("closed_by") == message_id:
        return Plan(FlapKind.STABILISED)
    since = state.get("since")
    if since is not None and at >= since:
        if at > since and earlier_in_window == 0:
            return Plan(FlapKind.STABILISED, claim="close")  # a whole window without changes
        return Plan(FlapKind.FLAPPING)
    if changes < threshold:
        return Plan(FlapKind.NORMAL)
    if since is not None:  # a late change from before the episode's start: part of the storm
        return Plan(FlapKind.FLAPPING)
    ended_since, ended_until = state.get("closed_since"), state.get("closed_until")
    if ended_since is not None and ended_since <= at <= (ended_until or ended_since):
        # A change of the episode that ended, seen only now (the other function's order, a
        # retry, a replay): decided as it was. Claiming a start would open the episode again and
        # hold the alarm's next messages for a whole window.
        return Plan(FlapKind.STARTED if at == ended_since else FlapKind.FLAPPING)
    return Plan(FlapKind.STARTED, claim="start")


def _summary(key: str, state: dict[str, Any]) -> Summary:
    return Summary(
        key=key,
        alarm_name=state.get("alarm_name", ""),
        account=state.get("account") or None,
        region=state.get("region") or None,
        since=state["closed_since"],
        until=state["closed_until"],
        settled_state=state["closed_state"],
        held=int(state.get("closed_held", 0)),
        closed_by=state["closed_by"],
        namespace=state.get("namespace") or None,
        metric_name=state.get("metric_name") or None,
        dimensions=tuple(
            (str(name), str(value)) for name, value in json.loads(state.get("dimensions") or "[]")
        ),
    )


class FlapTracker:
    """Flap state of one table; ``client`` defaults to the process's DynamoDB client."""

    def __init__(
        self, table: str, settings: FlapSettings | None = None, client: Any = None
    ) -> None:
        self.table = table
        self.settings = settings or flap_settings()
        self._client = client

    @property
    def client(self) -> Any:
        return self._client or clients.client("dynamodb")

    # --- the notification path -----------------------------------------------------------
    def observe(
        self, notification: Notification, *, received_at: datetime | None = None
    ) -> Decision:
        """Count this notification's change once and decide. 2 requests; 3-5 at an episode's
        start or end. Raises on DynamoDB failures (the handler fails, Lambda retries)."""
        alarm = notification.alarm
        if alarm is None:
            return Decision(FlapKind.NORMAL)
        moment = event_time(notification, received_at or datetime.now(UTC))
        key, at, mid = incident_key(alarm), iso(moment), notification.message_id
        self._put_change(key, at, mid, alarm.state.value, moment)
        items = list(
            dynamodb.query(
                self.client,
                TableName=self.table,
                KeyConditionExpression="pk = :pk AND sk >= :from",
                ExpressionAttributeValues=dynamodb.values(
                    pk=flap_pk(key), **{"from": change_sk(iso(moment - self.settings.window))}
                ),
                ConsistentRead=True,
            )
        )
        state = next((i for i in items if i["sk"] == STATE_SK), {})
        times = [i["sk"][len(CHANGE_PREFIX) :].split("#", 1)[0] for i in items if i is not state]
        changes = sum(1 for t in times if t <= at)
        earlier = sum(1 for t in times if t < at)
        for _ in range(MAX_CLAIMS):
            plan = classify(
                message_id=mid,
                at=at,
                changes=changes,
                earlier_in_window=earlier,
                state=state,
                threshold=self.settings.threshold,
            )
            if plan.claim is None:
                return self._decision(plan.kind, changes, key, state)
            won, state = self._claim(plan.claim, key, alarm, at, mid, state)
            if won:
                return self._decision(plan.kind, changes, key, state)
        raise RuntimeError(f"flap state of {alarm.name!r} kept changing; retry")

    def _decision(self, kind: FlapKind, changes: int, key: str, state: dict[str, Any]) -> Decision:
        if kind is FlapKind.STABILISED:
            return Decision(kind, changes, key, summary=_summary(key, state))
        # A started change of an episode that has ended keeps its notice's id (closed_since).
        since = state.get("since") or (
            state.get("closed_since") if kind is FlapKind.STARTED else None
        )
        return Decision(kind, changes, key, since=since)

    def _put_change(self, key: str, at: str, mid: str, state: str, moment: datetime) -> None:
        try:
            self.client.put_item(
                TableName=self.table,
                Item=dynamodb.serialize(
                    {
                        "pk": flap_pk(key),
                        "sk": change_sk(at, mid),
                        "type": "flap_change",
                        "message_id": mid,
                        "state": state,
                        "expires_at": int((moment + KEEP).timestamp()),
                    },
                    skip_none=True,
                ),
                ConditionExpression="attribute_not_exists(pk)",
            )
        except Exception as error:  # counted already (another channel's handler, or a retry)
            if dynamodb.condition_failed(error) is None:
                raise

    def _claim(
        self, claim: str, key: str, alarm: Alarm, at: str, mid: str, state: dict[str, Any]
    ) -> tuple[bool, dict[str, Any]]:
        """Make the claim; (won, the STATE item after it, or as the winner left it)."""
        moment = parse_iso(at)
        if claim == "start":
            request = self._start(key, alarm, at, mid, moment)
        else:
            request = self._close(key, state, closed_by=mid, before=at, moment=moment)
        try:
            answer = self.client.update_item(
                TableName=self.table,
                Key=dynamodb.key(flap_pk(key), STATE_SK),
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
                **request,
            )
        except Exception as error:
            old = dynamodb.condition_failed(error)
            if old is None:
                raise
            return False, old
        return True, dynamodb.deserialize(answer.get("Attributes", {}))

    def _start(self, key: str, alarm: Alarm, at: str, mid: str, moment: datetime) -> dict[str, Any]:
        return {
            "UpdateExpression": (
                "SET since = :at, started_by = :mid, alarm_name = :name, account = :account,"
                " #region = :region, gsi1pk = :flapping, gsi1sk = :gsk, #type = :type,"
                " expires_at = :ttl, #namespace = :namespace, metric_name = :metric,"
                " #dimensions = :dimensions"
            ),
            "ConditionExpression": "attribute_not_exists(since)",
            "ExpressionAttributeNames": {
                "#region": "region",
                "#type": "type",
                "#namespace": "namespace",
                "#dimensions": "dimensions",
            },
            "ExpressionAttributeValues": dynamodb.values(
                at=at,
                mid=mid,
                name=alarm.name,
                account=alarm.account or "",
                region=alarm.region or "",
                flapping=FLAPPING_PK,
                gsk=f"{at}#{key}",
                type="flap_state",
                ttl=int((moment + KEEP).timestamp()),
                namespace=alarm.namespace or "",
                metric=alarm.metric_name or "",
                dimensions=json.dumps([list(d) for d in alarm.dimensions]),
            ),
        }

    def _close(
        self, key: str, state: dict[str, Any], *, closed_by: str, before: str, moment: datetime
    ) -> dict[str, Any]:
        """End the episode ``state['since']``: its changes up to (not including) ``before``."""
        since = state["since"]
        episode = list(
            dynamodb.query(
                self.client,
                TableName=self.table,
                KeyConditionExpression="pk = :pk AND sk BETWEEN :since AND :before",
                ExpressionAttributeValues=dynamodb.values(
                    pk=flap_pk(key), since=change_sk(since), before=change_sk(before)
                ),
                ProjectionExpression="sk, #state",
                ExpressionAttributeNames={"#state": "state"},
                ConsistentRead=True,
            )
        )
        last = episode[-1] if episode else {"sk": change_sk(since), "state": "?"}
        until = last["sk"][len(CHANGE_PREFIX) :].split("#", 1)[0]
        return {
            "UpdateExpression": (
                "SET closed_since = :since, closed_until = :until, closed_state = :settled,"
                " closed_held = :held, closed_by = :by, gsi2pk = :pending, gsi2sk = :gsk,"
                " expires_at = :ttl REMOVE since, started_by, gsi1pk, gsi1sk"
            ),
            "ConditionExpression": "since = :since",
            "ExpressionAttributeValues": dynamodb.values(
                since=since,
                until=until,
                settled=last.get("state", "?"),
                # The announced change is not held; every later one in the episode was.
                held=max(0, len(episode) - 1),
                by=closed_by,
                pending=SUMMARY_PK,
                gsk=f"{until}#{key}",
                ttl=int((moment + KEEP).timestamp()),
            ),
        }

    # --- the scheduled check -------------------------------------------------------------
    def sweep_stable(self, now: datetime) -> list[Summary]:
        """End every episode whose alarm has not changed for a window; then every summary not
        yet marked sent (ended here, by a notification, or by an earlier sweep that failed)."""
        for state in dynamodb.query(
            self.client,
            TableName=self.table,
            IndexName="gsi1",
            KeyConditionExpression="gsi1pk = :pk",
            ExpressionAttributeValues=dynamodb.values(pk=FLAPPING_PK),
        ):
            key = state["pk"].split("#", 1)[1]
            latest = next(
                dynamodb.query(
                    self.client,
                    TableName=self.table,
                    KeyConditionExpression="pk = :pk AND begins_with(sk, :chg)",
                    ExpressionAttributeValues=dynamodb.values(pk=flap_pk(key), chg=CHANGE_PREFIX),
                    ScanIndexForward=False,
                    Limit=1,
                    ConsistentRead=True,
                ),
                None,
            )
            last_at = latest["sk"][len(CHANGE_PREFIX) :].split("#", 1)[0] if latest else ""
            if "since" not in state or last_at > iso(now - self.settings.window):
                continue
            request = self._close(key, state, closed_by="sweep", before=iso(now) + "~", moment=now)
            try:
                self.client.update_item(
                    TableName=self.table, Key=dynamodb.key(flap_pk(key), STATE_SK), **request
                )
            except Exception as error:  # a notification ended it first: its summary is pending
                if dynamodb.condition_failed(error) is None:
                    raise
        return self.pending_summaries()

    def pending_summaries(self) -> list[Summary]:
        return [
            _summary(state["pk"].split("#", 1)[1], state)
            for state in dynamodb.query(
                self.client,
                TableName=self.table,
                IndexName="gsi2",
                KeyConditionExpression="gsi2pk = :pk",
                ExpressionAttributeValues=dynamodb.values(pk=SUMMARY_PK),
            )
        ]

    def summary_sent(self, summary: Summary) -> None:
        """Every channel has the summary: the sweep stops handing it out."""
        try:
            self.client.update_item(
                TableName=self.table,
                Key=dynamodb.key(flap_pk(summary.key), STATE_SK),
                UpdateExpression="REMOVE gsi2pk, gsi2sk",
                ConditionExpression="closed_since = :since",
                ExpressionAttributeValues=dynamodb.values(since=summary.since),
            )
        except Exception as error:  # a later episode's summary replaced it: that one stays
            if dynamodb.condition_failed(error) is None:
                raise
