"""Who gets what: one notification -> the deliveries to make, in one pure step for every channel.

Every channel's handler reads ``parse -> decide -> render -> send``; what to send to whom is decided
here only, so each rule is written once and applies to Slack, email and SMS alike::

    >>> from alert_service import decide, parse
    >>> routing = decide.StaticRouting((decide.SLACK_DEFAULT,))
    >>> [notification] = parse.notifications(event)  # doctest: +SKIP
    >>> decide.decide(notification, routing, channels={"slack"})  # doctest: +SKIP
    [Delivery(channel='slack', destination='default', held_by=None)]

Three inputs, each gathered by the caller (``plan.py``) so this step stays pure:

1. **Routing** (``Routing.routes_for``): which routes apply. ``from_route`` turns the route the
   routing file gives one notification (issue 13: rules, named webhooks, the default route from
   the template parameters) into routes per channel; ``routing()`` is the environment's alone.
2. **Holds** (``Hold``): a delivery decided but not sent, with the reason in ``held_by``.
   ``quiet_hold`` builds one from the notification's quiet state (issue 12: ``"silence:<ids>"``
   or ``"flapping"``); a handler skips a held delivery, logs and counts it, and history still
   stores the notification.
3. **Notices** (issue 12): the flapping notice or the stabilised summary the quiet state calls
   for, delivered first to each destination the notification reaches, held or not, once per
   channel and destination under the notice's own id (the sweep uses the same keys).

Pure: no AWS, no environment (except ``routing()``, which only builds the settings), no clock.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Literal, Protocol

from alert_service import config
from alert_service.alarm import Notification, State

if TYPE_CHECKING:
    from alert_service import routing as rules
    from alert_service.silences.gate import Quiet
    from alert_service.silences.notices import QuietView

Channel = Literal["slack", "email", "sms"]
CHANNELS: tuple[Channel, ...] = ("slack", "email", "sms")
# The webhook of SLACK_WEBHOOK_SECRET_ID's ``webhook_url`` (CONTRACT.md); others have their names.
DEFAULT_WEBHOOK = "default"
FLAPPING = "flapping"  # held_by of a message held while its alarm flaps
SILENCE_PREFIX = "silence:"  # held_by of a silenced message: "silence:<id>,<id>"


@dataclass(frozen=True)
class Delivery:
    """One message to send: a channel and a destination in it (a webhook name, an address, an
    E.164 number). ``held_by`` says why it is decided but not sent (a silence's id, "flapping").
    ``notice``: a quiet notice (flapping, stabilised) to send instead of the notification."""

    channel: Channel
    destination: str
    held_by: str | None = None
    notice: QuietView | None = None

    def once_only_id(self, notification: Notification) -> str:
        """The message part of the once-only key: the notice's own id (shared with the sweep,
        whichever sends it first) or the notification's SNS MessageId."""
        return self.notice.notice_id if self.notice else notification.message_id

    @property
    def hold_reason(self) -> str | None:
        """``held_by`` as a metric dimension: "silence" or "flapping" (ids would not aggregate)."""
        if not self.held_by:
            return None
        return "silence" if self.held_by.startswith(SILENCE_PREFIX) else self.held_by

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


def from_route(route: rules.Route) -> StaticRouting:
    """The routes of one notification's routing result (``alert_service.routing.route``).

    The routing step has applied the states already (a rule sends every state it matches; the
    default route keeps EMAIL_STATES/SMS_STATES and sends a notice by email, not SMS).
    """
    return StaticRouting(
        (
            Route("slack", route.slack_webhooks),
            Route("email", route.email),
            Route("sms", route.sms),
        )
    )


def quiet_hold(quiet: Quiet) -> Hold:
    """The hold of a notification's quiet state: silenced on every channel, or flapping (the
    notice replaces the first message, later ones wait for the summary)."""

    def hold(notification: Notification, delivery: Delivery) -> str | None:
        if not quiet.holds(delivery.channel):
            return None
        if quiet.silenced:
            return SILENCE_PREFIX + ",".join(quiet.silence_ids)
        return FLAPPING

    return hold


def decide(
    notification: Notification,
    routing: Routing,
    *,
    channels: Collection[Channel] = CHANNELS,
    holds: Sequence[Hold] = (),
    notices: Sequence[QuietView] = (),
) -> list[Delivery]:
    """The deliveries ``notification`` calls for on ``channels``, in route order, each once.

    A destination named by two routes is delivered once (deliveries are once-only per channel,
    destination and MessageId anyway). The first hold that claims a delivery marks it held.
    Each of ``notices`` goes first to every destination chosen, held or not: the flapping notice
    stands in for the held message, the summary precedes the message that ended the episode.
    """
    chosen: dict[tuple[Channel, str], Delivery] = {}
    for route in routing.routes_for(notification):
        if route.channel not in channels or not route.wants(notification):
            continue
        for destination in route.destinations:
            chosen.setdefault((route.channel, destination), Delivery(route.channel, destination))
    first = [replace(d, notice=notice) for notice in notices for d in chosen.values()]
    return first + [_held(notification, delivery, holds) for delivery in chosen.values()]


def _held(notification: Notification, delivery: Delivery, holds: Sequence[Hold]) -> Delivery:
    for hold in holds:
        reason = hold(notification, delivery)
        if reason:
            return replace(delivery, held_by=reason)
    return delivery
