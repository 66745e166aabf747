"""Slack request signatures, checked with the standard library.

Slack signs every request to the app (docs.slack.dev/authentication/verifying-requests-from-slack):
``X-Slack-Signature`` = ``v0=`` + hex HMAC-SHA256(signing secret, ``v0:<timestamp>:<raw body>``),
with ``X-Slack-Request-Timestamp`` in epoch seconds. A request older (or newer) than five minutes is
refused, so a captured request cannot be replayed later; the comparison is constant-time.

Why not ``slack_sdk.signature.SignatureVerifier``: importing it runs ``slack_sdk/__init__``,
which imports the whole Web API client (asyncio included): 64-165 ms measured with
``python -X importtime`` against 3 ms for ``hmac``, on a path that must answer Slack within 3 s of
a cold start. It would also raise (not answer False) on a timestamp that is not a number or a body
that is not UTF-8.
tests/unit/test_slack_signature.py checks that this module and the SDK agree.

    >>> sig = sign("secret", "1531420618", b"payload=%7B%7D")
    >>> valid("secret", b"payload=%7B%7D", "1531420618", sig, now=1531420618 + 299)
    True
    >>> valid("secret", b"payload=%7B%7D", "1531420618", sig, now=1531420618 + 301)
    False
"""

from __future__ import annotations

import hashlib
import hmac
import time

VERSION = "v0"
# Slack's recommendation (and slack_sdk's): five minutes either way.
MAX_AGE_SECONDS = 300
# Epoch seconds have 10 digits until the year 2286; a longer "number" is not a timestamp.
_MAX_TIMESTAMP_DIGITS = 12


def sign(signing_secret: str, timestamp: str, body: bytes) -> str:
    """``v0=<hex HMAC-SHA256>`` of ``v0:<timestamp>:<body>``: what Slack puts in the header."""
    base = f"{VERSION}:{timestamp}:".encode() + body
    digest = hmac.new(signing_secret.encode(), base, hashlib.sha256).hexdigest()
    return f"{VERSION}={digest}"


def fresh(timestamp: str | None, *, now: float | None = None) -> bool:
    """Whether ``timestamp`` is epoch seconds within ``MAX_AGE_SECONDS`` of ``now``."""
    if not timestamp or len(timestamp) > _MAX_TIMESTAMP_DIGITS:
        return False
    if not (timestamp.isascii() and timestamp.isdigit()):
        return False
    current = time.time() if now is None else now
    return abs(current - int(timestamp)) <= MAX_AGE_SECONDS


def valid(
    signing_secret: str,
    body: bytes,
    timestamp: str | None,
    signature: str | None,
    *,
    now: float | None = None,
) -> bool:
    """True only for a fresh timestamp and a signature equal to ours (constant-time compare)."""
    if not signature or not fresh(timestamp, now=now):
        return False
    assert timestamp is not None  # noqa: S101 - fresh() checked it; narrows the type
    expected = sign(signing_secret, timestamp, body).encode()
    # Bytes, not str: compare_digest refuses non-ASCII str, and a forged header may hold any text.
    return hmac.compare_digest(expected, signature.encode("utf-8", "replace"))
