"""One boto3 session per process and one client per service, made on first use, each with bounds.

boto3 is imported here, lazily: a function path that never talks to AWS never pays for it, and
clients made at import time would also bypass test endpoints set up after import (TIPS.md). One
session serves every client: each extra session reloads endpoint data, credentials and models
(measured: +50 ms cold start per extra session). Endpoint and region come from boto3's default
configuration (AWS_ENDPOINT_URL, AWS_REGION).

Every client gets a deliberate botocore ``Config`` (``BOUNDS``): boto3's default is the legacy
retry mode (up to 10 attempts for DynamoDB, ~25 s of backoff) with 60 s connect and read timeouts
whose expiry is retried, which does not fit a 30 s function. ``standard`` retry mode retries
throttling, 5xx, connection errors and read timeouts, with jittered exponential backoff (base 1 s,
so at most 1 + 2 s for three attempts).

Which calls may repeat:
- DynamoDB and Secrets Manager calls may repeat freely: reads, conditional writes and the
  idempotency records give the same result when a timed-out attempt had in fact been applied
  (a repeated conditional write fails its condition instead of writing twice).
- SES ``SendEmail`` and SNS ``Publish`` (SMS) may NOT: a request that timed out while reading the
  answer may have been delivered, and a second one is a second mail or SMS. Their clients make one
  attempt (``attempts=1``); ``channels.send_with_retries`` repeats only what cannot have been sent.
- Lambda ``Invoke`` and SQS (the operator's ``alert-replay``, not inside a function): a repeated
  invoke is harmless because deliveries are once-only; the read timeout must outlast the function's
  30 s timeout and SQS's long poll.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

# The function timeout (template.yaml Globals). A call inside a function must fail well before it,
# so the handler can still report it (and fail the invocation cleanly) instead of being killed.
FUNCTION_TIMEOUT_SECONDS = 30.0
# The worst case of one call inside a function; a handler makes a few calls per record.
CALL_BUDGET_SECONDS = 15.0


@dataclass(frozen=True)
class Bounds:
    """Timeouts (seconds) and total attempts (first + retries) of every call of one client."""

    connect: float
    read: float
    attempts: int

    def worst_case_seconds(self) -> float:
        """Every attempt hitting both timeouts, plus standard mode's largest backoffs."""
        backoff = sum(2**n for n in range(self.attempts - 1))
        return self.attempts * (self.connect + self.read) + backoff


# connect: AWS endpoints in the same region answer a TCP handshake in milliseconds; a connection
# that is not up after 1 s is better retried on a fresh one. read: DynamoDB answers in single-digit
# milliseconds, Secrets Manager, SES and SNS in a few hundred when healthy; 3 s covers a slow
# transaction or a loaded host. Three attempts of each stay within CALL_BUDGET_SECONDS
# (tests/functional/test_aws_bounds.py checks the arithmetic and the clients' real config).
BOUNDS: dict[str, Bounds] = {
    "dynamodb": Bounds(connect=1.0, read=3.0, attempts=3),
    "secretsmanager": Bounds(connect=1.0, read=3.0, attempts=3),
    # Not idempotent: one attempt per client call (module docstring); channels.send_with_retries
    # makes up to SEND_ATTEMPTS of them, and only when the send cannot have happened.
    "sesv2": Bounds(connect=1.0, read=3.0, attempts=1),
    "sns": Bounds(connect=1.0, read=3.0, attempts=1),
    # alert-replay (an operator's shell, not a function): Invoke waits for a whole function run,
    # ReceiveMessage for its long poll (at most 20 s).
    "lambda": Bounds(connect=3.0, read=FUNCTION_TIMEOUT_SECONDS + 10, attempts=2),
    "sqs": Bounds(connect=3.0, read=30.0, attempts=3),
}
DEFAULT_BOUNDS = Bounds(connect=2.0, read=5.0, attempts=3)
# The services a function calls (the rest serve the operator's tools).
FUNCTION_SERVICES = frozenset({"dynamodb", "secretsmanager", "sesv2", "sns"})


def bounds(service: str) -> Bounds:
    return BOUNDS.get(service, DEFAULT_BOUNDS)


@cache
def _session() -> Any:
    import boto3  # deliberately lazy, see module docstring

    return boto3.session.Session()


@cache
def client(service: str) -> Any:
    from botocore.config import Config  # loaded with boto3 already: free

    limit = bounds(service)
    config = Config(
        connect_timeout=limit.connect,
        read_timeout=limit.read,
        # total_max_attempts counts the first attempt; botocore's "max_attempts" key counts only the
        # retries (max_attempts=1 would be two sends).
        retries={"mode": "standard", "total_max_attempts": limit.attempts},
    )
    return _session().client(service, config=config)


def error_code(error: BaseException | None) -> str:
    """The AWS error code of a botocore ``ClientError`` (``ConditionalCheckFailedException``, ...);
    "" for anything else. The one reader of ``error.response``: callers compare codes, and log
    them, never the whole response."""
    response = getattr(error, "response", None)
    if not isinstance(response, dict):
        return ""
    return str((response.get("Error") or {}).get("Code") or "")


def reset() -> None:
    """Forget the session and every client (tests point boto3 at a new endpoint)."""
    client.cache_clear()
    _session.cache_clear()
