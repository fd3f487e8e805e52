"""The contract every network driver implements: libnetwork's ``driverapi``, trimmed to what we model.

A driver builds the kernel objects of its networks and endpoints and states what a joining
container needs in a ``JoinInfo``; the engine's sandbox code installs that in the container's
namespace.  A driver keeps its own state (its bridges, its veths, its rules) keyed by network
and endpoint id, sees its host only through a ``HostContext`` and the networks and endpoints
only as frozen ``NetworkInfo`` / ``EndpointInfo`` views, so it never reaches into the engine.
What only some drivers can do is a separate protocol (``PortPublisher``, ``HostInterface``,
``LegacyLinks``), checked with ``isinstance``, never a stub that does nothing.

Each driver class declares its ``TYPE`` (the ``--driver`` name), its ``SCOPE`` and its typed
``Options``; the topology loader and the builder place and validate networks from those alone.

When the engine calls what, in dockerd's order:
``create_network`` at ``docker network create`` (for a swarm-scope driver, when the first
container of this host attaches); ``join`` at container start or ``network connect``, after
IPAM gave the endpoint its address; ``publish`` when the endpoint becomes the container's
gateway endpoint and it has ports; ``unpublish`` when it stops being one; ``leave`` before the
sandbox takes the interface away; ``delete_network`` at ``docker network rm``.
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network
from typing import TYPE_CHECKING, ClassVar, Literal, Optional, Protocol, runtime_checkable

from .options import DriverOptions

if TYPE_CHECKING:
    from ...datapath.device import NetDevice
    from ...datapath.netfilter import Netfilter
    from ...datapath.netns import Namespace
    from ...datapath.world import World
    from ..config import DaemonConfig
    from ..ports import PortBinding
    from ..profile import EngineProfile

__all__ = ["Scope", "HostContext", "NetworkInfo", "EndpointInfo", "JoinInfo", "TableEntry", "Driver", "PortPublisher",
           "HostInterface", "LegacyLinks", "TableWatcher", "GatewayPolicy", "DriverOptions"]

#: Where a driver's networks live: on one host (bridge), created alike on each of a list of
#: hosts (macvlan, ipvlan: local scope in Docker, the same definition on several daemons), or
#: across the swarm (overlay: global scope, addresses from the swarm's allocator).
Scope = Literal["host", "hosts", "swarm"]


class HostContext(Protocol):
    """All a driver may touch of its host: never the engine itself."""

    host: str  # the machine's name
    address: int  # its address on the underlay (Docker's advertise and data-path address)
    ns: "Namespace"  # the host's own namespace, where bridges and host-side veths live
    world: "World"  # the data plane, to build devices in
    nf: "Netfilter"  # where dockerd writes its rules (a scratch table with --iptables=false)
    profile: "EngineProfile"
    config: "DaemonConfig"

    def new_mac(self) -> int:
        """A random locally administered MAC from the engine's stream."""

    def new_ifname(self, prefix: str) -> str:
        """A free random interface name in the host namespace (``veth1a2b3c4``)."""

    def log(self, level: str, message: str) -> None:
        """A line in dockerd's log (``journalctl -u docker``), stamped with the simulated time."""


@dataclass(frozen=True)
class NetworkInfo:
    id: str
    name: str
    subnet: IPv4Network
    gateway: Optional[IPv4Address]
    internal: bool
    options: DriverOptions  # the driver's own Options class

    @property
    def builtin(self) -> bool:
        """docker0's ``bridge`` network (and ``host``, ``none``): the ones dockerd makes itself."""
        return self.name in ("bridge", "host", "none")


@dataclass(frozen=True)
class EndpointInfo:
    id: str
    network_id: str
    container: str  # the container's name
    address: IPv4Address
    plen: int
    mac: int
    ifname: str  # its name inside the container (eth0, eth1, ...)


@dataclass(frozen=True)
class TableEntry:
    """A record the driver publishes through the cluster's NetworkDB (``jinfo.AddTableEntry``)."""

    table: str  # overlay_peer_table
    key: str  # the endpoint id
    value: bytes


@dataclass(frozen=True)
class JoinInfo:
    """Intent the sandbox applies (libnetwork's ``jinfo``): the interface and its default gateway.

    The endpoint's MAC is the interface's (overlay derives it from the address).  Without a
    gateway, the sandbox gives the container one on docker_gwbridge, unless the driver says
    ``disable_gateway_service`` (macvlan) or the network is internal.
    """

    interface: "NetDevice"  # the container-side device, not yet in any namespace
    gateway: Optional[IPv4Address]  # None: the driver offers no default route (internal, overlay, ...)
    disable_gateway_service: bool = False
    table_entries: tuple[TableEntry, ...] = ()  # gossiped to the network's other nodes
    #: routes out of the interface with no next hop (AddStaticRoute CONNECTED): ipvlan l3's
    #: ``default dev eth0``; a default one competes for the container's default route as a gateway does
    device_routes: tuple["IPv4Network", ...] = ()


class Driver(Protocol):
    TYPE: ClassVar[str]
    SCOPE: ClassVar[Scope]
    Options: ClassVar[type[DriverOptions]]

    def __init__(self, host: HostContext) -> None:
        """Once per engine at start, as dockerd registers its drivers (the bridge sets up its chains)."""

    def create_network(self, net: NetworkInfo) -> None: ...

    def delete_network(self, nid: str) -> None: ...

    def join(self, nid: str, ep: EndpointInfo) -> JoinInfo: ...

    def leave(self, nid: str, eid: str) -> None: ...


@runtime_checkable
class PortPublisher(Protocol):
    """Drivers whose endpoints can publish ports (the bridge's DNAT and filter rules)."""

    def publish(self, nid: str, ep: EndpointInfo, binding: "PortBinding") -> None: ...

    def unpublish(self, nid: str, eid: str) -> None:
        """Withdraw every binding ``publish`` programmed for that endpoint."""


@runtime_checkable
class HostInterface(Protocol):
    """Drivers that give the host itself an address on the network (a bridge's gateway)."""

    def host_interface(self, nid: str) -> Optional["NetDevice"]: ...


@runtime_checkable
class GatewayPolicy(Protocol):
    """A driver whose networks may have no gateway (libnetwork's ``GetSkipGwAlloc``): when it
    says so, IPAM reserves no gateway address for a network created without ``--gateway``."""

    def skip_gateway_alloc(self, options: DriverOptions, internal: bool) -> bool: ...


@runtime_checkable
class TableWatcher(Protocol):
    """Drivers that learn their peers from NetworkDB (overlay: peers -> static FDB and neighbours)."""

    def event_notify(self, nid: str, table: str, key: str, value: Optional[bytes]) -> None:
        """An entry of another node was added or updated (``value``) or deleted (None)."""


@runtime_checkable
class LegacyLinks(Protocol):
    """``--link`` on the default bridge: what the driver opens between two of its endpoints (B7)."""

    def link(self, nid: str, client: EndpointInfo, server: EndpointInfo,
             ports: tuple[tuple[int, str], ...]) -> None: ...
