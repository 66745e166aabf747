"""AlarmHistoryFunction against moto's DynamoDB over real HTTP: events, incidents, concurrency.

The table is created with the template's exact key schema; assertions read the items back with a
separate client, and the contract's formulas are computed here independently of the code.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from boto3.dynamodb.types import TypeDeserializer
from conftest import ROOT, FakeLambdaContext, load_event, load_function

TABLE = "alert-service-history"
CPU_ALARM_NAME = "OTT-DB-CPU-Utilization-High"
ACCOUNT, REGION_CODE = "123456789012", "ap-northeast-2"


def expected_key(account: str, region: str, name: str) -> str:
    return hashlib.sha256(f"{account}|{region}|{name}".encode()).hexdigest()[:16]


CPU_KEY = expected_key(ACCOUNT, REGION_CODE, CPU_ALARM_NAME)
CPU_INCIDENT = f"INC-20240112073000-{CPU_KEY}"


def load_handler() -> Callable[[dict[str, Any], Any], dict[str, Any]]:
    return load_function("alarm_history").handler


def create_history_table(name: str = TABLE) -> None:
    """AlarmHistoryTable exactly as template.yaml declares it: keys, GSIs and their projections."""
    from local.aws import read_template

    props = read_template()["Resources"]["AlarmHistoryTable"]["Properties"]
    ddb = boto3.client("dynamodb")
    ddb.create_table(
        TableName=name,
        **{
            k: props[k]
            for k in ("BillingMode", "AttributeDefinitions", "KeySchema", "GlobalSecondaryIndexes")
        },
    )
    ttl = props["TimeToLiveSpecification"]
    ddb.update_time_to_live(
        TableName=name,
        TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl["AttributeName"]},
    )


@pytest.fixture
def history_table(aws: str, monkeypatch: pytest.MonkeyPatch) -> str:
    create_history_table()
    monkeypatch.setenv("HISTORY_TABLE_NAME", TABLE)
    monkeypatch.delenv("HISTORY_RETENTION_DAYS", raising=False)
    return TABLE


@pytest.fixture
def handler(history_table: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    fn = load_handler()
    return lambda event: fn(event, FakeLambdaContext("alarm-history"))


# --- helpers ---------------------------------------------------------------------------------
def get(pk: str, sk: str) -> dict[str, Any] | None:
    item = boto3.client("dynamodb").get_item(
        TableName=TABLE, Key={"pk": {"S": pk}, "sk": {"S": sk}}, ConsistentRead=True
    )
    return _plain(item["Item"]) if "Item" in item else None


def query(index: str, pk: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {
        "TableName": TABLE,
        "IndexName": index,
        "KeyConditionExpression": f"{index}pk = :pk",
        "ExpressionAttributeValues": {":pk": {"S": pk}},
    }
    while True:
        page = boto3.client("dynamodb").query(**kwargs)
        items.extend(_plain(i) for i in page["Items"])
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _plain(item: dict[str, Any]) -> dict[str, Any]:
    d = TypeDeserializer()
    return {k: d.deserialize(v) for k, v in item.items()}


def event_item(message_id: str) -> dict[str, Any] | None:
    return get(f"MSG#{message_id}", "EVENT")


def incident(incident_id: str) -> dict[str, Any] | None:
    return get(f"INC#{incident_id}", "META")


def alarm_state(key: str) -> dict[str, Any] | None:
    return get(f"ALARM#{key}", "STATE")


def open_incident(key: str) -> str | None:
    """The incident the alarm's state item names as open (None: nothing open)."""
    return (alarm_state(key) or {}).get("open_incident_id")


def variant(
    name: str, *, message_id: str, state: str | None = None, at: str | None = None
) -> dict[str, Any]:
    """A copy of an event file with a new MessageId (and state change time / state)."""
    event = copy.deepcopy(load_event(name))
    sns = event["Records"][0]["Sns"]
    body = json.loads(sns["Message"])
    if state:
        body["NewStateValue"] = state
    if at:
        body["StateChangeTime"] = at
    sns["MessageId"] = message_id
    sns["Message"] = json.dumps(body, ensure_ascii=False)
    return event


def message_id_of(event: dict[str, Any]) -> str:
    return event["Records"][0]["Sns"]["MessageId"]


def raw_message(event: dict[str, Any]) -> str:
    return event["Records"][0]["Sns"]["Message"]


# --- the contract ----------------------------------------------------------------------------
def test_incident_key_and_id_follow_the_contract_formulas(handler: Callable) -> None:
    event = load_event("cpu_alarm.json")
    assert handler(event)["stored"] == {message_id_of(event): "opened"}

    # Computed here from the formula, not from the code under test.
    key = hashlib.sha256(b"123456789012|ap-northeast-2|OTT-DB-CPU-Utilization-High").hexdigest()
    key = key[:16]
    incident_id = f"INC-20240112073000-{key}"  # StateChangeTime 2024-01-12T07:30:00.000+0000
    item = incident(incident_id)
    assert item is not None
    assert item["incident_id"] == incident_id
    assert item["incident_key"] == key
    assert item["status"] == "active"
    assert item["alert_count"] == 1
    assert item["first_seen_at"] == item["last_seen_at"] == "2024-01-12T07:30:00.000Z"
    assert item["resolved_at"] is None
    assert "expires_at" not in item  # incidents are kept

    stored = event_item(message_id_of(event))
    assert stored is not None
    assert stored["message_id"] == message_id_of(event)
    assert stored["raw_payload"] == raw_message(event)
    assert stored["incident_id"] == incident_id
    assert stored["alarm_name"] == CPU_ALARM_NAME
    assert stored["state"] == "ALARM"
    assert stored["received_at"].endswith("Z")
    # Retention: 90 days after it was stored (HISTORY_RETENTION_DAYS unset).
    assert abs(int(stored["expires_at"]) - (time.time() + 90 * 86400)) < 120
    assert alarm_state(key) == {
        "pk": f"ALARM#{key}",
        "sk": "STATE",
        "type": "alarm_state",
        "incident_key": key,
        "open_incident_id": incident_id,
        "open_first_seen_at": "2024-01-12T07:30:00.000Z",
        "open_last_alarm_at": "2024-01-12T07:30:00.000Z",
        "open_last_seen_at": "2024-01-12T07:30:00.000Z",
    }


def test_retention_days_come_from_the_environment(
    handler: Callable, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HISTORY_RETENTION_DAYS", "7")
    handler(load_event("plain_text.json"))
    stored = event_item(message_id_of(load_event("plain_text.json")))
    assert stored is not None
    assert abs(int(stored["expires_at"]) - (time.time() + 7 * 86400)) < 120


# --- open / join / resolve -------------------------------------------------------------------
def test_alarm_opens_alarms_join_and_ok_resolves(handler: Callable) -> None:
    first = load_event("cpu_alarm.json")
    second = variant("cpu_alarm.json", message_id="m-second", at="2024-01-12T07:35:00.000+0000")
    ok = load_event("cpu_ok.json")

    assert handler(first)["stored"] == {message_id_of(first): "opened"}
    assert handler(second)["stored"] == {"m-second": "joined"}
    joined = incident(CPU_INCIDENT)
    assert joined is not None
    assert (joined["status"], joined["alert_count"]) == ("active", 2)
    assert joined["last_seen_at"] == "2024-01-12T07:35:00.000Z"

    assert handler(ok)["stored"] == {message_id_of(ok): "resolved"}
    resolved = incident(CPU_INCIDENT)
    assert resolved is not None
    assert resolved["status"] == "resolved"
    assert resolved["alert_count"] == 3
    assert resolved["resolved_at"] == "2024-01-12T07:55:00.412Z"
    assert resolved["duration_seconds"] == 1500  # 07:30:00.000 -> 07:55:00.412
    assert resolved["resolved_by"] == "cloudwatch:OK"
    # Nothing open; the recovery is remembered after the incident is closed.
    assert alarm_state(CPU_KEY) == {
        "pk": f"ALARM#{CPU_KEY}",
        "sk": "STATE",
        "type": "alarm_state",
        "incident_key": CPU_KEY,
        "closed_through": "2024-01-12T07:55:00.412Z",
    }

    events = query("gsi2", f"INC#{CPU_INCIDENT}")
    assert [e["message_id"] for e in events] == [
        message_id_of(first),
        "m-second",
        message_id_of(ok),
    ]
    assert [e["incident_action"] for e in events] == ["opened", "joined", "resolved"]
    assert [i["incident_id"] for i in query("gsi1", "STATUS#resolved")] == [CPU_INCIDENT]
    assert query("gsi1", "STATUS#active") == []

    # The next ALARM of the same alarm is a new incident (a new episode), found by the alarm's key.
    again = variant("cpu_alarm.json", message_id="m-again", at="2024-01-12T10:00:00.000+0000")
    assert handler(again)["stored"] == {"m-again": "opened"}
    second_incident = f"INC-20240112100000-{CPU_KEY}"
    assert open_incident(CPU_KEY) == second_incident
    by_alarm = query("gsi2", f"ALARM#{CPU_KEY}")
    assert [(i["incident_id"], i["status"]) for i in by_alarm] == [
        (CPU_INCIDENT, "resolved"),
        (second_incident, "active"),
    ]


def test_redelivery_changes_nothing(handler: Callable) -> None:
    alarm = load_event("cpu_alarm.json")
    handler(alarm)
    before = (incident(CPU_INCIDENT), event_item(message_id_of(alarm)))

    twice = {"Records": alarm["Records"] * 2}  # also within one invocation
    assert handler(twice)["stored"] == {message_id_of(alarm): "duplicate"}
    assert handler(alarm)["stored"] == {message_id_of(alarm): "duplicate"}
    assert (incident(CPU_INCIDENT), event_item(message_id_of(alarm))) == before
    assert incident(CPU_INCIDENT)["alert_count"] == 1  # type: ignore[index]

    # A redelivered OK after the resolve neither resolves again nor counts.
    ok = load_event("cpu_ok.json")
    handler(ok)
    resolved = incident(CPU_INCIDENT)
    assert handler(ok)["stored"] == {message_id_of(ok): "duplicate"}
    assert incident(CPU_INCIDENT) == resolved
    assert len(query("gsi2", f"INC#{CPU_INCIDENT}")) == 2


def test_late_copy_of_the_alarm_after_resolve_is_stored_without_reopening(
    handler: Callable,
) -> None:
    """The same ALARM transition delivered again under another MessageId after the OK (e.g. the
    EventBridge copy of it): the fact is stored, the resolved incident stays resolved."""
    handler(load_event("cpu_alarm.json"))
    handler(load_event("cpu_ok.json"))
    late = variant("cpu_alarm.json", message_id="m-late-copy")
    assert handler(late)["stored"] == {"m-late-copy": "stored"}
    stored = event_item("m-late-copy")
    assert stored is not None
    assert stored["raw_payload"] == raw_message(late)
    assert "incident_id" not in stored
    assert incident(CPU_INCIDENT)["status"] == "resolved"  # type: ignore[index]
    assert open_incident(CPU_KEY) is None


def test_insufficient_data_joins_the_open_incident_without_resolving_it(handler: Callable) -> None:
    handler(load_event("cpu_alarm.json"))
    insufficient = load_event("insufficient_data.json")
    assert handler(insufficient)["stored"] == {message_id_of(insufficient): "joined"}
    item = incident(CPU_INCIDENT)
    assert item is not None
    assert (item["status"], item["alert_count"]) == ("active", 2)
    assert item["last_state"] == "INSUFFICIENT_DATA"
    assert item["resolved_at"] is None
    assert open_incident(CPU_KEY) == CPU_INCIDENT
    assert event_item(message_id_of(insufficient))["incident_id"] == CPU_INCIDENT  # type: ignore[index]


def test_insufficient_data_without_open_incident_is_an_event_only(handler: Callable) -> None:
    insufficient = load_event("insufficient_data.json")
    assert handler(insufficient)["stored"] == {message_id_of(insufficient): "stored"}
    stored = event_item(message_id_of(insufficient))
    assert stored is not None
    assert "incident_id" not in stored
    assert stored["incident_key"] == CPU_KEY
    assert alarm_state(CPU_KEY) is None  # INSUFFICIENT_DATA alone changes no state


def test_orphan_ok_is_stored_without_an_incident(handler: Callable) -> None:
    ok = load_event("cpu_ok.json")
    assert handler(ok)["stored"] == {message_id_of(ok): "stored"}
    stored = event_item(message_id_of(ok))
    assert stored is not None
    assert stored["state"] == "OK"
    assert stored["raw_payload"] == raw_message(ok)
    assert "incident_id" not in stored
    assert "gsi2pk" not in stored
    for status in ("active", "acknowledged", "resolved"):
        assert query("gsi1", f"STATUS#{status}") == []
    assert open_incident(CPU_KEY) is None
    assert alarm_state(CPU_KEY)["closed_through"] == "2024-01-12T07:55:00.412Z"  # type: ignore[index]
    assert [e["message_id"] for e in query("gsi1", "DAY#2024-01-12")] == [message_id_of(ok)]


def test_ok_older_than_the_open_incident_does_not_resolve_it(handler: Callable) -> None:
    handler(variant("cpu_alarm.json", message_id="m-late-start", at="2024-01-12T08:00:00.000+0000"))
    ok = load_event("cpu_ok.json")  # 07:55, delivered late
    assert handler(ok)["stored"] == {message_id_of(ok): "stored"}
    assert incident(f"INC-20240112080000-{CPU_KEY}")["status"] == "active"  # type: ignore[index]


# --- out of order: incidents follow StateChangeTime, not arrival (issue 10, defect 1) ----------
def alarm_at(message_id: str, at: str) -> dict[str, Any]:
    return variant("cpu_alarm.json", message_id=message_id, at=f"2024-01-{at}.000+0000")


def ok_at(message_id: str, at: str) -> dict[str, Any]:
    return variant("cpu_ok.json", message_id=message_id, at=f"2024-01-{at}.000+0000")


def test_late_alarm_after_its_ok_opens_nothing(handler: Callable) -> None:
    """ALARM 07:30, OK 07:40, then a retried ALARM stamped 07:35: stored as an event only, so the
    next real ALARM a week later opens its own incident instead of joining a phantom one."""
    assert handler(alarm_at("m-0730", "12T07:30:00"))["stored"] == {"m-0730": "opened"}
    assert handler(ok_at("m-0740", "12T07:40:00"))["stored"] == {"m-0740": "resolved"}
    assert handler(alarm_at("m-0735", "12T07:35:00"))["stored"] == {"m-0735": "stored"}
    late = event_item("m-0735")
    assert late is not None
    assert "incident_id" not in late
    assert late["raw_payload"] == raw_message(alarm_at("m-0735", "12T07:35:00"))
    assert query("gsi1", "STATUS#active") == []
    assert [i["incident_id"] for i in query("gsi2", f"ALARM#{CPU_KEY}")] == [CPU_INCIDENT]

    assert handler(alarm_at("m-week", "19T07:30:00"))["stored"] == {"m-week": "opened"}
    assert handler(ok_at("m-week-ok", "19T07:45:00"))["stored"] == {"m-week-ok": "resolved"}
    week = incident(f"INC-20240119073000-{CPU_KEY}")
    assert week is not None
    assert (week["alert_count"], week["duration_seconds"]) == (2, 900)


def test_an_older_alarm_joins_without_moving_the_incident_backwards(handler: Callable) -> None:
    handler(alarm_at("m-0730", "12T07:30:00"))
    handler(alarm_at("m-0740", "12T07:40:00"))
    assert handler(alarm_at("m-0735", "12T07:35:00"))["stored"] == {"m-0735": "joined"}
    insufficient = variant(
        "insufficient_data.json", message_id="m-0732", at="2024-01-12T07:32:00.000+0000"
    )
    assert handler(insufficient)["stored"] == {"m-0732": "joined"}
    item = incident(CPU_INCIDENT)
    assert item is not None
    assert item["alert_count"] == 4
    assert (item["last_seen_at"], item["last_state"], item["last_message_id"]) == (
        "2024-01-12T07:40:00.000Z",
        "ALARM",
        "m-0740",
    )
    assert event_item("m-0735")["incident_id"] == CPU_INCIDENT  # type: ignore[index]


def test_ok_older_than_the_latest_alarm_does_not_resolve(handler: Callable) -> None:
    handler(alarm_at("m-0730", "12T07:30:00"))
    handler(alarm_at("m-0750", "12T07:50:00"))
    # Sent at 07:40, delivered after the 07:50 ALARM: counted, but the incident stays open.
    assert handler(ok_at("m-0740", "12T07:40:00"))["stored"] == {"m-0740": "joined"}
    item = incident(CPU_INCIDENT)
    assert item is not None
    assert (item["status"], item["alert_count"], item["last_state"]) == ("active", 3, "ALARM")
    assert open_incident(CPU_KEY) == CPU_INCIDENT

    assert handler(ok_at("m-0800", "12T08:00:00"))["stored"] == {"m-0800": "resolved"}
    resolved = incident(CPU_INCIDENT)
    assert resolved is not None
    assert (resolved["status"], resolved["duration_seconds"]) == ("resolved", 1800)


def test_an_incident_opened_by_an_earlier_version_is_resolved_and_migrated(
    handler: Callable,
) -> None:
    """Earlier versions kept an open pointer OPEN#<key> and no alarm state item."""
    from alert_service import history, parse

    notification = parse.notifications(load_event("cpu_alarm.json"))[0]
    assert notification.alarm is not None
    ddb = boto3.client("dynamodb")
    from alert_service.incidents.store import serialize

    for item in (
        history.pointer_item(
            key=CPU_KEY, incident=CPU_INCIDENT, first_seen_at="2024-01-12T07:30:00.000Z"
        ),
        history.incident_item(
            notification.alarm,
            key=CPU_KEY,
            incident=CPU_INCIDENT,
            at="2024-01-12T07:30:00.000Z",
            message_id="m-old",
        ),
    ):
        ddb.put_item(TableName=TABLE, Item=serialize(item))

    assert handler(alarm_at("m-0735", "12T07:35:00"))["stored"] == {"m-0735": "joined"}
    assert get(f"OPEN#{CPU_KEY}", "OPEN") is None  # moved into the alarm state item
    assert open_incident(CPU_KEY) == CPU_INCIDENT
    ok = load_event("cpu_ok.json")
    assert handler(ok)["stored"] == {message_id_of(ok): "resolved"}
    assert incident(CPU_INCIDENT)["alert_count"] == 3  # type: ignore[index]


# --- transaction conflicts: retried after a jittered backoff (issue 10, defect 5) ---------------
class Conflicts:
    """Answers the next ``times`` TransactWriteItems with what DynamoDB answers when another
    transaction holds one of the items: HTTP 400 TransactionCanceledException whose reasons
    name TransactionConflict (botocore ``before-send``: nothing reaches moto)."""

    def __init__(self, times: int) -> None:
        from alert_service import clients

        self.left = times
        self.answered = 0
        clients.client("dynamodb").meta.events.register("before-send.dynamodb", self._send)

    def _send(self, request: Any, **_: Any) -> Any:
        from botocore.awsrequest import AWSResponse

        target = request.headers.get("X-Amz-Target", b"")
        target = target.decode() if isinstance(target, bytes) else target
        if not target.endswith("TransactWriteItems") or self.left <= 0:
            return None
        self.left -= 1
        self.answered += 1
        items = json.loads(request.body)["TransactItems"]
        reasons = [{"Code": "None"}] * len(items)
        reasons[-1] = {"Code": "TransactionConflict", "Message": "Transaction is ongoing"}
        body = json.dumps(
            {
                "__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
                "Message": "Transaction cancelled, please refer cancellation reasons",
                "CancellationReasons": reasons,
            }
        ).encode()

        class Raw:
            def stream(self) -> Any:
                yield body

        headers = {"content-type": "application/x-amz-json-1.0", "x-amzn-requestid": "conflict"}
        return AWSResponse(request.url, 400, headers, Raw())


def record(event: dict[str, Any], sleeps: list[float]) -> Any:
    from alert_service import incidents, parse

    store = incidents.HistoryStore.from_environment()
    return incidents.record(parse.notifications(event)[0], store=store, sleep=sleeps.append)


def test_a_transaction_conflict_is_retried_after_a_jittered_backoff(history_table: str) -> None:
    from alert_service.incidents import recording

    conflicts = Conflicts(times=3)
    counter = RequestCounter()
    sleeps: list[float] = []
    assert record(load_event("cpu_alarm.json"), sleeps).value == "opened"
    assert conflicts.answered == 3
    # One wait before each retry, each within its (doubling) bound.
    assert len(sleeps) == 3
    for attempt, slept in enumerate(sleeps):
        bound = recording.BACKOFF_BASE_SECONDS * 2**attempt
        assert 0 <= slept <= bound
    # Each retry reads the state again (another transaction was changing it).
    calls, _ = counter.take()
    assert calls == ["GetItem", "GetItem"] + ["TransactWriteItems", "GetItem", "GetItem"] * 3 + [
        "TransactWriteItems"
    ]
    item = incident(CPU_INCIDENT)
    assert item is not None
    assert item["alert_count"] == 1


def test_conflicts_without_end_raise_and_store_nothing(
    history_table: str,
) -> None:
    from alert_service import incidents
    from alert_service.incidents import recording

    conflicts = Conflicts(times=1000)
    sleeps: list[float] = []
    with pytest.raises(incidents.IncidentConflict):
        record(load_event("cpu_alarm.json"), sleeps)
    assert conflicts.answered == recording.MAX_ATTEMPTS
    assert len(sleeps) == recording.MAX_ATTEMPTS - 1  # none after the last attempt
    assert sum(sleeps) <= sum(
        recording.backoff_seconds(n, draw=lambda: 1.0) for n in range(recording.MAX_ATTEMPTS)
    )
    assert event_item(message_id_of(load_event("cpu_alarm.json"))) is None
    assert incident(CPU_INCIDENT) is None


def test_backoff_doubles_up_to_its_cap() -> None:
    from alert_service.incidents.recording import backoff_seconds

    most = [backoff_seconds(n, draw=lambda: 1.0) for n in range(8)]
    assert most == [0.02, 0.04, 0.08, 0.16, 0.32, 0.5, 0.5, 0.5]
    assert backoff_seconds(3, draw=lambda: 0.0) == 0.0


# --- unparsable payloads ---------------------------------------------------------------------
@pytest.mark.parametrize("name", ["malformed_json.json", "plain_text.json", "empty_message.json"])
def test_unparsable_payload_is_stored_intact(handler: Callable, name: str) -> None:
    event = load_event(name)
    mid = message_id_of(event)
    assert handler(event)["stored"] == {mid: "stored"}
    stored = event_item(mid)
    assert stored is not None
    assert stored["raw_payload"] == raw_message(event)  # byte for byte, even ""
    assert stored["raw_payload"].encode() == raw_message(event).encode()
    assert stored["problem"] in {"not_json", "empty"}
    assert "incident_id" not in stored
    assert "state" not in stored
    # Filed under the day SNS published it.
    day = event["Records"][0]["Sns"]["Timestamp"][:10]
    assert mid in [e["message_id"] for e in query("gsi1", f"DAY#{day}")]
    assert handler(event)["stored"] == {mid: "duplicate"}


def test_every_sample_event_is_stored_once(handler: Callable) -> None:
    ids = []
    for path in sorted((ROOT / "events").glob("*.json")):
        event = json.loads(path.read_text(encoding="utf-8"))
        handler(event)
        ids += [r["Sns"]["MessageId"] for r in event["Records"]]
    for mid in ids:
        assert event_item(mid) is not None, mid


# --- requests per notification ---------------------------------------------------------------
class RequestCounter:
    """Counts DynamoDB API calls made through the process-wide client (botocore ``before-call``).

    A TransactWriteItems is noted with what it writes: ``Put MSG``, ``Update ALARM``, ...
    """

    def __init__(self) -> None:
        from alert_service import clients

        self.calls: list[str] = []
        self.writes: list[list[str]] = []
        self.paused = False
        events = clients.client("dynamodb").meta.events
        events.register("before-call.dynamodb", self._count)
        events.register("before-parameter-build.dynamodb.TransactWriteItems", self._items)

    def _count(self, model: Any, **_: Any) -> None:
        if not self.paused:
            self.calls.append(model.name)

    def _items(self, params: dict[str, Any], **_: Any) -> None:
        if not self.paused:
            written = []
            for part in params["TransactItems"]:
                ((op, body),) = part.items()
                pk = (body.get("Item") or body.get("Key"))["pk"]["S"]
                written.append(f"{op} {pk.split('#', 1)[0]}")
            self.writes.append(written)

    def take(self) -> tuple[list[str], list[list[str]]]:
        taken = (self.calls, self.writes)
        self.calls, self.writes = [], []
        return taken


def item_kb(item: dict[str, Any]) -> int:
    """DynamoDB's item size, rounded up to write units (names + values, UTF-8)."""

    def size(value: Any) -> int:
        if isinstance(value, str):
            return len(value.encode())
        if isinstance(value, int | float) or type(value).__name__ == "Decimal":
            return 1 + math.ceil(len(str(value).lstrip("-").replace(".", "")) / 2)
        return len(str(value))

    return max(1, math.ceil(sum(len(k.encode()) + size(v) for k, v in item.items()) / 1024))


EVENT_PUT, STATE_PUT, STATE_UPDATE = "Put MSG", "Put ALARM", "Update ALARM"
INCIDENT_PUT, INCIDENT_UPDATE = "Put INC", "Update INC"


def test_requests_and_items_written_per_notification(handler: Callable) -> None:
    """Each case: the requests made and the items each transaction writes (README "History").

    Out of order on purpose: INSUFFICIENT_DATA (09:05) arrives before the OK (07:55) that ends the
    incident, and an ALARM from 07:40 arrives after that OK.
    """
    counter = RequestCounter()
    joins_0730 = variant("cpu_alarm.json", message_id="m-join")  # same StateChangeTime
    joins_0735 = variant("cpu_alarm.json", message_id="m-0735", at="2024-01-12T07:35:00.000+0000")
    late_0740 = variant("cpu_alarm.json", message_id="m-0740", at="2024-01-12T07:40:00.000+0000")
    transaction = ["TransactWriteItems"]
    # Issue 12: an alarm's silences (one Query, then cached SILENCE_CACHE_SECONDS per process) and
    # its flap count (the change put keyed by MessageId, the window Query) come first.
    silences, flap = ["Query"], ["PutItem", "Query"]
    cases = [
        # The first notification of an alarm also looks for an open pointer of earlier versions.
        (
            "ALARM opens",
            load_event("cpu_alarm.json"),
            "opened",
            silences + flap + ["GetItem", "GetItem"],
            [[EVENT_PUT, STATE_PUT, INCIDENT_PUT]],
        ),
        # Not newer than the alarm's latest: counted, the alarm's state item is left alone.
        (
            "ALARM joins (same time)",
            joins_0730,
            "joined",
            [*flap, "GetItem"],
            [[EVENT_PUT, INCIDENT_UPDATE]],
        ),
        (
            "ALARM joins (newer)",
            joins_0735,
            "joined",
            [*flap, "GetItem"],
            [[EVENT_PUT, STATE_UPDATE, INCIDENT_UPDATE]],
        ),
        (
            "INSUFFICIENT_DATA joins",
            load_event("insufficient_data.json"),
            "joined",
            [*flap, "GetItem"],
            [[EVENT_PUT, STATE_UPDATE, INCIDENT_UPDATE]],
        ),
        (
            "OK resolves",
            load_event("cpu_ok.json"),
            "resolved",
            [*flap, "GetItem"],
            [[EVENT_PUT, STATE_UPDATE, INCIDENT_UPDATE]],
        ),
        (
            "OK again",
            variant("cpu_ok.json", message_id="m-orphan"),
            "stored",
            [*flap, "GetItem"],
            [],
        ),
        ("late ALARM", late_0740, "stored", [*flap, "GetItem"], []),
        ("redelivery", load_event("cpu_alarm.json"), "duplicate", [*flap, "GetItem"], []),
        ("unparsable", load_event("malformed_json.json"), "stored", [], []),
    ]
    for label, event, outcome, reads, writes in cases:
        assert handler(event)["stored"] == {message_id_of(event): outcome}, label
        calls, written = counter.take()
        single = ["PutItem"] if not writes else transaction
        assert calls == reads + single, label
        assert written == writes, label

    # The paper numbers (README) rest on these items fitting in one write unit (1 KB) each.
    assert item_kb(alarm_state(CPU_KEY) or {}) == 1
    assert item_kb(incident(CPU_INCIDENT) or {}) == 1

    # The loser of a race to open: its transaction is cancelled and returns the winner's state,
    # so it joins without reading again - three requests.
    rival = variant("cpu_alarm.json", message_id="m-rival", at="2024-01-13T00:00:00.000+0000")
    loser = variant("cpu_alarm.json", message_id="m-loser", at="2024-01-13T00:00:01.000+0000")
    from alert_service import clients, incidents, parse

    def rival_first(model: Any, **_: Any) -> None:
        if model.name == "TransactWriteItems" and not counter.paused and not rival_done:
            counter.paused = True
            rival_done.append(incidents.record(parse.notifications(rival)[0]))
            counter.paused = False

    rival_done: list[Any] = []
    ddb = clients.client("dynamodb")
    ddb.meta.events.register_first("before-call.dynamodb", rival_first)
    assert handler(loser)["stored"] == {"m-loser": "joined"}
    ddb.meta.events.unregister("before-call.dynamodb", rival_first)
    assert rival_done == [incidents.Outcome.OPENED]
    calls, written = counter.take()
    assert calls == [*flap, "GetItem", "TransactWriteItems", "TransactWriteItems"]
    assert written == [
        [EVENT_PUT, STATE_UPDATE, INCIDENT_PUT],
        [EVENT_PUT, STATE_UPDATE, INCIDENT_UPDATE],  # newer than the rival's: moves the state
    ]
    assert incident(f"INC-20240113000000-{CPU_KEY}")["alert_count"] == 2  # type: ignore[index]


# --- concurrency -----------------------------------------------------------------------------
@pytest.fixture
def atomic_moto_requests(monkeypatch: pytest.MonkeyPatch) -> None:
    """Give each DynamoDB request in moto's (in-process) server the atomicity DynamoDB has.

    moto 5.2.5's TransactWriteItems snapshots whole tables with deepcopy and rolls a cancelled
    transaction back by swapping the snapshot in, unlocked: under concurrent requests this fails
    with HTTP 500 "dictionary changed size during iteration" and a rollback silently undoes other
    requests' writes (seen here: alert_count 17 of 20). Real DynamoDB serialises conflicting
    requests, so one request at a time inside moto is the faithful model; the clients still race
    freely between their GetItem and TransactWriteItems.
    """
    from moto.dynamodb.responses import DynamoHandler

    lock = threading.RLock()
    original = DynamoHandler.call_action

    def call_action(self: Any) -> Any:
        with lock:
            return original(self)

    monkeypatch.setattr(DynamoHandler, "call_action", call_action)


@pytest.mark.usefixtures("atomic_moto_requests")
def test_twenty_concurrent_alarms_make_one_incident(handler: Callable) -> None:
    events = [
        variant(
            "cpu_alarm.json",
            message_id=f"m-storm-{n:02d}",
            at=f"2024-01-12T07:30:{n:02d}.000+0000",
        )
        for n in range(20)
    ]
    counter = RequestCounter()
    barrier = threading.Barrier(20)
    results: list[dict[str, Any]] = []
    errors: list[BaseException] = []

    def deliver(event: dict[str, Any]) -> None:
        barrier.wait()
        try:
            results.append(handler(event))
        except BaseException as error:  # reported below, never lost in a thread
            errors.append(error)

    threads = [threading.Thread(target=deliver, args=(e,)) for e in events]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    elapsed = time.perf_counter() - started
    assert not errors, errors

    outcomes = Counter(o for r in results for o in r["stored"].values())
    assert outcomes["opened"] == 1
    assert outcomes["joined"] == 19
    active = query("gsi1", "STATUS#active")
    assert len(active) == 1
    only = active[0]
    assert only["alert_count"] == 20
    assert only["incident_key"] == CPU_KEY
    assert open_incident(CPU_KEY) == only["incident_id"]
    members = query("gsi2", f"INC#{only['incident_id']}")
    assert sorted(e["message_id"] for e in members) == sorted(message_id_of(e) for e in events)
    assert len(query("gsi1", "DAY#2024-01-12")) == 20
    calls = Counter(counter.take()[0])
    # Each reads the alarm's state once (and, while it has none, the legacy pointer), never
    # again: a cancelled transaction returns the state that cancelled it. At most three
    # transactions each: lose the race to open, lose to a newer ALARM, then join as an older one.
    assert 20 <= calls["GetItem"] <= 2 * 20
    assert calls["TransactWriteItems"] <= 3 * 20
    assert elapsed < 60


def test_dynamodb_failure_fails_the_invocation(
    handler: Callable, monkeypatch: pytest.MonkeyPatch
) -> None:
    from alert_service.channels import DeliveriesFailed

    monkeypatch.setenv("HISTORY_TABLE_NAME", "no-such-table")
    with pytest.raises(DeliveriesFailed) as raised:
        handler(load_event("multi_record.json"))
    assert len(raised.value.failures) == 3  # every record was tried, each named


# --- silences, flapping, severity (issues 12 and 13) -----------------------------------------
def recent(minutes_ago: float) -> str:
    """A StateChangeTime ``minutes_ago`` before now, as CloudWatch writes it."""
    from datetime import UTC, datetime, timedelta

    moment = datetime.now(UTC) - timedelta(minutes=minutes_ago)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.000+0000"


def add_silence(match: str, minutes: int = 60) -> str:
    from datetime import UTC, datetime, timedelta

    from alert_service.silences.model import new_silence
    from alert_service.silences.store import SilenceStore

    silence = new_silence(
        match=match,
        created_by="kim",
        comment="failover test",
        now=datetime.now(UTC) - timedelta(minutes=30),  # started before the test's alarms
        duration=timedelta(minutes=minutes),
    )
    return SilenceStore(TABLE).add(silence).id


def silence_hits(silence_id: str) -> int:
    return int((get(f"SILENCE#{silence_id}", "SILENCE") or {}).get("hits", 0))


def incident_of(event: dict[str, Any]) -> dict[str, Any]:
    stored = event_item(message_id_of(event))
    assert stored is not None
    found = incident(stored["incident_id"])
    assert found is not None
    return found


def test_a_silenced_notification_is_stored_with_its_silence_and_counted_once(
    handler: Callable,
) -> None:
    silence = add_silence("OTT-DB-CPU-*")
    first = variant("cpu_alarm.json", message_id="m-s1", at=recent(10))
    assert handler(first)["stored"] == {"m-s1": "opened"}
    assert handler(first)["stored"] == {"m-s1": "duplicate"}  # a redelivery counts nothing
    stored = event_item("m-s1")
    assert stored is not None
    assert stored["silenced_by"] == [silence]
    opened = incident_of(first)
    assert opened["silenced_by"] == [silence]
    assert opened["silenced_until"] > opened["first_seen_at"]
    assert opened["status"] == "active"  # the incident opens as always
    assert silence_hits(silence) == 1

    # A notification without an incident (an OK of nothing open) counts too, in one transaction.
    handler(variant("cpu_alarm.json", message_id="m-s2", at=recent(9)))
    handler(variant("cpu_ok.json", message_id="m-s3", at=recent(8)))  # resolves, still silenced
    orphan = variant("cpu_ok.json", message_id="m-s4", at=recent(7))
    assert handler(orphan)["stored"] == {"m-s4": "stored"}
    assert silence_hits(silence) == 4
    resolved = incident_of(first)
    assert resolved["status"] == "resolved"
    assert resolved["alert_count"] == 3
    assert resolved["silenced_by"] == [silence]

    # An alarm the silence does not match is neither marked nor counted.
    other = variant("freeable_memory_alarm.json", message_id="m-other", at=recent(6))
    handler(other)
    assert "silenced_by" not in (event_item("m-other") or {})
    assert "silenced_by" not in incident_of(other)
    assert silence_hits(silence) == 4


def test_the_incident_loses_the_silenced_mark_with_its_next_unsilenced_notification(
    handler: Callable,
) -> None:
    from datetime import UTC, datetime, timedelta

    from alert_service.silences import store as silence_store
    from alert_service.silences.store import SilenceStore

    silence = add_silence("OTT-DB-CPU-*")
    first = variant("cpu_alarm.json", message_id="m-a", at=recent(5))
    handler(first)
    assert incident_of(first)["silenced_by"] == [silence]
    # Ended 2 minutes ago (the alarm times below have whole seconds only).
    SilenceStore(TABLE).expire(silence, by="kim", now=datetime.now(UTC) - timedelta(minutes=2))
    silence_store.reset()  # another process would see it within SILENCE_CACHE_SECONDS
    handler(variant("cpu_alarm.json", message_id="m-b", at=recent(0)))
    after = incident_of(first)
    assert after["alert_count"] == 2
    assert "silenced_by" not in after
    assert "silenced_until" not in after
    assert "silenced_by" not in (event_item("m-b") or {})


def test_a_flapping_alarm_marks_its_incident_and_every_notification_is_stored(
    handler: Callable, monkeypatch: pytest.MonkeyPatch
) -> None:
    from alert_service.silences import settings as quiet_settings

    monkeypatch.setenv("FLAP_THRESHOLD", "3")
    monkeypatch.setenv("FLAP_WINDOW_MINUTES", "10")
    quiet_settings.flap_settings.cache_clear()
    states = ["ALARM", "INSUFFICIENT_DATA", "ALARM", "INSUFFICIENT_DATA"]
    events = [
        variant("cpu_alarm.json", message_id=f"m-f{n}", state=state, at=recent(40 - n))
        for n, state in enumerate(states)
    ]
    for event in events:
        handler(event)
    opened = incident_of(events[0])
    assert opened["alert_count"] == 4  # nothing held back from the history
    # The third change reached the threshold: the episode started at its time.
    third = event_item("m-f2")
    assert third is not None
    assert opened["flapping_since"] == third["event_at"]
    # A change after a whole window without changes ends the episode: the mark goes.
    handler(variant("cpu_alarm.json", message_id="m-calm", state="ALARM", at=recent(5)))
    calm = incident_of(events[0])
    assert calm["alert_count"] == 5
    assert "flapping_since" not in calm


def test_severity_comes_from_the_alarm_tag(handler: Callable) -> None:
    from test_severity import put_alarm

    put_alarm(boto3.client("cloudwatch"), CPU_ALARM_NAME, {"severity": "Critical"})
    handler(load_event("cpu_alarm.json"))
    assert (event_item(message_id_of(load_event("cpu_alarm.json"))) or {})["severity"] == "critical"
    assert (incident(CPU_INCIDENT) or {})["severity"] == "critical"
    # No tag, no rule with a severity: none stored (absent, not empty).
    handler(load_event("freeable_memory_alarm.json"))
    memory = event_item(message_id_of(load_event("freeable_memory_alarm.json")))
    assert memory is not None
    assert "severity" not in memory


def test_repeated_silenced_deliveries_in_any_order_count_each_notification_once(
    handler: Callable,
) -> None:
    """10 notifications of a silenced alarm, each delivered 3 times, shuffled: 10 events, 10 hits
    on the silence, every event marked, one incident counting 10.

    Sequential on purpose: moto's TransactWriteItems rolls a cancelled transaction back by
    restoring a copy of the whole table taken when it started, which also undoes writes that other
    requests made meanwhile (real DynamoDB cancels the concurrent one with TransactionConflict,
    and ``record`` retries it)."""
    import random

    silence = add_silence("OTT-DB-CPU-*")
    events = [variant("cpu_alarm.json", message_id=f"m-c{n}", at=recent(20 - n)) for n in range(10)]
    deliveries = [e for e in events for _ in range(3)]
    random.Random(12).shuffle(deliveries)  # noqa: S311 - an order, not a secret
    outcomes = Counter(next(iter(handler(e)["stored"].values())) for e in deliveries)
    assert outcomes["duplicate"] == 20
    stored = [event_item(f"m-c{n}") for n in range(10)]
    assert all(e is not None and e["silenced_by"] == [silence] for e in stored)
    assert silence_hits(silence) == 10
    assert incident_of(events[0])["alert_count"] == 10


def test_a_silence_held_by_other_transactions_does_not_fail_its_notifications(
    handler: Callable,
) -> None:
    """Real DynamoDB cancels a transaction when another one in flight writes one of its items
    (TransactionConflict). One silence over many alarms (a maintenance window) must not be such
    an item, or every concurrent notification it holds would conflict on it, and a notification
    that is only an event would fail outright. Here every transaction that touches the silence
    is cancelled as DynamoDB would while another alarm's notification holds it: each notification
    is still stored, and each hit counted once."""
    from alert_service import clients
    from botocore.awsrequest import AWSResponse

    silence = add_silence("OTT-DB-*")
    conflicts: list[int] = []

    def silence_in_flight(params: dict[str, Any], **_: Any) -> Any:
        items = json.loads(params["body"]).get("TransactItems") or []  # the request as sent
        written = [next(iter(item.values())) for item in items]
        keys = [w.get("Key") or w.get("Item") for w in written]
        if not any(k["pk"]["S"].startswith("SILENCE#") for k in keys):
            return None
        conflicts.append(len(items))
        reasons = [{"Code": "TransactionConflict"} for _ in items]
        error = {"Code": "TransactionCanceledException", "Message": "Transaction cancelled"}
        return AWSResponse("", 400, {}, None), {"Error": error, "CancellationReasons": reasons}

    events = clients.client("dynamodb").meta.events
    events.register("before-call.dynamodb.TransactWriteItems", silence_in_flight)
    try:
        opened = variant("cpu_alarm.json", message_id="m-t1", at=recent(10))
        assert handler(opened)["stored"] == {"m-t1": "opened"}
        orphan = variant("freeable_memory_alarm.json", message_id="m-t2", state="OK", at=recent(9))
        assert handler(orphan)["stored"] == {"m-t2": "stored"}  # an event only
        assert handler(orphan)["stored"] == {"m-t2": "duplicate"}
    finally:
        events.unregister("before-call.dynamodb.TransactWriteItems", silence_in_flight)
    assert conflicts == []
    assert silence_hits(silence) == 2
    assert (event_item("m-t2") or {})["silenced_by"] == [silence]
