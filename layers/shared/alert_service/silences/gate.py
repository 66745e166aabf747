"""The notification path's one question to this package: is this notification silenced, and
what does flapping say? The answer (``Quiet``) is the "state" the decide step takes.

    quiet = gate.check(notification, table=settings.history_table)      # 3 requests, or 0 for a notice
    if quiet.holds(channel): skip the per-notification message (history stores it anyway)
    for notice in quiet.notices(alarm, display): send it once per channel (deliver_once(notice.notice_id))

Rules (per channel; ``incident_view`` is the Slack app's thread, which keeps threading):
| quiet | webhook relay, email, SMS | incident view |
|---|---|---|
| silenced (any silence holds it) | skip; no flapping notice either | skip (card marked "silenced") |
| ``started_flapping`` | the flapping notice instead of the message | thread it; card marked flapping |
| ``flapping`` | skip (held) | thread it |
| ``stabilised`` | the summary, then the message | thread it; mark gone |
| ``normal`` | the message | thread it |
"""  # noqa: E501 - the table is easier to read unwrapped

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from alert_service.alarm import Notification
from alert_service.config import DisplaySettings
from alert_service.history import event_time
from alert_service.silences.flapping import Decision, FlapKind, FlapTracker
from alert_service.silences.model import Silence
from alert_service.silences.settings import flap_settings
from alert_service.silences.store import SilenceStore

if TYPE_CHECKING:
    from alert_service.silences.notices import QuietView

PER_NOTIFICATION_CHANNELS = frozenset({"slack", "email", "sms"})  # held while flapping
INCIDENT_VIEW = "incident_view"


@dataclass(frozen=True)
class Quiet:
    silences: tuple[Silence, ...]
    flap: Decision

    @property
    def silenced(self) -> bool:
        return bool(self.silences)

    @property
    def silence_ids(self) -> tuple[str, ...]:
        """For the history's event item (``silenced_by``): which silences held it."""
        return tuple(s.id for s in self.silences)

    def holds(self, channel: str) -> bool:
        """True when ``channel`` sends no per-notification message for this notification."""
        if self.silenced:
            return True
        if channel in PER_NOTIFICATION_CHANNELS:
            return self.flap.kind in (FlapKind.FLAPPING, FlapKind.STARTED)
        return False

    def notices(self, notification: Notification, display: DisplaySettings) -> list[QuietView]:
        """The flapping notice or the stabilised summary to send first (none when silenced)."""
        if self.silenced or notification.alarm is None:
            return []
        if self.flap.kind not in (FlapKind.STARTED, FlapKind.STABILISED):
            return []  # most notifications: the notices' module (~2 ms to import) is not needed
        from alert_service.silences.notices import flapping_view, stabilised_view

        if self.flap.kind is FlapKind.STARTED:
            return [flapping_view(notification.alarm, self.flap, flap_settings(), display)]
        if self.flap.summary is not None:
            return [stabilised_view(self.flap.summary, flap_settings(), display)]
        return []


def check(notification: Notification, *, table: str, received_at: datetime | None = None) -> Quiet:
    """Silences (one cached Query) and the flap decision (2 requests) for one notification.
    A notice that is not an alarm is never silenced nor counted: nothing is asked."""
    alarm = notification.alarm
    if alarm is None:
        return Quiet((), Decision(FlapKind.NORMAL))
    received = received_at or datetime.now(UTC)
    held = SilenceStore(table).matching(alarm, event_time(notification, received))
    return Quiet(tuple(held), FlapTracker(table).observe(notification, received_at=received))
