"""Baseline timers: three create_schedule calls per inserted incident, boto3 only."""

import json
import os

import boto3
from boto3.dynamodb.types import TypeDeserializer

_scheduler = None
STEPS = (("escalate-1", "00:10"), ("escalate-2", "00:20"), ("remind-1", "04:00"))


def handler(event, context):
    global _scheduler
    if _scheduler is None:
        _scheduler = boto3.client("scheduler")
    deserializer = TypeDeserializer()
    for record in event["Records"]:
        image = record["dynamodb"]["NewImage"]
        incident = deserializer.deserialize(image["incident_id"])
        for step, at in STEPS:
            _scheduler.create_schedule(
                Name=f"b-{incident}-{step}",
                GroupName=os.environ["SCHEDULE_GROUP_NAME"],
                ScheduleExpression=f"at(2030-01-01T{at}:00)",
                FlexibleTimeWindow={"Mode": "OFF"},
                Target={
                    "Arn": os.environ["ESCALATION_FUNCTION_ARN"],
                    "RoleArn": os.environ["SCHEDULER_ROLE_ARN"],
                    "Input": json.dumps({"incident_id": incident, "step": step}),
                },
            )
