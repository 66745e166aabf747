"""Test support for the Slack relay: load its handler by path, invoke it, read what Slack got."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from conftest import FakeLambdaContext, load_function

ROOT = Path(__file__).resolve().parents[2]
SECRET_ID = "ott/slack/webhook"
# The path of a webhook URL is its credential: these tokens must never show up in any output.
WEBHOOK_TOKEN = "x0FAKEw3bh00kT0k3nAAAA"
ROTATED_TOKEN = "x0FAKEr0tat3dT0k3nBBBB"
WEBHOOK_PATH = f"/services/T00000000/B00000000/{WEBHOOK_TOKEN}"
ROTATED_PATH = f"/services/T00000000/B11111111/{ROTATED_TOKEN}"
SECRET_TOKENS = (WEBHOOK_TOKEN, ROTATED_TOKEN)


def load_handler_module() -> ModuleType:
    return load_function("slack_relay")


def with_message_id(event: dict[str, Any], message_id: str) -> dict[str, Any]:
    copy = json.loads(json.dumps(event))
    for record in copy["Records"]:
        record["Sns"]["MessageId"] = message_id
    return copy


def with_alarm_fields(event: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """A copy of a one-record CloudWatch alarm event with some alarm message fields replaced."""
    copy = json.loads(json.dumps(event))
    sns = copy["Records"][0]["Sns"]
    message = json.loads(sns["Message"])
    message.update(fields)
    sns["Message"] = json.dumps(message)
    return copy


@dataclass
class Relay:
    """The loaded handler, the loopback Slack server, and the handler's captured log lines."""

    module: ModuleType
    server: Any  # pytest_httpserver.HTTPServer on 127.0.0.1
    log_stream: io.StringIO

    def url(self, path: str = WEBHOOK_PATH) -> str:
        return self.server.url_for(path)

    def invoke(self, event: dict[str, Any]) -> Any:
        return self.module.handler(event, FakeLambdaContext("ott-alert-service-slack-relay"))

    def posts(self) -> list[tuple[str, dict[str, Any]]]:
        """Every request Slack received, in order: (path, JSON body)."""
        return [(request.path, json.loads(request.get_data())) for request, _ in self.server.log]

    def log_lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.log_stream.getvalue().splitlines() if line]

    def log_text(self) -> str:
        return self.log_stream.getvalue()
