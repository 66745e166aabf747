"""Severity in every channel: a Slack field after the contract's five, email subject, SMS label."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest
from alert_service import parse
from alert_service.config import DisplaySettings
from alert_service.render import email, slack, sms
from alert_service.view import View, build_view
from conftest import load_event

KO = DisplaySettings("ko", ZoneInfo("Asia/Seoul"), "OTT")
EN = DisplaySettings("en", ZoneInfo("Asia/Seoul"), "OTT")


def view(
    event: str = "cpu_alarm.json", severity: str | None = None, settings: DisplaySettings = KO
) -> View:
    return build_view(parse.notifications(load_event(event))[0], settings, severity)


def test_slack_shows_severity_as_the_first_extra_field() -> None:
    fields = slack.render(view(severity="critical"))["attachments"][0]["fields"]

    titles = [f["title"] for f in fields]
    assert titles[:6] == ["대상 리전", "감시 메트릭", "임계치", "발생 시간", "상세 사유", "심각도"]
    assert fields[5] == {"title": "심각도", "value": "CRITICAL", "short": True}


def test_without_severity_nothing_changes() -> None:
    plain = view()

    assert plain.severity is None
    assert "심각도" not in [f["title"] for f in slack.render(plain)["attachments"][0]["fields"]]
    assert email.subject(plain) == "[ALARM] OTT-DB-CPU-Utilization-High"
    assert sms.render(plain).startswith("[ALARM] OTT-DB-CPU-Utilization-High ")


def test_email_subject_and_body_show_severity() -> None:
    mail = email.render(view(severity="critical", settings=EN))

    assert mail.subject == "[ALARM][CRITICAL] OTT-DB-CPU-Utilization-High"
    assert "Severity: CRITICAL" in mail.text
    assert ">Severity</th>" in mail.html


@pytest.mark.parametrize("locale", [KO, EN])
def test_sms_starts_with_state_and_severity_and_stays_one_segment(locale: DisplaySettings) -> None:
    text = sms.render(view(severity="critical", settings=locale))

    assert text.startswith("[ALARM][CRITICAL] ")
    assert sms.fits_one_segment(text)
    assert text.endswith("KST")


def test_a_notice_never_shows_a_severity() -> None:
    notice = view("plain_text.json", severity="critical")

    assert notice.severity is None
    assert "CRITICAL" not in sms.render(notice)
    assert "CRITICAL" not in email.render(notice).text
