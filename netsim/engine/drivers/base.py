"""The contract every network driver implements (libnetwork's ``driverapi``, trimmed).

A driver builds the kernel objects of its networks and endpoints and states what a joining
container needs (``JoinInfo``); the engine's sandbox code installs that in the container's
namespace.  Extra capabilities are separate protocols (``PortPublisher``), never stubs.
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address
from typing import TYPE_CHECKING, Optional, Protocol, runtime_checkable

if TYPE_CHECKING:
    from ...datapath.device import NetDevice
    from ...datapath.netfilter import Rule
    from ..daemon import Endpoint, Network
    from ..ports import PortBinding


@dataclass
class JoinInfo:
    """What the driver hands the sandbox: the container-side interface and its gateway."""

    interface: "NetDevice"
    gateway: Optional[IPv4Address]  # None: the driver offers no default route (internal, ...)


class Driver(Protocol):
    name: str

    def create_network(self, network: "Network") -> None: ...

    def delete_network(self, network: "Network") -> None: ...

    def join(self, network: "Network", endpoint: "Endpoint") -> JoinInfo: ...

    def leave(self, network: "Network", endpoint: "Endpoint") -> None: ...


@runtime_checkable
class PortPublisher(Protocol):
    def publish(self, network: "Network", endpoint: "Endpoint",
                binding: "PortBinding") -> list[tuple[str, "Rule"]]:
        """Program the binding; return the (table, rule) pairs so they can be removed later."""
