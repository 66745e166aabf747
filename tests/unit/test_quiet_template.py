"""template.yaml wires silences and flapping into the notification path (issue 12)."""

from __future__ import annotations

from typing import Any

import pytest

from local.aws import Template

CALLERS = (
    "SlackRelayFunction",
    "NotifyFanoutFunction",
    "AlarmHistoryFunction",
    "QuietSweepFunction",
)


def statements(template: Template, function: str) -> dict[str, Any]:
    found = template.resources[function]["Properties"]["Policies"][0]["Statement"]
    return {s["Sid"]: s for s in found if isinstance(s, dict) and "Sid" in s}


@pytest.mark.parametrize("function", CALLERS)
def test_every_caller_reads_the_flap_settings_from_the_parameters(function: str) -> None:
    template = Template()
    variables = template.resources[function]["Properties"]["Environment"]["Variables"]
    assert variables["FLAP_THRESHOLD"] == {"Ref": "FlapThreshold"}
    assert variables["FLAP_WINDOW_MINUTES"] == {"Ref": "FlapWindowMinutes"}
    assert variables["HISTORY_TABLE_NAME"] == {"Ref": "AlarmHistoryTable"}
    parameters = template.doc["Parameters"]
    assert (parameters["FlapThreshold"]["Default"], parameters["FlapThreshold"]["MinValue"]) == (
        6,
        2,
    )
    assert parameters["FlapWindowMinutes"]["Default"] == 30


@pytest.mark.parametrize("function", ["SlackRelayFunction", "NotifyFanoutFunction"])
def test_relay_and_fanout_touch_only_the_flap_items_and_the_silence_index(function: str) -> None:
    granted = statements(Template(), function)
    flap = granted["FlapState"]
    assert sorted(flap["Action"]) == ["dynamodb:PutItem", "dynamodb:Query", "dynamodb:UpdateItem"]
    assert flap["Condition"] == {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["FLAP#*"]}}
    assert granted["ReadSilences"]["Action"] == "dynamodb:Query"
    assert granted["ReadSilences"]["Resource"]["Fn::Sub"].endswith("/index/gsi1")
    # No other statement reaches the history table (no GetItem, no DeleteItem, no Scan).
    others = [s for sid, s in granted.items() if sid not in ("FlapState", "ReadSilences")]
    assert "AlarmHistoryTable" not in repr(others)


def test_the_quiet_sweep_runs_every_minute_built_like_the_others() -> None:
    template = Template()
    sweep = template.resources["QuietSweepFunction"]
    assert sweep["Metadata"]["BuildMethod"] == "makefile"
    assert sweep["Metadata"]["ContextPath"] == "layers/shared"
    properties = sweep["Properties"]
    assert properties["CodeUri"] == "functions/quiet_sweep/"
    assert properties["Handler"] == "app.handler"
    assert properties["Events"]["EveryMinute"]["Properties"]["Schedule"] == "rate(1 minute)"
    assert properties["LoggingConfig"]["LogGroup"] == {"Ref": "QuietSweepLogGroup"}
    failure = properties["EventInvokeConfig"]["DestinationConfig"]["OnFailure"]["Destination"]
    assert failure == {"Fn::GetAtt": ["QuietSweepFailureQueue", "Arn"]}
    for alarm in ("QuietSweepErrorsAlarm", "QuietSweepFailureQueueAlarm"):
        assert template.resources[alarm]["Properties"]["AlarmActions"] == [{"Ref": "OpsTopic"}]
