"""Channels send rendered payloads. Every failure says whether a retry can help."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager


class DeliveryError(Exception):
    """One delivery failed. The message never holds a secret (webhook URL, full address)."""

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


class DeliveriesFailed(Exception):
    """Raised at the end of an invocation so Lambda retries it and the failure destination keeps it.

    Names what failed (already redacted by the caller), so an operator reading the failure queue
    knows which notifications and recipients are missing.
    """

    def __init__(self, failures: Iterable[str]) -> None:
        self.failures = tuple(failures)
        super().__init__(f"{len(self.failures)} deliveries failed: " + "; ".join(self.failures))


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
