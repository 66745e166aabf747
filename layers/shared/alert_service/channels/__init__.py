"""Channels send rendered payloads. Every failure says whether a retry can help.

What ``retryable`` changes (Alertmanager's ``Retrier``, adapted to Lambda's asynchronous retries):
- inside a call, only what is retryable is retried (Slack: 429/5xx/connect errors; SES and SNS:
  throttling and connect errors, ``send_with_retries``);
- a failure that is not retryable (a revoked webhook, an unverified sender, an opted-out number)
  is logged at ERROR as "needs an operator" and counted as ``DeliveriesRefused`` per channel, while
  a retryable one is a WARNING (Lambda retries it a minute later);
- when every failure of an invocation is permanent, the invocation raises ``DeliveriesRefused``,
  so the failure-queue record's ``errorType`` tells the operator that a replay helps only after
  the cause is fixed.
Either kind still fails the invocation: Lambda's on-failure destination keeps only failed
invocations, and a notification must never be lost because a retry could not help. The cost is
two futile asynchronous retries (harmless: deliveries are once-only).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

T = TypeVar("T")


class DeliveryError(Exception):
    """One delivery failed. The message never holds a secret (webhook URL, full address)."""

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


def is_retryable(error: BaseException) -> bool:
    """A ``DeliveryError`` says; anything else (idempotency table, a bug) may pass on a retry."""
    return bool(getattr(error, "retryable", True))


def report_failure(logger: Any, message: str, error: BaseException, **extra: Any) -> str:
    """Log one failed delivery as its kind deserves; returns the reason to put in the failure list.

    Retryable: a WARNING (Lambda retries the invocation). Not retryable: an ERROR that says an
    operator is needed. A ``DeliveryError``'s text is ours and redacted; any other exception's text
    is not (it may hold a recipient or a URL), so only its type is reported, with the traceback
    kept in the log for a bug.
    """
    retryable = is_retryable(error)
    reason = str(error) if isinstance(error, DeliveryError) else type(error).__name__
    fields = {**extra, "error": reason, "retryable": retryable}
    if not isinstance(error, DeliveryError):
        logger.exception(message, extra=fields)
    elif retryable:
        logger.warning(message, extra=fields)
    else:
        logger.error(f"{message}; needs an operator, a retry cannot help", extra=fields)
    return reason


class DeliveriesFailed(Exception):
    """Raised at the end of an invocation so Lambda retries it and the failure destination keeps it.

    Names what failed (already redacted by the caller), so an operator reading the failure queue
    knows which notifications and recipients are missing.
    """

    def __init__(self, failures: Iterable[str]) -> None:
        self.failures = tuple(failures)
        super().__init__(f"{len(self.failures)} deliveries failed: " + "; ".join(self.failures))

    @staticmethod
    def of(failures: Iterable[str], *, permanent: bool) -> DeliveriesFailed:
        """``DeliveriesRefused`` when no failure can pass by retrying, else ``DeliveriesFailed``."""
        return DeliveriesRefused(failures) if permanent else DeliveriesFailed(failures)


class DeliveriesRefused(DeliveriesFailed):
    """Every failure of the invocation needs an operator (see the module docstring)."""

    def __init__(self, failures: Iterable[str]) -> None:
        super().__init__(failures)
        self.args = (f"needs an operator, a retry cannot help: {self.args[0]}",)


@contextmanager
def aws_errors(service: str, what: str, retryable_codes: frozenset[str]) -> Iterator[None]:
    """Turn a botocore failure of one AWS call into a ``DeliveryError``.

    ``what`` is already masked ("mail to a***@example.com"). Only the error code and status leave:
    AWS error messages can hold the full address or number. Throttling codes and 5xx can succeed
    later; other refusals (unverified sender, opted-out number) need an operator.
    """
    from botocore.exceptions import BotoCoreError, ClientError  # lazily, as boto3 (clients.py)

    try:
        yield
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "Unknown")
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        raise DeliveryError(
            f"{service} refused {what}: {code} (HTTP {status})",
            retryable=code in retryable_codes or status >= 500,
        ) from None
    except BotoCoreError as error:
        raise DeliveryError(
            f"{service} unreachable for {what}: {type(error).__name__}", retryable=True
        ) from None


# Send attempts of a non-idempotent AWS send (SES SendEmail, SNS Publish), first included.
SEND_ATTEMPTS = 3
# Jittered backoff before the 2nd and 3rd attempt: up to 0.5 s, then 1 s ("full jitter").
SEND_BACKOFF_SECONDS = 0.5
# Refusals that say the request was not acted on: the send certainly did not happen.
THROTTLING_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "Throttled",
        "TooManyRequestsException",
        "RequestLimitExceeded",
    }
)


def send_with_retries(
    service: str, what: str, retryable_codes: frozenset[str], call: Callable[[], T]
) -> T:
    """Run one non-idempotent AWS send, repeating it only when it cannot have been delivered.

    Repeated: a throttling refusal (the request was turned away) and a connection that never
    opened (botocore ``ConnectionError``: the request never left). Not repeated: a read timeout or
    a connection closed after sending (the mail or SMS may be on its way) and 5xx (the service may
    have sent it before failing): those fail the delivery as retryable, and Lambda's retry a minute
    later may then send a duplicate, which is rarer and cheaper than a lost alarm. The client itself
    makes one attempt per call (``clients.BOUNDS``), so this loop is the only retry.
    """
    from botocore.exceptions import ClientError
    from botocore.exceptions import ConnectionError as NotConnected

    for attempt in range(1, SEND_ATTEMPTS + 1):
        with aws_errors(service, what, retryable_codes):
            try:
                return call()
            except (ClientError, NotConnected) as error:
                if attempt == SEND_ATTEMPTS or not _not_sent(error):
                    raise  # aws_errors turns it into a DeliveryError
        # Jitter spreads concurrent senders apart; it is not a secret.
        time.sleep(random.uniform(0, SEND_BACKOFF_SECONDS * 2 ** (attempt - 1)))  # noqa: S311
    raise AssertionError("unreachable: the last attempt returns or raises")


def _not_sent(error: Exception) -> bool:
    response = getattr(error, "response", None)
    if response is None:  # a botocore ConnectionError: no connection, nothing sent
        return True
    code = response.get("Error", {}).get("Code", "")
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    return code in THROTTLING_CODES or status == 429
