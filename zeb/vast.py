"""The one Vast client. Wraps the official `vastai` SDK (imported lazily); callers get small
frozen dataclasses, never raw rows (rows carry the creator's env, HF_TOKEN included).

INTERFACE CONTRACT (shared with plan/, cli/, monitor, sim tests) -- keep these names and fields.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Instance:
    id: int
    label: str | None
    status: str | None          # Vast's actual_status: None (pending), loading, running, exited, stopped, ...
    intended_status: str | None  # Vast's intended_status / cur_state ("running", "stopped")
    gpu_name: str               # Vast spelling, with spaces: "RTX 4070 Ti"
    num_gpus: int
    dph_total: float
    machine_id: int
    host_id: int
    start_date: float           # epoch seconds
    ssh_host: str | None = None
    ssh_port: int | None = None
    status_msg: str | None = None
    image: str | None = None

    @property
    def ssh_command(self) -> str | None:
        if not self.ssh_host or not self.ssh_port:
            return None
        return f"ssh -p {self.ssh_port} root@{self.ssh_host}"


@dataclass(frozen=True)
class Offer:
    id: int
    machine_id: int
    host_id: int
    gpu_name: str               # Vast spelling, with spaces
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
