"""Baseline digest: the same day and status ranges queried, the counts posted to the webhook."""

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
    end = datetime.now(UTC)
    low = f"{end - timedelta(days=2):%Y-%m-%dT%H:%M}"
    resolved_low = f"{end - timedelta(days=9):%Y-%m-%dT%H:%M}"
    high = f"{end:%Y-%m-%dT%H:%M}"
    partitions = [(f"DAY#{end - timedelta(days=n):%Y-%m-%d}", low) for n in (0, 1, 2)]
    partitions += [("STATUS#active", "0"), ("STATUS#acknowledged", "0")]
    partitions += [("STATUS#resolved", resolved_low)]
    # Flapping alarms and the silences ending within a day, as the function reads them.
    partitions += [("FLAPPING", "0"), ("SILENCES", high)]
    counts = {}
    for pk, since in partitions:
        query = {
            "TableName": os.environ["HISTORY_TABLE_NAME"],
            "IndexName": "gsi1",
            "KeyConditionExpression": "gsi1pk = :p AND gsi1sk BETWEEN :low AND :high",
            "ExpressionAttributeValues": {
                ":p": {"S": pk},
                ":low": {"S": since},
                ":high": {"S": high},
            },
        }
        while True:
            page = _client("dynamodb").query(**query)
            counts[pk] = counts.get(pk, 0) + len(page["Items"])
            if "LastEvaluatedKey" not in page:
                break
            query["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    text = json.dumps(counts)
    app_secret = os.environ.get("SLACK_APP_SECRET_ID")
    if app_secret:  # the Slack app: chat.postMessage, as the function posts
        app = json.loads(
            _client("secretsmanager").get_secret_value(SecretId=app_secret)["SecretString"]
        )
        url = os.environ["SLACK_API_URL"] + "chat.postMessage"
        message = {"channel": app["channel"], "text": text}
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "Authorization": "Bearer " + app["bot_token"],
        }
    else:
        secret = _client("secretsmanager").get_secret_value(
            SecretId=os.environ["SLACK_WEBHOOK_SECRET_ID"]
        )
        url = json.loads(secret["SecretString"])["webhook_url"]
        message = {"text": text}
        headers = {"Content-Type": "application/json"}
    request = urllib.request.Request(url, json.dumps(message).encode(), headers)
    urllib.request.urlopen(request, timeout=5).read()
