"""alert-route: which rules match a sample event, and who would get what (nothing is sent)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from alert_service import config
from alert_service.routing.explain import main
from conftest import EVENTS_DIR, ROOT

RULES = str(ROOT / "routing.example.yaml")


@pytest.fixture(autouse=True)
def template_parameters(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The default route's recipients, as the fan-out function's variables give them."""
    monkeypatch.setenv("EMAIL_SENDER", "alerts@example.com")
    monkeypatch.setenv("EMAIL_RECIPIENTS", "ops@example.com")
    monkeypatch.setenv("SMS_RECIPIENTS", "+821099998888")
    for name in ("EMAIL_STATES", "SMS_STATES"):
        monkeypatch.delenv(name, raising=False)
    config.fanout_settings.cache_clear()
    yield
    config.fanout_settings.cache_clear()


def explain(*argv: str) -> str:
    out = io.StringIO()
    assert main([*argv], out=out) == 0
    return out.getvalue()


def test_cpu_alarm_shows_both_rules_their_lines_and_every_destination() -> None:
    text = explain(str(EVENTS_DIR / "cpu_alarm.json"), "--rules", RULES)

    assert f"aurora-page ({RULES}:32, continue) -> aurora-dba ({RULES}:54)" in text
    assert "severity    critical (rule aurora-page)" in text
    assert "slack       webhooks: dba\n" in text
    assert "slack view  C0123456789\n" in text
    assert "email       dba-team@example.com\n" in text
    assert "sms         +82******5678\n" in text
    assert "+821012345678" not in text  # phone numbers are masked


def test_severity_tag_can_be_given() -> None:
    text = explain(str(EVENTS_DIR / "cpu_ok.json"), "--rules", RULES, "--severity", "High")

    assert "severity    high (the alarm's severity tag)" in text


def test_unrouted_alarm_and_notice_show_the_default_route(tmp_path: Path) -> None:
    rules = tmp_path / "routing.yaml"
    rules.write_text(
        "version: 1\nrules:\n  - {name: ec2, match: {namespace: AWS/EC2}, email: [a@x.io]}\n"
    )

    text = explain(str(EVENTS_DIR / "multi_record.json"), "--rules", str(rules))

    blocks = text.split("\n\n")
    assert len(blocks) == 3
    assert "none matched: default route (template parameters)" in blocks[0]
    assert "email       ops@example.com" in blocks[0]
    assert "sms         +82******8888" in blocks[0]
    assert "not an alarm, so the default route" in blocks[2]
    assert "sms         nobody" in blocks[2]  # a notice never goes by SMS


def test_a_bad_rules_file_fails_naming_the_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rules = tmp_path / "routing.yaml"
    rules.write_text("version: 1\nrules:\n  - name: a\n    match: {state: ALRM}\n    sms: []\n")

    assert main([str(EVENTS_DIR / "cpu_alarm.json"), "--rules", str(rules)]) == 1

    err = capsys.readouterr().err
    assert f"{rules}:4: rules[0].match.state" in err
    assert f"{rules}:5: rules[0].sms: must not be an empty list" in err
