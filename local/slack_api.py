"""A loopback stand-in for the Slack Web API: ``chat.postMessage`` and ``chat.update``.

Answers as Slack does (api.slack.com/web): HTTP 200 with ``{"ok": true, "channel", "ts", ...}`` or
``{"ok": false, "error": ...}``; a rate limit is HTTP 429 ``ratelimited`` with ``Retry-After``.
It checks the bearer token and the channel, keeps every message with its thread and its edits
(``chat.update`` replaces only what it is given, as Slack does: omitted ``attachments`` or
``blocks`` stay), and can answer errors on demand (``fail_next``). ``render`` shows a message and
its thread as a reader would see them, in plain text.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

BOT_TOKEN = "xoxb-000000000000-000000000000-L0CALDEM0T0KENxxxxxxxxxx"
CHANNEL = "C0LOCALDEMO"


@dataclass
class Call:
    """One Web API request as received, and what was answered."""

    method: str
    payload: dict[str, Any]
    headers: dict[str, str]
    status: int
    answer: dict[str, Any]
    at: float


@dataclass
class Message:
    channel: str
    ts: str
    payload: dict[str, Any]  # as posted, then as updated
    thread_ts: str | None = None
    replies: list[Message] = field(default_factory=list)
    edits: int = 0


@dataclass
class _Scripted:
    error: str
    status: int
    retry_after: int | None


class LocalSlackApi:
    def __init__(self, token: str = BOT_TOKEN, channels: tuple[str, ...] = (CHANNEL,)) -> None:
        self.token = token
        self.channels = set(channels)
        self._lock = threading.Lock()
        self._calls: list[Call] = []
        self._scripted: list[_Scripted] = []
        self.messages: dict[tuple[str, str], Message] = {}  # (channel, ts) -> message, in order
        self._ts = itertools.count(1)
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                headers = {k.lower(): v for k, v in self.headers.items()}
                method = self.path.rsplit("/", 1)[-1]
                status, answer, extra = api._handle(method, raw, headers)
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                for name, value in extra.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        host, port = self._server.server_address[:2]
        self.url = f"http://{host}:{port}/api/"

    # --- the API ---------------------------------------------------------------------------------
    def _handle(
        self, method: str, raw: bytes, headers: dict[str, str]
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        try:
            payload = json.loads(raw or b"{}")
        except ValueError:
            payload = {}
        with self._lock:
            status, answer, extra = self._answer(method, payload, headers)
            self._calls.append(Call(method, payload, headers, status, answer, time.time()))
            return status, answer, extra

    def _answer(
        self, method: str, payload: dict[str, Any], headers: dict[str, str]
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        if self._scripted:
            scripted = self._scripted.pop(0)
            extra = {"Retry-After": str(scripted.retry_after)} if scripted.retry_after else {}
            return scripted.status, {"ok": False, "error": scripted.error}, extra
        if headers.get("authorization") != f"Bearer {self.token}":
            return 200, {"ok": False, "error": "invalid_auth"}, {}
        if "json" not in headers.get("content-type", ""):
            return 200, {"ok": False, "error": "invalid_arguments"}, {}
        channel = str(payload.get("channel") or "")
        if channel not in self.channels:
            return 200, {"ok": False, "error": "channel_not_found"}, {}
        if method == "chat.postMessage":
            return 200, self._post(channel, payload), {}
        if method == "chat.update":
            return 200, self._update(channel, payload), {}
        return 200, {"ok": False, "error": "unknown_method"}, {}

    def _post(self, channel: str, payload: dict[str, Any]) -> dict[str, Any]:
        if not (payload.get("text") or payload.get("blocks") or payload.get("attachments")):
            return {"ok": False, "error": "no_text"}
        ts = f"{1_700_000_000 + next(self._ts)}.000100"
        thread_ts = payload.get("thread_ts")
        message = Message(channel, ts, dict(payload), thread_ts=thread_ts)
        if thread_ts:
            parent = self.messages.get((channel, str(thread_ts)))
            if parent is None:
                return {"ok": False, "error": "thread_not_found"}
            parent.replies.append(message)
        else:
            self.messages[(channel, ts)] = message
        return {"ok": True, "channel": channel, "ts": ts, "message": payload}

    def _update(self, channel: str, payload: dict[str, Any]) -> dict[str, Any]:
        message = self.messages.get((channel, str(payload.get("ts"))))
        if message is None:
            return {"ok": False, "error": "message_not_found"}
        for key in ("text", "attachments", "blocks"):
            if key in payload:  # Slack keeps what chat.update is not given
                message.payload[key] = payload[key]
        message.edits += 1
        return {"ok": True, "channel": channel, "ts": message.ts, "text": payload.get("text")}

    # --- scripting and reading -----------------------------------------------------------------
    def fail_next(
        self, error: str, *, status: int = 200, times: int = 1, retry_after: int | None = None
    ) -> None:
        """Answer the next ``times`` calls ``{"ok": false, "error": error}`` (429 for a limit)."""
        with self._lock:
            self._scripted.extend([_Scripted(error, status, retry_after)] * times)

    @property
    def calls(self) -> list[Call]:
        with self._lock:
            return list(self._calls)

    def ok_calls(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method and c.answer.get("ok")]

    def roots(self) -> list[Message]:
        """Top-level messages, oldest first."""
        with self._lock:
            return list(self.messages.values())

    def clear(self) -> None:
        with self._lock:
            self._calls.clear()
            self._scripted.clear()
            self.messages.clear()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


# --- as a reader sees it ------------------------------------------------------------------------
def unescape(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _blocks_text(blocks: list[dict[str, Any]]) -> list[str]:
    lines: list[str] = []
    for block in blocks:
        kind = block.get("type")
        if kind == "section":
            if block.get("text"):
                lines.extend(unescape(block["text"].get("text", "")).splitlines())
            fields = [
                unescape(f.get("text", "")).replace("\n", ": ", 1)
                for f in block.get("fields") or []
            ]
            for left, right in itertools.zip_longest(fields[::2], fields[1::2], fillvalue=""):
                lines.append(f"{left:<40} {right}".rstrip())
        elif kind == "actions":
            buttons = [
                f"[ {e.get('text', {}).get('text', '')} ]" for e in block.get("elements", [])
            ]
            lines.append("  ".join(buttons))
        elif kind == "context":
            lines.append(" · ".join(unescape(e.get("text", "")) for e in block.get("elements", [])))
    return lines


def render_message(payload: dict[str, Any]) -> list[str]:
    """One message as plain lines: its blocks (or text), then each attachment behind its bar."""
    lines = (
        _blocks_text(payload.get("blocks") or [])
        or unescape(str(payload.get("text", ""))).splitlines()
    )
    for attachment in payload.get("attachments") or []:
        body = _blocks_text(attachment.get("blocks") or [])
        if not body:  # a legacy attachment: title and fields
            if attachment.get("title"):
                body.append(unescape(attachment["title"]))
            for f in attachment.get("fields") or []:
                body.append(f"{f.get('title')}: {unescape(str(f.get('value')))}")
            if attachment.get("footer"):
                body.append(unescape(attachment["footer"]))
        lines.extend(f"┃ {line}" for line in body)
    return lines


def render(message: Message) -> str:
    """The message and its thread, as a reader of the channel would see them."""
    head = f"#{message.channel} {message.ts}" + (
        f" (edited {message.edits}×)" if message.edits else ""
    )
    lines = [head, *(f"  {line}" for line in render_message(message.payload))]
    if message.replies:
        lines.append(f"  💬 {len(message.replies)} replies")
        for reply in message.replies:
            lines.extend(f"    ↳ {line}" for line in render_message(reply.payload))
    return "\n".join(lines)
