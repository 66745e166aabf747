"""Localized words shared by every channel. Markup (bold, HTML) is the renderers' business."""

from __future__ import annotations

from typing import Final

SUPPORTED_LOCALES: Final = ("ko", "en")

_TEXTS: Final[dict[str, dict[str, str]]] = {
    "ko": {
        "alert_prefix": "[{platform} 인프라 감지]",
        "state_changed": "상태가 {state}로 변경되었습니다.",
        "notice_prefix": "[{platform} 인프라 알림]",
        "notice_received": "경보 형식이 아닌 알림을 받았습니다.",
        "title": "경보 상세: {name}",
        "notice_title": "알림: {subject}",
        "notice_untitled": "SNS 알림",
        "footer": "{platform} 플랫폼 통합 관제 시스템",
        "region": "대상 리전",
        "metric": "감시 메트릭",
        "threshold": "임계치",
        "occurred_at": "발생 시간",
        "reason": "상세 사유",
        "severity": "심각도",
        "observed": "관측값",
        "condition": "평가 조건",
        "dimensions": "대상",
        "description": "설명",
        "children": "트리거한 하위 경보",
        "composite": "복합 경보",
        "topic": "SNS 토픽",
        "received_at": "수신 시간",
        "message": "내용",
        "problem": "분류",
        "problem_empty": "빈 메시지",
        "problem_not_json": "JSON이 아닌 메시지 (일반 텍스트 또는 손상된 JSON)",
        "problem_unknown_json": "CloudWatch 경보가 아닌 JSON",
        "problem_invalid_alarm": "해석할 수 없는 경보 형식",
        "console": "CloudWatch 콘솔에서 보기",
        "minutes": "{n}분",
        "seconds": "{n}초",
        "periods": "{period} × {n}회",
        "band_above": "{band} 상단 초과",
        "band_below": "{band} 하단 미만",
        "band_outside": "{band} 범위 이탈",
        "empty": "(없음)",
        # Slack incident view (slack_app.card)
        "incident": "인시던트",
        "status": "상태",
        "alert_count": "알림 수",
        "alert_count_value": "{n}건",
        "first_seen": "최초 발생",
        "last_seen": "마지막 알림",
        "status_active": "진행 중",
        "status_acknowledged": "확인됨",
        "status_resolved": "해결됨",
        "acknowledged_by": "확인자",
        "acknowledged_at": "확인 시간",
        "resolved_by": "해결",
        "resolved_at": "해결 시간",
        "duration": "지속 시간",
        "button_ack": "확인 (Acknowledge)",
        "button_resolve": "해결 (Resolve)",
        "by_cloudwatch_ok": "CloudWatch 정상 복구 (OK)",
        "by_cli": "CLI ({user})",
        "reply_notification": "알림 #{n}: 상태 {state}",
        "reply_acknowledged": "{by}님이 확인했습니다 ({at}).",
        "reply_resolved": "해결되었습니다: {by} · 지속 시간 {duration}.",
        "value_vs_threshold": "관측값 {observed} (임계치 {threshold})",
        "duration_hms": "{h}시간 {m}분 {s}초",
        "duration_ms": "{m}분 {s}초",
        "duration_s": "{s}초",
    },
    "en": {
        "alert_prefix": "[{platform} Infrastructure Alert]",
        "state_changed": "State changed to {state}.",
        "notice_prefix": "[{platform} Infrastructure Notice]",
        "notice_received": "Received a notification that is not an alarm.",
        "title": "Alarm details: {name}",
        "notice_title": "Notice: {subject}",
        "notice_untitled": "SNS notification",
        "footer": "{platform} Platform Monitoring",
        "region": "Region",
        "metric": "Metric",
        "threshold": "Threshold",
        "occurred_at": "Time",
        "reason": "Reason",
        "severity": "Severity",
        "observed": "Observed",
        "condition": "Condition",
        "dimensions": "Resource",
        "description": "Description",
        "children": "Triggering alarms",
        "composite": "Composite alarm",
        "topic": "SNS topic",
        "received_at": "Received",
        "message": "Message",
        "problem": "Kind",
        "problem_empty": "empty message",
        "problem_not_json": "not JSON (plain text or broken JSON)",
        "problem_unknown_json": "JSON that is not a CloudWatch alarm",
        "problem_invalid_alarm": "alarm in a shape that could not be read",
        "console": "Open in the CloudWatch console",
        "minutes": "{n} min",
        "seconds": "{n} s",
        "periods": "{period} × {n}",
        "band_above": "above the upper band of {band}",
        "band_below": "below the lower band of {band}",
        "band_outside": "outside the band of {band}",
        "empty": "(none)",
        # Slack incident view (slack_app.card)
        "incident": "Incident",
        "status": "Status",
        "alert_count": "Alerts",
        "alert_count_value": "{n}",
        "first_seen": "First seen",
        "last_seen": "Last alert",
        "status_active": "Active",
        "status_acknowledged": "Acknowledged",
        "status_resolved": "Resolved",
        "acknowledged_by": "Acknowledged by",
        "acknowledged_at": "Acknowledged at",
        "resolved_by": "Resolved by",
        "resolved_at": "Resolved at",
        "duration": "Duration",
        "button_ack": "Acknowledge",
        "button_resolve": "Resolve",
        "by_cloudwatch_ok": "CloudWatch (OK)",
        "by_cli": "CLI ({user})",
        "reply_notification": "Alert #{n}: state {state}",
        "reply_acknowledged": "Acknowledged by {by} ({at}).",
        "reply_resolved": "Resolved by {by} after {duration}.",
        "value_vs_threshold": "observed {observed} (threshold {threshold})",
        "duration_hms": "{h} h {m} min {s} s",
        "duration_ms": "{m} min {s} s",
        "duration_s": "{s} s",
    },
}


def text(locale: str, key: str, **values: object) -> str:
    template = _TEXTS.get(locale, _TEXTS["ko"])[key]
    return template.format(**values) if values else template


# --- silences and flapping (issue 12): one block, appended ---
_TEXTS["ko"].update(
    {
        "flap_word": "플래핑",
        "stable_word": "안정",
        "silenced_word": "사일런스됨",
        "flap_title": "{name}: 상태가 반복해서 바뀌고 있습니다",
        "flap_started": (
            "{window}분 동안 상태가 {count}회 바뀌었습니다. 안정될 때까지 이후 변경 알림은 "
            "보류합니다. 현재 상태: {state}"
        ),
        "flap_stable_title": "{name}: 안정되었습니다",
        "flap_stabilised": (
            "{window}분 동안 변경 없이 {state} 상태로 안정되었습니다. 보류된 변경: {held}건 "
            "({since} ~ {until})"
        ),
        "silence_ended_title": "사일런스 종료, 아직 ALARM: {match}",
        "silence_ended": "사일런스가 끝났지만 다음 경보는 아직 ALARM 상태입니다:",
        "silence_about": "사일런스 {id}, {by}: {comment}",
        "silence_alarm_line": "{name} (ALARM, {since}부터, {incident})",
        "sms_flap_label": "[플래핑]",
        "sms_flapping": "{window}분 {count}회",
        "sms_stable_label": "[안정]",
        "sms_stabilised": "{state} 보류 {held}건",
        "sms_silence_ended": "사일런스 종료",
        "sms_silence_ended_more": "외 {more}건 사일런스 종료",
    }
)
_TEXTS["en"].update(
    {
        "flap_word": "flapping",
        "stable_word": "stable",
        "silenced_word": "silenced",
        "flap_title": "{name} is flapping",
        "flap_started": (
            "changed state {count} times in {window} min; further changes are held until it is "
            "stable. Now: {state}"
        ),
        "flap_stable_title": "{name} is stable again",
        "flap_stabilised": (
            "stable for {window} min, settled in {state}; {held} changes were held "
            "({since} to {until})"
        ),
        "silence_ended_title": "Silence ended, still ALARM: {match}",
        "silence_ended": "The silence has ended, but these alarms are still in ALARM:",
        "silence_about": "silence {id}, {by}: {comment}",
        "silence_alarm_line": "{name} (ALARM since {since}, {incident})",
        "sms_flap_label": "[FLAPPING]",
        "sms_flapping": "{count}x in {window}m",
        "sms_stable_label": "[STABLE]",
        "sms_stabilised": "{state}, {held} held",
        "sms_silence_ended": "silence ended",
        "sms_silence_ended_more": "+{more}, silence ended",
    }
)


# --- the incident card's marks and third button (issues 12 and 13): one block, appended ---
_TEXTS["ko"].update(
    {
        "button_silence_1h": "1시간 사일런스 (Silence 1h)",
        "card_silenced": "🔕 *사일런스됨* ({ids}, {until}까지): 알림을 보내지 않습니다",
        "card_flapping": "〰️ *플래핑* ({since}부터): 변경 알림은 스레드에만 남깁니다",
    }
)
_TEXTS["en"].update(
    {
        "button_silence_1h": "Silence 1h",
        "card_silenced": "🔕 *silenced* ({ids}, until {until}): nobody is notified",
        "card_flapping": "〰️ *flapping* (since {since}): changes go to the thread only",
    }
)
