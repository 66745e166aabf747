"""Baseline history: one DynamoDB put_item per record, the raw payload kept as-is."""

import json
import os

import boto3

_dynamodb = None


def handler(event, context):
    global _dynamodb
    if _dynamodb is None:
        _dynamodb = boto3.client("dynamodb")
    for record in event["Records"]:
        sns = record["Sns"]
        message = json.loads(sns["Message"])
        _dynamodb.put_item(
            TableName=os.environ["HISTORY_TABLE_NAME"],
            Item={
                "pk": {"S": f"BASELINE#{sns['MessageId']}"},
                "sk": {"S": "EVENT"},
                "alarm_name": {"S": message.get("AlarmName", "")},
                "state": {"S": message.get("NewStateValue", "")},
                "received_at": {"S": sns["Timestamp"]},
                "raw_payload": {"S": sns["Message"]},
            },
        )
