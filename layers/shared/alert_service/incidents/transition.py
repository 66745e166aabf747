"""The incident state machine, pure: an alarm's state + one notification -> what to write.

No I/O and no DynamoDB here (``recording`` turns a ``Change`` into one transaction), so the rules
below are tested exhaustively without AWS (tests/unit/test_incident_transition.py).

Ordering rule: incidents follow the alarm's ``StateChangeTime`` (``at``), not arrival order, because
SNS, Lambda retries and replays deliver out of order. Times are ``history.iso`` strings, which sort
as the times they name. For a notification of state ``s`` at ``at``:

- ALARM: stored as an event only when ``at <= closed_through`` (older than the alarm's last
  recovery: a late copy of a closed episode); else it joins the open incident, or opens one.
- OK: resolves the open incident when ``at >= open_last_alarm_at`` (not older than its latest
  ALARM); an older OK joins it without resolving when ``at >= open_first_seen_at``, else it is an
  event only. Every OK newer than ``closed_through`` raises it.
- INSUFFICIENT_DATA: joins the open incident when ``at >= open_first_seen_at``; else an event only.
- A joining notification moves the incident's ``last_seen_at``/``last_state`` only when it is newer
  than ``open_last_seen_at``: nothing moves an incident backwards, nothing re-opens a resolved one.

So, whatever the order, an alarm ends with an open incident exactly when its latest ALARM is newer
than its latest OK (a tie counts as recovered), at most one is open, and ``alert_count`` counts the
distinct notifications that joined it.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from enum import StrEnum
from typing import Any

from alert_service import history
from alert_service.alarm import State


class Outcome(StrEnum):
    OPENED = "opened"  # a new incident
    JOINED = "joined"  # counted in the open incident
    RESOLVED = "resolved"  # resolved the open incident
    STORED = "stored"  # stored as an event without an incident
    DUPLICATE = "duplicate"  # this MessageId was stored before: nothing changed


@dataclass(frozen=True)
class AlarmState:
    """One alarm's state item (``history.ALARM_STATE_FIELDS``); all ``None``: never seen."""

    closed_through: str | None = None
    open_incident_id: str | None = None
    open_first_seen_at: str | None = None
    open_last_alarm_at: str | None = None
    open_last_seen_at: str | None = None

    @property
    def is_open(self) -> bool:
        return self.open_incident_id is not None

    def as_fields(self) -> dict[str, str | None]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_item(cls, item: dict[str, Any] | None) -> AlarmState:
        if not item:
            return cls()
        return cls(**{f.name: item.get(f.name) for f in fields(cls)})

    def closed(self, through: str | None) -> AlarmState:
        """Nothing open any more; ALARMs at or before ``through`` belong to the closed episode."""
        return AlarmState(closed_through=_latest(self.closed_through, through))


class IncidentWrite(StrEnum):
    OPEN = "open"  # put a new incident item
    JOIN = "join"  # alert_count + 1
    RESOLVE = "resolve"  # alert_count + 1, status resolved


class Check(StrEnum):
    """How a guard compares a state field with its value (an absent field is ``None``)."""

    IS = "is"  # equal (None: absent)
    BEFORE = "before"  # absent, or earlier than the value
    NOT_AFTER = "not_after"  # absent, or not later than the value
    AFTER = "after"  # present and later than the value


@dataclass(frozen=True)
class Guard:
    """A condition on the alarm state that the decision rests on; checked when it is written."""

    field: str
    check: Check
    value: str | None

    def holds(self, state: AlarmState) -> bool:
        current = getattr(state, self.field)
        if self.check is Check.IS:
            return current == self.value
        if current is None:
            return self.check is not Check.AFTER
        assert self.value is not None  # noqa: S101 - only IS compares with absent
        if self.check is Check.BEFORE:
            return current < self.value
        if self.check is Check.NOT_AFTER:
            return current <= self.value
        return current > self.value


@dataclass(frozen=True)
class Change:
    """What one notification does.

    ``state``: the alarm state to write (``None``: unchanged, nothing written), on condition that
    every one of ``guards`` still holds then; the write sets only the fields that differ from the
    state decided on (``state_diff``), so concurrent changes to other fields are kept.
    """

    outcome: Outcome
    incident_id: str | None = None  # the incident the event belongs to
    incident: IncidentWrite | None = None
    moves_last: bool = False  # the incident's last_seen_at/last_state/last_message_id move to it
    first_seen_at: str | None = None  # the incident's (for resolve: the duration)
    state: AlarmState | None = None
    guards: tuple[Guard, ...] = ()


def _latest(a: str | None, b: str | None) -> str | None:
    if a is None:
        return b
    if b is None:
        return a
    return max(a, b)


def _newer(at: str, than: str | None) -> bool:
    return than is None or at > than


def state_diff(old: AlarmState, new: AlarmState) -> dict[str, str | None]:
    """The fields to write: new values, ``None`` for fields to remove."""
    before, after = old.as_fields(), new.as_fields()
    return {name: value for name, value in after.items() if before[name] != value}


def decide(current: AlarmState, state: State, at: str, key: str) -> Change:
    """What one notification (``state`` at ``at``) does to alarm ``key``, now in ``current``."""
    same_episode = Guard("open_incident_id", Check.IS, current.open_incident_id)
    if state is State.ALARM:
        if not _newer(at, current.closed_through):
            # Older than the last recovery: a closed episode's late copy. closed_through only
            # grows, so this holds whatever happens meanwhile: no condition needed.
            return Change(Outcome.STORED)
        if not current.is_open:
            incident = history.incident_id(history.parse_iso(at), key)
            new = replace(
                current,
                open_incident_id=incident,
                open_first_seen_at=at,
                open_last_alarm_at=at,
                open_last_seen_at=at,
            )
            return _with_guards(
                Change(Outcome.OPENED, incident, IncidentWrite.OPEN, True, at, new),
                current,
                at,
                same_episode,
                Guard("closed_through", Check.BEFORE, at),
            )
        return _join(current, at, alarm=True)

    if state is State.OK:
        if current.is_open and at >= (current.open_last_alarm_at or at):
            # Not older than the incident's latest ALARM: the recovery that ends it.
            moves_last = _newer(at, current.open_last_seen_at)
            change = _in_open(
                current, Outcome.RESOLVED, IncidentWrite.RESOLVE, moves_last, current.closed(at)
            )
            guards = [same_episode, Guard("open_last_alarm_at", Check.NOT_AFTER, at)]
            if moves_last:
                # The incident's last_seen_at moves to it: only if nothing newer joined meanwhile.
                guards.append(Guard("open_last_seen_at", Check.BEFORE, at))
            return _with_guards(change, current, at, *guards)
        # Every recovery newer than the last is remembered, resolving or not.
        recovered = replace(current, closed_through=_latest(current.closed_through, at))
        if current.is_open and at >= (current.open_first_seen_at or at):
            # Older than the incident's latest ALARM: counted in it, but it stays open.
            joined = _join(current, at, alarm=False)
            return _with_guards(
                replace(joined, state=recovered),
                current,
                at,
                same_episode,
                Guard("open_last_alarm_at", Check.AFTER, at),
            )
        if not _newer(at, current.closed_through):
            return Change(Outcome.STORED)
        return _with_guards(Change(Outcome.STORED, state=recovered), current, at, same_episode)

    # INSUFFICIENT_DATA: neither opens nor resolves.
    if current.is_open and at >= (current.open_first_seen_at or at):
        return _join(current, at, alarm=False)
    return Change(Outcome.STORED)


def _with_guards(change: Change, current: AlarmState, at: str, *guards: Guard) -> Change:
    """``change`` with ``guards`` and, for each field it moves to ``at``, that it is still older
    (times only grow); an unchanged state is not written, and needs no guard."""
    if change.state is None or change.state == current:
        return replace(change, state=None, guards=())
    moved = [
        Guard(name, Check.BEFORE, at)
        for name, value in state_diff(current, change.state).items()
        if value == at and name != "open_first_seen_at"
    ]
    unique = {(g.field, g.check): g for g in (*guards, *moved)}
    return replace(change, guards=tuple(unique.values()))


def _in_open(
    current: AlarmState,
    outcome: Outcome,
    write: IncidentWrite,
    moves_last: bool,
    state: AlarmState,
) -> Change:
    """A change to the open incident (``current`` has one)."""
    return Change(
        outcome,
        current.open_incident_id,
        write,
        moves_last=moves_last,
        first_seen_at=current.open_first_seen_at,
        state=state,
    )


def _join(current: AlarmState, at: str, *, alarm: bool) -> Change:
    moves_last = _newer(at, current.open_last_seen_at)
    new = current
    if moves_last:
        new = replace(new, open_last_seen_at=at)
    if alarm and _newer(at, current.open_last_alarm_at):
        new = replace(new, open_last_alarm_at=at)
    change = _in_open(current, Outcome.JOINED, IncidentWrite.JOIN, moves_last, new)
    # An older notification changes nothing of the alarm's state: no write, no condition.
    guards = [Guard("open_incident_id", Check.IS, current.open_incident_id)]
    if alarm:
        guards.append(Guard("closed_through", Check.BEFORE, at))
    return _with_guards(change, current, at, *guards)


def resolved_by_hand(current: AlarmState, incident_id: str, last_alarm_at: str) -> AlarmState:
    """The alarm state after an operator resolves ``incident_id`` (its latest ALARM at
    ``last_alarm_at``): nothing open, and that incident's ALARMs cannot open a new one."""
    if current.open_incident_id not in (None, incident_id):
        return current  # another incident is open: not ours to close
    return current.closed(current.open_last_alarm_at or last_alarm_at)


@dataclass(frozen=True)
class Marks:
    """What the notification path learnt about one notification besides its state (issues 12, 13):
    inputs of the incident write, decided elsewhere (severity tag or rule, silences, flapping).

    ``silenced_by``: the ids of the silences that held it (``silenced_until``: when the last of
    them ends); ``flapping_since``: the start of the flapping episode it belongs to (None: the
    alarm is not flapping, or has stabilised with it).
    """

    severity: str | None = None
    silenced_by: tuple[str, ...] = ()
    silenced_until: str | None = None
    flapping_since: str | None = None


# The incident attributes that follow the incident's latest notification (removed when it says
# nothing); severity only ever changes to a known value.
FOLLOWING_MARKS = ("silenced_by", "silenced_until", "flapping_since")


def incident_marks(change: Change, marks: Marks) -> tuple[dict[str, Any], tuple[str, ...]]:
    """The marks an incident write carries: (attributes to set, attributes to remove).

    Only a notification that opens the incident or is newer than every other of it
    (``moves_last``) moves them, so the incident shows what its latest notification said (an older
    one arriving late changes nothing), and they ride on the write the change makes anyway: no
    extra write, no extra stream record.
    """
    if change.incident is None or not (change.moves_last or change.incident is IncidentWrite.OPEN):
        return {}, ()
    values: dict[str, Any] = {
        "severity": marks.severity,
        "silenced_by": list(marks.silenced_by) or None,
        "silenced_until": marks.silenced_until if marks.silenced_by else None,
        "flapping_since": marks.flapping_since,
    }
    sets = {k: v for k, v in values.items() if v is not None}
    removes = ()
    if change.incident is not IncidentWrite.OPEN:
        removes = tuple(k for k in FOLLOWING_MARKS if k not in sets)
    return sets, removes
