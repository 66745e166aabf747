"""The digest's figures and layouts without AWS: pure functions over incident and event items."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from alert_service.config import DisplaySettings
from alert_service.digest import render
from alert_service.digest.report import Flapping, SilenceEnding, build
from alert_service.digest.send import period_end
from hypothesis import given, settings
from hypothesis import strategies as st

UNTIL = datetime(2024, 1, 13, tzinfo=UTC)
SINCE = UNTIL - timedelta(days=1)
KST = ZoneInfo("Asia/Seoul")


def incident(n: int, name: str, **extra: Any) -> dict[str, Any]:
    return {
        "incident_id": f"INC-20240112{n:06d}-602dc7898a63e53d",
        "alarm_name": name,
        "status": "active",
        "first_seen_at": (SINCE + timedelta(minutes=n)).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        "alert_count": n,
        **extra,
    }


def test_mtta_mttr_mean_and_median() -> None:
    acked = [
        incident(0, "a", acknowledged_at="2024-01-12T00:02:00.000Z"),  # 2 min
        incident(10, "b", acknowledged_at="2024-01-12T00:20:00.000Z"),  # 10 min
        incident(20, "c", acknowledged_at="2024-01-12T01:20:00.000Z"),  # 60 min
    ]
    resolved = [incident(0, "a", duration_seconds=600), incident(1, "b", duration_seconds=3000)]
    digest = build(
        since=SINCE,
        until=UNTIL,
        events=[],
        events_before=0,
        opened=[],
        opened_before=0,
        resolved=resolved,
        resolved_before=0,
        acknowledged=acked,
        open_now=[],
    )
    assert (digest.mtta.mean, digest.mtta.median) == (24 * 60.0, 10 * 60.0)
    assert (digest.mttr.mean, digest.mttr.median) == (1800.0, 1800.0)


def test_period_end_is_the_last_digest_time_whenever_it_runs() -> None:
    at = datetime.strptime("09:00", "%H:%M").time()
    nine_kst = datetime(2024, 1, 13, 9, tzinfo=KST)
    assert period_end(nine_kst + timedelta(seconds=7), at, KST) == nine_kst
    assert period_end(nine_kst + timedelta(hours=5), at, KST) == nine_kst  # a late retry
    assert period_end(nine_kst - timedelta(seconds=1), at, KST) == nine_kst - timedelta(days=1)


names = st.text(min_size=1, max_size=300)


@settings(max_examples=30, deadline=None)
@given(
    open_names=st.lists(names, max_size=200),
    noisy=st.lists(names, max_size=30),
    flapping=st.lists(names, max_size=40),
    locale=st.sampled_from(["ko", "en"]),
)
def test_slack_message_stays_within_block_kit_limits(
    open_names: list[str], noisy: list[str], flapping: list[str], locale: str
) -> None:
    digest = build(
        since=SINCE,
        until=UNTIL,
        events=[{"alarm_name": n} for n in noisy],
        events_before=3,
        opened=[],
        opened_before=0,
        resolved=[],
        resolved_before=0,
        acknowledged=[],
        open_now=[incident(i, n) for i, n in enumerate(open_names)],
        flapping=[Flapping(n, 6, 30) for n in flapping],
        silences_ending=[SilenceEnding("S", n, UNTIL, "kim", n * 3) for n in flapping[:5]],
    )
    display = DisplaySettings(locale, KST, "OTT")
    text, blocks = render.slack(digest, display)
    assert text
    assert len(blocks) <= render.MAX_BLOCKS
    for block in blocks:
        if block["type"] == "header":
            assert len(block["text"]["text"]) <= render.MAX_HEADER_CHARS
        if block["type"] == "section":
            assert len(block.get("text", {}).get("text", "")) <= render.MAX_SECTION_CHARS
            assert len(block.get("fields", [])) <= 10
            assert all(len(f["text"]) <= 2000 for f in block.get("fields", []))
    payload = json.dumps(blocks, ensure_ascii=False)
    assert len(payload) < 40_000
    mail = render.email(digest, display)
    assert mail.html.count("<table") == mail.html.count("</table>")  # no name broke the markup
