"""The BUILT SlackIncidentFunction through the local pipeline, as Lambda runs it.

Notifications are published to the topic in moto; the built AlarmHistoryFunction writes the
history; the pipeline reads the table's stream from moto and hands the records, in Lambda's event
shape, to the built SlackIncidentFunction (a worker whose path holds only the built function, the
built layer and boto3), which talks to the loopback Slack Web API over HTTP.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from test_built_artifacts import load, with_new_message_ids

from local import BUILD_DIR, EVENTS_DIR
from local.runtime import RUNTIME_PYTHON

FUNCTION = "SlackIncidentFunction"

pytestmark = [
    pytest.mark.skipif(
        not (BUILD_DIR / FUNCTION).is_dir(), reason="run `make build` (make test does)"
    ),
    pytest.mark.skipif(not RUNTIME_PYTHON.exists(), reason="run `make test` (runtime venv)"),
]


def event(name: str, **fields: Any) -> dict[str, Any]:
    """A sample event under new MessageIds, with some alarm message fields replaced."""
    data = with_new_message_ids(load(EVENTS_DIR / name))
    for record in data["Records"] if fields else []:
        message = {**json.loads(record["Sns"]["Message"]), **fields}
        record["Sns"]["Message"] = json.dumps(message)
    return data


@pytest.fixture(scope="module")
def stack() -> Iterator[Any]:
    from local.pipeline import LocalPipeline

    with LocalPipeline(functions=["AlarmHistoryFunction", FUNCTION]) as pipeline:
        yield pipeline


@pytest.fixture
def fresh(stack: Any) -> Any:
    stack.slack_api.clear()
    return stack


def card_text(payload: dict[str, Any]) -> str:
    return json.dumps(
        {k: payload.get(k) for k in ("text", "blocks", "attachments")}, ensure_ascii=False
    )


def test_the_built_function_starts_cold(stack: Any) -> None:
    with stack.fresh_worker(FUNCTION) as worker:
        init = worker.init
        assert init.ok, f"{init.error_type}: {init.error_message}\n{init.traceback}"
        empty = worker.invoke({"Records": []})
    assert empty.ok, empty.error_message
    assert empty.result == {"batchItemFailures": []}


def test_an_incident_becomes_one_card_kept_up_to_date(fresh: Any) -> None:
    later = "2024-01-12T07:40:00.000+0000"
    runs = [
        *fresh.publish(event("cpu_alarm.json")),
        *fresh.publish(event("cpu_alarm.json", StateChangeTime=later)),
        *fresh.publish(event("cpu_ok.json")),
    ]
    stream_runs = [d for d in runs if d.function == FUNCTION]
    assert stream_runs, "the stream reached the built function"
    for run in runs:
        assert run.invocation.ok, f"{run.invocation.error_type}: {run.invocation.error_message}"
    for run in stream_runs:
        assert run.event["Records"][0]["eventSource"] == "aws:dynamodb"
        assert isinstance(run.event["Records"][0]["dynamodb"]["ApproximateCreationDateTime"], int)
        assert run.invocation.result == {"batchItemFailures": []}

    roots = fresh.slack_api.roots()
    assert len(roots) == 1
    root = roots[0]
    assert len(root.replies) == 2  # the second ALARM, and the OK that resolved it
    text = card_text(root.payload)
    assert "resolved" in text
    assert "incident_ack" not in text
    table = fresh.specs["AlarmHistoryFunction"].environment["HISTORY_TABLE_NAME"]
    incident_id = root.payload["text"].split(" · ")[1]
    item = fresh.aws.client("dynamodb").get_item(
        TableName=table, Key={"pk": {"S": f"INC#{incident_id}"}, "sk": {"S": "META"}}
    )["Item"]
    assert item["slack_ts"]["S"] == root.ts
    assert item["status"]["S"] == "resolved"

    # The same batches again (the stream delivers at least once): nothing new in Slack.
    calls = len(fresh.slack_api.calls)
    for run in stream_runs:
        again = fresh.workers[FUNCTION].invoke(run.event)
        assert again.ok
        assert again.result == {"batchItemFailures": []}
    assert len(fresh.slack_api.calls) == calls


def test_a_notice_is_one_top_level_message(fresh: Any) -> None:
    fresh.publish(event("plain_text.json"))
    roots = fresh.slack_api.roots()
    assert len(roots) == 1
    assert roots[0].replies == []
    assert "thread_ts" not in roots[0].payload


def test_slack_errors_are_reported_per_record_without_the_token(fresh: Any) -> None:
    from local.slack_api import BOT_TOKEN

    fresh.slack_api.fail_next("invalid_auth", times=50)
    runs = fresh.publish(event("database_connections_alarm.json"))
    stream_runs = [d for d in runs if d.function == FUNCTION]
    assert stream_runs
    first = stream_runs[0].invocation
    assert first.ok  # reported, not raised: only the failed records come again
    assert first.result["batchItemFailures"]
    for run in stream_runs:
        assert BOT_TOKEN not in "\n".join(run.invocation.logs)
    assert any("invalid_auth" in line for line in first.logs)
    fresh.slack_api.clear()
