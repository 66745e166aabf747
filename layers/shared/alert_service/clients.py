"""One boto3 client per service per process, made on first use.

boto3 is imported here, lazily: a function path that never talks to AWS never pays for it, and
clients made at import time would also bypass test endpoints set up after import (TIPS.md).
Endpoint and region come from boto3's default configuration (AWS_ENDPOINT_URL, AWS_REGION).
"""

from __future__ import annotations

from functools import cache
from typing import Any


@cache
def client(service: str) -> Any:
    import boto3  # deliberately lazy, see module docstring

    return boto3.session.Session().client(service)


def reset() -> None:
    """Forget every client (tests point boto3 at a new endpoint)."""
    client.cache_clear()
