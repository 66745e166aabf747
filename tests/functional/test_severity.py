"""Severity from the alarm's tag, against moto's CloudWatch: cached per alarm, never failing."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import boto3
import pytest
from alert_service import clients, parse, routing, severity
from alert_service.alarm import Alarm
from botocore.awsrequest import AWSResponse
from conftest import ROOT, load_event

CPU = "OTT-DB-CPU-Utilization-High"


@pytest.fixture
def cloudwatch(aws: str) -> Iterator[Any]:
    severity.reset()
    yield boto3.client("cloudwatch")
    severity.reset()


def put_alarm(cloudwatch: Any, name: str, tags: dict[str, str]) -> str:
    cloudwatch.put_metric_alarm(
        AlarmName=name,
        MetricName="CPUUtilization",
        Namespace="AWS/RDS",
        Statistic="Average",
        Period=300,
        EvaluationPeriods=1,
        Threshold=80,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
        Tags=[{"Key": k, "Value": v} for k, v in tags.items()],
    )
    return cloudwatch.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]["AlarmArn"]


def alarm(event: str = "cpu_alarm.json") -> Alarm:
    found = parse.notifications(load_event(event))[0].alarm
    assert found is not None
    return found


def count_calls(operation: str) -> list[str]:
    """Every ``operation`` call the shared CloudWatch client really makes (a botocore hook)."""
    calls: list[str] = []
    clients.client("cloudwatch").meta.events.register(
        f"before-call.cloudwatch.{operation}", lambda params, **_: calls.append(str(params))
    )
    return calls


def test_severity_comes_from_the_alarms_tag(cloudwatch: Any) -> None:
    arn = put_alarm(cloudwatch, CPU, {"team": "dba", "severity": " Critical "})
    assert arn == alarm().arn  # the sample event's alarm, in moto's account and region

    assert severity.of_alarm(alarm()) == "critical"


def test_no_tag_means_the_rule_decides(cloudwatch: Any) -> None:
    put_alarm(cloudwatch, CPU, {"team": "dba"})
    table = routing.load_file(ROOT / "routing.example.yaml")
    note = parse.notifications(load_event("cpu_alarm.json"))[0]

    tag = severity.of_alarm(note.alarm)
    chosen = routing.route(note, tag, table)

    assert tag is None
    assert (chosen.severity, chosen.severity_source) == ("critical", "rule:aurora-page")


def test_one_lookup_per_alarm_across_a_storm(cloudwatch: Any) -> None:
    put_alarm(cloudwatch, CPU, {"severity": "critical"})
    put_alarm(cloudwatch, "OTT-DB-Connections-High", {"severity": "warning"})
    calls = count_calls("ListTagsForResource")
    cpu, connections = alarm(), alarm("database_connections_alarm.json")

    seen = [severity.of_alarm(a) for _ in range(100) for a in (cpu, connections)]

    assert seen == ["critical", "warning"] * 100
    assert len(calls) == 2
    assert severity.stats() == severity.Stats(lookups=2, cache_hits=198, failures=0)


def test_the_cache_expires(cloudwatch: Any) -> None:
    arn = put_alarm(cloudwatch, CPU, {"severity": "warning"})
    assert severity.of_alarm(alarm(), now=0.0) == "warning"
    cloudwatch.tag_resource(ResourceARN=arn, Tags=[{"Key": "severity", "Value": "critical"}])

    assert severity.of_alarm(alarm(), now=severity.TTL_SECONDS - 1) == "warning"
    assert severity.of_alarm(alarm(), now=severity.TTL_SECONDS + 1) == "critical"
    assert severity.stats().lookups == 2


def test_access_denied_falls_back_with_one_log_line_and_is_cached(
    cloudwatch: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """An alarm of another account: CloudWatch answers AccessDenied (driven by a botocore hook)."""
    other = replace(alarm(), arn="arn:aws:cloudwatch:ap-northeast-2:999999999999:alarm:Theirs")
    calls = count_calls("ListTagsForResource")

    def deny(**_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        error = {"Code": "AccessDenied", "Message": "User is not authorized"}
        return AWSResponse("https://monitoring", 403, {}, None), {"Error": error}

    clients.client("cloudwatch").meta.events.register(
        "before-call.cloudwatch.ListTagsForResource", deny
    )
    caplog.set_level(logging.WARNING, logger="alert_service.severity")

    assert [severity.of_alarm(other) for _ in range(5)] == [None] * 5

    assert len(calls) == 1
    [record] = [r for r in caplog.records if r.name == "alert_service.severity"]
    assert record.getMessage().startswith("severity tag lookup failed")
    assert record.error == "AccessDenied"  # type: ignore[attr-defined]
    assert severity.stats().failures == 1


def test_unreachable_cloudwatch_never_raises(aws: str, monkeypatch: pytest.MonkeyPatch) -> None:
    severity.reset()
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    clients.reset()

    assert severity.of_alarm(alarm()) is None
    assert severity.stats().failures == 1
    severity.reset()


def test_notices_and_alarms_without_an_arn_cost_no_lookup(cloudwatch: Any) -> None:
    calls = count_calls("ListTagsForResource")

    assert severity.of_alarm(None) is None
    assert severity.of_alarm(replace(alarm(), arn=None)) is None
    assert calls == []
