"""DailyDigestFunction: once a day (ScheduleV2 at DIGEST_TIME in ALERT_TIMEZONE), the last 24 hours
of alarms to Slack and by email.

The period ends at the scheduled time, not at "now", so a retried invocation reports the same
period and its once-only keys skip what was already sent. The alarms flapping and the silences
ending within a day are read as of the invocation. Reads are Query only; the read units spent are
logged with the digest.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from alert_service import config, delivery, digest, notices
from alert_service.digest import HistoryReader, send
from aws_lambda_powertools import Logger

logger = Logger()


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    delivery.register_lambda_context(context)
    return handle(event, now=datetime.now(UTC))


def handle(event: dict[str, Any], *, now: datetime) -> dict[str, Any]:
    display = config.display_settings()
    until = send.period_end(now, send.digest_time(), display.timezone)
    reader = HistoryReader(config.required("HISTORY_TABLE_NAME"))
    flapping, ending = digest.quiet_now(reader, now)
    report = digest.collect(reader, until=until, flapping=flapping, silences_ending=ending)
    result = send.deliver(
        report, display, slack=notices.from_env(), fanout=config.fanout_settings()
    )
    logger.info(
        "digest sent",
        extra={"period_end": until.isoformat(), "reads": vars(reader.cost), **result},
    )
    return {"period_end": until.isoformat(), "reads": vars(reader.cost), **result}
