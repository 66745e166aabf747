"""The bench's view of the local AWS (moto's server, running in this process).

1. Requests are counted on the server side, by a WSGI wrapper around moto's application.
2. DynamoDB behaves like DynamoDB under load. moto's TransactWriteItems deep-copies every table it
   touches before writing and, when the transaction is cancelled, puts that copy back. The copy
   costs more than linear time (~60 ms at 1,000 items, ~600 ms at 3,000: a storm's history table
   would make every transaction slower than the last), putting it back silently drops the writes
   other requests made meanwhile, and a concurrent write during the copy fails the request with
   "dictionary changed size during iteration" (HTTP 500). So: DynamoDB requests are served one at
   a time (DynamoDB isolates transactions), and a transaction saves and restores only the items
   it touches instead of whole tables. Behaviour is otherwise moto's own.

Every request the functions make reaches moto, whatever client or library made it, so counting
there needs nothing inside the code under test. Who made a request is told by its access key id
(in the SigV4 Authorization header): each program under test gets its own, ``caller_key(label)``
(moto maps any unknown key to its default account, so nothing else changes). Everything else is
the harness (publishing, draining queues, checking the table) and is counted apart.
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs

from local.aws import LocalAws

_CREDENTIAL = re.compile(r"Credential=([^/]+)/\d{8}/[^/]+/([^/]+)/")
KEY_PREFIX = "BENCH"
HARNESS = "harness"


def caller_key(label: str) -> str:
    """The access key id a program runs with: ``baseline:SlackRelayFunction`` ->
    ``BENCHbaselineSlackRelayFunction`` (letters only, as access key ids are)."""
    return KEY_PREFIX + re.sub(r"[^A-Za-z0-9]", "", label)


class RequestCounter:
    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self._app = app
        self._lock = threading.Lock()
        self._dynamodb = threading.Lock()
        # caller (access key id, or HARNESS) -> "service:Operation" -> requests
        self._counts: dict[str, Counter[str]] = {}

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if not environ.get("PATH_INFO", "").startswith("/moto-api"):
            caller, operation = _identify(environ)
            with self._lock:
                self._counts.setdefault(caller, Counter())[operation] += 1
            if operation.startswith("dynamodb:"):
                with self._dynamodb:
                    # moto builds the whole response inside the call: the lock covers the work.
                    return list(self._app(environ, start_response))
        return self._app(environ, start_response)

    def by_operation(self, caller: str) -> Counter[str]:
        with self._lock:
            return Counter(self._counts.get(caller, {}))

    def total(self, caller: str) -> int:
        return sum(self.by_operation(caller).values())

    def callers(self) -> list[str]:
        with self._lock:
            return sorted(self._counts)


def _identify(environ: dict[str, Any]) -> tuple[str, str]:
    match = _CREDENTIAL.search(environ.get("HTTP_AUTHORIZATION", ""))
    key, service = match.groups() if match else ("", "?")
    caller = key if key.startswith(KEY_PREFIX) else HARNESS
    return caller, _operation(environ, service)


def _operation(environ: dict[str, Any], service: str) -> str:
    target = environ.get("HTTP_X_AMZ_TARGET")  # JSON protocols: DynamoDB_20120810.PutItem
    if target:
        return f"{service}:{target.rsplit('.', 1)[-1]}"
    if environ.get("REQUEST_METHOD") == "POST" and "x-www-form-urlencoded" in environ.get(
        "CONTENT_TYPE", ""
    ):
        # Query protocol (SNS, SQS): Action=... in the body. Read it and hand it back intact.
        import io

        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length)
        environ["wsgi.input"] = io.BytesIO(body)
        action = parse_qs(body.decode("utf-8", "replace")).get("Action", ["?"])[0]
        return f"{service}:{action}"
    # REST protocols (SESv2): method and the path's first words.
    path = "/".join(environ.get("PATH_INFO", "").split("/")[:4])
    return f"{service}:{environ.get('REQUEST_METHOD')} {path}"


def install(aws: LocalAws) -> RequestCounter:
    """Wrap the running server's application (werkzeug reads ``server.app`` on every request,
    so the wrapper sees every request from now on) and fix moto's transactions."""
    server = aws._server._server  # LocalAws -> ThreadedMotoServer -> werkzeug BaseWSGIServer
    if server is None:
        raise RuntimeError("moto's server is not running")
    _item_level_transactions()
    counter = server.app if isinstance(server.app, RequestCounter) else RequestCounter(server.app)
    server.app = counter
    return counter


def _item_level_transactions() -> None:
    """TransactWriteItems with an undo log of the touched items instead of table copies.

    Only correct while DynamoDB requests are serialized (RequestCounter does that)."""
    from moto.dynamodb import models
    from moto.dynamodb.models.table import Table

    backend = models.DynamoDBBackend
    if getattr(backend.transact_write_items, "bench_item_level", False):
        return
    original = backend.transact_write_items
    real_copy = models.copy

    class NoTableCopies:
        """moto.dynamodb.models' ``copy``: tables are not copied, anything else is."""

        copy = staticmethod(real_copy.copy)

        @staticmethod
        def deepcopy(value: Any, memo: Any = None) -> Any:
            return value if isinstance(value, Table) else real_copy.deepcopy(value, memo)

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        undo = []
        for entry in transact_items:
            op_type, op = next(iter(entry.items()))
            try:
                table = self.get_table(op["TableName"])
                names = [n for n in (table.hash_key_attr, table.range_key_attr) if n]
                key = op["Key"] if op_type != "Put" else {n: op["Item"][n] for n in names}
                hash_key, range_key = self.get_keys_value(table, key)
                before = table.get_item(hash_key, range_key)
            except Exception:
                continue  # malformed: moto's own code below reports it
            undo.append((table, hash_key, range_key, real_copy.deepcopy(before)))
        try:
            original(self, transact_items)
        except Exception:
            for table, hash_key, range_key, before in reversed(undo):
                if before is None:
                    table.delete_item(hash_key, range_key)
                elif range_key is not None:
                    table.items[hash_key][range_key] = before
                else:
                    table.items[hash_key] = before
            raise

    transact_write_items.bench_item_level = True  # type: ignore[attr-defined]
    models.copy = NoTableCopies  # type: ignore[assignment]
    backend.transact_write_items = transact_write_items  # type: ignore[method-assign]
