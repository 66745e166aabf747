"""Masking for what must not leave the function whole: webhook URLs, addresses, phone numbers.

Errors and logs go through these at the one place they are produced (Alertmanager's RedactURL idea).
"""

from __future__ import annotations

import re

_URL = re.compile(r"https?://[^\s\"'<>]+")


def redact_url(text: str) -> str:
    """Keep scheme and host, hide the path: the path of a Slack webhook IS the secret."""
    return _URL.sub(lambda m: "/".join(m.group(0).split("/")[:3]) + "/<redacted>", text)


def mask_phone(number: str) -> str:
    """``+821012345678`` -> ``+82******5678``."""
    if len(number) <= 7:
        return "*" * len(number)
    return number[:3] + "*" * (len(number) - 7) + number[-4:]


def mask_email(address: str) -> str:
    """``alice@example.com`` -> ``a***@example.com`` (the domain helps find a typo)."""
    local, at, domain = address.partition("@")
    if not at:
        return mask_phone(address)
    return (local[:1] + "***") + "@" + domain
