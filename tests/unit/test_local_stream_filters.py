"""local/stream.py honours FilterCriteria as Lambda does (the Slack incident view's pattern)."""

from __future__ import annotations

import json

import pytest

from local.aws import read_template
from local.stream import matches


def record(name: str, new: dict | None, old: dict | None = None) -> dict:
    data = {"Keys": {"pk": {"S": "x"}, "sk": {"S": "y"}}}
    if new is not None:
        data["NewImage"] = new
    if old is not None:
        data["OldImage"] = old
    return {"eventName": name, "eventSource": "aws:dynamodb", "dynamodb": data}


def slack_incident_patterns() -> list[dict]:
    source = read_template()["Resources"]["SlackIncidentFunction"]["Properties"]["Events"]
    return [
        json.loads(f["Pattern"])
        for f in source["HistoryStream"]["Properties"]["FilterCriteria"]["Filters"]
    ]


@pytest.mark.parametrize(
    ("item_type", "delivered"),
    [
        ("event", True),
        ("incident", True),
        ("silence", False),
        ("flap_change", False),
        ("flap_state", False),
        ("alarm_state", False),
        ("open_pointer", False),
    ],
)
def test_the_incident_view_gets_only_events_and_incidents(item_type: str, delivered: bool) -> None:
    rec = record("MODIFY", {"type": {"S": item_type}}, {"type": {"S": item_type}})
    assert any(matches(rec, p) for p in slack_incident_patterns()) is delivered


def test_a_removal_has_no_new_image_and_is_filtered_out() -> None:
    rec = record("REMOVE", None, {"type": {"S": "event"}})
    assert not any(matches(rec, p) for p in slack_incident_patterns())


def test_pattern_rules() -> None:
    rec = record("INSERT", {"type": {"S": "event"}, "sk": {"S": "EVENT"}})
    assert matches(rec, {"eventName": ["INSERT", "MODIFY"]})
    assert matches(rec, {"dynamodb": {"NewImage": {"sk": {"S": [{"prefix": "EV"}]}}}})
    assert matches(rec, {"dynamodb": {"NewImage": {"state": [{"exists": False}]}}})
    assert not matches(
        rec, {"dynamodb": {"NewImage": {"type": {"S": [{"anything-but": ["event"]}]}}}}
    )
    with pytest.raises(ValueError, match="not modelled"):
        matches(rec, {"eventName": [{"numeric": [">", 1]}]})
