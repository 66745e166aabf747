"""Who gets what: one notification -> the deliveries to make, in one pure step for every channel.

Every channel's handler reads ``parse -> decide -> render -> send``; what to send to whom is decided
here only, so each rule is written once and applies to Slack, email and SMS alike::

    >>> from alert_service import decide, parse
    >>> routing = decide.StaticRouting((decide.SLACK_DEFAULT,))
    >>> [notification] = parse.notifications(event)  # doctest: +SKIP
    >>> decide.decide(notification, routing, channels={"slack"})  # doctest: +SKIP
    [Delivery(channel='slack', destination='default', held_by=None)]

Two steps, each a seam for what comes next:

1. **Routing** (``Routing.routes_for``): which routes apply to a notification. Today one static
   route per channel, from the environment (``routing()``). Routing rules (issue 13: match on alarm
   name, namespace, dimensions, severity; first match wins unless ``continue``; several named
   webhooks) become another ``Routing`` whose routes name their destinations; handlers stay.
2. **Holds** (``Hold``): a delivery that is decided but not sent, with the reason in ``held_by``.
   Silences and flapping (issue 12) are holds built from their stored state (a silence's id,
   ``"flapping"``); a handler skips a held delivery, logs and counts it, and history still stores
   the notification. None exist yet, so ``decide`` is called without holds.

Pure: no AWS, no environment (except ``routing()``, which only builds the settings), no clock.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Literal, Protocol

from alert_service import config
from alert_service.alarm import Notification, State

Channel = Literal["slack", "email", "sms"]
CHANNELS: tuple[Channel, ...] = ("slack", "email", "sms")
# The webhook of SLACK_WEBHOOK_SECRET_ID's ``webhook_url`` (CONTRACT.md); named webhooks come later.
DEFAULT_WEBHOOK = "default"


@dataclass(frozen=True)
class Delivery:
    """One message to send: a channel and a destination in it (a webhook name, an address, an
    E.164 number). ``held_by`` says why it is decided but not sent (a silence's id, "flapping")."""

    channel: Channel
    destination: str
    held_by: str | None = None

    @property
    def once_only_recipient(self) -> str:
        """The recipient part of the once-only key (delivery.deliver_once).

        The default webhook keeps the key "webhook" it has always had: a new name would forget
        15 days of deliveries and a replay would post them again.
        """
        if self.channel == "slack":
            return (
                "webhook" if self.destination == DEFAULT_WEBHOOK else f"webhook:{self.destination}"
            )
        return self.destination


@dataclass(frozen=True)
class Route:
    """A channel's destinations and which notifications they want.

    ``states``: the alarm states sent (None: every state). ``notices``: whether a notification that
    is not an alarm (plain text, other JSON) is sent too.
    """

    channel: Channel
    destinations: tuple[str, ...]
    states: frozenset[State] | None = None
    notices: bool = True

    def wants(self, notification: Notification) -> bool:
        alarm = notification.alarm
        if alarm is None:
            return self.notices
        return self.states is None or alarm.state in self.states


class Routing(Protocol):
    """Which routes apply to one notification (issue 13's rules implement this too)."""

    def routes_for(self, notification: Notification) -> Iterable[Route]: ...


@dataclass(frozen=True)
class StaticRouting:
    """The same routes for every notification: today's configuration (template parameters)."""

    routes: tuple[Route, ...]

    def routes_for(self, notification: Notification) -> Iterable[Route]:
        return self.routes


# A hold: the reason a delivery is not sent now (a silence's id, "flapping"), or None.
Hold = Callable[[Notification, Delivery], str | None]

# Every notification reaches the Slack relay's webhook: nothing is dropped (CONTRACT.md).
SLACK_DEFAULT = Route("slack", (DEFAULT_WEBHOOK,))


def fanout_routes(settings: config.FanoutSettings) -> tuple[Route, Route]:
    """Email: alarms in EMAIL_STATES and every notice (nothing is dropped). SMS: alarms in
    SMS_STATES only (a notice's text would not fit and may not be urgent)."""
    return (
        Route("email", settings.email_recipients, settings.email_states, notices=True),
        Route("sms", settings.sms_recipients, settings.sms_states, notices=False),
    )


def routing() -> StaticRouting:
    """The routing configured by the environment (CONTRACT.md), checked on first use.

    Each function's environment holds only its own channels' variables; the other routes come out
    empty there (the Slack relay has no EMAIL_RECIPIENTS).
    """
    return StaticRouting((SLACK_DEFAULT, *fanout_routes(config.fanout_settings())))


def decide(
    notification: Notification,
    routing: Routing,
    *,
    channels: Collection[Channel] = CHANNELS,
    holds: Sequence[Hold] = (),
) -> list[Delivery]:
    """The deliveries ``notification`` calls for on ``channels``, in route order, each once.

    A destination named by two routes is delivered once (deliveries are once-only per channel,
    destination and MessageId anyway). The first hold that claims a delivery marks it held.
    """
    chosen: dict[tuple[Channel, str], Delivery] = {}
    for route in routing.routes_for(notification):
        if route.channel not in channels or not route.wants(notification):
            continue
        for destination in route.destinations:
            chosen.setdefault((route.channel, destination), Delivery(route.channel, destination))
    return [_held(notification, delivery, holds) for delivery in chosen.values()]


def _held(notification: Notification, delivery: Delivery, holds: Sequence[Hold]) -> Delivery:
    for hold in holds:
        reason = hold(notification, delivery)
        if reason:
            return replace(delivery, held_by=reason)
    return delivery
