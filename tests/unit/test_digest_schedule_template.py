"""The DailyDigestFunction's ScheduleV2: DigestTime "HH:MM" becomes an EventBridge Scheduler cron
expression whose minute and hour fields are plain numbers ("09:00" -> ``cron(0 9 * * ? *)``),
evaluated in TimeZone, for every time the parameter accepts."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
from local.aws import Template, read_template  # noqa: E402 - after the path insert

DOC = read_template(ROOT / "template.yaml")
PATTERN = re.compile(DOC["Parameters"]["DigestTime"]["AllowedPattern"])
# EventBridge Scheduler cron: minutes hours day-of-month month day-of-week year; one of
# day-of-month and day-of-week is "?". Numbers as the documentation writes them (0-59, 0-23).
CRON = re.compile(r"^cron\((0|[1-5][0-9]|[1-9]) (0|1[0-9]|2[0-3]|[1-9]) \* \* \? \*\)$")
EVERY_TIME = [f"{h:02d}:{m:02d}" for h in range(24) for m in range(60)]


def schedule(parameters: dict[str, str] | None = None) -> dict:
    template = Template(parameters=parameters)
    event = DOC["Resources"]["DailyDigestFunction"]["Properties"]["Events"]["Daily"]
    assert event["Type"] == "ScheduleV2"
    return template.resolve(event["Properties"])


@pytest.mark.parametrize(
    ("digest_time", "expression"),
    [
        ("09:00", "cron(0 9 * * ? *)"),
        ("00:00", "cron(0 0 * * ? *)"),
        ("00:05", "cron(5 0 * * ? *)"),
        ("10:30", "cron(30 10 * * ? *)"),
        ("20:09", "cron(9 20 * * ? *)"),
        ("23:59", "cron(59 23 * * ? *)"),
    ],
)
def test_digest_time_becomes_a_cron_without_leading_zeros(
    digest_time: str, expression: str
) -> None:
    assert schedule({"DigestTime": digest_time})["ScheduleExpression"] == expression


def test_every_accepted_time_gives_a_valid_expression_of_that_time() -> None:
    accepted = [t for t in EVERY_TIME if PATTERN.match(t)]
    assert accepted == EVERY_TIME  # the parameter takes every HH:MM of a day
    for digest_time in accepted:
        expression = schedule({"DigestTime": digest_time})["ScheduleExpression"]
        match = CRON.match(expression)
        assert match, (digest_time, expression)
        hour, minute = (int(part) for part in digest_time.split(":"))
        assert (int(match.group(2)), int(match.group(1))) == (hour, minute)
    for bad in ("9:00", "24:00", "09:60", "0900", ""):
        assert not PATTERN.match(bad), bad


def test_default_is_nine_in_the_configured_time_zone() -> None:
    props = schedule()
    assert DOC["Parameters"]["DigestTime"]["Default"] == "09:00"
    assert props["ScheduleExpression"] == "cron(0 9 * * ? *)"
    assert props["ScheduleExpressionTimezone"] == Template().parameters["TimeZone"]
    assert props["FlexibleTimeWindow"] == {"Mode": "OFF"}
