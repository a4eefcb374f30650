"""zeb's own words for a GPU marketplace: the instances it lists, the offers it sells, the account, one
launch, and the small Protocol an adapter satisfies (zeb/adapters/vast.py for Vast). Planners and the fleet
service import this module, never an adapter: a second marketplace is one new adapter that maps its
rows to these types and its status words to STATUS below.

Plain frozen dataclasses with no I/O; an adapter drops everything else a row carries (Vast's rows
carry the creator's env, HF_TOKEN included)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

# -- instance status ------------------------------------------------------------------------------
# An instance's `status` is one of these words (Vast's own, which zeb adopted), or None while the
# marketplace has not said yet (pending, right after create: never dead). An adapter maps its own
# words onto them; a word outside the list is kept as it is and treated as "not live".
LOADING, RUNNING, CREATED, SCHEDULING = "loading", "running", "created", "scheduling"
EXITED, STOPPED, OFFLINE, FROZEN = "exited", "stopped", "offline", "frozen"

NOT_STARTED = frozenset({None, LOADING, CREATED, SCHEDULING})   # no container yet: no log to read
LIVE = NOT_STARTED | {RUNNING}                                  # pending, loading or running
ENDED = frozenset({EXITED, STOPPED, OFFLINE, FROZEN})           # the container is not running


@dataclass(frozen=True)
class Instance:
    id: int                      # grows with creation time (the Marketplace contract below)
    label: str | None
    status: str | None           # one of the words above, or None (pending)
    intended_status: str | None  # what the owner asked for: RUNNING or STOPPED
    gpu_name: str                # spelled with spaces: "RTX 4070 Ti" (gpu_name() below)
    num_gpus: int
    dph_total: float
    machine_id: int
    host_id: int
    start_date: float            # epoch seconds
    ssh_host: str | None = None
    ssh_port: int | None = None
    status_msg: str | None = None
    image: str | None = None

    @property
    def ssh_command(self) -> str | None:
        if not self.ssh_host or not self.ssh_port:
            return None
        return f"ssh -p {self.ssh_port} root@{self.ssh_host}"

    @property
    def live(self) -> bool:
        """Loading, running, or pending (a null status right after create is never dead)."""
        return self.status in LIVE

    @property
    def ended(self) -> bool:
        """The container stopped (crash, preemption, the owner's stop): its last log says why."""
        return self.status in ENDED or self.intended_status == STOPPED


@dataclass(frozen=True)
class Offer:
    id: int
    machine_id: int
    host_id: int
    gpu_name: str                # spelled with spaces
    num_gpus: int
    dph_total: float
    reliability: float
    verified: bool = True
    geolocation: str | None = None
    gpu_ram_mb: int | None = None


@dataclass(frozen=True)
class Account:
    id: int | None
    email: str | None
    credit: float
    balance: float

    @property
    def exhausted(self) -> bool:
        return self.credit + max(self.balance, 0.0) <= 0.0


@dataclass(frozen=True)
class LaunchSpec:
    """Everything one create call needs. env carries HF_TOKEN: never log or store a LaunchSpec."""

    offer_id: int
    label: str
    image: str
    disk_gb: float
    env: dict[str, str]
    onstart: str

    def __repr__(self) -> str:  # keep secrets out of tracebacks and debug prints
        return f"LaunchSpec(offer_id={self.offer_id}, label={self.label!r}, image={self.image!r})"


def gpu_name(name: str) -> str:
    """The one spelling of a GPU type: RTX_4070_Ti and "RTX  4070 Ti" -> "RTX 4070 Ti". Config files,
    ZEB_GPUS and the scripts spell GPUs with underscores; the marketplace's rows use spaces."""
    return " ".join(name.replace("_", " ").split())


def gpu_cli_name(name: str) -> str:
    """The underscore spelling the scripts and the CLI flags use: "RTX 4070 Ti" -> RTX_4070_Ti."""
    return gpu_name(name).replace(" ", "_")


def created_before(instance_id: int, newest_listed: int | None) -> bool:
    """True when `instance_id` was created before the newest listed instance: the Marketplace contract
    says ids grow with creation time (Vast's do), so a listing that shows a larger id has caught up past
    the smaller one."""
    return newest_listed is not None and instance_id < newest_listed


@runtime_checkable
class Marketplace(Protocol):
    """What zeb needs of a GPU marketplace. Errors are zeb.core.errors' (NoCredit, OfferUnavailable,
    Unreachable, RateLimited, AuthError, NotFound), raised after the adapter's own retries.

    Contract: instance ids grow with creation time; labels are free text the owner sets at create; a
    create that may have reached the marketplace is never resent (Unreachable, and the caller
    reconciles through the listing); `destroy_instance` is safe to repeat. `label_word` names the
    marketplace in zeb's labels, `<fleet>-worker-<word>-<n>` (Vast's is "vast", the scripts' labels).
    tests/test_market_contract.py is the whole contract, run against every adapter."""

    requests_made: int
    label_word: str

    def list_instances(self) -> list[Instance]:
        """Every instance on the account, whole or not at all (a partial listing raises)."""

    def get_instance(self, instance_id: int) -> Instance | None: ...

    def search_offers(self, gpus: Sequence[str], *, max_dph: float | None = None, num_gpus: int = 1,
                      limit: int = 500, exclude_machines: Collection[int] = ()) -> list[Offer]:
        """One search for the whole GPU list, cheapest first, never on an excluded machine."""

    def create_instance(self, spec: LaunchSpec) -> int:
        """Rent `spec.offer_id`; the new instance's id."""

    def destroy_instance(self, instance_id: int) -> bool:
        """True when destroyed now, False when it was already gone."""

    def label_instance(self, instance_id: int, label: str) -> None: ...

    def account(self) -> Account: ...

    def logs(self, instance_id: int, tail: int = 200, timeout: float | None = None) -> str:
        """The container's last `tail` lines ("" while it wrote nothing), within `timeout` seconds."""
