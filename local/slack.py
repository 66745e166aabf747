"""A loopback stand-in for a Slack incoming webhook.

Slack's incoming webhooks answer a POST with HTTP 200 and the plain text ``ok`` (not JSON, unlike
the Web API). This server does the same, and keeps every request so the demo can print it and the
tests can assert on it. Responses can be scripted (``fail_next``) to show failures and retries.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

WEBHOOK_PATH = "/services/T00000000/B00000000/LOCALDEMOWEBHOOK"


@dataclass(frozen=True)
class SlackPost:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def payload(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError:
            return None


class LocalSlack:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._posts: list[SlackPost] = []
        self._scripted: list[tuple[int, str]] = []
        slack = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                status, text = slack._record(
                    SlackPost(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                )
                data = text.encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/plain; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # quiet: the demo prints the payloads itself

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        host, port = self._server.server_address[:2]
        self.base_url = f"http://{host}:{port}"
        self.webhook_url = self.base_url + WEBHOOK_PATH

    def _record(self, post: SlackPost) -> tuple[int, str]:
        with self._lock:
            if self._scripted:
                status, text = self._scripted.pop(0)
                if status >= 400:  # a refused POST was not received by the channel
                    return status, text
            else:
                status, text = 200, "ok"
            self._posts.append(post)
            return status, text

    def fail_next(self, status: int, text: str = "", times: int = 1) -> None:
        """Answer the next ``times`` POSTs with ``status`` (e.g. 404 ``no_service``, 500)."""
        with self._lock:
            self._scripted.extend([(status, text or f"error {status}")] * times)

    @property
    def posts(self) -> list[SlackPost]:
        with self._lock:
            return list(self._posts)

    def take(self) -> list[SlackPost]:
        """The posts received since the last ``take`` (or start)."""
        with self._lock:
            posts, self._posts = self._posts, []
            return posts

    def clear(self) -> None:
        with self._lock:
            self._posts.clear()
            self._scripted.clear()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
