"""Configuration from environment variables, and nothing else (CONTRACT.md).

Read once per process and checked when first read (at cold start), so a bad value fails the first
invocation with one clear message naming the variable, instead of failing deliveries later.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING

from alert_service.alarm import State
from alert_service.i18n import SUPPORTED_LOCALES
from alert_service.redact import mask_email, mask_phone

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

# Deliberately simple: SES validates for real; this catches typos such as a missing "@" or a comma
# that became a semicolon. Public: the routing file's checker and the escalation settings use the
# same rules.
EMAIL = re.compile(r"^[^@\s,;<>]+@[^@\s,;<>]+\.[^@\s,;<>]+$")
E164 = re.compile(r"^\+[1-9]\d{6,14}$")


class ConfigurationError(ValueError):
    """A configuration variable holds a value that cannot work."""


@dataclass(frozen=True)
class DisplaySettings:
    locale: str
    timezone: ZoneInfo
    platform: str


@dataclass(frozen=True)
class FanoutSettings:
    sender: str
    email_recipients: tuple[str, ...]
    email_states: frozenset[State]
    sms_recipients: tuple[str, ...]
    sms_states: frozenset[State]
    # Who gets which notification is decided in decide.py (fanout_routes), not here.


def env(name: str, default: str = "") -> str:
    return os.environ.get(name, default).strip()


def required(name: str) -> str:
    value = env(name)
    if not value:
        raise ConfigurationError(f"{name} is not set")
    return value


@cache
def display_settings() -> DisplaySettings:
    locale = env("ALERT_LOCALE", "ko").lower() or "ko"
    if locale not in SUPPORTED_LOCALES:
        raise ConfigurationError(f"ALERT_LOCALE must be one of {', '.join(SUPPORTED_LOCALES)}")
    zone_name = env("ALERT_TIMEZONE", "Asia/Seoul") or "Asia/Seoul"
    # Imported here: zoneinfo loads sysconfig to find the zone files (~2.5 ms of a cold start),
    # and a function that displays nothing (alarm history) never needs it.
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        zone = ZoneInfo(zone_name)
    # OSError: a directory ("Asia") or an over-long name reaches the file system before the lookup.
    except (ZoneInfoNotFoundError, ValueError, OSError) as error:
        raise ConfigurationError(
            f"ALERT_TIMEZONE {zone_name!r} is not an IANA time zone"
        ) from error
    return DisplaySettings(locale, zone, env("ALERT_PLATFORM_NAME", "OTT") or "OTT")


@cache
def fanout_settings() -> FanoutSettings:
    emails = env_list("EMAIL_RECIPIENTS")
    for address in emails:
        if not EMAIL.match(address):
            raise ConfigurationError(
                f"EMAIL_RECIPIENTS holds a malformed address: {mask_email(address)}"
            )
    numbers = env_list("SMS_RECIPIENTS")
    for number in numbers:
        if not E164.match(number):
            raise ConfigurationError(
                f"SMS_RECIPIENTS holds a number not in E.164 form (+<country><number>): "
                f"{mask_phone(number)}"
            )
    sender = env("EMAIL_SENDER")
    if emails and not sender:
        raise ConfigurationError("EMAIL_SENDER is not set but EMAIL_RECIPIENTS is")
    if sender and not EMAIL.match(sender_address(sender)):
        raise ConfigurationError(f"EMAIL_SENDER is malformed: {mask_email(sender)}")
    return FanoutSettings(
        sender=sender,
        email_recipients=emails,
        email_states=_states("EMAIL_STATES", "ALARM,OK"),
        sms_recipients=numbers,
        sms_states=_states("SMS_STATES", "ALARM"),
    )


def env_list(name: str) -> tuple[str, ...]:
    """A comma-separated variable as a tuple, blanks dropped."""
    # Duplicates removed in order: one person listed twice gets one message.
    return tuple(dict.fromkeys(item.strip() for item in env(name).split(",") if item.strip()))


def env_number(
    name: str, default: float, minimum: float, maximum: float, *, whole: bool = False
) -> float:
    """A number variable within [minimum, maximum] (``default`` when unset or blank);
    ``whole``: an int, and a fraction is refused."""
    text = env(name) or f"{default:g}"
    try:
        value: float = int(text) if whole else float(text)
    except ValueError:
        value = minimum - 1
    if not minimum <= value <= maximum:
        kind = "a whole number" if whole else "a number"
        raise ConfigurationError(
            f"{name} must be {kind} from {minimum:g} to {maximum:g}, not {text!r}"
        )
    return value


def _states(name: str, default: str) -> frozenset[State]:
    states = set()
    for item in env_list(name) if env(name) else default.split(","):
        state = State.of(item)
        if state is None:
            raise ConfigurationError(
                f"{name} holds {item!r}; allowed: {', '.join(s.value for s in State)}"
            )
        states.add(state)
    return frozenset(states)


def sender_address(sender: str) -> str:
    """``OTT Alerts <alerts@example.com>`` -> ``alerts@example.com``."""
    match = re.search(r"<([^>]+)>\s*$", sender)
    return match.group(1) if match else sender
