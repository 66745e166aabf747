"""Baseline escalation: GetItem of the incident, the Query of silences in effect, then one Slack
post (the app's chat.postMessage, else the webhook) if still active and not silenced."""

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
    text = "<!here> unacknowledged: " + item["alarm_name"]["S"]
    app_secret = os.environ.get("SLACK_APP_SECRET_ID")
    if app_secret:  # the Slack app: a thread reply through the Web API, as the function posts
        app = json.loads(
            _client("secretsmanager").get_secret_value(SecretId=app_secret)["SecretString"]
        )
        url = os.environ["SLACK_API_URL"] + "chat.postMessage"
        message = {"channel": app["channel"], "text": text, "reply_broadcast": True}
        if "slack_ts" in item:
            message["thread_ts"] = item["slack_ts"]["S"]
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
    answer = json.loads(urllib.request.urlopen(request, timeout=5).read() or b"{}")
    if app_secret and not answer.get("ok"):
        raise RuntimeError("Slack refused: " + str(answer.get("error")))
