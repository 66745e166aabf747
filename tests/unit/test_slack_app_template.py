"""template.yaml and slack-app-manifest.yaml hold what CONTRACT.md says about the Slack buttons."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
from local.aws import Template, read_template  # noqa: E402 - after the path insert

DOC = read_template(ROOT / "template.yaml")
FUNCTION = DOC["Resources"]["SlackActionsFunction"]


def test_actions_function_as_the_contract_names_it() -> None:
    props = FUNCTION["Properties"]
    assert FUNCTION["Condition"] == "HasSlackApp"
    assert (props["Handler"], props["CodeUri"]) == ("app.handler", "functions/slack_actions/")
    assert props["FunctionUrlConfig"] == {"AuthType": "NONE"}
    variables = props["Environment"]["Variables"]
    assert variables["SLACK_APP_SECRET_ID"] == {"Ref": "SlackAppSecretName"}
    assert variables["SLACK_ALLOWED_USERS"] == {"Ref": "SlackAllowedUsers"}
    assert variables["HISTORY_TABLE_NAME"] == {"Ref": "AlarmHistoryTable"}
    assert DOC["Parameters"]["SlackAllowedUsers"]["Default"] == ""
    output = DOC["Outputs"]["SlackInteractivityUrl"]
    assert output["Condition"] == "HasSlackApp"
    assert output["Value"] == {"Fn::GetAtt": ["SlackActionsFunctionUrl", "FunctionUrl"]}


def test_nothing_public_without_the_secret_name() -> None:
    assert Template().condition("HasSlackApp") is False
    assert Template(parameters={"SlackAppSecretName": "ott/slack/app"}).condition("HasSlackApp")
    for logical_id, resource in DOC["Resources"].items():
        if logical_id.startswith("SlackActions"):
            assert resource.get("Condition") == "HasSlackApp", logical_id


def test_role_changes_only_incident_alarm_state_and_silence_items() -> None:
    (policy,) = FUNCTION["Properties"]["Policies"]
    statements = {s["Sid"]: s for s in policy["Statement"]}
    assert set(statements) == {"ReadSlackAppSecret", "IncidentTransitions"}
    assert statements["ReadSlackAppSecret"]["Action"] == "secretsmanager:GetSecretValue"
    table = statements["IncidentTransitions"]
    assert sorted(table["Action"]) == [
        "dynamodb:DeleteItem",
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
    ]
    # Never MSG# (event items): a public endpoint cannot rewrite the history.
    assert table["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"] == [
        "INC#*",
        "ALARM#*",
        "OPEN#*",
        "SILENCE#*",  # the card's "Silence 1h" (issue 12)
    ]


def test_incident_view_stream_is_filtered_to_events_and_incidents() -> None:
    view = DOC["Resources"]["SlackIncidentFunction"]["Properties"]["Events"]["HistoryStream"]
    (only,) = view["Properties"]["FilterCriteria"]["Filters"]
    assert json.loads(only["Pattern"]) == {
        "dynamodb": {"NewImage": {"type": {"S": ["event", "incident"]}}}
    }


def test_manifest_scopes_and_interactivity() -> None:
    manifest = yaml.safe_load((ROOT / "slack-app-manifest.yaml").read_text(encoding="utf-8"))
    assert manifest["oauth_config"]["scopes"]["bot"] == ["chat:write", "chat:write.public"]
    interactivity = manifest["settings"]["interactivity"]
    assert interactivity["is_enabled"] is True
    assert interactivity["request_url"].startswith("https://")
    assert "SlackInteractivityUrl" in interactivity["request_url"]
