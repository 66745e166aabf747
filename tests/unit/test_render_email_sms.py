"""Email and SMS layouts from one view: same fields as the Slack card, escaped, bounded."""

from __future__ import annotations

import copy
import html
import json
import re
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from alert_service import parse
from alert_service.config import DisplaySettings
from alert_service.render import email, sms
from alert_service.view import View, build_view
from conftest import event_paths, load_event

KO = DisplaySettings("ko", ZoneInfo("Asia/Seoul"), "OTT")
EN = DisplaySettings("en", ZoneInfo("Asia/Seoul"), "OTT")
CPU_NAME = "OTT-DB-CPU-Utilization-High"


def view_of(event: dict[str, Any], settings: DisplaySettings = KO, index: int = 0) -> View:
    return build_view(parse.notifications(event)[index], settings)


def cpu_alarm_named(name: str) -> dict[str, Any]:
    event = copy.deepcopy(load_event("cpu_alarm.json"))
    sns = event["Records"][0]["Sns"]
    message = json.loads(sns["Message"])
    message["AlarmName"] = name
    sns["Message"] = json.dumps(message, ensure_ascii=False)
    return event


def notice(message: str, subject: str | None = "Maintenance") -> dict[str, Any]:
    event = copy.deepcopy(load_event("plain_text.json"))
    event["Records"][0]["Sns"]["Message"] = message
    event["Records"][0]["Sns"]["Subject"] = subject
    return event


def visible_text(markup: str) -> str:
    """What a reader sees: block tags become spaces, inline tags vanish, entities decoded."""
    blocks_spaced = re.sub(r"<(?!/?(?:strong|a)\b)[^>]+>", " ", markup)
    return html.unescape(re.sub(r"<[^>]+>", "", blocks_spaced))


# --- email ------------------------------------------------------------------------------------


def test_email_ko_cpu_alarm_reads_like_the_slack_card() -> None:
    view = view_of(load_event("cpu_alarm.json"))
    mail = email.render(view)

    assert mail.subject == f"[ALARM] {CPU_NAME}"
    assert "background:#eb4034" in mail.html  # the state band in the Slack colour
    seen = visible_text(mail.html)
    assert "[OTT 인프라 감지]" in seen
    assert "상태가 ALARM로 변경되었습니다." in " ".join(seen.split())
    assert f"경보 상세: {CPU_NAME}" in seen
    assert "OTT 플랫폼 통합 관제 시스템" in seen
    assert 'href="https://ap-northeast-2.console.aws.amazon.com/cloudwatch/home?' in mail.html
    assert "CloudWatch 콘솔에서 보기" in seen
    # The five contract fields first, in order, with the view's values (not recomputed here).
    labels = ["대상 리전", "감시 메트릭", "임계치", "발생 시간", "상세 사유"]
    positions = [seen.index(label) for label in labels]
    assert positions == sorted(positions)
    for value in ("ap-northeast-2", "CPUUtilization", "80%", "2024-01-12 16:30:00 KST"):
        assert value in seen
    # Inline CSS only: mail clients strip style sheets.
    assert "<style" not in mail.html
    assert "<link" not in mail.html


def test_email_text_body_has_the_same_content_in_the_same_order() -> None:
    view = view_of(load_event("cpu_alarm.json"))
    text = email.render(view).text

    assert text.startswith("🚨 [OTT 인프라 감지] 상태가 ALARM로 변경되었습니다.\n")
    assert f"경보 상세: {CPU_NAME}" in text
    positions = [text.index(f"{field.label}:") for field in view.fields]
    assert positions == sorted(positions)
    for field in view.fields:
        assert field.value.splitlines()[0] in text
    assert "대상 리전: ap-northeast-2" in text
    assert "발생 시간: 2024-01-12 16:30:00 KST" in text
    assert f"CloudWatch 콘솔에서 보기: {view.console_url}" in text
    assert text.rstrip().endswith("--\nOTT 플랫폼 통합 관제 시스템")


def test_email_en_cpu_alarm() -> None:
    mail = email.render(view_of(load_event("cpu_alarm.json"), EN))

    assert mail.subject == f"[ALARM] {CPU_NAME}"
    seen = " ".join(visible_text(mail.html).split())
    assert "[OTT Infrastructure Alert] State changed to ALARM." in seen
    assert f"Alarm details: {CPU_NAME}" in seen
    assert 'lang="en"' in mail.html
    assert "Region: ap-northeast-2" in mail.text
    assert "Threshold: 80%" in mail.text
    assert "Time: 2024-01-12 16:30:00 KST" in mail.text
    assert "Open in the CloudWatch console: https://" in mail.text
    assert mail.text.rstrip().endswith("OTT Platform Monitoring")


def test_email_ok_is_green() -> None:
    mail = email.render(view_of(load_event("cpu_ok.json")))
    assert mail.subject == f"[OK] {CPU_NAME}"
    assert "background:#2eb886" in mail.html


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        (KO, "[알림] [OTT] Scheduled maintenance: ott-aurora-cluster"),
        (EN, "[Notice] [OTT] Scheduled maintenance: ott-aurora-cluster"),
    ],
)
def test_email_notice_subject_per_locale(settings: DisplaySettings, expected: str) -> None:
    mail = email.render(view_of(load_event("plain_text.json"), settings))
    assert mail.subject == expected
    # The notice text holds "&" and "<": escaped in HTML, as written in the text body.
    assert "&lt;" in mail.html
    raw = parse.notifications(load_event("plain_text.json"))[0].raw_message
    assert raw.splitlines()[0] in mail.text


def test_script_in_alarm_name_is_inert_in_html() -> None:
    name = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    mail = email.render(view_of(cpu_alarm_named(name)))

    assert "<script" not in mail.html.lower()
    assert "<img" not in mail.html.lower()
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in mail.html
    assert name in visible_text(mail.html)  # shown as text, not dropped
    assert mail.subject == f"[ALARM] {name}"  # a subject is plain text, no markup to escape
    assert name in mail.text


def test_subject_is_one_bounded_line() -> None:
    mail = email.render(view_of(notice("x", subject="line one\r\nBcc: evil@example.com")))
    assert "\n" not in mail.subject
    assert "\r" not in mail.subject
    long_mail = email.render(view_of(cpu_alarm_named("A" * 500)))
    assert len(long_mail.subject) == email.MAX_SUBJECT_CHARS
    assert long_mail.subject.endswith("…")


def test_huge_notice_is_truncated_with_a_note() -> None:
    message = "가" * 50_000 + "TAIL-MARKER"
    mail = email.render(view_of(notice(message), KO))

    assert "TAIL-MARKER" not in mail.html
    assert "TAIL-MARKER" not in mail.text
    assert "(전체 50,011자 중 10,000자만 표시)" in mail.text
    assert "(전체 50,011자 중 10,000자만 표시)" in mail.html
    assert len(mail.html) < 20_000
    assert len(mail.text) < 12_000
    en = email.render(view_of(notice(message), EN))
    assert "(showing 10,000 of 50,011 characters)" in en.text


@pytest.mark.parametrize("path", event_paths(), ids=lambda p: p.stem)
def test_every_event_renders_an_email(path: Any) -> None:
    for notification in parse.notifications(load_event(path.name)):
        for settings in (KO, EN):
            mail = email.render(build_view(notification, settings))
            assert mail.subject
            assert "\n" not in mail.subject
            assert mail.html.startswith("<!DOCTYPE html>")
            assert mail.html.endswith("</html>")
            assert mail.text.strip()


# --- SMS --------------------------------------------------------------------------------------


def test_gsm_alphabet_has_the_standard_sizes() -> None:
    # 128 codes minus ESC; the extension table's 10 characters.
    assert len(sms.GSM_BASIC_CHARS) == 127
    assert len(sms.GSM_EXTENSION_CHARS) == 10
    assert sms.segment_cost("abc") == (3, 160, "GSM-7")
    assert sms.segment_cost("€[]") == (6, 160, "GSM-7")  # extension characters count twice
    assert sms.segment_cost("가a") == (2, 70, "UCS-2")
    assert sms.segment_cost("🚨") == (2, 70, "UCS-2")  # outside the BMP: a surrogate pair


def test_sms_cpu_alarm() -> None:
    assert sms.render(view_of(load_event("cpu_alarm.json"))) == (
        f"[ALARM] {CPU_NAME} 87.43% >= 80% 16:30 KST"
    )
    assert (
        sms.render(view_of(load_event("cpu_ok.json"))) == f"[OK] {CPU_NAME} 41.26% >= 80% 16:55 KST"
    )


def test_sms_without_a_comparison_still_sets_value_against_threshold() -> None:
    # EventBridge state changes carry no comparison operator.
    message = sms.render(view_of(load_event("eventbridge_state_change.json")))
    assert message == "[ALARM] OTT-DB-FreeableMemory-Low 1.58 GiB / 2 GiB 12:20 KST"


def test_sms_long_korean_name_fits_70() -> None:
    name = "운영-데이터베이스-CPU-사용률-임계치-초과-경보-" * 8
    message = sms.render(view_of(cpu_alarm_named(name)))

    cost, limit, encoding = sms.segment_cost(message)
    assert encoding == "UCS-2"
    assert limit == 70
    assert cost <= 70
    assert cost >= 68  # the name is shortened no more than needed
    assert message.startswith("[ALARM] 운영-데이터베이스")
    assert message.endswith("… 87.43% >= 80% 16:30 KST")  # state, value and time always kept


def test_sms_long_ascii_name_fits_160_and_stays_gsm() -> None:
    name = "OTT-DB-Aurora-Cluster-Primary-Writer-CPU-Utilization-Very-High-" * 5
    message = sms.render(view_of(cpu_alarm_named(name)))

    cost, limit, encoding = sms.segment_cost(message)
    assert encoding == "GSM-7"
    assert limit == 160
    assert 157 <= cost <= 160
    assert message.endswith("... 87.43% >= 80% 16:30 KST")  # "…" would force UCS-2 and 70


def test_sms_name_with_extension_characters_counts_them_twice() -> None:
    name = "OTT-DB-[primary]-{writer}-" + "x" * 200
    message = sms.render(view_of(cpu_alarm_named(name)))
    cost, _limit, encoding = sms.segment_cost(message)
    assert encoding == "GSM-7"
    assert len(message) < cost <= 160


def test_sms_is_one_line() -> None:
    message = sms.render(view_of(cpu_alarm_named("OTT\nDB\tCPU")))
    assert message.startswith("[ALARM] OTT DB CPU ")


@pytest.mark.parametrize("settings", [KO, EN], ids=["ko", "en"])
@pytest.mark.parametrize("path", event_paths(), ids=lambda p: p.stem)
def test_sms_fits_one_segment_for_every_event(path: Any, settings: DisplaySettings) -> None:
    for notification in parse.notifications(load_event(path.name)):
        view = build_view(notification, settings)
        message = sms.render(view)
        assert sms.fits_one_segment(message), message
        assert view.name[:10] in message or "…" in message or "..." in message
        if view.occurred_at is not None:
            assert view.occurred_at.strftime("%H:%M KST") in message
