"""zeb: keep a fleet of GPU self-play workers alive on Vast.ai at the best $ per game/s."""

__version__ = "0.1.0"


def __getattr__(name: str):
    # `from zeb import Fleet` loads the API on first use: `zeb --help` and every command stay as cheap as before.
    if name == "Fleet":
        from zeb.api import Fleet

        return Fleet
    raise AttributeError(f"module 'zeb' has no attribute {name!r}")


__all__ = ["Fleet", "__version__"]
