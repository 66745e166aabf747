"""The scheduled check (every minute): notices that no notification will trigger.

- a flapping episode whose alarm has been stable for the window: the summary;
- a silence that ended while its alarm is still in ALARM: the page it held back.

``due`` lists them with a ``done`` step each; the caller delivers each notice to every channel
with ``delivery.deliver_once(channel, notice.view.notice_id, recipient, send)`` and calls
``done()`` only once all succeeded. A failed run leaves them due, so the next minute (or Lambda's
retry) sends only what is missing; a summary a notification already delivered (same notice id) is
skipped by deliver_once. Reads per run: 1 Query of flapping alarms + 1 per flapping alarm,
1 Query of pending summaries, 1 Query of recently ended silences (+2 when one ended).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import partial

from alert_service.alarm import Alarm, State
from alert_service.config import DisplaySettings
from alert_service.silences import ended
from alert_service.silences.flapping import FlapTracker
from alert_service.silences.notices import QuietView, silence_ended_view, stabilised_view
from alert_service.silences.store import SilenceStore


@dataclass(frozen=True)
class Due:
    view: QuietView
    done: Callable[[], None]
    # The alarms it is about, as routing sees them: the notice goes where their messages go.
    alarms: tuple[Alarm, ...] = ()


def due(table: str, now: datetime, display: DisplaySettings) -> list[Due]:
    tracker, silences = FlapTracker(table), SilenceStore(table)
    notices = [
        Due(
            stabilised_view(s, tracker.settings, display),
            partial(tracker.summary_sent, s),
            (s.alarm(),),
        )
        for s in tracker.sweep_stable(now)
    ]
    notices += [
        Due(
            silence_ended_view(n, display),
            partial(ended.checked, silences, n.silence, now),
            tuple(
                Alarm(name=a.name, state=State.ALARM, account=a.account, region=a.region)
                for a in n.alarms
            ),
        )
        for n in ended.still_alarming(silences, now)
    ]
    return notices
