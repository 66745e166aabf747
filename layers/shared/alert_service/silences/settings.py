"""Settings of silences and flapping, from environment variables (read once per process).

| variable | meaning (default) |
|---|---|
| ``FLAP_THRESHOLD`` | state changes within the window that make an alarm flapping (``6``, at least 2) |
| ``FLAP_WINDOW_MINUTES`` | the sliding window, and how long an alarm must be stable to stop flapping (``30``) |
| ``SILENCE_CACHE_SECONDS`` | how long one process reuses the list of silences (``10``) |
"""  # noqa: E501 - the table is easier to read unwrapped

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from functools import cache

from alert_service.config import env_number

DEFAULT_FLAP_THRESHOLD = 6
DEFAULT_FLAP_WINDOW_MINUTES = 30
DEFAULT_SILENCE_CACHE_SECONDS = 10


@dataclass(frozen=True)
class FlapSettings:
    threshold: int = DEFAULT_FLAP_THRESHOLD
    window: timedelta = timedelta(minutes=DEFAULT_FLAP_WINDOW_MINUTES)

    @property
    def window_minutes(self) -> int:
        return int(self.window.total_seconds() // 60)


@cache
def flap_settings() -> FlapSettings:
    # A threshold of 1 would call every change flapping; a window over a day outlives the
    # 7-day change items' purpose and the incident it belongs to.
    return FlapSettings(
        threshold=int(env_number("FLAP_THRESHOLD", DEFAULT_FLAP_THRESHOLD, 2, 1000, whole=True)),
        window=timedelta(
            minutes=int(
                env_number("FLAP_WINDOW_MINUTES", DEFAULT_FLAP_WINDOW_MINUTES, 1, 1440, whole=True)
            )
        ),
    )


@cache
def silence_cache_seconds() -> int:
    return int(
        env_number("SILENCE_CACHE_SECONDS", DEFAULT_SILENCE_CACHE_SECONDS, 0, 300, whole=True)
    )
