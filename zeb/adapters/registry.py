"""The one place a marketplace is chosen: `market = "vast"` in fleets.toml (or ZEB_MARKET) names a factory
here. A factory builds the adapter from the environment and the app's hooks (the sleep to back off with, who
hears of retries and requests); the adapter's module is imported only when it is built, so commands that
never talk to a marketplace pay for no SDK. Adding a marketplace: its adapter module, one entry in MARKETS,
one world in tests/test_market_contract.py."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Protocol

from zeb.core.domain import Marketplace
from zeb.core.errors import ConfigError

DEFAULT_MARKET = "vast"


class Factory(Protocol):
    def __call__(self, env: Mapping[str, str], *, sleep: Callable[[float], None],
                 on_retry: Callable[[str, float], None] | None,
                 on_request: Callable[[str, str, int | None, float], None] | None) -> Marketplace: ...


def _vast(env: Mapping[str, str], **hooks) -> Marketplace:
    from zeb.adapters.vast import VastClient

    return VastClient.from_env(env, **hooks)


MARKETS: Mapping[str, Factory] = MappingProxyType({"vast": _vast})


def build(name: str, env: Mapping[str, str], *, sleep: Callable[[float], None],
          on_retry: Callable[[str, float], None] | None = None,
          on_request: Callable[[str, str, int | None, float], None] | None = None) -> Marketplace:
    """The marketplace named `name` (a fleet's `market`), built from `env`."""
    factory = MARKETS.get(name)
    if factory is None:   # config.resolve refuses the name first; a caller that skipped it still gets one line
        raise ConfigError(f"unknown market {name!r} (known: {', '.join(MARKETS)})")
    return factory(env, sleep=sleep, on_retry=on_retry, on_request=on_request)
