"""One boto3 session per process and one client per service, made on first use.

boto3 is imported here, lazily: a function path that never talks to AWS never pays for it, and
clients made at import time would also bypass test endpoints set up after import (TIPS.md). One
session serves every client: each extra session reloads endpoint data, credentials and models
(measured: +50 ms cold start per extra session). Endpoint and region come from boto3's default
configuration (AWS_ENDPOINT_URL, AWS_REGION).
"""

from __future__ import annotations

from functools import cache
from typing import Any


@cache
def _session() -> Any:
    import boto3  # deliberately lazy, see module docstring

    return boto3.session.Session()


@cache
def client(service: str) -> Any:
    return _session().client(service)


def reset() -> None:
    """Forget the session and every client (tests point boto3 at a new endpoint)."""
    client.cache_clear()
    _session.cache_clear()
