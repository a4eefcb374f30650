"""zeb: keep a fleet of GPU self-play workers alive on Vast.ai at the best $ per game/s."""

__version__ = "0.1.0"
