"""Silences and flapping against moto's DynamoDB over real HTTP (issue 12).

The table is AlarmHistoryTable as the template declares it; assertions read items back with a
separate client. Flapping is driven by two trackers per notification, standing for the two channel
functions (Slack relay, fan-out) that evaluate the same SNS message independently.
"""

from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from alert_service import delivery
from alert_service.alarm import Alarm, Notification, State
from alert_service.history import incident_key
from alert_service.silences import ended, store
from alert_service.silences.flapping import FlapKind, FlapTracker
from alert_service.silences.model import SilenceError, new_silence
from alert_service.silences.settings import FlapSettings
from alert_service.silences.store import SilenceStore
from conftest import FakeLambdaContext
from test_alarm_history import (
    TABLE,
    RequestCounter,
    create_history_table,
    get,
    load_handler,
    variant,
)

ACCOUNT, REGION = "123456789012", "ap-northeast-2"
T0 = datetime(2024, 1, 12, 7, 0, tzinfo=UTC)
SETTINGS = FlapSettings(threshold=6, window=timedelta(minutes=30))


@pytest.fixture
def table(aws: str, monkeypatch: pytest.MonkeyPatch) -> str:
    create_history_table()
    monkeypatch.setenv("HISTORY_TABLE_NAME", TABLE)
    store.reset()
    yield TABLE
    store.reset()


def alarm(name: str = "OTT-DB-CPU-Utilization-High", state: str = "ALARM", **kw: Any) -> Alarm:
    kw.setdefault("account", ACCOUNT)
    kw.setdefault("region", REGION)
    return Alarm(name=name, state=State(state), **kw)


def change(n: int, minute: float, name: str = "OTT-DB-Flappy") -> Notification:
    """The n-th change of one alarm, ``minute`` minutes after T0; ALARM and OK alternate."""
    at = T0 + timedelta(minutes=minute)
    return Notification(
        message_id=f"m-{name}-{n:03d}",
        raw_message="{}",
        alarm=alarm(name, "ALARM" if n % 2 == 0 else "OK", state_changed_at=at),
    )


def all_items(pk_prefix: str) -> list[dict[str, Any]]:
    from alert_service import dynamodb

    return [
        dynamodb.deserialize(i)
        for i in boto3.client("dynamodb").scan(TableName=TABLE)["Items"]
        if i["pk"]["S"].startswith(pk_prefix)
    ]


# --- silences: the store ---------------------------------------------------------------------
def test_a_silence_is_stored_with_its_type_index_keys_and_ttl_30_days_after_its_end(
    table: str,
) -> None:
    now = datetime.now(UTC)
    silence = new_silence(
        match="OTT-DB-*",
        created_by="kim",
        comment="failover test",
        now=now,
        duration=timedelta(hours=2),
        region=REGION,
    )
    SilenceStore(table).add(silence)

    item = get(f"SILENCE#{silence.id}", "SILENCE")
    assert item is not None
    assert item["type"] == "silence"  # the stream projection ignores it by this attribute
    assert item["match"] == "OTT-DB-*"
    assert item["region"] == REGION
    assert "account" not in item
    assert item["created_by"] == "kim"
    assert item["comment"] == "failover test"
    assert item["gsi1pk"] == "SILENCES"
    assert item["gsi1sk"].startswith(item["ends_at"])
    end = now + timedelta(hours=2)
    assert int(item["expires_at"]) == int((end + timedelta(days=30)).timestamp())
    assert item["hits"] == 0


def test_matching_holds_by_glob_account_region_and_the_alarms_own_time(table: str) -> None:
    now = datetime.now(UTC)
    silences = SilenceStore(table)
    db = silences.add(
        new_silence(
            match="OTT-DB-*", created_by="kim", comment="c", now=now, duration=timedelta(hours=1)
        )
    )
    scoped = silences.add(
        new_silence(
            match="*-CPU-*",
            created_by="lee",
            comment="c",
            now=now,
            duration=timedelta(hours=1),
            account="999999999999",
        )
    )
    silences.add(
        new_silence(
            match="OTT-DB-*",
            created_by="park",
            comment="later",
            now=now,
            starts_at=now + timedelta(hours=2),
            duration=timedelta(hours=1),
        )
    )
    inside = now + timedelta(minutes=5)
    assert [s.id for s in silences.matching(alarm("OTT-DB-CPU-High"), inside)] == [db.id]
    assert silences.matching(alarm("OTT-API-CPU-High"), inside) == []
    other_account = alarm("OTT-API-CPU-High", account="999999999999")
    assert [s.id for s in silences.matching(other_account, inside)] == [scoped.id]
    # A retry judged at the alarm's time: before the silence started it was not held.
    assert silences.matching(alarm("OTT-DB-CPU-High"), now - timedelta(minutes=1)) == []
    # Case matters, as in CloudWatch.
    assert silences.matching(alarm("ott-db-cpu-high"), inside) == []


def test_matching_costs_one_query_per_cache_period_however_many_notifications(
    table: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from alert_service.silences import settings

    settings.silence_cache_seconds.cache_clear()
    monkeypatch.setenv("SILENCE_CACHE_SECONDS", "60")
    now = datetime.now(UTC)
    silences = SilenceStore(table)
    silences.add(
        new_silence(
            match="OTT-*", created_by="k", comment="c", now=now, duration=timedelta(hours=1)
        )
    )
    counter = RequestCounter()
    held = [silences.matching(alarm(f"OTT-DB-{n}"), now) for n in range(50)]
    assert all(len(h) == 1 for h in held)
    assert counter.take()[0] == ["Query"]
    settings.silence_cache_seconds.cache_clear()


def test_expire_ends_it_now_and_a_second_expire_is_refused(table: str) -> None:
    now = datetime.now(UTC)
    silences = SilenceStore(table)
    silence = silences.add(
        new_silence(
            match="OTT-*", created_by="k", comment="c", now=now, duration=timedelta(hours=1)
        )
    )
    later = now + timedelta(minutes=10)
    ended_silence = silences.expire(silence.id, by="lee", now=later)
    assert ended_silence.ends_at == later
    assert ended_silence.expired_by == "lee"
    item = get(f"SILENCE#{silence.id}", "SILENCE")
    assert item is not None
    assert item["expired_by"] == "lee"
    assert int(item["expires_at"]) == int((later + timedelta(days=30)).timestamp())
    assert silences.matching(alarm("OTT-DB-X"), later + timedelta(seconds=1)) == []
    with pytest.raises(SilenceError, match="already ended"):
        silences.expire(silence.id, by="lee", now=later + timedelta(minutes=1))
    with pytest.raises(SilenceError, match="no silence"):
        silences.expire("SIL-nope", by="lee", now=later)


def test_hits_are_exact_under_twenty_concurrent_notifications(table: str) -> None:
    now = datetime.now(UTC)
    silences = SilenceStore(table)
    silence = silences.add(
        new_silence(
            match="OTT-*", created_by="k", comment="c", now=now, duration=timedelta(hours=1)
        )
    )
    barrier = threading.Barrier(20)

    def hit() -> None:
        barrier.wait()
        silences.record_hit(silence.id)

    threads = [threading.Thread(target=hit) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stored = silences.get(silence.id)
    assert stored is not None
    assert stored.hits == 20


def test_a_hit_on_a_silence_removed_by_ttl_leaves_no_listed_stub(table: str) -> None:
    SilenceStore(table).record_hit("SIL-gone")
    stub = get("SILENCE#SIL-gone", "SILENCE")
    assert stub is not None
    assert stub["type"] == "silence"
    assert "gsi1pk" not in stub
    assert "expires_at" in stub
    assert SilenceStore(table).recent(datetime.now(UTC)) == []


# --- silences: ended while the alarm is still in ALARM -----------------------------------------
def seed_open_incidents(table: str) -> None:
    """Real incidents, written by AlarmHistoryFunction: CPU in ALARM, Memory ALARM then OK."""
    handler = load_handler()
    ctx = FakeLambdaContext("alarm-history")
    handler(variant("cpu_alarm.json", message_id="h-cpu"), ctx)
    handler(variant("freeable_memory_alarm.json", message_id="h-mem"), ctx)
    handler(
        variant(
            "freeable_memory_alarm.json",
            message_id="h-mem-ok",
            state="OK",
            at="2024-01-12T09:00:00.000+0000",
        ),
        ctx,
    )


def test_a_silence_that_ends_while_its_alarm_is_in_alarm_gives_one_notice(table: str) -> None:
    seed_open_incidents(table)
    now = datetime.now(UTC)
    silences = SilenceStore(table)
    silence = silences.add(
        new_silence(
            match="OTT-DB-*",
            created_by="kim",
            comment="failover",
            now=now,
            duration=timedelta(minutes=30),
        )
    )
    # Still active: nothing to say.
    assert ended.still_alarming(silences, now + timedelta(minutes=10)) == []

    after = now + timedelta(minutes=31)
    notices = ended.still_alarming(silences, after)
    assert len(notices) == 1
    notice = notices[0]
    assert notice.silence.id == silence.id
    assert notice.notice_id == f"silence-ended#{silence.id}"
    # CPU is still in ALARM; the memory alarm recovered (OK): only CPU is named.
    assert [a.name for a in notice.alarms] == ["OTT-DB-CPU-Utilization-High"]
    assert notice.alarms[0].incident_id.startswith("INC-20240112073000-")

    # Until marked checked (after every channel has it), it is handed out again (retry-safe).
    assert len(ended.still_alarming(silences, after)) == 1
    ended.checked(silences, notice.silence, after)
    assert ended.still_alarming(silences, after + timedelta(minutes=1)) == []


def test_no_notice_while_another_silence_still_holds_the_alarm(table: str) -> None:
    seed_open_incidents(table)
    now = datetime.now(UTC)
    silences = SilenceStore(table)
    silences.add(
        new_silence(
            match="OTT-DB-*", created_by="a", comment="c", now=now, duration=timedelta(minutes=30)
        )
    )
    silences.add(
        new_silence(
            match="*CPU*", created_by="b", comment="c", now=now, duration=timedelta(hours=2)
        )
    )
    assert ended.still_alarming(silences, now + timedelta(minutes=31)) == []
    # ... and the ended one was marked, so it is not reconsidered later.
    assert ended.still_alarming(silences, now + timedelta(hours=3)) != []  # the 2h one ended now
    notices = ended.still_alarming(silences, now + timedelta(hours=3))
    assert [n.silence.created_by for n in notices] == ["b"]


def test_an_expired_silence_counts_as_ended(table: str) -> None:
    seed_open_incidents(table)
    now = datetime.now(UTC)
    silences = SilenceStore(table)
    silence = silences.add(
        new_silence(
            match="OTT-DB-CPU*", created_by="a", comment="c", now=now, duration=timedelta(hours=2)
        )
    )
    silences.expire(silence.id, by="a", now=now + timedelta(minutes=5))
    notices = ended.still_alarming(silences, now + timedelta(minutes=6))
    assert [n.silence.id for n in notices] == [silence.id]


# --- flapping ----------------------------------------------------------------------------------
def decide_both(trackers: list[FlapTracker], notification: Notification) -> list[FlapKind]:
    return [t.observe(notification).kind for t in trackers]


def test_the_sixth_change_in_the_window_starts_flapping_then_changes_are_held(table: str) -> None:
    slack, fanout = FlapTracker(table, SETTINGS), FlapTracker(table, SETTINGS)
    kinds = [decide_both([slack, fanout], change(n, n * 2)) for n in range(9)]
    assert (
        kinds
        == [[FlapKind.NORMAL] * 2] * 5 + [[FlapKind.STARTED] * 2] + [[FlapKind.FLAPPING] * 2] * 3
    )
    started = slack.observe(change(5, 10))
    assert started.notice_id == f"flapping#{incident_key(change(5, 10).alarm)}#{started.since}"
    assert started.changes == 6
    state = get(f"FLAP#{incident_key(change(0, 0).alarm)}", "STATE")
    assert state is not None
    assert state["type"] == "flap_state"
    assert state["gsi1pk"] == "FLAPPING"
    # One change item per MessageId, whatever evaluated it twice.
    changes = [i for i in all_items("FLAP#") if i["type"] == "flap_change"]
    assert len(changes) == 9
    assert all(i["expires_at"] > 0 for i in changes)


def test_changes_spread_wider_than_the_window_never_flap(table: str) -> None:
    tracker = FlapTracker(table, SETTINGS)
    kinds = {tracker.observe(change(n, n * 7)).kind for n in range(20)}  # 5 per 30 min at most
    assert kinds == {FlapKind.NORMAL}


def test_a_redelivered_change_is_counted_once(table: str) -> None:
    tracker = FlapTracker(table, SETTINGS)
    for n in range(5):
        for _ in range(3):  # each delivered three times
            assert tracker.observe(change(n, n)).kind is FlapKind.NORMAL
    assert tracker.observe(change(5, 5)).kind is FlapKind.STARTED


def test_stable_for_a_window_the_next_change_ends_the_episode_with_one_summary(table: str) -> None:
    slack, fanout = FlapTracker(table, SETTINGS), FlapTracker(table, SETTINGS)
    for n in range(10):  # 6th starts, 4 held
        decide_both([slack, fanout], change(n, n))
    back = change(10, 9 + 31)  # after 31 quiet minutes: ALARM again
    first, second = slack.observe(back), fanout.observe(back)
    assert first.kind is second.kind is FlapKind.STABILISED
    assert first.summary == second.summary
    summary = first.summary
    assert summary is not None
    assert summary.held == 4  # changes 6..9
    assert summary.settled_state == "OK"  # change 9 (odd: OK) was the last before the quiet
    assert summary.alarm_name == "OTT-DB-Flappy"
    assert first.notice_id == summary.notice_id
    # The summary is pending for the sweep until marked sent (any channel that missed it).
    assert [s.notice_id for s in slack.pending_summaries()] == [summary.notice_id]
    slack.summary_sent(summary)
    assert slack.pending_summaries() == []
    # After the episode: normal again.
    assert slack.observe(change(11, 9 + 33)).kind is FlapKind.NORMAL


def test_a_change_of_an_ended_episode_seen_late_does_not_start_it_again(table: str) -> None:
    """The relay and the fan-out observe the same changes, each in its own order, and Lambda
    retries or a replay bring one again later: a change of an episode that has ended (seen by
    the other function only now) is held as it was, and the alarm's next changes are sent."""
    relay, fanout = FlapTracker(table, SETTINGS), FlapTracker(table, SETTINGS)
    changes = [change(n, n) for n in range(10)]  # the 6th starts the episode
    for c in changes:
        relay.observe(c)
    assert relay.observe(change(10, 9 + 31)).kind is FlapKind.STABILISED  # ended
    # The fan-out is late: its first changes are now seen after the end.
    late = [fanout.observe(c) for c in changes]
    assert [d.kind for d in late[:5]] == [FlapKind.NORMAL] * 5
    assert late[5].kind is FlapKind.STARTED  # the notice's id as the relay had it: once only
    assert late[5].notice_id == relay.observe(changes[5]).notice_id
    assert {d.kind for d in late[6:]} == {FlapKind.FLAPPING}
    # Not flapping again: the next change goes out.
    assert fanout.observe(change(11, 9 + 33)).kind is FlapKind.NORMAL
    assert relay.observe(change(12, 9 + 34)).kind is FlapKind.NORMAL


def test_the_sweep_ends_an_episode_when_no_change_comes(table: str) -> None:
    tracker = FlapTracker(table, SETTINGS)
    for n in range(8):
        tracker.observe(change(n, n))
    assert tracker.sweep_stable(T0 + timedelta(minutes=7 + 29)) == []  # not a window yet
    summaries = tracker.sweep_stable(T0 + timedelta(minutes=7 + 31))
    assert len(summaries) == 1
    assert summaries[0].held == 2
    assert summaries[0].settled_state == "OK"
    assert summaries[0].closed_by == "sweep"
    # Handed out again until every channel had it; then never again.
    assert tracker.sweep_stable(T0 + timedelta(minutes=40)) == summaries
    tracker.summary_sent(summaries[0])
    assert tracker.sweep_stable(T0 + timedelta(minutes=41)) == []
    state = get(f"FLAP#{incident_key(change(0, 0).alarm)}", "STATE")
    assert state is not None
    assert "gsi1pk" not in state
    assert "since" not in state


def test_twenty_concurrent_changes_give_one_flapping_decision_and_one_notice_per_channel(
    table: str, idempotency_table: str
) -> None:
    """20 changes of one alarm within the window, each evaluated at once by both channel
    functions (40 threads): exactly one MessageId starts the episode, both channels agree on
    it, and deliver_once hands each channel's notice out exactly once."""
    channels = {"slack": FlapTracker(table, SETTINGS), "email": FlapTracker(table, SETTINGS)}
    notes = [change(n, n * 0.5, name="OTT-DB-Storm") for n in range(20)]
    sent: Counter[str] = Counter()
    decisions: dict[tuple[str, str], FlapKind] = {}
    barrier = threading.Barrier(40)
    lock = threading.Lock()
    errors: list[BaseException] = []
    delivery.register_lambda_context(FakeLambdaContext())

    def run(channel: str, notification: Notification) -> None:
        try:
            barrier.wait()
            decision = channels[channel].observe(notification)
            with lock:
                decisions[channel, notification.message_id] = decision.kind
            if decision.kind is FlapKind.STARTED:

                def send() -> None:
                    with lock:
                        sent[channel] += 1

                delivery.deliver_once(channel, decision.notice_id or "", "all", send)
        except BaseException as error:
            errors.append(error)

    threads = [
        threading.Thread(target=run, args=(channel, n)) for n in notes for channel in channels
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    starters = {mid for (_, mid), kind in decisions.items() if kind is FlapKind.STARTED}
    assert len(starters) == 1
    (starter,) = starters
    assert decisions["slack", starter] is decisions["email", starter] is FlapKind.STARTED
    assert sent == {"slack": 1, "email": 1}
    changes = [i for i in all_items("FLAP#") if i["type"] == "flap_change"]
    assert len(changes) == 20
    # Every channel agrees on every notification it was not told to hold.
    for n in notes:
        assert decisions["slack", n.message_id] is decisions["email", n.message_id] or {
            decisions["slack", n.message_id],
            decisions["email", n.message_id],
        } <= {FlapKind.NORMAL, FlapKind.FLAPPING}


# --- the gate: what the decide step gets -------------------------------------------------------
def test_gate_silenced_holds_every_channel_and_announces_nothing(table: str) -> None:
    from zoneinfo import ZoneInfo

    from alert_service.config import DisplaySettings
    from alert_service.silences import gate

    now = datetime.now(UTC)
    silence = SilenceStore(table).add(
        new_silence(
            match="OTT-DB-*", created_by="k", comment="c", now=now, duration=timedelta(hours=1)
        )
    )
    display = DisplaySettings("en", ZoneInfo("UTC"), "OTT")
    held = Notification("m-held", "{}", alarm("OTT-DB-CPU", state_changed_at=now))
    quiet = gate.check(held, table=table)
    assert quiet.silence_ids == (silence.id,)
    assert all(quiet.holds(c) for c in ("slack", "email", "sms", "incident_view"))
    assert quiet.notices(held, display) == []
    free = Notification("m-free", "{}", alarm("OTT-API-CPU", state_changed_at=now))
    assert not any(gate.check(free, table=table).holds(c) for c in ("slack", "email", "sms"))
    notice = Notification("m-notice", "plain text")
    assert gate.check(notice, table=table).holds("email") is False


def test_gate_flapping_holds_per_notification_channels_but_not_the_incident_view(
    table: str,
) -> None:
    from zoneinfo import ZoneInfo

    from alert_service.config import DisplaySettings
    from alert_service.silences import gate

    display = DisplaySettings("en", ZoneInfo("UTC"), "OTT")
    quiets = [gate.check(change(n, n), table=table) for n in range(7)]
    assert [q.flap.kind for q in quiets] == [FlapKind.NORMAL] * 5 + [
        FlapKind.STARTED,
        FlapKind.FLAPPING,
    ]
    started, held = quiets[5], quiets[6]
    assert started.holds("email")
    assert not started.holds("incident_view")
    (view,) = started.notices(change(5, 5), display)
    assert view.kind == "flapping"
    assert view.notice_id == started.flap.notice_id
    assert held.holds("sms")
    assert held.holds("slack")
    assert not held.holds("incident_view")
    assert held.notices(change(6, 6), display) == []
    back = gate.check(change(7, 6 + 31), table=table)
    assert back.flap.kind is FlapKind.STABILISED
    assert not back.holds("email")  # the summary, then the message itself
    assert [v.kind for v in back.notices(change(7, 6 + 31), display)] == ["stabilised"]
