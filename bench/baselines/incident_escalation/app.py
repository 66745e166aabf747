"""Baseline escalation: GetItem of the incident, the Query of silences in effect, then one webhook
POST if still active and not silenced."""

import json
import os
import urllib.request
from datetime import UTC, datetime, timedelta

import boto3

_clients = {}


def _client(name):
    if name not in _clients:
        _clients[name] = boto3.client(name)
    return _clients[name]


def handler(event, context):
    item = (
        _client("dynamodb")
        .get_item(
            TableName=os.environ["HISTORY_TABLE_NAME"],
            Key={"pk": {"S": "INC#" + event["incident_id"]}, "sk": {"S": "META"}},
            ConsistentRead=True,
        )
        .get("Item")
    )
    if not item or item["status"]["S"] != "active":
        return
    since = f"{datetime.now(UTC) - timedelta(days=1):%Y-%m-%dT%H:%M:%S}"
    silences = _client("dynamodb").query(
        TableName=os.environ["HISTORY_TABLE_NAME"],
        IndexName="gsi1",
        KeyConditionExpression="gsi1pk = :p AND gsi1sk >= :since",
        ExpressionAttributeValues={":p": {"S": "SILENCES"}, ":since": {"S": since}},
    )
    if item.get("silenced_by") or silences["Items"]:
        return
    secret = _client("secretsmanager").get_secret_value(
        SecretId=os.environ["SLACK_WEBHOOK_SECRET_ID"]
    )
    url = json.loads(secret["SecretString"])["webhook_url"]
    body = json.dumps({"text": "<!here> unacknowledged: " + item["alarm_name"]["S"]}).encode()
    request = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    urllib.request.urlopen(request, timeout=5).read()
