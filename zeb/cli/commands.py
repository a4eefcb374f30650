"""Registers every command module on the app, in the order `zeb --help` lists them."""

from zeb.cli import app
from zeb.cli import (
    blacklist,
    config_cmd,
    demo,
    down,
    logs,
    monitor,
    rank_offers,
    replenish,
    sim_cmd,
    stats,
    status,
    timeline,
    up,
)

for _module in (up, status, logs, down, replenish, monitor, blacklist, rank_offers, timeline, stats, config_cmd, sim_cmd, demo):
    _module.register(app)
