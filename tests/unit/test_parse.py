"""Parsing every real CloudWatch payload and every sample event into the alarm model.

The fixtures in tests/fixtures/cloudwatch/ are public captures, values unchanged; the events in
events/ are ours. Each expectation below was read off the payload by hand, not off the parser.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from alert_service import parse
from alert_service.alarm import Alarm, AlarmKind, Notification, State
from conftest import FIXTURES_DIR, event_paths, fixture_paths, load_event

TOPIC_ARN = "arn:aws:sns:ap-northeast-2:123456789012:ott-db-alarm-topic"
REGION_CODE = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d$")

# file -> what the payload says. Keys absent from an entry are not asserted for that file.
FIXTURES: dict[str, dict[str, Any]] = {
    "sns_cloudwatch_alarm_sample.json": {
        "message_id": "57c992bc-21f6-5a74-bda5-c8b9155571ca",
        "name": "if-sim-app_427809481713_us-east-1-metric_emitting_node_failure",
        "kind": AlarmKind.METRIC,
        "state": State.ALARM,
        "previous_state": State.INSUFFICIENT_DATA,
        "region": "us-east-1",
        "account": "427809481713",
        "metric_name": "IExecutionFailureHook",
        "namespace": "sim-app_427809481713_us-east-1",
        "threshold": 1.0,
        "statistic": "Sum",
        "comparison": "GreaterThanOrEqualToThreshold",
        "unit": None,  # the string "None"
        "description": None,  # null
        "period_seconds": 300,
        "evaluation_periods": 1,
        "dimensions": (
            ("MetricGroupId", "routing_table.receive.hook"),
            ("RouteID", "metric_emitting_node"),
        ),
        "observed_value": 1.0,
        "state_changed_at": datetime(2021, 11, 10, 2, 45, 55, 640000, tzinfo=UTC),
        "source": "cloudwatch",
    },
    "sns_cloudwatch_composite_alarm_sample.json": {
        "message_id": "12c36222-e1fe-56f5-9540-3827d55d7732",
        "name": "if-sim-app_427809481713_us-east-1-test_node_monitor",
        "kind": AlarmKind.COMPOSITE,
        "state": State.ALARM,
        "previous_state": State.OK,
        "region": "us-east-1",
        "account": "427809481713",
        "metric_name": None,
        "threshold": None,
        "description": None,  # ""
        "rule_names": "ALARM(if-sim-app_427809481713_us-east-1-metric_emitting_node_failure) OR "
        "ALARM(if-sim-app_427809481713_us-east-1-metric_emitting_long_execution)",
        "triggering_children": ("if-sim-app_427809481713_us-east-1-metric_emitting_node_failure",),
        "observed_value": None,
    },
    "sns_cloudwatch_metric_math_alarm_sample.json": {
        "message_id": "95df01b4-ee98-5cb9-9903-4c221d41eb5e",
        "name": "EXAMPLE",
        "kind": AlarmKind.METRIC_MATH,
        "state": State.ALARM,
        # ARN says "REGION", Region says "EXAMPLE", the topic ARN is "arn:aws:sns:EXAMPLE": no code.
        "region": None,
        "account": None,  # "EXAMPLE" is not an account id
        "metric_name": None,
        "namespace": "AWS/EC2",
        "threshold": 0.0,
        "statistic": "Average",
        "comparison": "GreaterThanThreshold",
        "period_seconds": 60,
        "dimensions": (("InstanceId", "TestInstance"),),
        "expression": "m1*1",
        "expression_label": "Expression1",
        "observed_value": 1234.0,
    },
    "sns_message_fullfields_sample.json": {
        "name": "ErrorAlarm",
        "kind": AlarmKind.METRIC,
        "state": State.ALARM,
        "region": "ap-northeast-1",
        "account": "449671225256",
        "metric_name": "ErrorCount",
        "namespace": "YourNamespace",
        "threshold": 1.0,
        "statistic": "Sum",
        "unit": None,  # null
        "dimensions": (),
        "description": "Alarm when ERROR appears in logs",
        "observed_value": 1.0,
        "state_changed_at": datetime(2025, 2, 2, 12, 6, 35, 472000, tzinfo=UTC),
    },
    "sns_message_rds_anomaly_metrics_array_sample.json": {
        "name": "RDS Prod - CPU Util",
        "kind": AlarmKind.ANOMALY,
        "state": State.OK,
        "previous_state": State.ALARM,
        "region": "us-west-1",
        "account": "682846136134",
        "metric_name": "CPUUtilization",
        "namespace": "AWS/RDS",
        "threshold": None,
        "statistic": "Average",
        "comparison": "GreaterThanUpperThreshold",
        "dimensions": (("DBInstanceIdentifier", "trailsoffroad-prod-v3"),),
        "expression": "ANOMALY_DETECTION_BAND(m1, 12)",
        "expression_label": "CPUUtilization (expected)",
        "observed_value": 40.609605060341245,
    },
    "eventbridge_alarm_state_change.json": {
        "name": "ServerCpuTooHigh",
        "kind": AlarmKind.METRIC,
        "state": State.ALARM,
        "previous_state": State.OK,
        "region": "us-east-1",
        "account": "123456789012",
        "metric_name": "CPUUtilization",
        "namespace": "AWS/EC2",
        "threshold": 50.0,
        "statistic": "Average",
        "unit": None,
        "period_seconds": 300,
        "dimensions": (("InstanceId", "i-12345678901234567"),),
        "observed_value": 99.50160229693434,
        "state_changed_at": datetime(2019, 10, 2, 17, 4, 40, 989000, tzinfo=UTC),
        "source": "eventbridge",
    },
    "eventbridge_alarm_state_change_metric_math.json": {
        "name": "TotalNetworkTrafficTooHigh",
        "kind": AlarmKind.METRIC_MATH,
        "state": State.ALARM,
        "previous_state": State.INSUFFICIENT_DATA,
        "region": "us-east-1",
        "account": "123456789012",
        "metric_name": None,
        "threshold": 10000.0,
        "statistic": "Maximum",
        "expression": "SUM(METRICS())",
        "expression_label": "Total Network Traffic",
        "observed_value": 45628.0,
        "source": "eventbridge",
    },
    "lambda_alarm_action_payload_sample.json": {
        "name": "CompositeDemo.Main",
        "kind": AlarmKind.COMPOSITE,
        "state": State.ALARM,
        "previous_state": State.ALARM,
        "region": "us-east-1",
        "account": "111122223333",
        "threshold": None,
        "rule_names": "ALARM(CompositeDemo.FirstChild) OR ALARM(CompositeDemo.SecondChild)",
        "triggering_children": ("CompositeDemo.FirstChild",),
        "source": "lambda_action",
    },
}


def parse_fixture(path: Path) -> list[Notification]:
    """SNS Lambda events through ``notifications``; bare bodies as the SNS Message they would be."""
    body = json.loads(path.read_text(encoding="utf-8"))
    if "Records" in body:
        return parse.notifications(body)
    return [parse.parse_message(json.dumps(body), message_id=f"bare-{path.stem}")]


def check_alarm(alarm: Alarm | None, expected: dict[str, Any]) -> None:
    assert alarm is not None
    for key, value in expected.items():
        if key == "message_id":
            continue
        if key == "rule_names":
            assert parse.alarm_names_in_rule(alarm.alarm_rule or "") == value
        elif isinstance(value, float) and value:
            assert getattr(alarm, key) == pytest.approx(value), key
        else:
            assert getattr(alarm, key) == value, key


needs_fixtures = pytest.mark.skipif(
    not FIXTURES_DIR.is_dir(), reason=f"shared fixtures not present at {FIXTURES_DIR}"
)


@needs_fixtures
def test_every_fixture_has_an_expectation() -> None:
    # A new fixture without expectations would otherwise be parsed but never checked.
    assert sorted(p.name for p in fixture_paths()) == sorted(FIXTURES)


@needs_fixtures
@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_fixture_parses_to_the_alarm_it_describes(name: str) -> None:
    notifications = parse_fixture(FIXTURES_DIR / name)
    assert len(notifications) == 1
    (notification,) = notifications
    expected = FIXTURES[name]
    assert notification.problem is None
    if "message_id" in expected:
        assert notification.message_id == expected["message_id"]
    check_alarm(notification.alarm, expected)
    # The raw message is kept unchanged for history.
    body = json.loads((FIXTURES_DIR / name).read_text(encoding="utf-8"))
    if "Records" in body:
        assert notification.raw_message == body["Records"][0]["Sns"]["Message"]


@needs_fixtures
@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_region_is_a_code_never_the_display_name(name: str) -> None:
    (notification,) = parse_fixture(FIXTURES_DIR / name)
    assert notification.alarm is not None
    region = notification.alarm.region
    assert region is None or REGION_CODE.match(region), region
    assert region not in ("US East (N. Virginia)", "US West (N. California)", "EXAMPLE")


def test_region_falls_back_to_display_name_then_topic_arn() -> None:
    body = {"AlarmName": "a", "NewStateValue": "ALARM", "Region": "Asia Pacific (Seoul)"}
    assert parse.parse_message(json.dumps(body), message_id="m").alarm.region == "ap-northeast-2"
    body["Region"] = "Somewhere New"
    by_topic = parse.parse_message(
        json.dumps(body), message_id="m", topic_arn="arn:aws:sns:eu-west-1:123456789012:t"
    )
    assert by_topic.alarm.region == "eu-west-1"
    # The ARN wins over the display name when both are present.
    body["AlarmArn"] = "arn:aws:cloudwatch:us-east-2:123456789012:alarm:a"
    body["Region"] = "Asia Pacific (Seoul)"
    assert parse.parse_message(json.dumps(body), message_id="m").alarm.region == "us-east-2"


# --- events/ ---------------------------------------------------------------------------------

EVENTS: dict[str, list[dict[str, Any]]] = {
    "cpu_alarm.json": [
        {
            "message_id": "7b2e4f1a-3c5d-5e6f-8a9b-0c1d2e3f4a5b",
            "name": "OTT-DB-CPU-Utilization-High",
            "kind": AlarmKind.METRIC,
            "state": State.ALARM,
            "previous_state": State.OK,
            "region": "ap-northeast-2",
            "account": "123456789012",
            "metric_name": "CPUUtilization",
            "threshold": 80.0,
            "statistic": "Average",
            "unit": None,
            "dimensions": (("DBClusterIdentifier", "ott-aurora-cluster"),),
            "observed_value": 87.43166666666667,
            "state_changed_at": datetime(2024, 1, 12, 7, 30, tzinfo=UTC),
        }
    ],
    "cpu_ok.json": [
        {
            "message_id": "c4d8e2b6-1f3a-5b7c-9d0e-2a4b6c8d0e1f",
            "state": State.OK,
            "previous_state": State.ALARM,
            "observed_value": 41.25833333333333,
        }
    ],
    "insufficient_data.json": [
        {"state": State.INSUFFICIENT_DATA, "observed_value": None, "kind": AlarmKind.METRIC}
    ],
    "freeable_memory_alarm.json": [
        {
            "name": "OTT-DB-FreeableMemory-Low",
            "metric_name": "FreeableMemory",
            "unit": "Bytes",
            "threshold": 2147483648.0,
            "statistic": "Minimum",
            "comparison": "LessThanThreshold",
            "evaluation_periods": 3,
            # The newest datapoint comes first, written the Java way (1.8253611008E9).
            "observed_value": 1825361100.8,
        }
    ],
    "database_connections_alarm.json": [
        {
            "metric_name": "DatabaseConnections",
            "unit": "Count",
            "threshold": 800.0,
            "statistic": "Maximum",
            "observed_value": 912.0,
        }
    ],
    "composite_alarm.json": [
        {
            "name": "OTT-DB-Critical",
            "kind": AlarmKind.COMPOSITE,
            "region": "ap-northeast-2",
            "rule_names": 'ALARM("OTT-DB-CPU-Utilization-High") AND '
            'ALARM("OTT-DB-Connections-High")',
            "triggering_children": ("OTT-DB-Connections-High", "OTT-DB-CPU-Utilization-High"),
            "threshold": None,
            "metric_name": None,
        }
    ],
    "anomaly_alarm.json": [
        {
            "name": "OTT-DB-CPU-Anomaly",
            "kind": AlarmKind.ANOMALY,
            "metric_name": "CPUUtilization",
            "expression": "ANOMALY_DETECTION_BAND(m1, 2)",
            "comparison": "GreaterThanUpperThreshold",
            "threshold": None,
            "observed_value": 74.86833333333334,
        }
    ],
    "metric_math_alarm.json": [
        {
            "name": "OTT-DB-Connection-Usage-High",
            "kind": AlarmKind.METRIC_MATH,
            "expression": "100 * m1 / 1000",
            "expression_label": "Connection usage (%)",
            "metric_name": None,
            "namespace": "AWS/RDS",
            "statistic": "Maximum",
            "threshold": 80.0,
            "observed_value": 91.2,
        }
    ],
    "eventbridge_state_change.json": [
        {
            "message_id": "4a8c0e2d-6b3f-5d5a-a9c1-8b0d2f4e6a7c",
            "name": "OTT-DB-FreeableMemory-Low",
            "kind": AlarmKind.METRIC,
            "source": "eventbridge",
            "region": "ap-northeast-2",
            "account": "123456789012",
            "metric_name": "FreeableMemory",
            "threshold": 2147483648.0,
            "statistic": "Minimum",
            "dimensions": (("DBClusterIdentifier", "ott-aurora-cluster"),),
            # reasonData lists oldest first; the last one is the newest.
            "observed_value": 1696530432.0,
        }
    ],
}
NOTICES = {
    "plain_text.json": "not_json",
    "malformed_json.json": "not_json",
    "unknown_json.json": "unknown_json",
    "empty_message.json": "empty",
}


def test_every_event_is_covered() -> None:
    names = {p.name for p in event_paths()}
    assert names == set(EVENTS) | set(NOTICES) | {"multi_record.json"}


@pytest.mark.parametrize("name", sorted(EVENTS))
def test_alarm_event(name: str) -> None:
    notifications = parse.notifications(load_event(name))
    assert len(notifications) == len(EVENTS[name])
    for notification, expected in zip(notifications, EVENTS[name], strict=True):
        assert notification.problem is None
        if "message_id" in expected:
            assert notification.message_id == expected["message_id"]
        assert notification.topic_arn == TOPIC_ARN
        check_alarm(notification.alarm, expected)


@pytest.mark.parametrize(("name", "problem"), sorted(NOTICES.items()))
def test_notice_event(name: str, problem: str) -> None:
    event = load_event(name)
    (notification,) = parse.notifications(event)
    assert notification.alarm is None
    assert notification.state is None
    assert notification.problem == problem
    # Nothing dropped: the message is kept exactly as published.
    assert notification.raw_message == event["Records"][0]["Sns"]["Message"]
    assert notification.message_id == event["Records"][0]["Sns"]["MessageId"]


def test_multi_record_yields_three_notifications_in_order() -> None:
    notifications = parse.notifications(load_event("multi_record.json"))
    assert [n.message_id for n in notifications] == [
        "6c0e2a4f-8b5d-5b9e-a3d7-1f3b5d7e9a2c",
        "b3f5d7a9-1c6e-5a8b-9e2d-4f6a8c0e2d5b",
        "0a4c6e8b-2d7f-5c1a-b5e9-7d9f1b3a5c8e",
    ]
    first, second, third = notifications
    assert first.alarm.name == "OTT-DB-CPU-Utilization-High"
    assert first.alarm.observed_value == pytest.approx(93.10833333333333)
    assert second.alarm.name == "OTT-DB-Connections-High"
    assert second.alarm.observed_value == 957.0
    assert third.alarm is None
    assert third.problem == "not_json"
    assert third.subject == "[OTT] Load test notice"


# --- odd shapes that must still not raise ---------------------------------------------------


@pytest.mark.parametrize(
    "event",
    [{}, {"Records": None}, {"Records": "x"}, [], None, "text", {"records": []}],
)
def test_event_without_records_is_not_an_sns_event(event: Any) -> None:
    # Returning nothing would report success: a replay would delete a message nobody delivered.
    with pytest.raises(parse.NotAnSnsEvent, match="no Records list"):
        parse.notifications(event)


@pytest.mark.parametrize("record", [{}, {"Sns": None}, {"Sns": "x"}, None, 5, "x"])
def test_record_without_an_sns_object_is_not_an_sns_event(record: Any) -> None:
    good = load_event("cpu_alarm.json")["Records"][0]
    with pytest.raises(parse.NotAnSnsEvent, match="record 1 has no Sns object"):
        parse.notifications({"Records": [good, record]})


def test_record_from_another_event_source_is_not_an_sns_event() -> None:
    # An SQS event (e.g. a failure-queue message handed to the wrong function).
    record = {"EventSource": "aws:sqs", "body": "{}", "Sns": {"Message": "x"}}
    with pytest.raises(parse.NotAnSnsEvent, match="EventSource 'aws:sqs'"):
        parse.notifications({"Records": [record]})


def test_empty_sns_object_still_yields_a_notice() -> None:
    # An SNS record whose envelope lost its fields: nothing dropped, delivered as a notice.
    (notification,) = parse.notifications({"Records": [{"EventSource": "aws:sns", "Sns": {}}]})
    assert notification.message_id.startswith("no-message-id-")
    assert notification.problem == "empty"


def test_an_sns_event_without_records_is_nothing_to_do() -> None:
    assert parse.notifications({"Records": []}) == []


def test_parser_failure_is_logged_by_type_and_counted(caplog: pytest.LogCaptureFixture) -> None:
    from aws_lambda_powertools import Metrics

    Metrics().clear_metrics()
    secret = "hooks.slack.com/services/T0/B0/SECRETTOKEN"
    message = json.dumps({"AlarmName": secret, "NewStateValue": "ALARM", "TriggeringChildren": 5})

    notification = parse.parse_message(message, message_id="m-1")

    assert notification.problem == "invalid_alarm"
    [record] = [r for r in caplog.records if r.name == "alert_service.parse"]
    assert record.levelname == "ERROR"
    assert record.message_id == "m-1"  # type: ignore[attr-defined]
    assert record.error_type == "TypeError"  # type: ignore[attr-defined]
    assert secret not in caplog.text
    metric_set = Metrics().metric_set
    assert metric_set[parse.PARSE_ERROR_METRIC]["Value"] == [1.0]
    Metrics().clear_metrics()


def test_records_without_message_id_get_distinct_stable_stand_ins() -> None:
    """History and once-only delivery key on the MessageId: one shared stand-in would turn every
    record without one into a 'redelivery' of the first."""

    def record(message: str) -> dict[str, Any]:
        return {"Sns": {"Message": message, "Subject": "s", "Timestamp": "2024-01-12T07:30:00Z"}}

    first, second, again = parse.notifications(
        {"Records": [record("one"), record("two"), record("one")]}
    )
    assert first.message_id != second.message_id
    assert first.message_id == again.message_id


def test_message_given_as_an_object_is_read_as_json() -> None:
    message = json.loads(load_event("cpu_alarm.json")["Records"][0]["Sns"]["Message"])
    (notification,) = parse.notifications({"Records": [{"Sns": {"Message": message}}]})
    assert notification.alarm is not None
    assert notification.alarm.name == "OTT-DB-CPU-Utilization-High"


@pytest.mark.parametrize(
    ("message", "problem"),
    [
        ("   \n\t", "empty"),
        ("[" * 100_000 + "]" * 100_000, "not_json"),  # RecursionError inside json.loads
        ("null", "unknown_json"),
        ("42", "unknown_json"),
        ('"ALARM"', "unknown_json"),
        ('{"AlarmName": "a", "NewStateValue": "MAYBE"}', "unknown_json"),
        ('{"AlarmName": "a", "NewStateValue": "ALARM", "TriggeringChildren": 5}', "invalid_alarm"),
    ],
)
def test_hostile_messages_become_notices(message: str, problem: str) -> None:
    notification = parse.parse_message(message, message_id="m")
    assert notification.alarm is None
    assert notification.problem == problem
    assert notification.raw_message == message


def test_integer_threshold_beyond_float_range_is_dropped_not_raised() -> None:
    body = {"AlarmName": "a", "NewStateValue": "ALARM", "Trigger": {"Threshold": 10**400}}
    notification = parse.parse_message(json.dumps(body), message_id="m")
    assert notification.alarm is not None
    assert notification.alarm.threshold is None


def test_deeply_nested_reason_data_is_ignored() -> None:
    body = {
        "detail-type": parse.EVENTBRIDGE_DETAIL_TYPE,
        "detail": {"alarmName": "x", "state": {"value": "ALARM", "reasonData": "[" * 100_000}},
    }
    notification = parse.parse_message(json.dumps(body), message_id="m")
    assert notification.alarm is not None
    assert notification.alarm.threshold is None


@pytest.mark.parametrize(
    "stamp", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-05:00", "9999-12-31T23:00:00Z"]
)
def test_times_that_cannot_be_shown_in_every_zone_are_dropped(stamp: str) -> None:
    body = {"AlarmName": "a", "NewStateValue": "ALARM", "StateChangeTime": stamp}
    notification = parse.parse_message(json.dumps(body), message_id="m")
    assert notification.alarm.state_changed_at is None
    (record,) = parse.notifications({"Records": [{"Sns": {"Timestamp": stamp, "Message": "x"}}]})
    assert record.published_at is None


def test_cloudwatch_time_format_is_read_as_utc() -> None:
    body = {
        "AlarmName": "a",
        "NewStateValue": "ALARM",
        "StateChangeTime": "2024-01-12T16:30:00.000+0900",
    }
    alarm = parse.parse_message(json.dumps(body), message_id="m").alarm
    assert alarm.state_changed_at == datetime(2024, 1, 12, 7, 30, tzinfo=UTC)
    assert alarm.state_changed_at.tzinfo is UTC
