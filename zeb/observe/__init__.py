"""Observability: the monitor's dashboard and CHECK lines, Prometheus metrics, webhook alerts, the HTML
report and the tables they print.

May import: every layer below (core, plan, storage, adapters, service) and itself. Never zeb.cli."""
