"""``alert-incidents`` over a history seeded by AlarmHistoryFunction itself (moto over HTTP)."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from alert_service import cli, incidents
from conftest import ROOT, FakeLambdaContext, load_event
from test_alarm_history import (
    CPU_INCIDENT,
    CPU_KEY,
    TABLE,
    create_history_table,
    expected_key,
    load_handler,
    variant,
)

ACCOUNT, REGION = "123456789012", "ap-northeast-2"
ANOMALY = f"INC-20240112073104-{expected_key(ACCOUNT, REGION, 'OTT-DB-CPU-Anomaly')}"
CONNECTIONS = f"INC-20240112074012-{expected_key(ACCOUNT, REGION, 'OTT-DB-Connections-High')}"
MEMORY = f"INC-20240112081041-{expected_key(ACCOUNT, REGION, 'OTT-DB-FreeableMemory-Low')}"
CPU_AGAIN = f"INC-20240114120500-{CPU_KEY}"

# In time order, as SNS would have delivered them (events/README.md timeline).
SEED = [
    "cpu_alarm.json",
    "malformed_json.json",
    "anomaly_alarm.json",
    "database_connections_alarm.json",
    "composite_alarm.json",
    "metric_math_alarm.json",
    "cpu_second",  # another CPU ALARM at 07:35 (joins)
    "cpu_ok.json",
    "freeable_memory_alarm.json",
    "insufficient_data.json",
    "eventbridge_state_change.json",
    "multi_record.json",
    "unknown_json.json",
    "plain_text.json",
    "empty_message.json",
]


@pytest.fixture
def seeded(aws: str, monkeypatch: pytest.MonkeyPatch) -> str:
    create_history_table()
    monkeypatch.setenv("HISTORY_TABLE_NAME", TABLE)
    handler = load_handler()
    for name in SEED:
        event = (
            variant("cpu_alarm.json", message_id="m-cpu-second", at="2024-01-12T07:35:00.000+0000")
            if name == "cpu_second"
            else load_event(name)
        )
        handler(event, FakeLambdaContext("alarm-history"))
    # Operator actions at fixed times, so durations are exact.
    incidents.acknowledge(
        CONNECTIONS,
        by="kim",
        note="read replica added",
        now=datetime(2024, 1, 12, 7, 45, tzinfo=UTC),
    )
    incidents.resolve(
        ANOMALY, by="lee", note="batch job", now=datetime(2024, 1, 12, 8, 1, 4, 677000, tzinfo=UTC)
    )
    return TABLE


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = cli.main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_list_open_incidents_newest_first(seeded: str, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "list")
    assert status == 0
    lines = out.splitlines()
    assert lines[0].split() == [
        "INCIDENT",
        "STATUS",
        "SEVERITY",
        "ALARM",
        "ALERTS",
        "FIRST",
        "SEEN",
        "(UTC)",
        "LAST",
        "SEEN",
        "TTR",
        "MARKS",
    ]
    assert set(lines[1]) <= {"-", " "}
    rows = [line.split() for line in lines[2:]]
    assert [r[0] for r in rows] == [
        CPU_AGAIN,
        MEMORY,
        f"INC-20240112074015-{expected_key(ACCOUNT, REGION, 'OTT-DB-Connection-Usage-High')}",
        f"INC-20240112074013-{expected_key(ACCOUNT, REGION, 'OTT-DB-Critical')}",
        CONNECTIONS,
    ]
    memory = rows[1]
    # FreeableMemory: the EventBridge notification of 01-13 joined the 01-12 incident.
    assert memory[1:5] == ["active", "-", "OTT-DB-FreeableMemory-Low", "2"]  # no severity
    assert memory[5:7] == ["2024-01-12", "08:10:41"]
    assert memory[7:9] == ["2024-01-13", "03:20:41"]
    assert rows[4][1:5] == ["acknowledged", "-", "OTT-DB-Connections-High", "2"]


def test_list_all_with_limit_and_json(seeded: str, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "list", "--status", "all", "--json")
    assert status == 0
    found = json.loads(out)
    assert len(found) == 7
    assert [i["first_seen_at"] for i in found] == sorted(
        (i["first_seen_at"] for i in found), reverse=True
    )
    resolved = {i["incident_id"]: i for i in found if i["status"] == "resolved"}
    assert set(resolved) == {CPU_INCIDENT, ANOMALY}
    assert resolved[CPU_INCIDENT]["duration_seconds"] == 1500
    assert resolved[CPU_INCIDENT]["alert_count"] == 3
    assert resolved[ANOMALY]["resolved_by"] == "lee"
    assert not any(k.startswith("gsi") or k in ("pk", "sk") for i in found for k in i)

    status, out, _ = run(capsys, "list", "--status", "resolved", "--limit", "1")
    rows = out.splitlines()[2:]
    assert len(rows) == 1
    assert rows[0].split()[0] == ANOMALY  # newest first: 07:31:04 after 07:30:00
    assert "30m 00s" in rows[0]


def test_show_incident_with_its_events_in_time_order(
    seeded: str, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, _ = run(capsys, "show", CPU_INCIDENT)
    assert status == 0
    assert f"Incident:         {CPU_INCIDENT}" in out
    assert "Status:           resolved" in out
    assert "Alerts:           3" in out
    assert "Resolved:         2024-01-12 07:55:00 by cloudwatch:OK after 25m 00s" in out
    assert "Notifications (3):" in out
    table = out.split("Notifications (3):\n", 1)[1].splitlines()
    assert [r.split()[:4] for r in table[2:]] == [
        ["2024-01-12", "07:30:00", "ALARM", "opened"],
        ["2024-01-12", "07:35:00", "ALARM", "joined"],
        ["2024-01-12", "07:55:00", "OK", "resolved"],
    ]

    status, out, _ = run(capsys, "show", CPU_INCIDENT, "--json")
    shown = json.loads(out)
    assert shown["incident"]["incident_id"] == CPU_INCIDENT
    events = shown["events"]
    assert [e["message_id"] for e in events] == [
        "7b2e4f1a-3c5d-5e6f-8a9b-0c1d2e3f4a5b",
        "m-cpu-second",
        "c4d8e2b6-1f3a-5b7c-9d0e-2a4b6c8d0e1f",
    ]
    assert events[0]["raw_payload"] == load_event("cpu_alarm.json")["Records"][0]["Sns"]["Message"]


def test_show_unknown_incident_fails_cleanly(
    seeded: str, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, err = run(capsys, "show", "INC-19990101000000-0000000000000000")
    assert status == 1
    assert out == ""
    assert "no incident INC-19990101000000-0000000000000000" in err


def test_acknowledge_records_who_when_and_note(
    seeded: str, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, _ = run(capsys, "ack", MEMORY, "--by", "park", "--note", "watching swap")
    assert status == 0
    assert out.startswith(f"{MEMORY} acknowledged by park at ")
    item = incidents.get_incident(MEMORY)
    assert item is not None
    assert item["status"] == "acknowledged"
    assert item["acknowledged_by"] == "park"
    assert item["ack_note"] == "watching swap"
    acked = datetime.fromisoformat(item["acknowledged_at"].replace("Z", "+00:00"))
    assert abs((datetime.now(UTC) - acked).total_seconds()) < 60
    _, out, _ = run(capsys, "show", MEMORY)
    assert "Acknowledged:     park at " in out
    assert "Ack note:         watching swap" in out

    # Twice, or after the resolve: refused, saying why.
    status, _, err = run(capsys, "ack", MEMORY, "--by", "choi")
    assert status == 1
    assert "already acknowledged by park" in err
    status, _, err = run(capsys, "ack", CPU_INCIDENT, "--by", "choi")
    assert status == 1
    assert "already resolved" in err


def test_manual_resolve_closes_the_alarm_state(
    seeded: str, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, _ = run(capsys, "resolve", CPU_AGAIN, "--by", "kim", "--note", "false alarm")
    assert status == 0
    assert out.startswith(f"{CPU_AGAIN} resolved by kim at ")
    item = incidents.get_incident(CPU_AGAIN)
    assert item is not None
    assert (item["status"], item["resolved_by"], item["resolve_note"]) == (
        "resolved",
        "kim",
        "false alarm",
    )
    assert item["duration_seconds"] > 0
    state = boto3.client("dynamodb").get_item(
        TableName=TABLE, Key={"pk": {"S": f"ALARM#{CPU_KEY}"}, "sk": {"S": "STATE"}}
    )["Item"]
    assert "open_incident_id" not in state
    # ALARMs up to the incident's last one cannot open another (a late copy after the resolve).
    assert state["closed_through"] == {"S": "2024-01-14T12:05:00.000Z"}

    # The alarm's next ALARM opens a new incident; a late OK no longer resolves anything.
    handler = load_handler()
    nxt = variant("cpu_alarm.json", message_id="m-next", at="2024-01-20T00:00:00.000+0000")
    assert handler(nxt, FakeLambdaContext("alarm-history"))["stored"] == {"m-next": "opened"}
    ok = variant("cpu_ok.json", message_id="m-ok-old", at="2024-01-14T13:00:00.000+0000")
    assert handler(ok, FakeLambdaContext("alarm-history"))["stored"] == {"m-ok-old": "stored"}

    status, _, err = run(capsys, "resolve", CPU_AGAIN, "--by", "kim")
    assert status == 1
    assert "already resolved by kim" in err


def test_summary_of_a_day(seeded: str, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "summary", "--since", "2024-01-12", "--until", "2024-01-12")
    assert status == 0
    assert "Period (UTC):          2024-01-12 .. 2024-01-12" in out
    assert "Incidents opened:      6 (active 3, acknowledged 1, resolved 2)" in out
    assert "Notifications:         10 (ALARM 7, INSUFFICIENT_DATA 1, OK 1, unparsed 1)" in out
    assert "Mean time to resolve:  27m 30s" in out  # (1500 s + 1800 s) / 2
    assert "p90 time to resolve:   30m 00s" in out
    noisy = out.split("Noisiest alarms:\n", 1)[1].splitlines()
    assert noisy[2].split() == ["OTT-DB-CPU-Utilization-High", "4", "1"]
    assert len(noisy) == 2 + 5


def test_summary_json_over_several_days(seeded: str, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(
        capsys, "summary", "--since", "2024-01-12", "--until", "2024-01-15", "--json"
    )
    assert status == 0
    report = json.loads(out)
    assert report["incidents"] == 7
    assert report["notifications"] == 17
    assert report["resolved"] == 2
    assert report["mean_time_to_resolve_seconds"] == 1650
    assert report["p90_time_to_resolve_seconds"] == 1800
    top = report["noisiest_alarms"][0]
    assert top == {"alarm_name": "OTT-DB-CPU-Utilization-High", "notifications": 5, "incidents": 2}

    status, _, err = run(capsys, "summary", "--since", "2024-01-15", "--until", "2024-01-12")
    assert status == 1
    assert "before --since" in err


def test_table_flag_and_missing_table(
    seeded: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HISTORY_TABLE_NAME")
    status, _, err = run(capsys, "list")
    assert status == 2
    assert "HISTORY_TABLE_NAME" in err
    status, out, _ = run(capsys, "list", "--table", TABLE, "--status", "acknowledged")
    assert status == 0
    assert CONNECTIONS in out


def test_cli_never_scans(seeded: str, capsys: pytest.CaptureFixture[str]) -> None:
    from alert_service import clients

    calls: list[str] = []
    clients.client("dynamodb").meta.events.register(
        "before-call.dynamodb", lambda model, **_: calls.append(model.name)
    )
    for argv in (
        ["list", "--status", "all"],
        ["show", CPU_INCIDENT],
        ["summary", "--since", "2024-01-12", "--until", "2024-01-15"],
    ):
        assert cli.main(argv) == 0
    capsys.readouterr()
    assert set(calls) <= {"Query", "GetItem"}
    assert "Query" in calls


def test_console_script_runs(seeded: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # The installed entry point, in a fresh process, against the same local endpoint.
    script = ROOT / ".venv" / "bin" / "alert-incidents"
    command: list[Any] = (
        [str(script)] if script.exists() else [sys.executable, "-m", "alert_service.cli"]
    )
    result = subprocess.run(  # noqa: S603 - fixed arguments
        [*command, "list", "--status", "resolved", "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert {i["incident_id"] for i in json.loads(result.stdout)} == {CPU_INCIDENT, ANOMALY}


def test_summary_never_reads_the_stored_payloads(
    seeded: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A day's notifications come from gsi1slim (state and alarm name only), never whole."""
    from alert_service import clients

    indexes: list[str] = []
    returned: set[str] = set()
    events = clients.client("dynamodb").meta.events
    events.register(
        "before-parameter-build.dynamodb.Query",
        lambda params, **_: indexes.append(params.get("IndexName", "")),
    )
    events.register(
        "after-call.dynamodb.Query",
        lambda parsed, **_: returned.update(k for i in parsed.get("Items", []) for k in i),
    )
    assert cli.main(["summary", "--since", "2024-01-12", "--until", "2024-01-15"]) == 0
    capsys.readouterr()
    assert indexes.count("gsi1slim") == 4  # one Query per day
    assert set(indexes) == {"gsi1", "gsi1slim"}  # gsi1: the incidents by status
    assert "raw_payload" not in returned
    assert {"state", "alarm_name"} <= returned

    # The index itself (template.yaml's) holds nothing more than the keys and those two.
    whole = boto3.client("dynamodb").query(
        TableName=TABLE,
        IndexName="gsi1slim",
        KeyConditionExpression="gsi1pk = :pk",
        ExpressionAttributeValues={":pk": {"S": "DAY#2024-01-12"}},
    )["Items"]
    assert len(whole) == 10
    assert set().union(*whole) <= {"pk", "sk", "gsi1pk", "gsi1sk", "state", "alarm_name"}


# --- issues 12, 13, 14: severity, silences, flapping, route, digest --------------------------
def tag_alarm(name: str, severity: str) -> None:
    from test_severity import put_alarm

    put_alarm(boto3.client("cloudwatch"), name, {"severity": severity})


@pytest.fixture
def history(aws: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Any:
    """The history handler; its log lines are dropped, so the CLI's output is read alone."""
    create_history_table()
    monkeypatch.setenv("HISTORY_TABLE_NAME", TABLE)
    handler = load_handler()

    def notify(event: dict[str, Any]) -> None:
        handler(event, FakeLambdaContext("alarm-history"))
        capsys.readouterr()

    return notify


def test_list_by_severity_and_show_it(history: Any, capsys: pytest.CaptureFixture[str]) -> None:
    tag_alarm("OTT-DB-FreeableMemory-Low", "critical")
    history(load_event("freeable_memory_alarm.json"))
    history(load_event("cpu_alarm.json"))  # untagged: no severity
    status, out, _ = run(capsys, "list", "--severity", "CRITICAL", "--json")
    assert status == 0
    assert [i["alarm_name"] for i in json.loads(out)] == ["OTT-DB-FreeableMemory-Low"]
    status, out, _ = run(capsys, "list", "--severity", "warning")
    assert (status, out.strip()) == (0, "No open warning incidents.")
    (memory,) = json.loads(run(capsys, "list", "--severity", "critical", "--json")[1])
    status, out, _ = run(capsys, "show", memory["incident_id"])
    assert "Severity:" in out
    assert "critical" in out


def test_silence_commands_and_show_says_silenced(
    history: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from datetime import timedelta

    status, out, err = run(
        capsys,
        "silence",
        "add",
        "--match",
        "OTT-DB-CPU-*",
        "--for",
        "2h",
        "--comment",
        "failover test",
        "--by",
        "kim",
        "--json",
    )
    assert status == 0, err
    silence = json.loads(out)
    assert silence["status"] == "active"
    # After the silence's start (now, to the microsecond; CloudWatch times have whole seconds).
    at = (datetime.now(UTC) + timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%S.000+0000")
    history(variant("cpu_alarm.json", message_id="m-held", at=at))
    (opened,) = json.loads(run(capsys, "list", "--json")[1])
    status, out, _ = run(capsys, "show", opened["incident_id"])
    assert "Silenced:" in out
    assert silence["id"] in out
    assert "silenced" in out.split("Notifications")[1]  # the notification's HELD column
    status, out, _ = run(capsys, "list")
    assert out.splitlines()[2].split()[-1] == "silenced"  # MARKS
    status, out, _ = run(capsys, "silence", "list")
    assert "held     1 notification" in out
    status, out, _ = run(capsys, "silence", "expire", silence["id"], "--by", "kim")
    assert status == 0
    assert f"{silence['id']} expired by kim" in out
    status, _, err = run(capsys, "silence", "expire", silence["id"], "--by", "kim")
    assert status == 1
    assert "already ended" in err


def test_show_says_flapping(
    history: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from alert_service.silences import settings as quiet_settings

    monkeypatch.setenv("FLAP_THRESHOLD", "2")
    quiet_settings.flap_settings.cache_clear()
    history(variant("cpu_alarm.json", message_id="m-1", at="2024-01-12T07:30:00.000+0000"))
    history(
        variant(
            "cpu_alarm.json",
            message_id="m-2",
            state="INSUFFICIENT_DATA",
            at="2024-01-12T07:31:00.000+0000",
        )
    )
    _, out, _ = run(capsys, "show", CPU_INCIDENT)
    assert "Flapping:" in out
    assert "since 2024-01-12 07:31:00" in out
    assert run(capsys, "list")[1].splitlines()[2].split()[-1] == "flapping"


def test_route_and_digest_are_handed_their_arguments(
    history: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HISTORY_TABLE_NAME")  # route reads no table
    event = str(ROOT / "events" / "cpu_alarm.json")
    rules = str(ROOT / "routing.yaml")
    status, out, err = run(capsys, "route", event, "--rules", rules, "--severity", "critical")
    assert status == 0, err
    assert "notification" in out
    assert "severity    critical" in out
    monkeypatch.setenv("HISTORY_TABLE_NAME", TABLE)
    history(load_event("cpu_alarm.json"))
    status, out, err = run(
        capsys, "digest", "--since", "2024-01-12T00:00Z", "--until", "2024-01-13T00:00Z", "--json"
    )
    assert status == 0, err
    report = json.loads(out)
    assert "read" in err  # the read cost goes to stderr
    assert report
