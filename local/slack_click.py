"""Slack's side of a button click: the signed request Slack sends to the interactivity URL.

Slack POSTs ``application/x-www-form-urlencoded`` ``payload=<JSON>`` to the app's Request URL with
``X-Slack-Request-Timestamp`` and ``X-Slack-Signature``; a Lambda Function URL hands it to the
function as a payload format 2.0 event with the body base64-encoded. This module builds exactly
that, signing with the official ``slack_sdk`` (so the function's own stdlib verifier is checked
against Slack's reference implementation, not against itself).

    event = signed_event(block_actions("INC-...", ACK, user="U0LOCALDEMO"), signing_secret)
    invocation = click(worker, "INC-...", signing_secret=secret)        # a built function

``local/demo.py`` can call ``click`` to press Acknowledge as Slack would.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from typing import Any
from urllib.parse import urlencode

ACK, RESOLVE = "incident_ack", "incident_resolve"
DEMO_USER = "U0LOCALDEMO"
TEAM = {"id": "T0LOCALDEMO", "domain": "ott-local"}
CHANNEL = {"id": "C0LOCALDEMO", "name": "ott-alerts"}
FUNCTION_URL_HOST = "abcdefghijklmnopqrstuvwxyz012345.lambda-url.ap-northeast-2.on.aws"
BUTTON_TEXT = {ACK: "Acknowledge", RESOLVE: "Resolve"}


def block_actions(
    incident_id: str,
    action_id: str = ACK,
    *,
    user: str = DEMO_USER,
    response_url: str = "https://hooks.slack.com/actions/T0LOCALDEMO/1/local",
    message_ts: str = "1705044600.000100",
) -> dict[str, Any]:
    """A ``block_actions`` payload as Slack sends it for a click on the incident card's button
    (docs.slack.dev/reference/interaction-payloads/block_actions-payload)."""
    now = f"{time.time():.6f}"
    return {
        "type": "block_actions",
        "user": {"id": user, "username": "oncall", "name": "oncall", "team_id": TEAM["id"]},
        "api_app_id": "A0LOCALDEMO",
        "token": "deprecated-verification-token",
        "container": {
            "type": "message",
            "message_ts": message_ts,
            "channel_id": CHANNEL["id"],
            "is_ephemeral": False,
        },
        "trigger_id": f"1.{uuid.uuid4().hex}",
        "team": TEAM,
        "enterprise": None,
        "is_enterprise_install": False,
        "channel": CHANNEL,
        "message": {"type": "message", "ts": message_ts, "text": incident_id, "blocks": []},
        "state": {"values": {}},
        "response_url": response_url,
        "actions": [
            {
                "action_id": action_id,
                "block_id": "incident_actions",
                "text": {"type": "plain_text", "text": BUTTON_TEXT.get(action_id, action_id)},
                "value": incident_id,
                "style": "primary" if action_id == ACK else "danger",
                "type": "button",
                "action_ts": now,
            }
        ],
    }


def form_body(payload: dict[str, Any]) -> bytes:
    """Slack's body: one form field ``payload`` holding compact JSON."""
    return urlencode({"payload": json.dumps(payload, separators=(",", ":"))}).encode()


def signature(signing_secret: str, timestamp: str, body: bytes) -> str:
    """``X-Slack-Signature`` by Slack's reference implementation (slack_sdk)."""
    from slack_sdk.signature import SignatureVerifier

    sig = SignatureVerifier(signing_secret).generate_signature(timestamp=timestamp, body=body)
    assert sig is not None
    return sig


def function_url_event(
    body: bytes, headers: dict[str, str], *, base64_encoded: bool = True
) -> dict[str, Any]:
    """A Lambda Function URL event (payload format 2.0) for a POST of ``body``."""
    now = time.time()
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": "/",
        "rawQueryString": "",
        "headers": {
            "host": FUNCTION_URL_HOST,
            "content-type": "application/x-www-form-urlencoded",
            "content-length": str(len(body)),
            "user-agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
            "accept": "application/json,*/*",
            "accept-encoding": "gzip,deflate",
            "x-forwarded-proto": "https",
            "x-forwarded-port": "443",
            "x-forwarded-for": "54.209.16.201",
            "x-amzn-trace-id": f"Root=1-{int(now):08x}-{uuid.uuid4().hex[:24]}",
            **{k.lower(): v for k, v in headers.items()},
        },
        "requestContext": {
            "accountId": "anonymous",
            "apiId": FUNCTION_URL_HOST.split(".")[0],
            "domainName": FUNCTION_URL_HOST,
            "domainPrefix": FUNCTION_URL_HOST.split(".")[0],
            "http": {
                "method": "POST",
                "path": "/",
                "protocol": "HTTP/1.1",
                "sourceIp": "54.209.16.201",
                "userAgent": "Slackbot 1.0 (+https://api.slack.com/robots)",
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": "$default",
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        "body": base64.b64encode(body).decode() if base64_encoded else body.decode(),
        "isBase64Encoded": base64_encoded,
    }


def signed_event(
    payload: dict[str, Any] | bytes,
    signing_secret: str,
    *,
    timestamp: int | None = None,
    base64_encoded: bool = True,
) -> dict[str, Any]:
    """What the function receives for ``payload`` (a dict, or a raw body) signed as Slack signs."""
    body = payload if isinstance(payload, bytes) else form_body(payload)
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    headers = {
        "X-Slack-Request-Timestamp": stamp,
        "X-Slack-Signature": signature(signing_secret, stamp, body),
    }
    return function_url_event(body, headers, base64_encoded=base64_encoded)


def click(
    worker: Any,
    incident_id: str,
    *,
    signing_secret: str,
    action_id: str = ACK,
    user: str = DEMO_USER,
    response_url: str = "https://hooks.slack.com/actions/T0LOCALDEMO/1/local",
) -> Any:
    """Press a button of the incident card as Slack would: a signed request to a built
    SlackActionsFunction (a ``local.runtime.Worker``); returns its ``Invocation``."""
    payload = block_actions(incident_id, action_id, user=user, response_url=response_url)
    return worker.invoke(signed_event(payload, signing_secret))
