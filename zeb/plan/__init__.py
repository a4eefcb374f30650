"""Pure planners: (observations, config, now) -> decisions. No I/O, no clock reads, no globals.

May import: zeb.core and itself."""
