"""Baseline fan-out: one SES email per recipient and one SMS per number, str formatting only."""

import json
import os

import boto3

_clients = {}


def client(service):
    if service not in _clients:
        _clients[service] = boto3.client(service)
    return _clients[service]


def recipients(name):
    return [item.strip() for item in os.environ.get(name, "").split(",") if item.strip()]


def handler(event, context):
    email_states = recipients("EMAIL_STATES") or ["ALARM", "OK"]
    sms_states = recipients("SMS_STATES") or ["ALARM"]
    for record in event["Records"]:
        message = json.loads(record["Sns"]["Message"])
        state = message["NewStateValue"]
        subject = f"[{state}] {message['AlarmName']}"
        body = (
            f"Alarm: {message['AlarmName']}\nState: {message.get('OldStateValue')} -> {state}\n"
            f"Reason: {message['NewStateReason']}\nTime: {message['StateChangeTime']}\n"
        )
        if state in email_states:
            for address in recipients("EMAIL_RECIPIENTS"):
                client("sesv2").send_email(
                    FromEmailAddress=os.environ["EMAIL_SENDER"],
                    Destination={"ToAddresses": [address]},
                    Content={
                        "Simple": {
                            "Subject": {"Data": subject},
                            "Body": {"Text": {"Data": body}},
                        }
                    },
                )
        if state in sms_states:
            for number in recipients("SMS_RECIPIENTS"):
                client("sns").publish(PhoneNumber=number, Message=f"{subject}: {state}"[:140])
