"""The routing model: rules as loaded from the routing file, and the route they give one alarm."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from fnmatch import translate
from typing import TYPE_CHECKING

from alert_service.alarm import State

if TYPE_CHECKING:
    from alert_service.alarm import Notification
    from alert_service.config import FanoutSettings

# The webhook of the single-URL secret (CONTRACT.md ``{"webhook_url": ...}``) and of the default
# route: what the relay posts to when no routing file exists.
DEFAULT_WEBHOOK = "default"


def _any_glob(patterns: tuple[str, ...]) -> re.Pattern[str] | None:
    """One compiled regex for several globs (``*``, ``?``, ``[...]``, case-sensitive), or None."""
    if not patterns:
        return None
    return re.compile("|".join(f"(?:{translate(p)})" for p in patterns))


@dataclass(frozen=True)
class Match:
    """What a rule matches on. An empty field matches anything; a list matches any of its values.

    ``alarm_name`` and dimension values are globs; the rest are compared exactly (``state`` and
    ``severity`` case-insensitively, as both are normalised on load).
    """

    alarm_name: tuple[str, ...] = ()
    namespace: frozenset[str] = frozenset()
    metric: frozenset[str] = frozenset()
    dimensions: tuple[tuple[str, tuple[str, ...]], ...] = ()
    account: frozenset[str] = frozenset()
    region: frozenset[str] = frozenset()
    state: frozenset[State] = frozenset()
    severity: frozenset[str] = frozenset()
    # Compiled once at load: matching a notification is then a few set and regex look-ups.
    _name_re: re.Pattern[str] | None = field(default=None, init=False, repr=False, compare=False)
    _dimension_res: tuple[tuple[str, re.Pattern[str]], ...] = field(
        default=(), init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        object.__setattr__(self, "_name_re", _any_glob(self.alarm_name))
        compiled = tuple((name, _any_glob(globs)) for name, globs in self.dimensions)
        object.__setattr__(self, "_dimension_res", tuple((n, r) for n, r in compiled if r))


@dataclass(frozen=True)
class Destinations:
    """Where a rule (or the file's ``default`` block) sends. Empty means "nobody" for a rule."""

    slack_webhooks: tuple[str, ...] = ()
    slack_channel: str | None = None
    email: tuple[str, ...] = ()
    sms: tuple[str, ...] = ()


@dataclass(frozen=True)
class Rule:
    name: str
    match: Match
    to: Destinations
    severity: str | None = None  # the alarm's severity when its own ``severity`` tag is absent
    continue_: bool = False  # keep evaluating the rules below after this one matched
    line: int | None = None  # where the rule starts in the routing file (explain, errors)


@dataclass(frozen=True)
class DefaultOverrides:
    """The routing file's ``default`` block: each field given replaces the template parameter."""

    slack_webhooks: tuple[str, ...] | None = None
    slack_channel: str | None = None
    email: tuple[str, ...] | None = None
    sms: tuple[str, ...] | None = None


@dataclass(frozen=True)
class RoutingTable:
    rules: tuple[Rule, ...] = ()
    default: DefaultOverrides = DefaultOverrides()
    source: str = "(none)"  # the file it came from, for explain and errors


@dataclass(frozen=True)
class Defaults:
    """Today's behaviour, from the template parameters: the route of an alarm no rule matches."""

    slack_webhooks: tuple[str, ...] = (DEFAULT_WEBHOOK,)
    slack_channel: str | None = None  # None: the Slack app secret's channel
    email: tuple[str, ...] = ()
    email_states: frozenset[State] = frozenset({State.ALARM, State.OK})
    sms: tuple[str, ...] = ()
    sms_states: frozenset[State] = frozenset({State.ALARM})

    @classmethod
    def from_settings(cls, settings: FanoutSettings | None) -> Defaults:
        """``FanoutSettings`` (EMAIL_* and SMS_* variables); None: Slack only (the relay)."""
        if settings is None:
            return cls()
        return cls(
            email=settings.email_recipients,
            email_states=settings.email_states,
            sms=settings.sms_recipients,
            sms_states=settings.sms_states,
        )


@dataclass(frozen=True)
class Route:
    """Who gets one notification, and why (``matched`` names the rules; empty: the default)."""

    slack_webhooks: tuple[str, ...]
    slack_channel: str | None
    email: tuple[str, ...]
    sms: tuple[str, ...]
    severity: str | None
    severity_source: str | None  # "tag", "rule:<name>" or None
    matched: tuple[str, ...] = ()

    @property
    def is_default(self) -> bool:
        return not self.matched


def default_route(
    notification: Notification,
    severity: str | None,
    defaults: Defaults,
    overrides: DefaultOverrides = DefaultOverrides(),
) -> Route:
    """The default route: today's rules (email in EMAIL_STATES, SMS in SMS_STATES for alarms, email
    but no SMS for a notice), with the routing file's ``default`` block replacing recipients."""
    state = notification.state
    email = overrides.email if overrides.email is not None else defaults.email
    sms = overrides.sms if overrides.sms is not None else defaults.sms
    return Route(
        slack_webhooks=(
            overrides.slack_webhooks
            if overrides.slack_webhooks is not None
            else defaults.slack_webhooks
        ),
        slack_channel=overrides.slack_channel or defaults.slack_channel,
        email=email if state is None or state in defaults.email_states else (),
        sms=sms if state is not None and state in defaults.sms_states else (),
        severity=severity,
        severity_source="tag" if severity else None,
    )
