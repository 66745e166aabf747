"""Baseline Slack relay: secret -> json.loads -> the seed 000 attachment -> urllib POST.

BASELINE_ONCE_ONLY=true adds the smallest once-only delivery: one conditional PutItem claims
the MessageId in IDEMPOTENCY_TABLE_NAME before the POST (a redelivery finds it and skips), and
a failed POST deletes the claim so the retry posts. The bench runs it as a diagnostic row.
"""

import json
import os
import urllib.request
from datetime import datetime, timedelta, timezone

import boto3

KST = timezone(timedelta(hours=9), "KST")
COLORS = {"ALARM": "#eb4034", "OK": "#2eb886"}
EMOJI = {"ALARM": "🚨", "OK": "✅"}
HEADLINE = "{emoji} *[OTT 인프라 감지]* 상태가 *{state}*로 변경되었습니다."
_webhook_url = None
_dynamodb = None


def webhook_url():
    # Cached per process, as any sensible hand-written relay would (the function caches 5 min).
    global _webhook_url
    if _webhook_url is None:
        secret = boto3.client("secretsmanager").get_secret_value(
            SecretId=os.environ["SLACK_WEBHOOK_SECRET_ID"]
        )
        _webhook_url = json.loads(secret["SecretString"])["webhook_url"]
    return _webhook_url


def claim(message_id):
    """True when this MessageId was not delivered before (and is now claimed)."""
    global _dynamodb
    if _dynamodb is None:
        _dynamodb = boto3.client("dynamodb")
    try:
        _dynamodb.put_item(
            TableName=os.environ["IDEMPOTENCY_TABLE_NAME"],
            Item={"id": {"S": f"baseline-slack#{message_id}"}},
            ConditionExpression="attribute_not_exists(id)",
        )
    except _dynamodb.exceptions.ConditionalCheckFailedException:
        return False
    return True


def unclaim(message_id):
    _dynamodb.delete_item(
        TableName=os.environ["IDEMPOTENCY_TABLE_NAME"],
        Key={"id": {"S": f"baseline-slack#{message_id}"}},
    )


def escape(text):
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def handler(event, context):
    for record in event["Records"]:
        message = json.loads(record["Sns"]["Message"])
        state = message["NewStateValue"]
        changed = datetime.strptime(message["StateChangeTime"], "%Y-%m-%dT%H:%M:%S.%f%z")
        trigger = message.get("Trigger") or {}
        payload = {
            "text": HEADLINE.format(emoji=EMOJI.get(state, "⚠️"), state=state),
            "attachments": [
                {
                    "color": COLORS.get(state, "#9e9e9e"),
                    "title": f"경보 상세: {escape(message['AlarmName'])}",
                    "fields": [
                        {
                            "title": "대상 리전",
                            "value": message["AlarmArn"].split(":")[3],
                            "short": True,
                        },
                        {"title": "감시 메트릭", "value": trigger.get("MetricName"), "short": True},
                        {
                            "title": "임계치",
                            "value": f"{trigger.get('Threshold'):g}",
                            "short": True,
                        },
                        {
                            "title": "발생 시간",
                            "value": changed.astimezone(KST).strftime("%Y-%m-%d %H:%M:%S KST"),
                            "short": True,
                        },
                        {
                            "title": "상세 사유",
                            "value": escape(message["NewStateReason"]),
                            "short": False,
                        },
                    ],
                    "footer": "OTT 플랫폼 통합 관제 시스템",
                    "ts": int(changed.timestamp()),
                }
            ],
        }
        request = urllib.request.Request(
            webhook_url(),
            data=json.dumps(payload).encode(),
            headers={"Content-Type": "application/json"},
        )
        once_only = os.environ.get("BASELINE_ONCE_ONLY") == "true"
        message_id = record["Sns"]["MessageId"]
        if once_only and not claim(message_id):
            continue
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                response.read()
        except Exception:
            if once_only:
                unclaim(message_id)
            raise
