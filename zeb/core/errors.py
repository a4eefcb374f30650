"""The one error tree. Every failure a user can meet is a ZebError with an exit code;
the CLI entry point catches ZebError once and prints one line to stderr."""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_PARTIAL = 3


class ZebError(Exception):
    exit_code = EXIT_FAILED

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message} ({self.hint})"


class UsageError(ZebError):
    exit_code = EXIT_USAGE


class ConfigError(ZebError):
    """A config file or value is wrong; the message names the file and key."""


class StoreError(ZebError):
    """The state store cannot be read or written."""


class LockHeld(ZebError):
    """Another zeb process holds a lock we need."""

    def __init__(self, message: str, *, pid: int | None = None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.pid = pid


class MarketError(ZebError):
    """Base of every error from talking to the GPU marketplace (zeb.core.domain.Marketplace; Vast today)."""

    # The HTTP status when the marketplace answered with an error (None: a timeout, a dropped connection,
    # an unreadable answer). A create it answered can be proved from the listing; a lost answer cannot.
    answered_status: int | None = None


class AuthError(MarketError):
    pass


class NotFound(MarketError):
    pass


class OfferUnavailable(MarketError):
    """The offer was rented by someone else or is gone; take the next one."""


class NoCredit(MarketError):
    pass


class RateLimited(MarketError):
    def __init__(self, message: str, *, retry_after: float | None = None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.retry_after = retry_after


class Unreachable(MarketError):
    """Connection refused, timeout, 5xx after retries, or an unparseable answer."""


class HubError(ZebError):
    """Hugging Face: missing token, missing weights, hub unreachable."""

    # What a fleet held for it waits on (zeb.plan.fleetfault): "hub_auth" or "hub_unreachable".
    cause: str = "hub_unreachable"
