"""Channels send rendered payloads. Every failure says whether a retry can help."""

from __future__ import annotations

from collections.abc import Iterable


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
