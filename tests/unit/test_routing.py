"""Routing rules: the matcher, the loader's errors (with lines), the schema, the shipped files."""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from alert_service import parse, routing
from alert_service.alarm import Notification, State
from alert_service.routing import Defaults, RoutingFileError, load_text, route
from alert_service.routing.check import check
from alert_service.routing.loader import ROUTING_FILE_ENV, shipped_table
from conftest import ROOT, load_event

sys.path.insert(0, str(ROOT / "scripts"))
import build_routing

# The example rules (seed 000's Aurora alarms); routing.yaml, what ships, has none by default.
EXAMPLE = ROOT / "routing.example.yaml"

SCHEMA = json.loads(
    (ROOT / "layers/shared/alert_service/routing/routing.schema.json").read_text("utf-8")
)
PHONE = "+821012345678"


def notification(event: str = "cpu_alarm.json", index: int = 0) -> Notification:
    return parse.notifications(load_event(event))[index]


def cpu_alarm(**changes: Any) -> Notification:
    note = notification()
    assert note.alarm is not None
    return replace(note, alarm=replace(note.alarm, **changes))


def table(rules: str, default: str = "") -> routing.RoutingTable:
    return load_text(f"version: 1\n{default}rules:\n{rules}", "test.yaml")


# --- the matcher --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("match", "matches"),
    [
        ("alarm_name: OTT-DB-*", True),
        ("alarm_name: ott-db-*", False),  # globs are case-sensitive, as alarm names are
        ("alarm_name: [nope, 'OTT-DB-CPU-Utilization-Hig?']", True),
        ("namespace: AWS/RDS", True),
        ("namespace: AWS/EC2", False),
        ("metric: CPUUtilization", True),
        ("metric: [FreeableMemory, DatabaseConnections]", False),
        ("dimensions: {DBClusterIdentifier: 'ott-aurora-*'}", True),
        ("dimensions: {DBClusterIdentifier: other}", False),
        ("dimensions: {DBInstanceIdentifier: '*'}", False),  # absent dimension never matches
        ("account: '123456789012'", True),
        ("account: '999999999999'", False),
        ("region: ap-northeast-2", True),
        ("region: [us-east-1, eu-west-1]", False),
        ("state: ALARM", True),
        ("state: [OK, INSUFFICIENT_DATA]", False),
        ("severity: critical", True),  # the tag passed to route()
        ("severity: [warning, info]", False),
        ("{alarm_name: 'OTT-*', state: ALARM, account: '999999999999'}", False),  # all must hold
    ],
)
def test_each_match_field(match: str, matches: bool) -> None:
    flow = match if match.startswith("{") else f"{{{match}}}"
    rules = table(f"  - name: r\n    match: {flow}\n    slack_webhooks: [dba]\n")

    chosen = route(notification(), "critical", rules, Defaults())

    assert chosen.matched == (("r",) if matches else ())
    assert chosen.slack_webhooks == (("dba",) if matches else ("default",))


def test_first_match_wins_unless_continue() -> None:
    rules = table(
        "  - {name: page, match: {state: ALARM}, sms: ['+821012345678'], continue: true}\n"
        "  - {name: dba, match: {namespace: AWS/RDS}, slack_webhooks: [dba], email: [d@x.io]}\n"
        "  - {name: never, match: {}, slack_webhooks: [other], email: [o@x.io]}\n"
    )

    chosen = route(notification(), None, rules, Defaults(email=("ops@x.io",)))

    assert chosen.matched == ("page", "dba")
    assert chosen.sms == (PHONE,)
    assert chosen.slack_webhooks == ("dba",)
    assert chosen.email == ("d@x.io",)  # a matched rule replaces the default recipients
    ok = route(notification("cpu_ok.json"), None, rules, Defaults())
    assert ok.matched == ("dba",)
    assert ok.sms == ()


def test_destinations_of_continued_rules_are_merged_without_repeats() -> None:
    rules = table(
        "  - {name: a, slack_webhooks: [dba, platform], email: [d@x.io], continue: true}\n"
        "  - {name: b, slack_webhooks: [dba], slack_channel: C0123456789, email: [d@x.io]}\n"
    )

    chosen = route(notification(), None, rules, Defaults())

    assert chosen.slack_webhooks == ("dba", "platform")
    assert chosen.email == ("d@x.io",)
    assert chosen.slack_channel == "C0123456789"


def test_no_match_is_the_default_route_with_todays_states() -> None:
    rules = table("  - {name: other, match: {namespace: AWS/EC2}, slack_webhooks: [ec2]}\n")
    defaults = Defaults(email=("ops@x.io",), sms=(PHONE,))

    alarm = route(notification(), None, rules, defaults)
    ok = route(notification("cpu_ok.json"), None, rules, defaults)
    notice = route(notification("plain_text.json"), None, rules, defaults)

    assert alarm.is_default
    assert (alarm.slack_webhooks, alarm.email, alarm.sms) == (("default",), ("ops@x.io",), (PHONE,))
    assert (ok.email, ok.sms) == (("ops@x.io",), ())  # SMS_STATES defaults to ALARM only
    assert (notice.email, notice.sms) == (("ops@x.io",), ())  # a notice: email, never SMS


def test_a_notice_takes_the_default_route_even_when_a_rule_matches_everything() -> None:
    rules = table("  - {name: all, slack_webhooks: [dba]}\n")

    assert route(notification("plain_text.json"), None, rules, Defaults()).is_default
    assert route(notification(), None, rules, Defaults()).matched == ("all",)


def test_default_block_replaces_only_what_it_names() -> None:
    rules = table("  []\n", default="default:\n  slack_webhooks: [ops]\n  sms: []\n")
    defaults = Defaults(email=("ops@x.io",), sms=(PHONE,))

    chosen = route(notification(), None, rules, defaults)

    assert (chosen.slack_webhooks, chosen.email, chosen.sms) == (("ops",), ("ops@x.io",), ())


def test_severity_tag_beats_rule_which_beats_none() -> None:
    rules = table(
        "  - {name: a, match: {state: OK}, severity: info, slack_webhooks: [x]}\n"
        "  - {name: b, severity: warning, slack_webhooks: [dba], continue: true}\n"
        "  - {name: c, severity: critical, slack_webhooks: [dba]}\n"
    )

    tagged = route(notification(), "high", rules, Defaults())
    untagged = route(notification(), None, rules, Defaults())
    default = route(notification(), None, table("  []\n"), Defaults())

    assert (tagged.severity, tagged.severity_source) == ("high", "tag")
    assert (untagged.severity, untagged.severity_source) == ("warning", "rule:b")
    assert (default.severity, default.severity_source) == (None, None)


def test_route_reads_the_shipped_file_named_by_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    file = tmp_path / "routing.json"
    file.write_text(json.dumps({"version": 1, "rules": [{"name": "x", "slack_webhooks": ["x"]}]}))
    monkeypatch.setenv(ROUTING_FILE_ENV, str(file))
    shipped_table.cache_clear()
    try:
        assert route(notification(), None).slack_webhooks == ("x",)
        monkeypatch.delenv(ROUTING_FILE_ENV)
        shipped_table.cache_clear()
        # No file beside the module in a checkout: every alarm takes the default route.
        assert route(notification(), None).is_default
    finally:
        shipped_table.cache_clear()


# --- the loader: a bad file fails with its line -------------------------------------------------

BAD_FILES = [
    ("rules: []\n", 1, "missing 'version'"),
    ("version: 2\n", 1, "version: must be 1"),
    (
        "version: 1\nrules:\n  - name: a\n    match: {state: ALRM}\n    sms: ['+821012345678']\n",
        4,
        "rules[0].match.state: 'ALRM' is not one of ALARM, OK, INSUFFICIENT_DATA",
    ),
    (
        "version: 1\nrules:\n  - name: a\n    match:\n      account: 123456789012\n"
        "    email: [a@x.io]\n",
        5,
        "must be a string, not a number (quote it: '123456789012')",
    ),
    ("version: 1\nrules:\n  - name: a\n    match: {alarm_name: x}\n", 3, "rules[0]: sends nowhere"),
    (
        "version: 1\nrules:\n  - name: a\n    contine: true\n    email: [a@x.io]\n",
        4,
        "unknown key 'contine'",
    ),
    (
        "version: 1\nrules:\n  - {name: a, email: [a@x.io]}\n  - {name: a, email: [b@x.io]}\n",
        4,
        "rules[1].name: 'a' is already the name of rules[0]",
    ),
    (
        "version: 1\nrules:\n  - name: a\n    email: [a@x.io]\n    email: [b@x.io]\n",
        5,
        "rules.0.email: key given twice",
    ),
    ("version: 1\nrules:\n  - name: a\n    email: [a@x.io\n", 5, "not valid YAML"),
    (
        "version: 1\nrules:\n  - name: a\n    slack_channel: general\n    email: [a@x.io]\n",
        4,
        "'general' is not a Slack channel id",
    ),
    ("version: 1\nrules:\n  - name: a\n    email: []\n", 4, "must not be an empty list"),
    ("version: 1\nrules:\n  - name: a\n    slack_webhooks: dba\n", 4, "must be a list"),
]


@pytest.mark.parametrize(("text", "line", "message"), BAD_FILES)
def test_bad_file_fails_naming_the_line(text: str, line: int, message: str) -> None:
    with pytest.raises(RoutingFileError) as raised:
        load_text(text, "routing.yaml")

    assert f"routing.yaml:{line}: " in str(raised.value)
    assert message in str(raised.value)


def test_problems_are_listed_in_file_order() -> None:
    text = "version: 1\nrules:\n  - {name: a, email: [bad]}\n  - {name: b, sms: [bad]}\n"

    with pytest.raises(RoutingFileError) as raised:
        load_text(text, "r.yaml")

    assert [line for line, _ in raised.value.problems] == [3, 4]


def test_a_phone_number_is_masked_in_errors() -> None:
    with pytest.raises(RoutingFileError) as raised:
        load_text("version: 1\nrules:\n  - {name: a, sms: ['010-1234-5678']}\n", "r.yaml")

    assert "1234-5678" not in str(raised.value)
    assert "E.164" in str(raised.value)


def test_json_is_read_with_the_same_checks() -> None:
    with pytest.raises(RoutingFileError, match=r"r.json: rules\[0\]: sends nowhere"):
        load_text(json.dumps({"version": 1, "rules": [{"name": "a"}]}), "r.json")
    with pytest.raises(RoutingFileError, match=r"r.json:1: not JSON"):
        load_text("{", "r.json")


# --- the schema and the hand checker agree ------------------------------------------------------


def documents() -> list[Any]:
    """Good and bad documents, each judged by both the layer's checker and the JSON Schema."""
    good = [{"version": 1}, {"version": 1, "rules": []}]
    for path in build_routing.routing_files():
        data, _ = routing.loader.parse_text(path.read_text("utf-8"), str(path))
        good.append(data)
    rule = {"name": "r", "slack_webhooks": ["dba"]}
    bad_rules: list[dict[str, Any]] = [
        {"name": "r"},
        {"slack_webhooks": ["x"]},
        {**rule, "continue": "yes"},
        {**rule, "severity": "Critical"},
        {**rule, "slack_webhooks": []},
        {**rule, "email": "a@x.io"},
        {**rule, "sms": ["0101234"]},
        {**rule, "slack_channel": "general"},
        {**rule, "match": {"state": "alarm"}},
        {**rule, "match": {"account": 123456789012}},
        {**rule, "match": {"account": "1234"}},
        {**rule, "match": {"region": "Seoul"}},
        {**rule, "match": {"dimensions": {}}},
        {**rule, "match": {"dimensions": {"A": []}}},
        {**rule, "match": {"alarm_name": []}},
        {**rule, "match": {"colour": "red"}},
        {**rule, "match": []},
    ]
    bad = [
        [],
        {"rules": []},
        {"version": True},
        {"version": 1, "rules": {}},
        {"version": 1, "x": 1},
    ]
    bad += [{"version": 1, "rules": [r]} for r in bad_rules]
    bad += [{"version": 1, "default": {"email": ["nope"]}}, {"version": 1, "default": []}]
    good += [
        {"version": 1, "default": {"email": [], "sms": [], "slack_webhooks": []}},
        {"version": 1, "rules": [{**rule, "match": {"state": ["OK", "ALARM"], "severity": "p1"}}]},
        {"version": 1, "rules": [{**rule, "match": {"dimensions": {"A": ["x*", "y"]}}}]},
    ]
    return [(doc, True) for doc in good] + [(doc, False) for doc in bad]


@pytest.mark.parametrize(("document", "valid"), documents())
def test_checker_and_schema_agree(document: Any, valid: bool) -> None:
    schema_valid = jsonschema.Draft202012Validator(SCHEMA).is_valid(document)

    assert (check(document) == [], schema_valid) == (valid, valid)


def test_schema_is_a_valid_json_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)


# --- every routing file of the repository, and the build's conversion ---------------------------


def test_every_routing_file_in_the_repository_is_valid() -> None:
    files = build_routing.routing_files()

    assert ROOT / "routing.yaml" in files
    for path in files:
        assert build_routing.check_file(path) == [], path


def test_check_routing_fails_on_a_bad_file_naming_the_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "routing.yaml"
    bad.write_text(
        "version: 1\nrules:\n  - name: a\n    match: {state: ALRM}\n    email: [a@x.io]\n"
    )

    assert build_routing.main(["--check", str(bad)]) == 1
    assert f"{bad}:4: rules[0].match.state" in capsys.readouterr().err


def test_build_converts_yaml_to_the_json_the_layer_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert build_routing.main(["--out", str(tmp_path), "--source", str(EXAMPLE)]) == 0
    shipped = tmp_path / "alert_service" / "routing" / "routing.json"
    monkeypatch.setenv(ROUTING_FILE_ENV, str(shipped))
    shipped_table.cache_clear()
    try:
        from_json = shipped_table()
    finally:
        shipped_table.cache_clear()
    from_yaml = routing.load_file(EXAMPLE)

    # Same rules and routes; only the line numbers (YAML only) differ.
    assert [replace(r, line=None) for r in from_json.rules] == [
        replace(r, line=None) for r in from_yaml.rules
    ]
    for event in ("cpu_alarm.json", "cpu_ok.json", "database_connections_alarm.json"):
        note = notification(event)
        assert route(note, None, from_json, Defaults()) == route(note, None, from_yaml, Defaults())


def test_build_refuses_a_bad_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "routing.yaml"
    bad.write_text("version: 1\nrules:\n  - name: a\n")

    assert build_routing.main(["--out", str(tmp_path / "out"), "--source", str(bad)]) == 1
    assert f"{bad}:3: rules[0]: sends nowhere" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_example_file_routes_the_seed_alarms() -> None:
    """routing.example.yaml: the three Aurora alarms of seed 000, paged or not, and the default."""
    rules = routing.load_file(EXAMPLE)
    defaults = Defaults(email=("ops@x.io",))

    cpu = route(notification(), None, rules, defaults)
    memory = route(notification("freeable_memory_alarm.json"), None, rules, defaults)
    connections = route(notification("database_connections_alarm.json"), None, rules, defaults)
    ok = route(notification("cpu_ok.json"), None, rules, defaults)
    other = route(cpu_alarm(name="Web-5xx", namespace="AWS/ELB"), None, rules, defaults)

    assert cpu.matched == memory.matched == ("aurora-page", "aurora-dba")
    assert cpu.severity == "critical"
    assert connections.matched == ("db-connections-platform", "aurora-dba")
    assert connections.slack_webhooks == ("platform", "dba")
    assert ok.matched == ("aurora-dba",)
    assert (ok.sms, ok.severity) == ((), "warning")
    assert other.is_default
    assert other.email == ("ops@x.io",)
    assert State.ALARM in rules.rules[0].match.state


def test_the_routing_functions_may_read_alarm_tags_and_only_those_of_this_account() -> None:
    from local.aws import Template

    template = Template()
    for function in ("SlackRelayFunction", "NotifyFanoutFunction", "AlarmHistoryFunction"):
        statements = template.resources[function]["Properties"]["Policies"][0]["Statement"]
        [tags] = [s for s in statements if isinstance(s, dict) and s.get("Sid") == "ReadAlarmTags"]
        assert tags["Action"] == "cloudwatch:ListTagsForResource"
        # Resolved with local/aws.py's account and region: this account's alarms, no others.
        assert template.resolve(tags["Resource"]) == (
            "arn:aws:cloudwatch:ap-northeast-2:123456789012:alarm:*"
        )


def test_the_layers_routing_json_is_routing_yaml_converted(tmp_path: Path) -> None:
    """What sam build ships (layers/shared/routing.json) is the reviewed routing.yaml, and a copy
    that drifted, or is missing, fails ``make check-routing`` (so ``make build``) naming the fix."""
    assert build_routing.sync_problems() == []
    source = tmp_path / "routing.yaml"
    source.write_text(EXAMPLE.read_text(encoding="utf-8"), encoding="utf-8")
    copy = tmp_path / "routing.json"
    assert "missing" in build_routing.sync_problems(source, copy)[0]
    copy.write_text(build_routing.as_json(source), encoding="utf-8")
    assert build_routing.sync_problems(source, copy) == []
    source.write_text(source.read_text(encoding="utf-8").replace("[dba]", "[dbas]"), "utf-8")
    [problem] = build_routing.sync_problems(source, copy)
    assert "make routing" in problem
