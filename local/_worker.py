"""Lambda's Python runtime in miniature: runs inside the worker process started by runtime.py.

Standard library only: this interpreter's path holds the built function, the built layer and the
runtime venv's boto3, nothing of the project's dev environment.

argv: <function dir> <handler "module.function"> <layer python dir>...
stdin: one JSON request per line: {"event": ..., "env": {...}?, "context": {...}?}
stdout (the original fd, kept for the protocol): one JSON answer per line. The first answer
reports the init (import of the handler module), each later one an invocation.
The function's own stdout/stderr (Powertools logs, EMF metrics, prints) are captured and returned
in the answers, as Lambda sends them to CloudWatch Logs.
"""

import importlib
import io
import json
import os
import sys
import time
import traceback
import uuid

PROTOCOL = os.fdopen(os.dup(1), "w", encoding="utf-8", buffering=1)
os.dup2(2, 1)  # fd-level writes to stdout (C code) must not corrupt the protocol


class Capture(io.TextIOBase):
    """sys.stdout/sys.stderr of the function: lines kept until the next answer."""

    def __init__(self) -> None:
        self.parts: list[str] = []

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self.parts.append(text)
        return len(text)

    def drain(self) -> list[str]:
        text, self.parts = "".join(self.parts), []
        return [line for line in text.splitlines() if line.strip()]

    @property
    def encoding(self) -> str:
        return "utf-8"


CAPTURE = Capture()


class Context:
    """The attributes of Lambda's context object that handlers and Powertools use."""

    def __init__(self, request_id: str, timeout_s: float) -> None:
        name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "function")
        region = os.environ.get("AWS_REGION", "us-east-1")
        self.function_name = name
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:{region}:123456789012:function:{name}"
        self.memory_limit_in_mb = int(os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"))
        self.aws_request_id = request_id
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME", f"/aws/lambda/{name}")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME", "local")
        self.identity = None
        self.client_context = None
        self._deadline = time.monotonic() + timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def error_of(exc: BaseException) -> dict:
    return {
        "type": type(exc).__name__,
        "message": str(exc),
        "traceback": "".join(traceback.format_exception(exc)),
    }


def answer(message: dict) -> None:
    PROTOCOL.write(json.dumps(message, default=str, ensure_ascii=False) + "\n")


def main() -> None:
    function_dir, handler_name, *layer_dirs = sys.argv[1:]
    sys.path[:0] = [function_dir, *layer_dirs]
    module_name, _, attribute = handler_name.rpartition(".")
    sys.stdout = sys.stderr = CAPTURE
    started = time.perf_counter()
    handler = None
    init_error = None
    try:
        handler = getattr(importlib.import_module(module_name), attribute)
    except BaseException as exc:
        init_error = error_of(exc)
    answer(
        {
            "init": True,
            "ok": init_error is None,
            "error": init_error,
            "init_ms": (time.perf_counter() - started) * 1000,
            "logs": CAPTURE.drain(),
        }
    )
    timeout_s = float(os.environ.get("AWS_LAMBDA_FUNCTION_TIMEOUT", "30"))
    for line in sys.stdin:
        if not line.strip():
            continue
        request = json.loads(line)
        os.environ.update(request.get("env") or {})
        if handler is None:  # Lambda retries the init on every invoke; the result is the same
            answer({"ok": False, "error": init_error, "duration_ms": 0.0, "logs": []})
            continue
        context = Context(str(uuid.uuid4()), timeout_s)
        started = time.perf_counter()
        try:
            result = handler(request["event"], context)
            ok, error = True, None
        except BaseException as exc:
            result, ok, error = None, False, error_of(exc)
        duration = (time.perf_counter() - started) * 1000
        answer(
            {
                "ok": ok,
                "result": result,
                "error": error,
                "duration_ms": duration,
                "request_id": context.aws_request_id,
                "logs": CAPTURE.drain(),
            }
        )


main()
