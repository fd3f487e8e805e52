"""What an engine asks of the swarm it belongs to: the seam between dockerd and the cluster.

dockerd does not own swarm-scope networks: the managers allocate them (subnet, VNI, the
addresses of every endpoint), and each node instantiates one only when a container of its
own attaches (B36).  The engine reaches the swarm through this ``ClusterAgent`` protocol,
which the swarm layer implements and plugs in as ``engine.agent``; the engine never imports
the swarm.  Drivers' table entries (overlay peers) go out through the agent to NetworkDB,
and what NetworkDB learns comes back to the drivers as ``TableWatcher.event_notify``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network
from typing import Optional, Protocol

from .drivers.api import TableEntry

__all__ = ["INGRESS", "ClusterAgent", "SwarmNetwork", "AddressAllocator", "ServiceBinding", "IngressPort", "TaskAttachment"]

#: the swarm's routing-mesh network, which swarm init creates (one per swarm)
INGRESS = "ingress"


class AddressAllocator(Protocol):
    """A network's addresses; for swarm networks, the managers' serial allocator shared by every node."""

    def allocate(self, wanted: Optional[IPv4Address] = None) -> IPv4Address: ...

    def release(self, address: IPv4Address) -> None: ...


@dataclass
class SwarmNetwork:
    """A network of the swarm, as a manager allocated it."""

    id: str
    name: str
    driver: str
    subnet: IPv4Network
    gateway: IPv4Address
    pool: AddressAllocator
    internal: bool = False
    attachable: bool = False
    options: dict[str, str] = field(default_factory=dict)  # -o strings, with the VNI the manager chose
    labels: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class IngressPort:
    """A port the service publishes on the routing mesh (libnetwork's PortConfig, ingress mode)."""

    protocol: str
    published: int
    target: int


@dataclass(frozen=True)
class ServiceBinding:
    """What a task's endpoint tells the embedded DNS of its service (libnetwork's ServiceConfig):
    ``tasks.NAME`` answers the task's address; NAME and the service's network aliases answer the
    VIP, or (dnsrr, no VIP) the task addresses themselves (B59).  On the ingress network it
    carries the service's ingress ports, which only that network gossips (B58)."""

    name: str
    id: str
    vip: Optional[IPv4Address] = None
    aliases: tuple[str, ...] = ()
    ingress_ports: tuple[IngressPort, ...] = ()


@dataclass(frozen=True)
class TaskAttachment:
    """One network of a swarm task, as the manager allocated it: the engine takes the address as
    given (the pool is the manager's), and the network needs no ``attachable``."""

    network: str
    address: IPv4Address
    service: Optional[ServiceBinding] = None


class ClusterAgent(Protocol):
    def network(self, name: str) -> Optional[SwarmNetwork]:
        """The swarm network of that name or id, if the swarm has one."""

    def attach(self, network: SwarmNetwork, container: str) -> None:
        """A standalone container asks to attach: raises DockerError when the swarm refuses (B35)."""

    def network_joined(self, nid: str) -> None:
        """This node instantiated the network: it takes part in its gossip from now on."""

    def network_left(self, nid: str) -> None:
        """This node removed its last endpoint of the network and deleted it."""

    def peers(self, nid: str) -> list[tuple[str, str]]:
        """(node name, address) of the nodes this node knows have the network instantiated (B36)."""

    def load_balancer(self, nid: str) -> Optional[IPv4Address]:
        """This node's load-balancer address on the network, allocated by the managers when the
        node first needs it (B50); None when the subnet has none left."""

    def add_table_entry(self, nid: str, entry: TableEntry) -> None: ...

    def delete_table_entry(self, nid: str, table: str, key: str) -> None: ...
