"""Once-only delivery: a notification already delivered to a recipient is not sent again.

SNS may deliver a message more than once, Lambda retries a failed invocation twice, and operators
replay the failure queue: each would repeat deliveries that had succeeded. Powertools Idempotency
records every (channel, MessageId, recipient) in the idempotency table: the first attempt claims it
(a conditional write), success completes it, and a failure deletes the claim so a retry sends it.
Set ``POWERTOOLS_IDEMPOTENCY_DISABLED=true`` to turn the table off (every attempt then sends).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

from alert_service import clients
from alert_service.config import required

# Records outlive the failure queue's 14-day retention, so a replay two weeks later still skips
# what was delivered before the failure.
RECORD_TTL_SECONDS = 15 * 24 * 3600


@cache
def _store_and_config() -> tuple[Any, Any]:
    # Imported on first delivery: the persistence layer makes a boto3 client when built (~140 ms).
    from aws_lambda_powertools.utilities.idempotency import (  # noqa: PLC0415
        DynamoDBPersistenceLayer,
        IdempotencyConfig,
    )

    store = DynamoDBPersistenceLayer(
        table_name=required("IDEMPOTENCY_TABLE_NAME"), boto3_client=clients.client("dynamodb")
    )
    return store, IdempotencyConfig(expires_after_seconds=RECORD_TTL_SECONDS)


def deliver_once(channel: str, message_id: str, recipient: str, send: Callable[[], None]) -> bool:
    """Run ``send`` unless this delivery already succeeded. True when it was sent now.

    ``recipient`` is part of the key only as given: pass an opaque id (e.g. a hash or an index),
    never something secret, since it is hashed but also shapes logs of the idempotency utility.
    """
    from aws_lambda_powertools.utilities.idempotency import idempotent_function  # noqa: PLC0415

    store, config = _store_and_config()
    sent = False

    def deliver(delivery: dict[str, str]) -> dict[str, bool]:
        nonlocal sent
        send()
        sent = True
        return {"delivered": True}

    idempotent_function(data_keyword_argument="delivery", persistence_store=store, config=config)(
        deliver
    )(delivery={"channel": channel, "message_id": message_id, "recipient": recipient})
    return sent


def reset() -> None:
    _store_and_config.cache_clear()
