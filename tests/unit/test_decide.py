"""decide.py: who gets which notification, as one pure step for every channel."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from alert_service import config, decide
from alert_service.alarm import Alarm, Notification, State
from alert_service.channels import (
    DeliveriesFailed,
    DeliveriesRefused,
    DeliveryError,
    report_failure,
)
from alert_service.decide import Delivery, Route, StaticRouting

EMAILS = ("a@example.com", "b@example.com")
NUMBERS = ("+821012345678",)


def notification(state: State | None) -> Notification:
    alarm = Alarm(name="OTT-DB-CPU", state=state) if state else None
    return Notification(
        message_id="m", raw_message="x", alarm=alarm, problem=None if alarm else "not_json"
    )


def routing(email_states: str = "ALARM,OK", sms_states: str = "ALARM") -> StaticRouting:
    settings = config.FanoutSettings(
        sender="alerts@example.com",
        email_recipients=EMAILS,
        email_states=frozenset(State(s) for s in email_states.split(",")),
        sms_recipients=NUMBERS,
        sms_states=frozenset(State(s) for s in sms_states.split(",")),
    )
    return StaticRouting((decide.SLACK_DEFAULT, *decide.fanout_routes(settings)))


def destinations(found: list[Delivery]) -> list[tuple[str, str]]:
    return [(d.channel, d.destination) for d in found]


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        (State.ALARM, [("slack", "default"), *(("email", e) for e in EMAILS), ("sms", NUMBERS[0])]),
        (State.OK, [("slack", "default"), *(("email", e) for e in EMAILS)]),
        (State.INSUFFICIENT_DATA, [("slack", "default")]),
        # A notice that is not an alarm: Slack and email (nothing dropped), never SMS.
        (None, [("slack", "default"), *(("email", e) for e in EMAILS)]),
    ],
)
def test_each_state_reaches_the_channels_configured_for_it(
    state: State | None, expected: list[tuple[str, str]]
) -> None:
    assert destinations(decide.decide(notification(state), routing())) == expected


def test_a_function_decides_only_for_its_own_channels() -> None:
    found = decide.decide(notification(State.ALARM), routing(), channels=("sms",))
    assert destinations(found) == [("sms", NUMBERS[0])]


def test_a_destination_named_by_two_routes_is_delivered_once() -> None:
    twice = StaticRouting((Route("email", ("a@example.com",)), Route("email", EMAILS)))
    assert destinations(decide.decide(notification(State.ALARM), twice)) == [
        ("email", "a@example.com"),
        ("email", "b@example.com"),
    ]


def test_a_hold_marks_a_delivery_with_its_reason_and_the_first_hold_wins() -> None:
    def silence(n: Notification, d: Delivery) -> str | None:
        return "silence-1" if d.channel == "sms" else None

    found = decide.decide(
        notification(State.ALARM), routing(), holds=[silence, lambda n, d: "flapping"]
    )
    held = {(d.channel, d.destination): d.held_by for d in found}
    assert held[("sms", NUMBERS[0])] == "silence-1"
    assert held[("slack", "default")] == "flapping"
    assert len(found) == 4  # held deliveries are decided, not dropped


def test_the_default_webhook_keeps_its_once_only_key() -> None:
    # A new key would forget 15 days of deliveries: a replay would post them all again.
    assert Delivery("slack", "default").once_only_recipient == "webhook"
    assert Delivery("slack", "dba").once_only_recipient == "webhook:dba"
    assert Delivery("email", "a@example.com").once_only_recipient == "a@example.com"


def test_routing_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EMAIL_SENDER", "alerts@example.com")
    monkeypatch.setenv("EMAIL_RECIPIENTS", "a@example.com")
    monkeypatch.setenv("SMS_RECIPIENTS", "")
    monkeypatch.setenv("EMAIL_STATES", "ALARM")
    config.fanout_settings.cache_clear()
    try:
        found = decide.decide(notification(State.OK), decide.routing())
    finally:
        config.fanout_settings.cache_clear()
    assert destinations(found) == [("slack", "default")]


# --- what DeliveryError.retryable changes ----------------------------------------------------


@pytest.mark.parametrize(
    ("error", "level", "reason"),
    [
        (
            DeliveryError("Slack server error 503", retryable=True),
            "WARNING",
            "Slack server error 503",
        ),
        (
            DeliveryError("SES refused: MessageRejected", retryable=False),
            "ERROR",
            "SES refused: MessageRejected",
        ),
        (RuntimeError("to +821012345678"), "ERROR", "RuntimeError"),  # not ours: type only
    ],
)
def test_a_failure_is_logged_as_its_kind_deserves(
    error: Exception, level: str, reason: str, caplog: pytest.LogCaptureFixture
) -> None:
    logger = logging.getLogger("test-decide")
    with caplog.at_level(logging.INFO):
        assert report_failure(logger, "delivery failed", error, channel="sms") == reason
    [record] = caplog.records
    assert record.levelname == level
    assert ("needs an operator" in record.getMessage()) == (
        level == "ERROR" and reason != "RuntimeError"
    )
    assert "+821012345678" not in record.getMessage()


def test_an_invocation_whose_failures_are_all_permanent_is_refused() -> None:
    assert type(DeliveriesFailed.of(["m: x"], permanent=True)) is DeliveriesRefused
    assert type(DeliveriesFailed.of(["m: x"], permanent=False)) is DeliveriesFailed
    assert str(DeliveriesFailed.of(["m: x"], permanent=True)).startswith("needs an operator")


def test_a_routed_notification_reaches_each_named_webhook_under_its_own_once_only_key() -> None:
    from alert_service.routing import Route as RoutingRoute

    route = RoutingRoute(("default", "dba"), None, ("a@example.com",), (), "critical", "tag")
    found = decide.decide(notification(State.ALARM), decide.from_route(route))
    assert [(d.channel, d.once_only_recipient) for d in found] == [
        ("slack", "webhook"),  # the historic key: 15 days of deliveries stay remembered
        ("slack", "webhook:dba"),
        ("email", "a@example.com"),
    ]


def quiet(kind: str, silenced: bool = False) -> Any:
    from alert_service.silences.flapping import Decision, FlapKind
    from alert_service.silences.gate import Quiet

    silences = (type("S", (), {"id": "SIL-1"})(),) if silenced else ()
    return Quiet(silences, Decision(FlapKind(kind), key="k", since="t"))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kind", "silenced", "held_by"),
    [
        ("normal", False, None),
        ("started_flapping", False, "flapping"),
        ("flapping", False, "flapping"),
        ("stabilised", False, None),
        ("normal", True, "silence:SIL-1"),
        ("flapping", True, "silence:SIL-1"),
    ],
)
def test_quiet_state_holds_every_channel_with_its_reason(
    kind: str, silenced: bool, held_by: str | None
) -> None:
    found = decide.decide(
        notification(State.ALARM), routing(), holds=[decide.quiet_hold(quiet(kind, silenced))]
    )
    assert {d.held_by for d in found} == {held_by}
    reason = None if held_by is None else held_by.split(":")[0]
    assert {d.hold_reason for d in found} == {reason}


def test_a_notice_goes_first_to_every_destination_held_or_not_under_its_own_id() -> None:
    view = type("V", (), {"notice_id": "flapping#k#t"})()
    note = notification(State.ALARM)
    found = decide.decide(
        note, routing(), holds=[decide.quiet_hold(quiet("started_flapping"))], notices=[view]
    )
    notices, messages = found[:4], found[4:]
    assert [d.once_only_id(note) for d in notices] == ["flapping#k#t"] * 4
    assert all(d.notice is view and d.held_by is None for d in notices)
    assert [d.once_only_id(note) for d in messages] == ["m"] * 4
    assert all(d.held_by == "flapping" for d in messages)
