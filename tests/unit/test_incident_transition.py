"""The incident state machine (``incidents.transition``), exhaustively, without AWS.

"The state the latest notification says" is about ALARM and OK: INSUFFICIENT_DATA neither opens
nor resolves (it joins an open incident it is not older than), so an INSUFFICIENT_DATA that
arrives before the ALARM that opens an incident stays outside it.

A small in-memory table applies each ``Change`` as ``recording`` does in DynamoDB: the alarm state
is written only when it changes, field by field (``state_diff``), on condition that the change's
guards hold; an incident is only opened when new and only joined or resolved while not resolved.
Hypothesis then delivers any notifications of one alarm in any order, one at a time or
interleaved (each delivery reads the state, others commit, then it commits or decides again), and
the end state must be what the notifications' StateChangeTimes say.

Hypothesis runs derandomized with no example database, so CI sees the same examples every run.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace
from typing import Any

from alert_service.alarm import State
from alert_service.incidents.transition import (
    AlarmState,
    Change,
    IncidentWrite,
    Outcome,
    decide,
    resolved_by_hand,
    state_diff,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

KEY = "602dc7898a63e53d"
DETERMINISTIC = settings(
    derandomize=True,
    database=None,
    deadline=None,
    max_examples=400,
    suppress_health_check=[HealthCheck.too_slow],
)


def at(minute: int) -> str:
    """A StateChangeTime as ``history.iso`` writes it, ``minute`` minutes after 07:00 UTC."""
    return f"2024-01-12T{7 + minute // 60:02d}:{minute % 60:02d}:00.000Z"


@dataclass(frozen=True)
class Note:
    """One notification of the alarm: its MessageId, state and StateChangeTime."""

    message_id: str
    state: State
    at: str


@dataclass
class Incident:
    first_seen_at: str
    last_seen_at: str
    last_state: State
    status: str = "active"
    alert_count: int = 1
    members: list[Note] = field(default_factory=list)
    resolved_at: str | None = None


@dataclass
class Table:
    """The history table of one alarm, as the transactions in ``recording`` change it."""

    state: AlarmState = field(default_factory=AlarmState)
    state_exists: bool = False
    incidents: dict[str, Incident] = field(default_factory=dict)
    events: dict[str, str | None] = field(default_factory=dict)  # MessageId -> incident id

    def commit(self, note: Note, read: AlarmState, read_exists: bool, change: Change) -> bool:
        """Apply ``change`` (decided from ``read``) atomically; False when a condition fails."""
        if note.message_id in self.events:
            return True  # the event put fails first: a redelivery changes nothing
        if change.state is not None:
            if not read_exists:
                if self.state_exists:
                    return False  # the Put that only creates
            elif not all(guard.holds(self.state) for guard in change.guards):
                return False
        incident = self.incidents.get(change.incident_id or "")
        if change.incident is IncidentWrite.OPEN and incident is not None:
            raise AssertionError(f"{change.incident_id} opened twice")
        if change.incident in (IncidentWrite.JOIN, IncidentWrite.RESOLVE) and (
            incident is None or incident.status == "resolved"
        ):
            return False  # the incident update's condition
        # All conditions hold: write everything.
        if change.state is not None:
            diff = state_diff(read, change.state) if read_exists else change.state.as_fields()
            self.state = replace(self.state, **diff)
            self.state_exists = True
        self.events[note.message_id] = change.incident_id if change.incident else None
        if change.incident is IncidentWrite.OPEN:
            assert change.incident_id is not None
            incident = self.incidents[change.incident_id] = Incident(note.at, note.at, note.state)
        elif change.incident is not None:
            assert incident is not None
            incident.alert_count += 1
            if change.moves_last:
                assert note.at > incident.last_seen_at, "moved an incident backwards"
                incident.last_seen_at, incident.last_state = note.at, note.state
            if change.incident is IncidentWrite.RESOLVE:
                incident.status, incident.resolved_at = "resolved", note.at
        if incident is not None:
            incident.members.append(note)
        return True

    def record(self, note: Note) -> Outcome:
        """One delivery at a time, as when nothing runs concurrently."""
        change = decide(self.state, note.state, note.at, KEY)
        if note.message_id in self.events:
            return Outcome.DUPLICATE
        assert self.commit(note, self.state, self.state_exists, change)
        return change.outcome

    def open_incidents(self) -> list[str]:
        return [i for i, inc in self.incidents.items() if inc.status != "resolved"]


def notes_strategy() -> st.SearchStrategy[list[Note]]:
    """Notifications of one alarm over an hour, some at the same minute, some delivered twice."""
    one = st.builds(
        lambda state, minute: (state, minute),
        st.sampled_from(list(State)),
        st.integers(min_value=0, max_value=59),
    )

    def build(raw: list[tuple[State, int]], repeats: list[int]) -> list[Note]:
        notes = [Note(f"m-{n}", state, at(minute)) for n, (state, minute) in enumerate(raw)]
        return notes + [notes[i % len(notes)] for i in repeats] if notes else notes

    return st.builds(
        build,
        st.lists(one, min_size=1, max_size=12),
        st.lists(st.integers(min_value=0, max_value=50), max_size=3),
    )


def check_end_state(table: Table, notes: list[Note]) -> None:
    """What the notifications' StateChangeTimes say, whatever the order they came in."""
    distinct = {n.message_id: n for n in notes}.values()
    alarms = [n.at for n in distinct if n.state is State.ALARM]
    oks = [n.at for n in distinct if n.state is State.OK]
    should_be_open = bool(alarms) and (not oks or max(alarms) > max(oks))

    open_now = table.open_incidents()
    assert len(open_now) <= 1, "two open incidents"
    assert bool(open_now) == should_be_open
    assert table.state.open_incident_id == (open_now[0] if open_now else None)
    assert set(table.events) == {n.message_id for n in distinct}  # every one stored, once

    for incident_id, incident in table.incidents.items():
        members = incident.members
        # alert_count counts the distinct notifications stored as the incident's.
        assert incident.alert_count == len(members) == len({m.message_id for m in members})
        assert sorted(m.message_id for m in members) == sorted(
            mid for mid, inc in table.events.items() if inc == incident_id
        )
        latest = max(m.at for m in members)
        assert incident.last_seen_at == latest
        assert incident.last_state in {m.state for m in members if m.at == latest}
        assert incident_id == f"INC-20240112{incident.first_seen_at[11:19].replace(':', '')}-{KEY}"
        assert min(m.at for m in members if m.state is State.ALARM) <= incident.first_seen_at
        if incident.status == "resolved":
            # Ended by an OK not older than any of its ALARMs.
            assert incident.resolved_at is not None
            last_alarm = max(m.at for m in members if m.state is State.ALARM)
            assert incident.resolved_at >= last_alarm

    # The latest ALARM, when it is the latest word (no OK as late), is in the open incident.
    if should_be_open:
        for note in distinct:
            if note.state is State.ALARM and note.at == max(alarms):
                assert table.events[note.message_id] == open_now[0]
        latest = max(n.at for n in distinct)
        if all(n.state is State.ALARM for n in distinct if n.at == latest):
            assert table.incidents[open_now[0]].last_state is State.ALARM


@DETERMINISTIC
@given(notes_strategy(), st.randoms(use_true_random=False))
def test_any_order_ends_in_the_state_the_latest_notification_says(
    notes: list[Note], rng: random.Random
) -> None:
    shuffled = list(notes)
    rng.shuffle(shuffled)
    table = Table()
    for note in shuffled:
        table.record(note)
    check_end_state(table, notes)

    # And in time order it ends the same way (the order they happened in).
    in_order = Table()
    for note in sorted(notes, key=lambda n: n.at):
        in_order.record(note)
    check_end_state(in_order, notes)
    assert bool(in_order.open_incidents()) == bool(table.open_incidents())


@DETERMINISTIC
@given(notes_strategy(), st.randoms(use_true_random=False))
def test_interleaved_deliveries_end_in_the_same_state(
    notes: list[Note], rng: random.Random
) -> None:
    """Deliveries read, then commit later: a guard that fails makes one read again and decide
    again (as a cancelled transaction returns the state), never leaves a wrong state."""
    table = Table()
    pending: dict[int, tuple[AlarmState, bool] | None] = dict.fromkeys(range(len(notes)))
    attempts = dict.fromkeys(range(len(notes)), 0)
    while pending:
        n = rng.choice(sorted(pending))
        note, read = notes[n], pending[n]
        if read is None:
            pending[n] = (table.state, table.state_exists)
            continue
        change = decide(read[0], note.state, note.at, KEY)
        if table.commit(note, read[0], read[1], change):
            del pending[n]
        else:
            attempts[n] += 1
            assert attempts[n] <= len(notes), "no progress"
            pending[n] = None
    check_end_state(table, notes)


# --- the rules, one example each ----------------------------------------------------------------
def run(*notes: tuple[str, int]) -> tuple[Table, list[Outcome]]:
    table = Table()
    outcomes = [
        table.record(Note(f"m-{i}", State(state), at(minute)))
        for i, (state, minute) in enumerate(notes)
    ]
    return table, outcomes


def test_late_alarm_after_its_ok_opens_nothing() -> None:
    # ALARM 07:30, OK 07:40, then a retried ALARM stamped 07:35: an event only.
    table, outcomes = run(("ALARM", 30), ("OK", 40), ("ALARM", 35))
    assert outcomes == [Outcome.OPENED, Outcome.RESOLVED, Outcome.STORED]
    assert table.open_incidents() == []
    assert table.state == AlarmState(closed_through=at(40))
    # The next real ALARM opens a new incident, not one that began at 07:35.
    table.record(Note("m-next", State.ALARM, at(50)))
    assert table.open_incidents() == [f"INC-20240112075000-{KEY}"]


def test_an_older_notification_never_moves_the_incident_backwards() -> None:
    table, outcomes = run(("ALARM", 30), ("ALARM", 40), ("ALARM", 35), ("INSUFFICIENT_DATA", 32))
    assert outcomes == [Outcome.OPENED] + [Outcome.JOINED] * 3
    (incident,) = table.incidents.values()
    assert (incident.alert_count, incident.last_seen_at, incident.last_state) == (
        4,
        at(40),
        State.ALARM,
    )


def test_an_ok_older_than_the_latest_alarm_does_not_resolve() -> None:
    table, outcomes = run(("ALARM", 30), ("ALARM", 50), ("OK", 40), ("ALARM", 38), ("OK", 55))
    # The 07:40 OK is counted, not resolving; it is still a recovery: the 07:38 ALARM is older.
    assert outcomes == [
        Outcome.OPENED,
        Outcome.JOINED,
        Outcome.JOINED,
        Outcome.STORED,
        Outcome.RESOLVED,
    ]
    (incident,) = table.incidents.values()
    assert (incident.status, incident.resolved_at, incident.alert_count) == ("resolved", at(55), 4)


def test_ok_and_insufficient_data_before_the_incident_stay_outside_it() -> None:
    _, outcomes = run(("ALARM", 30), ("OK", 20), ("INSUFFICIENT_DATA", 25), ("ALARM", 10))
    assert outcomes == [Outcome.OPENED, Outcome.STORED, Outcome.STORED, Outcome.STORED]


def test_nothing_reopens_a_resolved_incident() -> None:
    table, _ = run(("ALARM", 30), ("OK", 40))
    for minute in (30, 31, 39, 40):
        assert table.record(Note(f"m-late-{minute}", State.ALARM, at(minute))) is Outcome.STORED
    assert [i.status for i in table.incidents.values()] == ["resolved"]


def test_a_state_that_does_not_change_is_not_written() -> None:
    # No-op writes would be stream records for the Slack projection to ignore.
    table, _ = run(("ALARM", 30), ("ALARM", 40))
    older = decide(table.state, State.ALARM, at(35), KEY)
    assert (older.outcome, older.state, older.guards) == (Outcome.JOINED, None, ())
    assert older.incident is IncidentWrite.JOIN
    assert not older.moves_last


def test_resolved_by_hand_keeps_late_copies_out() -> None:
    table, _ = run(("ALARM", 30), ("ALARM", 40))
    incident = table.state.open_incident_id
    assert incident is not None
    closed = resolved_by_hand(table.state, incident, at(40))
    assert closed == AlarmState(closed_through=at(40))
    assert decide(closed, State.ALARM, at(40), KEY).outcome is Outcome.STORED
    assert decide(closed, State.ALARM, at(41), KEY).outcome is Outcome.OPENED
    # Another incident's state is not ours to close.
    assert resolved_by_hand(table.state, "INC-other", at(40)) == table.state


def test_an_alarm_state_item_from_an_earlier_version_resolves_on_any_later_ok() -> None:
    # The legacy open pointer knows only the incident and its first ALARM.
    legacy = AlarmState(open_incident_id=f"INC-20240112073000-{KEY}", open_first_seen_at=at(30))
    change: Any = decide(legacy, State.OK, at(31), KEY)
    assert change.outcome is Outcome.RESOLVED
    assert change.state == AlarmState(closed_through=at(31))


# --- marks: severity, silences, flapping ride on the incident write --------------------------
def test_marks_follow_only_the_incidents_latest_notification() -> None:
    from alert_service.incidents.transition import Marks, incident_marks

    marks = Marks(
        severity="critical",
        silenced_by=("SIL-1",),
        silenced_until="2024-01-12T09:00:00.000Z",
        flapping_since="2024-01-12T07:00:00.000Z",
    )
    opened = decide(AlarmState(), State.ALARM, "2024-01-12T07:30:00.000Z", "k")
    sets, removes = incident_marks(opened, marks)
    assert sets == {
        "severity": "critical",
        "silenced_by": ["SIL-1"],
        "silenced_until": "2024-01-12T09:00:00.000Z",
        "flapping_since": "2024-01-12T07:00:00.000Z",
    }
    assert removes == ()  # a new item: nothing to remove
    state = opened.state
    assert state is not None
    newer = decide(state, State.ALARM, "2024-01-12T07:35:00.000Z", "k")
    assert incident_marks(newer, Marks()) == (
        {},
        ("silenced_by", "silenced_until", "flapping_since"),
    )
    older = decide(state, State.ALARM, "2024-01-12T07:29:00.000Z", "k")
    assert older.incident is not None
    assert incident_marks(older, marks) == ({}, ())  # late: moves nothing
    late_copy = decide(
        state.closed("2024-01-12T08:00:00.000Z"), State.ALARM, "2024-01-12T07:59:00.000Z", "k"
    )
    assert incident_marks(late_copy, marks) == ({}, ())  # no incident write at all
