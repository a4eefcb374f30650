"""The ground floor: domain types (offers, instances, the Marketplace protocol), worker lifecycle states and
records, errors, time formatting, fleet configuration, where zeb's files live (paths.py), atomic file
writes and shape checks.

May import: nothing of zeb outside zeb.core."""
