"""SNS records -> ``Notification`` (with an ``Alarm`` when the message is one).

Understands every shape CloudWatch alarms reach SNS in: the classic alarm notification (metric,
metric math, anomaly detection, composite), an EventBridge "CloudWatch Alarm State Change" event
whose rule targets the topic, and the payload of an alarm's direct Lambda action. Anything else
(other JSON, plain text, empty, broken JSON) becomes a Notification without an alarm and a
``problem`` saying why: parsing a message never raises, so nothing is ever dropped.

Two things do not pass silently:
- an event that is not an SNS event (no ``Records`` list, a record without an ``Sns`` object or
  from another ``EventSource``) raises ``NotAnSnsEvent``: every handler then fails the invocation,
  so a replay never deletes a message that nobody delivered;
- an alarm payload the parser half-recognises and fails on (a parser bug or a new CloudWatch
  shape) is still delivered as an ``invalid_alarm`` notice, and is logged (the exception's type and
  the MessageId, never the payload: it may hold anything) and counted as ``AlarmParseErrors``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from alert_service.alarm import Alarm, AlarmKind, Notification, State

logger = logging.getLogger(__name__)

EVENTBRIDGE_DETAIL_TYPE = "CloudWatch Alarm State Change"
SNS_EVENT_SOURCE = "aws:sns"
# Counted in the invoking function's metrics (Powertools' metric set is shared by its instances and
# flushed by the handler's ``log_metrics``).
PARSE_ERROR_METRIC = "AlarmParseErrors"
_REGION_CODE = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d$")
# "... datapoints [99.5 (02/10/19 16:59:00)] was greater ..." -> 99.5 (the newest datapoint first)
_DATAPOINT = re.compile(r"\[\s*([-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)\s*\(")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
_ALARM_ARN_NAME = re.compile(r"^arn:[^:]+:cloudwatch:[^:]*:[^:]*:alarm:(.+)$")

# CloudWatch's "Region" field is a display name; the ARN is the reliable source. This table is the
# fallback for messages whose ARNs are missing or redacted.
_REGION_BY_DISPLAY_NAME = {
    "US East (N. Virginia)": "us-east-1",
    "US East (Ohio)": "us-east-2",
    "US West (N. California)": "us-west-1",
    "US West (Oregon)": "us-west-2",
    "Africa (Cape Town)": "af-south-1",
    "Asia Pacific (Hong Kong)": "ap-east-1",
    "Asia Pacific (Hyderabad)": "ap-south-2",
    "Asia Pacific (Jakarta)": "ap-southeast-3",
    "Asia Pacific (Malaysia)": "ap-southeast-5",
    "Asia Pacific (Melbourne)": "ap-southeast-4",
    "Asia Pacific (Mumbai)": "ap-south-1",
    "Asia Pacific (Osaka)": "ap-northeast-3",
    "Asia Pacific (Seoul)": "ap-northeast-2",
    "Asia Pacific (Singapore)": "ap-southeast-1",
    "Asia Pacific (Sydney)": "ap-southeast-2",
    "Asia Pacific (Thailand)": "ap-southeast-7",
    "Asia Pacific (Tokyo)": "ap-northeast-1",
    "Canada (Central)": "ca-central-1",
    "Canada West (Calgary)": "ca-west-1",
    "Europe (Frankfurt)": "eu-central-1",
    "Europe (Ireland)": "eu-west-1",
    "Europe (London)": "eu-west-2",
    "Europe (Milan)": "eu-south-1",
    "Europe (Paris)": "eu-west-3",
    "Europe (Spain)": "eu-south-2",
    "Europe (Stockholm)": "eu-north-1",
    "Europe (Zurich)": "eu-central-2",
    "Israel (Tel Aviv)": "il-central-1",
    "Mexico (Central)": "mx-central-1",
    "Middle East (Bahrain)": "me-south-1",
    "Middle East (UAE)": "me-central-1",
    "South America (Sao Paulo)": "sa-east-1",
}


class NotAnSnsEvent(ValueError):
    """The Lambda event is not an SNS event: nothing in it can be delivered (module docstring)."""


def notifications(event: Any) -> list[Notification]:
    """All records of an SNS Lambda event, in order; ``NotAnSnsEvent`` for any other event.

    A record is an SNS record when it holds an ``Sns`` object and its ``EventSource``, when given,
    is ``aws:sns`` (hand-made and replayed events may omit it). The message says only what is
    missing, never what the event holds.
    """
    records = event.get("Records") if isinstance(event, Mapping) else None
    if not isinstance(records, list):
        raise NotAnSnsEvent("not an SNS event: it has no Records list")
    for index, record in enumerate(records):
        problem = _not_sns_record(record)
        if problem:
            raise NotAnSnsEvent(f"not an SNS event: record {index} {problem}")
    return [parse_record(record) for record in records]


def _not_sns_record(record: Any) -> str | None:
    if not isinstance(record, Mapping) or not isinstance(record.get("Sns"), Mapping):
        return "has no Sns object"
    source = record.get("EventSource", SNS_EVENT_SOURCE)
    if source != SNS_EVENT_SOURCE:
        return f"comes from EventSource {str(source)[:40]!r}, not {SNS_EVENT_SOURCE!r}"
    return None


def parse_record(record: Any) -> Notification:
    sns = record.get("Sns") if isinstance(record, Mapping) else None
    if not isinstance(sns, Mapping):
        sns = {}
    message = sns.get("Message")
    text = message if isinstance(message, str) else ("" if message is None else json.dumps(message))
    return parse_message(
        text,
        message_id=_text(sns.get("MessageId")) or _content_id(sns, text),
        topic_arn=_text(sns.get("TopicArn")),
        subject=_text(sns.get("Subject")),
        published_at=_time(sns.get("Timestamp")),
    )


def _content_id(sns: Mapping[str, Any], message: str) -> str:
    """SNS always sets a MessageId; a hand-made event may not. One fixed stand-in would make every
    such record a "redelivery" of the first (history and once-only delivery key on it), so the
    stand-in is derived from what the record says: equal records stay equal, others differ."""
    parts = (message, str(sns.get("Subject")), str(sns.get("Timestamp")), str(sns.get("TopicArn")))
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8", "replace")).hexdigest()
    return f"no-message-id-{digest[:32]}"


def parse_message(
    message: str,
    *,
    message_id: str,
    topic_arn: str | None = None,
    subject: str | None = None,
    published_at: datetime | None = None,
) -> Notification:
    def notice(problem: str, alarm: Alarm | None = None) -> Notification:
        return Notification(
            message_id=message_id,
            raw_message=message,
            alarm=alarm,
            topic_arn=topic_arn,
            subject=subject,
            published_at=published_at,
            problem=None if alarm else problem,
        )

    if not message.strip():
        return notice("empty")
    try:
        body = json.loads(message)
    except (ValueError, RecursionError):  # RecursionError: deeply nested JSON ([[[[...]]]])
        return notice("not_json")
    try:
        alarm = parse_alarm(body, fallback_region=_region_from_arn(topic_arn))
    except (TypeError, ValueError, AttributeError, LookupError, OverflowError, RecursionError) as e:
        # A shape we half-recognise: still delivered and stored, as a generic notice, and reported.
        _report_parse_error(e, message_id)
        return notice("invalid_alarm")
    return notice("unknown_json", alarm)


def _report_parse_error(error: Exception, message_id: str) -> None:
    """Log and count a payload the parser failed on; only the exception's type leaves."""
    kind = type(error).__name__
    # Type and MessageId in the text too: Lambda's own JSON log format drops ``extra`` fields.
    logger.error(
        "alarm payload not understood (%s, MessageId %s); delivered as a notice",
        kind,
        message_id,
        extra={"message_id": message_id, "error_type": kind},
    )
    try:  # lazily: only this path pays for it; the operator's tools may run without Powertools
        from aws_lambda_powertools import Metrics
        from aws_lambda_powertools.metrics import MetricUnit
    except ImportError:
        return
    Metrics().add_metric(name=PARSE_ERROR_METRIC, unit=MetricUnit.Count, value=1)


def parse_alarm(body: Any, *, fallback_region: str | None = None) -> Alarm | None:
    """The alarm in a decoded SNS message body, or None when it is not one."""
    if not isinstance(body, Mapping):
        return None
    if "AlarmName" in body and "NewStateValue" in body:
        return _from_sns_alarm(body, fallback_region)
    if body.get("detail-type") == EVENTBRIDGE_DETAIL_TYPE and isinstance(
        body.get("detail"), Mapping
    ):
        resources = body.get("resources") or []
        return _from_state_change(
            body["detail"],
            arn=_text(resources[0]) if resources else None,
            region=_text(body.get("region")),
            account=_text(body.get("account")),
            source="eventbridge",
        )
    if isinstance(body.get("alarmData"), Mapping) and body.get("source") == "aws.cloudwatch":
        # The payload of an alarm's Lambda action, forwarded to the topic.
        return _from_state_change(
            body["alarmData"],
            arn=_text(body.get("alarmArn")),
            region=_text(body.get("region")),
            account=_text(body.get("accountId")),
            source="lambda_action",
        )
    return None


def _from_sns_alarm(body: Mapping[str, Any], fallback_region: str | None) -> Alarm | None:
    name, state = _text(body.get("AlarmName")), State.of(body.get("NewStateValue"))
    if not name or state is None:
        return None
    arn = _text(body.get("AlarmArn"))
    reason = _text(body.get("NewStateReason")) or ""
    common: dict[str, Any] = {
        "name": name,
        "state": state,
        "reason": reason,
        "previous_state": State.of(body.get("OldStateValue")),
        "state_changed_at": _time(body.get("StateChangeTime")),
        "region": _region_from_arn(arn)
        or _REGION_BY_DISPLAY_NAME.get(_text(body.get("Region")) or "")
        or fallback_region,
        "account": _account(_text(body.get("AWSAccountId"))) or _account_from_arn(arn),
        "arn": arn,
        "description": _text(body.get("AlarmDescription")) or None,
        "observed_value": _observed_value(reason),
    }
    trigger = body.get("Trigger")
    if not isinstance(trigger, Mapping):
        children = body.get("TriggeringChildren") or []
        return Alarm(
            **common,
            kind=AlarmKind.COMPOSITE,
            alarm_rule=_text(body.get("AlarmRule")),
            triggering_children=tuple(
                _alarm_name(_text(child.get("Arn")))
                for child in children
                if isinstance(child, Mapping) and child.get("Arn")
            ),
        )
    common.update(
        comparison=_text(trigger.get("ComparisonOperator")),
        threshold=_number(trigger.get("Threshold")),
        evaluation_periods=_int(trigger.get("EvaluationPeriods")),
        period_seconds=_int(trigger.get("Period")),
    )
    metrics = trigger.get("Metrics")
    if isinstance(metrics, list) and metrics:
        queries = [_query(m, _SNS_KEYS) for m in metrics if isinstance(m, Mapping)]
        return _from_queries(common, queries, _text(trigger.get("ThresholdMetricId")))
    return Alarm(
        **common,
        kind=AlarmKind.METRIC,
        metric_name=_text(trigger.get("MetricName")),
        namespace=_text(trigger.get("Namespace")),
        statistic=_statistic(trigger.get("ExtendedStatistic") or trigger.get("Statistic")),
        unit=_unit(trigger.get("Unit")),
        dimensions=_dimensions(trigger.get("Dimensions")),
    )


def _from_state_change(
    detail: Mapping[str, Any],
    *,
    arn: str | None,
    region: str | None,
    account: str | None,
    source: str,
) -> Alarm | None:
    """EventBridge ``detail`` and Lambda-action ``alarmData`` share one camelCase shape."""
    state_info = detail.get("state") if isinstance(detail.get("state"), Mapping) else {}
    previous = (
        detail.get("previousState") if isinstance(detail.get("previousState"), Mapping) else {}
    )
    name, state = (
        _text(detail.get("alarmName")) or _alarm_name(arn),
        State.of(state_info.get("value")),
    )
    if not name or state is None:
        return None
    config = detail.get("configuration") if isinstance(detail.get("configuration"), Mapping) else {}
    reason = _text(state_info.get("reason")) or ""
    reason_data = _json_object(state_info.get("reasonData"))
    recent = reason_data.get("recentDatapoints")
    common: dict[str, Any] = {
        "name": name,
        "state": state,
        "reason": reason,
        "previous_state": State.of(previous.get("value")),
        "state_changed_at": _time(state_info.get("timestamp")),
        "region": region if region and _REGION_CODE.match(region) else _region_from_arn(arn),
        "account": _account(account) or _account_from_arn(arn),
        "arn": arn,
        "description": _text(config.get("description")) or None,
        "observed_value": _number(recent[-1]) if isinstance(recent, list) and recent else None,
        "threshold": _number(reason_data.get("threshold")),
        "source": source,
    }
    if common["observed_value"] is None:
        common["observed_value"] = _observed_value(reason)
    if config.get("alarmRule"):
        triggering = reason_data.get("triggeringAlarms") or []
        return Alarm(
            **{k: v for k, v in common.items() if k != "threshold"},
            kind=AlarmKind.COMPOSITE,
            alarm_rule=_text(config.get("alarmRule")),
            triggering_children=tuple(
                _alarm_name(_text(t.get("arn"))) for t in triggering if isinstance(t, Mapping)
            ),
        )
    metrics = config.get("metrics") or []
    queries = [_query(m, _CAMEL_KEYS) for m in metrics if isinstance(m, Mapping)]
    return _from_queries(common, queries, _text(config.get("thresholdMetricId")))


# A metric query, normalised from either spelling: (id, expression, label, returns, metric fields)
_Query = dict[str, Any]

# The same metric-query fields as spelt by SNS notifications and by EventBridge / alarm actions.
_SNS_KEYS = {
    "stat": "MetricStat", "metric": "Metric", "id": "Id", "expression": "Expression",
    "label": "Label", "returns": "ReturnData", "name": "MetricName", "namespace": "Namespace",
    "statistic": "Stat", "unit": "Unit", "period": "Period", "dimensions": "Dimensions",
}  # fmt: skip
_CAMEL_KEYS = {
    "stat": "metricStat", "metric": "metric", "id": "id", "expression": "expression",
    "label": "label", "returns": "returnData", "name": "name", "namespace": "namespace",
    "statistic": "stat", "unit": "unit", "period": "period", "dimensions": "dimensions",
}  # fmt: skip


def _query(m: Mapping[str, Any], keys: Mapping[str, str]) -> _Query:
    stat = m.get(keys["stat"]) if isinstance(m.get(keys["stat"]), Mapping) else {}
    metric = stat.get(keys["metric"]) if isinstance(stat.get(keys["metric"]), Mapping) else {}
    return {
        "id": _text(m.get(keys["id"])),
        "expression": _text(m.get(keys["expression"])),
        "label": _text(m.get(keys["label"])),
        "returns": m.get(keys["returns"]) is not False,
        "metric_name": _text(metric.get(keys["name"])),
        "namespace": _text(metric.get(keys["namespace"])),
        "statistic": _statistic(stat.get(keys["statistic"])),
        "unit": _unit(stat.get(keys["unit"])),
        "period": _int(stat.get(keys["period"])),
        "dimensions": _dimensions(metric.get(keys["dimensions"])),
    }


def _from_queries(common: dict[str, Any], queries: list[_Query], threshold_id: str | None) -> Alarm:
    """Single metric, metric math or anomaly band, from the alarm's metric queries."""
    band = next(
        (
            q
            for q in queries
            if q["expression"]
            and (
                q["id"] == threshold_id
                or q["expression"].upper().startswith("ANOMALY_DETECTION_BAND")
            )
        ),
        None,
    )
    metrics = [q for q in queries if q["metric_name"]]
    returned_expr = next(
        (q for q in queries if q["expression"] and q["returns"] and q is not band), None
    )
    # The metric that is compared: the returned metric, else the first one.
    metric = next((q for q in metrics if q["returns"]), metrics[0] if metrics else None)
    fields: dict[str, Any] = {}
    if metric:
        fields = {
            "metric_name": metric["metric_name"],
            "namespace": metric["namespace"],
            "statistic": metric["statistic"],
            "unit": metric["unit"],
            "dimensions": metric["dimensions"],
        }
        if common.get("period_seconds") is None:
            common["period_seconds"] = metric["period"]
    if band:
        return Alarm(
            **common,
            **fields,
            kind=AlarmKind.ANOMALY,
            expression=band["expression"],
            expression_label=band["label"],
        )
    if returned_expr:
        return Alarm(
            **common,
            **{**fields, "metric_name": None, "unit": None},
            kind=AlarmKind.METRIC_MATH,
            expression=returned_expr["expression"],
            expression_label=returned_expr["label"],
        )
    return Alarm(**common, **fields, kind=AlarmKind.METRIC)


# --- small, total converters: bad types become None, never an exception ---------------------


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = value if isinstance(value, str) else str(value)
    # JSON may escape a lone surrogate ("\ud800"): valid JSON, but no UTF-8 encoder (SES, SNS,
    # DynamoDB, Slack) accepts it. Replaced here, once, instead of failing every channel later.
    return _LONE_SURROGATE.sub("\ufffd", text) if _LONE_SURROGATE.search(text) else text


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):  # OverflowError: a JSON integer beyond 1e308
        return None
    return number if number == number and abs(number) != float("inf") else None


def _int(value: Any) -> int | None:
    number = _number(value)
    return int(number) if number is not None else None


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
        parsed = parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except (ValueError, OverflowError):  # OverflowError: "0001-01-01T00:00:00+01:00"
        return None
    # Years 1 and 9999 cannot be shifted into every display time zone; no alarm comes from them.
    return parsed if 1 < parsed.year < 9999 else None


def _unit(value: Any) -> str | None:
    unit = _text(value)
    return None if not unit or unit == "None" else unit


def _statistic(value: Any) -> str | None:
    stat = _text(value)
    if not stat:
        return None
    # CloudWatch writes "AVERAGE"/"SUM" in notifications but "Average" in the API and console.
    return stat.capitalize() if stat.isupper() and stat.isalpha() else stat


def _dimensions(value: Any) -> tuple[tuple[str, str], ...]:
    if isinstance(value, Mapping):  # EventBridge: {"InstanceId": "i-123"}
        return tuple((str(k), str(v)) for k, v in value.items())
    if isinstance(value, list):  # SNS: [{"value": "i-123", "name": "InstanceId"}]
        return tuple(
            (str(d.get("name")), str(d.get("value")))
            for d in value
            if isinstance(d, Mapping) and d.get("name") is not None
        )
    return ()


def _json_object(value: Any) -> dict[str, Any]:
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, str):
        try:
            decoded = json.loads(value)
        except (ValueError, RecursionError):
            return {}
        return decoded if isinstance(decoded, dict) else {}
    return {}


def _observed_value(reason: str) -> float | None:
    match = _DATAPOINT.search(reason)
    return _number(match.group(1)) if match else None


def _region_from_arn(arn: str | None) -> str | None:
    parts = arn.split(":") if arn else []
    return parts[3] if len(parts) > 4 and _REGION_CODE.match(parts[3]) else None


def _account(value: str | None) -> str | None:
    return value if value and value.isdigit() else None


def _account_from_arn(arn: str | None) -> str | None:
    parts = arn.split(":") if arn else []
    return _account(parts[4]) if len(parts) > 4 else None


def _alarm_name(arn: str | None) -> str:
    match = _ALARM_ARN_NAME.match(arn or "")
    return match.group(1) if match else (arn or "")


def alarm_names_in_rule(rule: str) -> str:
    """Composite rules name children by ARN; people read names."""
    return re.sub(r"arn:[^:\s()\"]+:cloudwatch:[^:\s()]*:\d*:alarm:", "", rule)
