"""Masking for what must not leave the function whole: webhook URLs, addresses, phone numbers.

Errors and logs go through these at the one place they are produced (Alertmanager's RedactURL idea).
"""

from __future__ import annotations

import re

_URL = re.compile(r"https?://[^\s\"'<>]+")
_DOMAIN_END = re.compile(r"[\s,;<>@]")


def redact_url(text: str) -> str:
    """Keep scheme and host, hide the path: the path of a Slack webhook IS the secret."""
    return _URL.sub(lambda m: "/".join(m.group(0).split("/")[:3]) + "/<redacted>", text)


def mask_phone(number: str) -> str:
    """``+821012345678`` -> ``+82******5678``; short values keep only their last two characters."""
    if len(number) <= 7:
        return "*" * len(number)
    if len(number) < 11:
        # Prefix and last four of "+12345678" would show 7 of 9 characters.
        return "*" * (len(number) - 2) + number[-2:]
    return number[:3] + "*" * (len(number) - 7) + number[-4:]


def mask_email(address: str) -> str:
    """``alice@example.com`` -> ``a***@example.com`` (the domain helps find a typo)."""
    local, at, domain = address.partition("@")
    if not at:
        return mask_phone(address)
    # "alice@example.com;bob@example.com" (a typo'd separator) must not show bob's address whole:
    # keep the domain only up to the first character that cannot be part of it.
    head = _DOMAIN_END.split(domain, maxsplit=1)[0]
    return (local[:1] + "***") + "@" + head + ("…" if head != domain else "")
