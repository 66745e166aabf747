"""The stdlib Slack signature check agrees with Slack's reference implementation (slack_sdk)."""

from __future__ import annotations

import hmac

import pytest
from alert_service.slack_app import signature
from hypothesis import given
from hypothesis import strategies as st
from slack_sdk.signature import Clock, SignatureVerifier

NOW = 1_705_044_600


class FixedClock(Clock):
    def now(self) -> float:
        return NOW


secrets_ = st.text(min_size=1, max_size=40).filter(lambda s: s.strip())
bodies = st.text(max_size=300).map(str.encode)


@given(secret=secrets_, body=bodies, age=st.integers(-400, 400))
def test_sign_and_verify_agree_with_slack_sdk(secret: str, body: bytes, age: int) -> None:
    timestamp = str(NOW - age)
    sdk = SignatureVerifier(secret, clock=FixedClock())
    expected = sdk.generate_signature(timestamp=timestamp, body=body)
    assert signature.sign(secret, timestamp, body) == expected
    assert signature.valid(secret, body, timestamp, expected, now=NOW) == sdk.is_valid(
        body=body, timestamp=timestamp, signature=expected
    )
    assert signature.valid(secret, body, timestamp, expected, now=NOW) is (abs(age) <= 300)


@given(secret=secrets_, body=bodies, flip=st.integers(0, 63))
def test_any_changed_digit_is_refused(secret: str, body: bytes, flip: int) -> None:
    good = signature.sign(secret, str(NOW), body)
    digits = list(good)
    position = 3 + flip
    digits[position] = "0" if digits[position] != "0" else "1"
    assert not signature.valid(secret, body, str(NOW), "".join(digits), now=NOW)
    assert not signature.valid(secret, body + b"x", str(NOW), good, now=NOW)


@pytest.mark.parametrize(
    ("timestamp", "sig"),
    [
        (None, "v0=00"),
        (str(NOW), None),
        (str(NOW), ""),
        ("", "v0=00"),
        ("1705044600.5", "v0=00"),
        ("-1705044600", "v0=00"),
        ("１７０５０４４６００", "v0=00"),  # full-width digits: int() would take them
        ("9" * 40, "v0=00"),
    ],
)
def test_missing_or_malformed_headers_are_refused_without_raising(
    timestamp: str | None, sig: str | None
) -> None:
    assert not signature.valid("secret", b"payload=%7B%7D", timestamp, sig, now=NOW)


def test_compare_is_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """The digest comparison goes through hmac.compare_digest (not ==)."""
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(signature.hmac, "compare_digest", spy)
    good = signature.sign("secret", str(NOW), b"body")
    assert signature.valid("secret", b"body", str(NOW), good, now=NOW)
    assert calls == [(good.encode(), good.encode())]
