"""zeb's one time formatter."""

from __future__ import annotations

import time

from zeb.core.timefmt import DATE_SECOND, age, countdown, hms, when


def test_hms_is_a_clock_and_never_negative():
    assert hms(0) == "0:00:00" and hms(3723.9) == "1:02:03" and hms(-5) == "0:00:00"
    assert hms(100 * 3600) == "100:00:00"


def test_age_in_its_two_largest_units():
    assert [age(s) for s in (59, 60, 3599, 3600, 3661, 86399, 86400, 90061)] == [
        "0m", "1m", "59m", "1h00m", "1h01m", "23h59m", "1d00h", "1d01h"]
    assert age(-1) == "0m"


def test_when_is_local_time_in_the_given_format():
    t = 1_800_000_000.0
    assert when(t) == time.strftime("%Y-%m-%d %H:%M", time.localtime(t))
    assert when(t, DATE_SECOND).endswith(time.strftime(":%S", time.localtime(t)))


def test_countdown_shows_seconds_until_an_hour_then_the_age():
    assert [countdown(s) for s in (0, 45, 90, 3599, 3720)] == ["0s", "45s", "1m30s", "59m59s", "1h02m"]
