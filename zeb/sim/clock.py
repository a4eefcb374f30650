"""Clocks the simulator (and the monitor, in tests and the demo) read. The model never calls time.time()."""

from __future__ import annotations

import threading
import time

EPOCH = 1_780_000_000.0   # a fixed virtual start so seeded runs are reproducible


class ManualClock:
    """Virtual time that moves only when told: tests and benchmarks run hours in milliseconds."""

    def __init__(self, start: float = EPOCH) -> None:
        self._now = float(start)
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> float:
        with self._lock:
            self._now += max(0.0, float(seconds))
            return self._now

    def sleep(self, seconds: float) -> None:
        """A monitor's sleep that advances virtual time instead of waiting."""
        self.advance(seconds)

    __call__ = now


class ScaledClock:
    """Virtual time running `speed` times faster than real time (the demo). `advance` jumps ahead.
    `start` None is the fixed EPOCH, so a scripted demo reads the same every run."""

    def __init__(self, speed: float, start: float | None = None) -> None:
        if not speed > 0:
            raise ValueError(f"clock speed must be positive, not {speed!r}")
        self.speed = float(speed)
        self._start = EPOCH if start is None else float(start)
        self._real0 = time.monotonic()
        self._offset = 0.0
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return self._start + (time.monotonic() - self._real0) * self.speed + self._offset

    def advance(self, seconds: float) -> float:
        with self._lock:
            self._offset += max(0.0, float(seconds))
        return self.now()

    def sleep(self, seconds: float) -> None:
        time.sleep(max(0.0, seconds) / self.speed)

    __call__ = now


class RealClock:
    def now(self) -> float:
        return time.time()

    def advance(self, seconds: float) -> float:  # pragma: no cover - real time cannot be advanced
        raise RuntimeError("the real clock cannot be advanced; serve with --speed for a virtual clock")

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)

    __call__ = now
