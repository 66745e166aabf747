"""``alert-incidents silence add|list|expire`` against moto's DynamoDB over HTTP, as an operator
types it (the module's own entry point, and the ``add_subcommands`` seam cli.py will use)."""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from alert_service.alarm import Alarm, State
from alert_service.silences import cli, store
from alert_service.silences.store import SilenceStore
from conftest import ROOT
from test_alarm_history import TABLE, create_history_table

NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
def table(aws: str, monkeypatch: pytest.MonkeyPatch) -> str:
    create_history_table()
    monkeypatch.setenv("HISTORY_TABLE_NAME", TABLE)
    store.reset()
    return TABLE


def run(*argv: str, at: datetime = NOW) -> tuple[int, str]:
    out = io.StringIO()
    status = cli.main(list(argv), out=out, clock=lambda: at)
    return status, out.getvalue()


def add(*extra: str, at: datetime = NOW) -> dict[str, Any]:
    status, text = run(
        "silence",
        "add",
        "--match",
        "OTT-DB-*",
        "--comment",
        "failover test",
        "--by",
        "kim",
        "--json",
        *extra,
        at=at,
    )
    assert status == 0, text
    return json.loads(text)


def test_add_list_expire_as_an_operator_sees_them(table: str) -> None:
    status, text = run(
        "silence",
        "add",
        "--match",
        "OTT-DB-*",
        "--for",
        "2h",
        "--comment",
        "failover test",
        "--by",
        "kim",
    )
    assert status == 0
    silence_id = text.split()[0]
    assert silence_id.startswith("SIL-")
    assert "active  ends in 2h 00m" in text
    assert "kim: failover test" in text

    # It holds what it says, for the notification path.
    silences = SilenceStore(table)
    assert silences.matching(
        Alarm(name="OTT-DB-CPU", state=State.ALARM), NOW + timedelta(minutes=1)
    )

    pending = add("--start", (NOW + timedelta(hours=1)).isoformat(), "--for", "30m")
    status, text = run("silence", "list", at=NOW + timedelta(minutes=30))
    assert status == 0
    blocks = text.strip().split("\nSIL-")
    assert blocks[0].startswith(f"{silence_id}  active  ends in 1h 30m")
    assert f"{pending['id'].removeprefix('SIL-')}  pending  starts in 30m 00s" in blocks[1]

    status, text = run(
        "silence", "expire", silence_id, "--by", "lee", at=NOW + timedelta(minutes=40)
    )
    assert status == 0
    assert f"{silence_id} expired by lee" in text
    status, text = run("silence", "list", "--json", at=NOW + timedelta(minutes=41))
    listed = {s["id"]: s for s in json.loads(text)}
    assert listed[silence_id]["status"] == "expired"
    assert listed[silence_id]["expired_by"] == "lee"
    assert listed[pending["id"]]["status"] == "pending"
    assert listed[pending["id"]]["seconds_left"] == pytest.approx(19 * 60)


def test_a_silence_that_held_nothing_is_pointed_out_once_ended(table: str) -> None:
    idle = add("--for", "1h")
    used = add("--for", "1h", "--region", "ap-northeast-2")
    SilenceStore(table).record_hit(used["id"])
    _, text = run("silence", "list", at=NOW + timedelta(minutes=10))
    assert cli.NOTHING_MATCHED not in text  # still active: it may yet hold something
    assert "held     nothing yet" in text
    _status, text = run("silence", "list", at=NOW + timedelta(hours=2))
    idle_block = text[text.index(idle["id"]) :].split("\nSIL-")[0]
    used_block = text[text.index(used["id"]) :].split("\nSIL-")[0]
    assert cli.NOTHING_MATCHED in idle_block
    assert "held     1 notification" in used_block
    assert "region ap-northeast-2" in used_block
    listed = json.loads(run("silence", "list", "--json", at=NOW + timedelta(hours=2))[1])
    assert {s["id"]: s["matched_nothing"] for s in listed} == {idle["id"]: True, used["id"]: False}


def test_silences_older_than_30_days_are_not_listed(table: str) -> None:
    add("--for", "1h")
    assert run("silence", "list", "--json", at=NOW + timedelta(days=29))[1].count('"id"') == 1
    status, text = run("silence", "list", at=NOW + timedelta(days=31))
    assert status == 0
    assert "no silences" in text


def test_a_silence_longer_than_7_days_is_refused_and_nothing_stored(
    table: str, capsys: pytest.CaptureFixture[str]
) -> None:
    status, _ = run("silence", "add", "--match", "X*", "--comment", "c", "--by", "k", "--for", "8d")
    assert status == 1
    assert "at most 7 days" in capsys.readouterr().err
    assert SilenceStore(table).recent(NOW) == []


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--for", "2 hours"], "use a number and s, m, h or d"),
        (["--for", "1h", "--end", "2030-01-01T00:00"], "not allowed with argument"),
        ([], "one of the arguments --for --end is required"),
        (["--for", "1h", "--start", "tomorrow"], "is not ISO 8601"),
    ],
)
def test_usage_errors_say_why_and_store_nothing(
    table: str, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    with pytest.raises(SystemExit) as raised:
        run("silence", "add", "--match", "X*", "--comment", "c", "--by", "k", *argv)
    assert raised.value.code == 2
    assert message in capsys.readouterr().err
    assert SilenceStore(table).recent(NOW) == []


def test_comment_and_author_are_required(table: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        run("silence", "add", "--match", "X*", "--for", "1h", "--by", "k")
    assert "--comment" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        run("silence", "add", "--match", "X*", "--for", "1h", "--comment", "c")
    assert "--by" in capsys.readouterr().err


def test_expiring_an_unknown_or_ended_silence_fails_clearly(
    table: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run("silence", "expire", "SIL-nope", "--by", "k")[0] == 1
    assert "no silence SIL-nope" in capsys.readouterr().err
    silence = add("--for", "1h")
    assert run("silence", "expire", silence["id"], "--by", "k", at=NOW + timedelta(hours=2))[0] == 1
    assert "already ended" in capsys.readouterr().err


def test_add_subcommands_plugs_into_another_parser_with_its_shared_options(table: str) -> None:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true")
    common.add_argument("--table")
    parser = argparse.ArgumentParser(prog="alert-incidents")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", parents=[common])  # an existing command stays
    cli.add_subcommands(commands, parents=[common], clock=lambda: NOW)
    args = parser.parse_args(
        [
            "silence",
            "add",
            "--match",
            "A*",
            "--for",
            "1h",
            "--comment",
            "c",
            "--by",
            "k",
            "--table",
            table,
            "--json",
        ]
    )
    out = io.StringIO()
    assert args.run(args, out) == 0
    assert json.loads(out.getvalue())["match"] == "A*"


def test_runs_as_a_command(table: str, aws: str) -> None:
    result = subprocess.run(  # noqa: S603 - fixed arguments
        [
            sys.executable,
            "-m",
            "alert_service.silences.cli",
            "silence",
            "add",
            "--match",
            "OTT-DB-*",
            "--for",
            "2h",
            "--comment",
            "failover test",
            "--by",
            "kim",
            "--table",
            table,
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "added" in result.stdout
