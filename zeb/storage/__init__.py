"""Storage: what bytes on disk mean (codec: formats, versions, upgrades), the state directory (atomic
documents, the event log, locks), the typed views over it (state) and the market history (sqlite).

May import: zeb.core, zeb.plan (the planners' plain types it stores), and itself. Never adapters, the
service, observability or the CLI."""
