"""zeb's one way of writing times: elapsed time as a clock (`1:02:03`), an age or a countdown in its largest units
(`12m`, `3h04m`, `2d05h`), and a wall-clock moment in local time (`2026-11-23 14:05`)."""

from __future__ import annotations

import time

DATE_MINUTE = "%Y-%m-%d %H:%M"
DATE_SECOND = "%Y-%m-%d %H:%M:%S"


def hms(seconds: float) -> str:
    """Elapsed time as h:mm:ss; never negative."""
    seconds = int(max(0, seconds))
    return f"{seconds // 3600}:{(seconds % 3600) // 60:02d}:{seconds % 60:02d}"


def age(seconds: float) -> str:
    """An age in its two largest units: 59m, 3h04m, 2d05h; never negative."""
    seconds = int(max(0, seconds))
    if seconds < 3600:
        return f"{seconds // 60}m"
    if seconds < 86400:
        return f"{seconds // 3600}h{(seconds % 3600) // 60:02d}m"
    return f"{seconds // 86400}d{(seconds % 86400) // 3600:02d}h"


def countdown(seconds: float) -> str:
    """Time left in its two largest units: 45s, 1m30s, then age()'s 1h02m."""
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return age(seconds)


def when(t: float, fmt: str = DATE_MINUTE) -> str:
    """A wall-clock moment (epoch seconds) in local time."""
    return time.strftime(fmt, time.localtime(t))
