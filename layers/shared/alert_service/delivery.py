"""Once-only delivery: a notification already delivered to a recipient is not sent again.

SNS may deliver a message more than once, Lambda retries a failed invocation twice, and operators
replay the failure queue: each would repeat deliveries that had succeeded. Powertools Idempotency
records every (channel, MessageId, recipient) in the idempotency table: the first attempt claims it
(a conditional write), success completes it, and a failure deletes the claim so a retry sends it.
Set ``POWERTOOLS_IDEMPOTENCY_DISABLED=true`` to turn the table off (every attempt then sends).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Generic, TypeVar

from alert_service import clients
from alert_service.config import env, required

# Records outlive the failure queue's 14-day retention, so a replay two weeks later still skips
# what was delivered before the failure.
RECORD_TTL_SECONDS = 15 * 24 * 3600
# The idempotency key is ``<KEY_PREFIX>#<hash of (channel, MessageId, recipient key)>``. Without a
# prefix Powertools would put the Lambda function name and the decorated function's qualified name
# in it: renaming either would forget every delivery. Changing this value forgets them too.
KEY_PREFIX = "alert-service.delivery"

T = TypeVar("T")


@cache
def _config() -> Any:
    from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig

    return IdempotencyConfig(expires_after_seconds=RECORD_TTL_SECONDS)


# Where once-only records live when no IDEMPOTENCY_TABLE_NAME is given (below).
HISTORY_CLAIMS_PK = "ONCE#delivery"


@cache
def _store() -> Any:
    # Made on first delivery: the persistence layer makes a boto3 client when built (~140 ms).
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

    table = env("IDEMPOTENCY_TABLE_NAME")
    if table or not env("HISTORY_TABLE_NAME"):
        return DynamoDBPersistenceLayer(
            table_name=required("IDEMPOTENCY_TABLE_NAME"), boto3_client=clients.client("dynamodb")
        )
    # The Slack incident view's contract names only HISTORY_TABLE_NAME: without an idempotency
    # table its records go to the history table, under one partition of their own (pk
    # ONCE#delivery, sk the idempotency key), expiring through the table's TTL attribute. One
    # partition takes ~1,000 writes a second, far above what Slack's own limits let through.
    return DynamoDBPersistenceLayer(
        table_name=required("HISTORY_TABLE_NAME"),
        key_attr="pk",
        sort_key_attr="sk",
        static_pk_value=HISTORY_CLAIMS_PK,
        expiry_attr="expires_at",
        boto3_client=clients.client("dynamodb"),
    )


def register_lambda_context(context: Any) -> None:
    """Call first in a handler: an in-progress claim then expires with the invocation.

    Without it a claim made by an invocation that timed out or crashed mid-send would block every
    retry (IdempotencyAlreadyInProgressError) until the record's 15-day expiry: the alert is lost.
    """
    if not _disabled():
        _config().register_lambda_context(context)


def _disabled() -> bool:
    """Powertools' own switch (``POWERTOOLS_IDEMPOTENCY_DISABLED``), read as Powertools reads it.

    Powertools' decorator then calls straight through; checked here first so that a disabled table
    costs no store either: the store makes a DynamoDB client (tens of ms of a cold start).
    """
    from aws_lambda_powertools.shared.constants import IDEMPOTENCY_DISABLED_ENV
    from aws_lambda_powertools.shared.functions import strtobool

    return strtobool(os.getenv(IDEMPOTENCY_DISABLED_ENV, "false"))


def recipient_key(recipient: str) -> str:
    """An opaque, stable key: the idempotency table never holds an address or a phone number."""
    return hashlib.sha256(recipient.encode("utf-8")).hexdigest()[:32]


@dataclass(frozen=True)
class Delivered(Generic[T]):
    """What ``deliver_once`` did: ``sent`` is True when ``send`` ran now.

    ``result`` is what ``send`` returned: now, or (on a repeat) as stored by the first delivery,
    so a caller that needs the answer of the original send (a Slack message's ``ts``) has it.
    A result must be JSON-serialisable to be stored; None is stored as None.
    """

    sent: bool
    result: T | None


def deliver_once(
    channel: str, message_id: str, recipient: str, send: Callable[[], T]
) -> Delivered[T]:
    """Run ``send`` unless this delivery already succeeded.

    The once-only key depends on (channel, MessageId, recipient) only, never on the function's or
    the stack's name, so a redeploy under another name still remembers what was delivered.
    ``recipient`` (an address, a number, "webhook") is stored only as ``recipient_key``.
    """
    if _disabled():
        return Delivered(sent=True, result=send())
    from aws_lambda_powertools.utilities.idempotency import idempotent_function

    sent = False

    def deliver(delivery: dict[str, str]) -> dict[str, Any]:
        nonlocal sent
        result = send()
        sent = True
        return {"result": result}

    once = idempotent_function(
        data_keyword_argument="delivery",
        persistence_store=_store(),
        config=_config(),
        key_prefix=KEY_PREFIX,
    )(deliver)
    key = {"channel": channel, "message_id": message_id, "recipient": recipient_key(recipient)}
    stored = once(delivery=key)
    return Delivered(sent=sent, result=(stored or {}).get("result"))


@dataclass
class OnceAttempts:
    """Several once-only sends of one message (a digest, an escalation step): each is tried
    whatever happened to the others, and ``raise_failures`` fails the invocation at the end, so
    Lambda's retry sends only what is missing.

    ``shown`` names a recipient in the lists and errors (masked: never an address or a number).
    """

    message_id: str
    sent: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # delivered by an earlier attempt
    failures: list[str] = field(default_factory=list)

    def attempt(self, channel: str, recipient: str, shown: str, send: Callable[[], object]) -> None:
        try:
            done = deliver_once(channel, self.message_id, recipient, send)
        except Exception as error:  # one failure must not cost the others their message
            # Our delivery errors carry safe messages; anything else only its type.
            reason = str(error) if hasattr(error, "retryable") else type(error).__name__
            self.failures.append(f"{self.message_id} {shown}: {reason}")
            return
        (self.sent if done.sent else self.skipped).append(shown)

    def raise_failures(self) -> None:
        if self.failures:
            from alert_service.channels import DeliveriesFailed

            raise DeliveriesFailed(self.failures)


def reset() -> None:
    _store.cache_clear()
    _config.cache_clear()
