"""The alert vocabulary the configuration and the alert planner share: the events a [notify] table may
enable, the webhook formats, and what the planner needs of a fleet's [notify] settings."""

from __future__ import annotations

from dataclasses import dataclass

EVENTS = ("credit_exhausted", "credit_back", "below_target", "machine_blocked", "monitor_stopped", "fleet_fault",
          "fleet_fault_cleared")
FORMATS = ("slack", "discord", "ntfy", "json")


@dataclass(frozen=True)
class NotifySettings:
    """What the planner needs of the fleet's [notify] table (zeb.core.config.Notify satisfies it)."""

    events: tuple[str, ...] = EVENTS
    below_target_minutes: float = 30.0
    cooldown_minutes: float = 60.0
