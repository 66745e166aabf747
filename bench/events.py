"""Synthetic CloudWatch alarm notifications for the bench and the storm.

Each one is the real SNS message format (the shape of events/cpu_alarm.json) with its own SNS
MessageId and a token in NewStateReason, so a Slack post can be traced back to its notification.
"""

from __future__ import annotations

import json
import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

ACCOUNT = "123456789012"
REGION = "ap-northeast-2"
TOPIC_ARN = f"arn:aws:sns:{REGION}:{ACCOUNT}:ott-db-alarm-topic"
STATES = ("ALARM", "OK", "INSUFFICIENT_DATA")
# CloudWatch names the state of the comparison in the reason; the token ties a post to its message.
TOKEN_PREFIX = "bench-token-"

_METRICS = (
    ("CPUUtilization", "Percent", 80.0, "GreaterThanOrEqualToThreshold"),
    ("DatabaseConnections", "Count", 800.0, "GreaterThanThreshold"),
    ("FreeableMemory", "Bytes", 2147483648.0, "LessThanThreshold"),
    ("ReadLatency", "Seconds", 0.02, "GreaterThanThreshold"),
)


@dataclass(frozen=True)
class Note:
    """One notification: what was published, and what the history should hold for it."""

    message_id: str
    alarm_name: str
    state: str
    previous_state: str
    at: datetime  # StateChangeTime, UTC
    seq: int

    @property
    def token(self) -> str:
        return f"{TOKEN_PREFIX}{self.seq:06d}"


def alarm_name(index: int) -> str:
    return f"OTT-DB-Bench-{index:02d}"


def message(note: Note, index: int) -> dict[str, Any]:
    """The CloudWatch alarm notification (the SNS Message, decoded)."""
    metric, unit, threshold, comparison = _METRICS[index % len(_METRICS)]
    stamp = note.at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{note.at.microsecond // 1000:03d}+0000"
    arn = f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{note.alarm_name}"
    reason = (
        f"Threshold Crossed: 1 out of the last 1 datapoints [{threshold * 1.1:.1f} "
        f"({note.at:%d/%m/%y %H:%M:%S})] was greater than or equal to the threshold "
        f"({threshold}) (minimum 1 datapoint for OK -> ALARM transition). [{note.token}]"
    )
    if note.state == "INSUFFICIENT_DATA":
        reason = f"Insufficient Data: 1 datapoint was unknown. [{note.token}]"
    elif note.state == "OK":
        reason = (
            f"Threshold Crossed: 1 out of the last 1 datapoints [{threshold * 0.5:.1f} "
            f"({note.at:%d/%m/%y %H:%M:%S})] was not greater than or equal to the threshold "
            f"({threshold}) (minimum 1 datapoint for ALARM -> OK transition). [{note.token}]"
        )
    return {
        "AlarmName": note.alarm_name,
        "AlarmDescription": f"Aurora MySQL {metric} (bench)",
        "AWSAccountId": ACCOUNT,
        "AlarmConfigurationUpdatedTimestamp": "2024-01-05T02:14:37.512+0000",
        "NewStateValue": note.state,
        "NewStateReason": reason,
        "StateChangeTime": stamp,
        "Region": "Asia Pacific (Seoul)",
        "AlarmArn": arn,
        "OldStateValue": note.previous_state,
        "OKActions": [TOPIC_ARN],
        "AlarmActions": [TOPIC_ARN],
        "InsufficientDataActions": [TOPIC_ARN],
        "Trigger": {
            "MetricName": metric,
            "Namespace": "AWS/RDS",
            "StatisticType": "Statistic",
            "Statistic": "AVERAGE",
            "Unit": unit,
            "Dimensions": [{"value": "ott-aurora-cluster", "name": "DBClusterIdentifier"}],
            "Period": 300,
            "EvaluationPeriods": 1,
            "DatapointsToAlarm": 1,
            "ComparisonOperator": comparison,
            "Threshold": threshold,
            "TreatMissingData": "missing",
            "EvaluateLowSampleCountPercentile": "",
        },
    }


def subject(note: Note) -> str:
    return f'{note.state}: "{note.alarm_name}" in Asia Pacific (Seoul)'[:100]


def sns_event(note: Note, index: int) -> dict[str, Any]:
    """The SNS Lambda event for one notification, as Lambda hands it to a handler."""
    return {
        "Records": [
            {
                "EventSource": "aws:sns",
                "EventVersion": "1.0",
                "EventSubscriptionArn": f"{TOPIC_ARN}:3f9c6a1e-5b2d-4c8e-9a71-2d4e8b6f0c53",
                "Sns": {
                    "Type": "Notification",
                    "MessageId": note.message_id,
                    "TopicArn": TOPIC_ARN,
                    "Subject": subject(note),
                    "Message": json.dumps(message(note, index), ensure_ascii=False),
                    "Timestamp": note.at.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
                    "SignatureVersion": "1",
                    "Signature": "EXAMPLE",
                    "SigningCertUrl": "https://sns.ap-northeast-2.amazonaws.com/bench.pem",
                    "UnsubscribeUrl": "https://sns.ap-northeast-2.amazonaws.com/?Action=Unsubscribe",
                    "MessageAttributes": {},
                },
            }
        ]
    }


def flapping(count: int, alarms: int, seed: int, start: datetime | None = None) -> list[Note]:
    """``count`` notifications over ``alarms`` alarms that flap ALARM/OK, some INSUFFICIENT_DATA.

    Each alarm's states form a real CloudWatch sequence: every notification is a state change
    (never the same state twice in a row), and its times increase. Alarms interleave at random.
    """
    rng = random.Random(seed)
    start = start or datetime(2024, 3, 1, 0, 0, tzinfo=UTC)
    state = ["OK"] * alarms
    clock = [start + timedelta(seconds=7 * i) for i in range(alarms)]
    notes = []
    for seq in range(count):
        index = rng.randrange(alarms)
        previous = state[index]
        if previous == "OK":
            new = "ALARM" if rng.random() < 0.85 else "INSUFFICIENT_DATA"
        elif previous == "ALARM":
            new = "OK" if rng.random() < 0.85 else "INSUFFICIENT_DATA"
        else:
            new = "ALARM" if rng.random() < 0.6 else "OK"
        # Minutes apart, and crossing midnight, so the history spans several days.
        clock[index] += timedelta(minutes=rng.randrange(1, 180), milliseconds=rng.randrange(1000))
        state[index] = new
        notes.append(
            Note(
                message_id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                alarm_name=alarm_name(index),
                state=new,
                previous_state=previous,
                at=clock[index],
                seq=seq,
            )
        )
    return notes


def alarm_index(note: Note) -> int:
    return int(note.alarm_name.rsplit("-", 1)[1])
