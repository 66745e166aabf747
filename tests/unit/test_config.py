"""Configuration from environment variables (CONTRACT.md): defaults, and one clear error naming the
variable for a value that cannot work, without echoing addresses or numbers whole."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from alert_service import config
from alert_service.alarm import State
from alert_service.config import ConfigurationError
from alert_service.redact import mask_email, mask_phone

VARIABLES = (
    "ALERT_LOCALE",
    "ALERT_TIMEZONE",
    "ALERT_PLATFORM_NAME",
    "EMAIL_SENDER",
    "EMAIL_RECIPIENTS",
    "EMAIL_STATES",
    "SMS_RECIPIENTS",
    "SMS_STATES",
)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)
    config.display_settings.cache_clear()
    config.fanout_settings.cache_clear()
    yield monkeypatch
    config.display_settings.cache_clear()
    config.fanout_settings.cache_clear()


def error_of(settings: type[object] | object) -> str:
    with pytest.raises(ConfigurationError) as caught:
        settings()  # type: ignore[operator]
    return str(caught.value)


# --- display settings -----------------------------------------------------------------------


def test_display_defaults() -> None:
    settings = config.display_settings()
    assert settings.locale == "ko"
    assert settings.timezone.key == "Asia/Seoul"
    assert settings.platform == "OTT"


def test_display_values_are_trimmed_and_locale_case_insensitive(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ALERT_LOCALE", " EN ")
    monkeypatch.setenv("ALERT_TIMEZONE", " America/New_York ")
    monkeypatch.setenv("ALERT_PLATFORM_NAME", " VOD ")
    settings = config.display_settings()
    assert (settings.locale, settings.timezone.key, settings.platform) == (
        "en",
        "America/New_York",
        "VOD",
    )


@pytest.mark.parametrize("name", VARIABLES[:3])
def test_empty_display_values_fall_back_to_defaults(
    monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    monkeypatch.setenv(name, "   ")
    settings = config.display_settings()
    assert (settings.locale, settings.timezone.key, settings.platform) == (
        "ko",
        "Asia/Seoul",
        "OTT",
    )


def test_display_settings_are_read_once_per_process(monkeypatch: pytest.MonkeyPatch) -> None:
    assert config.display_settings().locale == "ko"
    monkeypatch.setenv("ALERT_LOCALE", "en")
    assert config.display_settings().locale == "ko"  # cached at cold start
    config.display_settings.cache_clear()
    assert config.display_settings().locale == "en"


@pytest.mark.parametrize("value", ["fr", "korean", "ko-KR", "en_US"])
def test_invalid_locale_names_the_variable(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("ALERT_LOCALE", value)
    message = error_of(config.display_settings)
    assert "ALERT_LOCALE" in message
    assert "ko" in message
    assert "en" in message


@pytest.mark.parametrize(
    "value",
    [
        "Mars/Olympus_Mons",
        "KST",
        "Asia",  # a directory of tzdata: IsADirectoryError before the fix
        "a" * 300,  # OSError: file name too long, before the fix
        "../../etc/passwd",
        "/etc/localtime",
    ],
)
def test_bad_timezone_names_the_variable(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("ALERT_TIMEZONE", value)
    message = error_of(config.display_settings)
    assert message.startswith("ALERT_TIMEZONE ")
    assert "IANA" in message


# --- fan-out settings -----------------------------------------------------------------------


def test_fanout_defaults_turn_both_channels_off() -> None:
    settings = config.fanout_settings()
    assert settings.email_recipients == ()
    assert settings.sms_recipients == ()
    assert settings.sender == ""
    assert settings.email_states == {State.ALARM, State.OK}
    assert settings.sms_states == {State.ALARM}


def test_recipients_are_split_trimmed_and_deduplicated_in_order(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("EMAIL_SENDER", "OTT Alerts <alerts@example.com>")
    monkeypatch.setenv("EMAIL_RECIPIENTS", " b@example.com, a@example.com,,b@example.com ,")
    monkeypatch.setenv("SMS_RECIPIENTS", "+821012345678,+14155550100, +821012345678")
    settings = config.fanout_settings()
    assert settings.email_recipients == ("b@example.com", "a@example.com")
    assert settings.sms_recipients == ("+821012345678", "+14155550100")
    assert settings.sender == "OTT Alerts <alerts@example.com>"
    assert config.sender_address(settings.sender) == "alerts@example.com"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("alarm, ok ,INSUFFICIENT_DATA", {State.ALARM, State.OK, State.INSUFFICIENT_DATA}),
        ("OK", {State.OK}),
        ("ALARM,ALARM", {State.ALARM}),
        ("", {State.ALARM, State.OK}),  # empty means the default
    ],
)
def test_email_states(monkeypatch: pytest.MonkeyPatch, value: str, expected: set[State]) -> None:
    monkeypatch.setenv("EMAIL_STATES", value)
    assert config.fanout_settings().email_states == expected


@pytest.mark.parametrize("name", ["EMAIL_STATES", "SMS_STATES"])
def test_unknown_state_names_the_variable_and_the_value(
    monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    monkeypatch.setenv(name, "ALARM,WARNING")
    message = error_of(config.fanout_settings)
    assert message.startswith(f"{name} ")
    assert "'WARNING'" in message
    assert "INSUFFICIENT_DATA" in message  # says what is allowed


@pytest.mark.parametrize(
    "bad",
    [
        "bob.smith@example",  # no dot in the domain
        "bob.smith.example.com",  # no @
        "bob.smith@example.com;carol.jones@example.org",  # ';' where a ',' was meant
        "Bob Smith <bob.smith@example.com>",  # display names are for the sender only
        "bob smith@example.com",
    ],
)
def test_malformed_email_names_variable_and_masked_entry_only(
    monkeypatch: pytest.MonkeyPatch, bad: str
) -> None:
    monkeypatch.setenv("EMAIL_SENDER", "alerts@example.com")
    monkeypatch.setenv("EMAIL_RECIPIENTS", f"ok.person@example.com,{bad}")
    message = error_of(config.fanout_settings)
    assert message.startswith("EMAIL_RECIPIENTS ")
    assert mask_email(bad) in message
    assert bad not in message
    assert "ok.person" not in message  # the good entries are not listed either
    for address in ("bob.smith@example.com", "carol.jones@example.org"):
        assert address not in message


@pytest.mark.parametrize(
    "bad",
    [
        "01012345678",
        "+82 10 1234 5678",
        "+0821012345678",
        "821012345678",
        "+8210",
        "+1-415-555-0100",
    ],
)
def test_malformed_phone_names_variable_and_masked_entry_only(
    monkeypatch: pytest.MonkeyPatch, bad: str
) -> None:
    monkeypatch.setenv("SMS_RECIPIENTS", f"+821099998888,{bad}")
    message = error_of(config.fanout_settings)
    assert message.startswith("SMS_RECIPIENTS ")
    assert "E.164" in message
    assert mask_phone(bad) in message
    assert bad not in message
    assert "+821099998888" not in message


def test_recipients_without_sender(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EMAIL_RECIPIENTS", "ops@example.com")
    message = error_of(config.fanout_settings)
    assert "EMAIL_SENDER" in message
    assert "ops@example.com" not in message


@pytest.mark.parametrize("sender", ["alerts.example.com", "OTT Alerts <alerts@example>"])
def test_malformed_sender(monkeypatch: pytest.MonkeyPatch, sender: str) -> None:
    monkeypatch.setenv("EMAIL_SENDER", sender)
    message = error_of(config.fanout_settings)
    assert message.startswith("EMAIL_SENDER ")
    assert sender not in message


def test_sms_only_needs_no_sender(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMS_RECIPIENTS", "+821012345678")
    settings = config.fanout_settings()
    assert settings.sms_recipients == ("+821012345678",)
    assert settings.email_recipients == ()


def test_required(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HISTORY_TABLE_NAME", raising=False)
    with pytest.raises(ConfigurationError, match=r"^HISTORY_TABLE_NAME is not set$"):
        config.required("HISTORY_TABLE_NAME")
    monkeypatch.setenv("HISTORY_TABLE_NAME", "  ")
    with pytest.raises(ConfigurationError, match="HISTORY_TABLE_NAME"):
        config.required("HISTORY_TABLE_NAME")
    monkeypatch.setenv("HISTORY_TABLE_NAME", " alarm-history ")
    assert config.required("HISTORY_TABLE_NAME") == "alarm-history"


@pytest.mark.parametrize(
    ("address", "masked"),
    [
        ("alice@example.com", "a***@example.com"),
        ("alice@example.com;bob@example.com", "a***@example.com…"),  # bob is not shown whole
        ("Alice <alice@example.com>", "A***@example.com…"),
        ("nodomain", "******in"),  # no "@": masked like a number
    ],
)
def test_mask_email(address: str, masked: str) -> None:
    assert mask_email(address) == masked


def test_mask_phone() -> None:
    assert mask_phone("+821012345678") == "+82******5678"
    assert mask_phone("+8210") == "*****"
    assert mask_phone("+14155501") == "*******01"  # short: not 7 of 9 characters shown
