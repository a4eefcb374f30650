"""The fleet service and the monitor: observe -> decide (zeb.plan) -> act (through an adapter) -> record
(zeb.storage). The imperative shell around the planners.

May import: zeb.core, zeb.plan, zeb.storage, zeb.adapters and itself. Never zeb.observe or zeb.cli."""
