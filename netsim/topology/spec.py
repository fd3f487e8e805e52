"""Frozen description of a topology file (v1), as the loader hands it to the builder.

The loader (``loader.py``) turns YAML into these records after checking every key;
the builder (``netsim.simulation``) turns them into live hosts, engines and namespaces.
Nothing here knows how packets move.  Every record keeps the key path it came from
(``networks.front``), so errors raised later, while building, can still point at the file.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from ipaddress import IPv4Address, IPv4Interface, IPv4Network
from typing import Any, Literal, Optional

from netsim.engine.config import DaemonConfig  # dockerd's options are the engine's own record
from netsim.engine.drivers.options import DriverOptions  # and a driver's options are the driver's

SwarmRole = Literal["manager", "worker"]
Proto = Literal["tcp", "udp", "sctp"]

#: Event kinds of topology format v1; ``connect``/``disconnect`` act now, the rest are
#: validated now and acted on by later features.
EVENT_KINDS = ("connect", "disconnect", "swarm_join", "swarm_leave", "link_down", "link_up", "node_fail",
               "node_recover", "partition", "heal", "block", "unblock", "scale", "drain", "activate")
#: What ``block``/``unblock`` take: the swarm's ports (B44) and IPsec's protocol.
BLOCKABLE = ("7946/udp", "7946/tcp", "4789/udp", "2377/tcp", "esp")


#: The machine that routes the underlay to the outside when ``underlay.gateway`` is set; it takes this name.
GATEWAY_NAME = "gateway"


@dataclass(frozen=True)
class UnderlaySpec:
    subnet: IPv4Network = IPv4Network("192.168.100.0/24")
    gateway: Optional[IPv4Address] = None
    latency: float = 50e-6  # seconds, one way host <-> switch
    bandwidth: float = 10e9  # bits per second
    mtu: int = 1500
    queue: Optional[int] = 1000  # frames that may wait for each link, each way (txqueuelen); None: no limit
    queue_bytes: Optional[int] = None  # or bytes that may wait (a bfifo's limit), when given in bytes
    loss: float = 0.0  # the chance each frame is lost on a link
    faults: tuple[str, ...] = ()  # underlay.faults: defects of every NIC (netsim.datapath.faults)
    costs: tuple[tuple[str, float], ...] = ()  # underlay.costs: device kind -> seconds to enter one
    mac_filtering: bool = False  # a cloud network: each port accepts only its NIC's own MAC (B63)
    routers: tuple["RouterSpec", ...] = ()  # underlay.routers: machines routing between VLANs


@dataclass(frozen=True)
class RouterSpec:
    """underlay.routers.NAME: a machine on a trunk port with an address on each of its VLANs."""

    name: str
    vlans: tuple[tuple[int, IPv4Interface], ...]  # (VLAN id, its address on eth0.ID)
    address: Optional[IPv4Address] = None  # on the untagged LAN, if any


@dataclass(frozen=True)
class InterfaceSpec:
    """hosts.NAME.interfaces.NAME: a link of the host's own on eth0 (a macvlan shim, or eth0.ID)."""

    name: str
    type: str  # macvlan or vlan
    mode: str  # a macvlan's mode ("" for a vlan)
    address: IPv4Interface
    routes: tuple[tuple[IPv4Network, Optional[IPv4Address]], ...] = ()  # ``ip route add NET [via GW] dev NAME``


@dataclass(frozen=True)
class HostSpec:
    name: str
    address: IPv4Address  # resolved: explicit, or .11, .12, ... in file order
    docker: bool = True
    swarm: Optional[SwarmRole] = None
    daemon: DaemonConfig = DaemonConfig()  # hosts.NAME.daemon, dockerd's options
    routes: tuple[tuple[IPv4Network, IPv4Address], ...] = ()  # static routes (to, via), as `ip route add`
    link_mtu: Optional[int] = None  # hosts.NAME.link.mtu: the largest packet its cable's path carries
    #: hosts.NAME.link.hairpin: its switch port reflects frames back (802.1Qbg); None: while it has vepa children
    link_hairpin: Optional[bool] = None
    #: hosts.NAME.link: the switch port's VLANs: untagged VLAN (None: none) and tagged ones (None: all)
    link_pvid: Optional[int] = 1
    link_tagged: Optional[frozenset[int]] = None
    link_promiscuous: bool = True  # hosts.NAME.link.promiscuous: false, the port delivers only its NIC's MAC
    #: hosts.NAME.link.latency / bandwidth / queue / loss: this cable's own (None: the underlay's)
    link_latency: Optional[float] = None
    link_bandwidth: Optional[float] = None
    link_queue: Optional[int] = None
    link_queue_bytes: Optional[int] = None
    link_loss: Optional[float] = None
    link_faults: tuple[str, ...] = ()  # hosts.NAME.link.faults: this NIC's defects
    interfaces: tuple[InterfaceSpec, ...] = ()
    costs: tuple[tuple[str, float], ...] = ()  # hosts.NAME.costs: this host's own, over the underlay's
    labels: tuple[tuple[str, str], ...] = ()  # hosts.NAME.labels: the swarm node's labels, sorted by key
    key_path: str = ""


@dataclass(frozen=True)
class NetworkSpec:
    name: str
    driver: str = "bridge"  # a name in netsim.engine.drivers.REGISTRY
    host: Optional[str] = None  # a one-host driver's (bridge) host
    hosts: tuple[str, ...] = ()  # a several-hosts driver's (macvlan, ipvlan) hosts; swarm scope: neither
    subnet: Optional[IPv4Network] = None
    ip_range: Optional[IPv4Network] = None
    host_ranges: tuple[tuple[str, IPv4Network], ...] = ()  # hosts.NAME.ip_range: one host's own range
    gateway: Optional[IPv4Address] = None
    internal: bool = False
    attachable: bool = False
    # the driver's typed options: its shorthand keys (icc, mode, ...) and driver_opts, merged
    options: DriverOptions = field(default_factory=DriverOptions)
    driver_opts: tuple[tuple[str, str], ...] = ()  # as written in the file, sorted by key
    labels: tuple[tuple[str, str], ...] = ()
    key_path: str = ""

    def __getattr__(self, name: str) -> object:
        # spec.icc, spec.mode, spec.mtu: a driver option read like a field of the record.
        options = self.__dict__.get("options")
        if options is not None and name in {f.name for f in fields(options)}:
            return getattr(options, name)
        raise AttributeError(name)


@dataclass(frozen=True)
class AttachSpec:
    """One entry of a container's ``networks`` (list form or map form)."""

    network: str
    aliases: tuple[str, ...] = ()
    ipv4_address: Optional[IPv4Address] = None
    key_path: str = ""


@dataclass(frozen=True)
class PortSpec:
    """``[host_ip:]host_port:container_port[/proto]``; host_port None means a random port."""

    container_port: int
    host_port: Optional[int] = None
    host_ip: Optional[IPv4Address] = None  # None = 0.0.0.0
    proto: Proto = "tcp"
    key_path: str = ""


@dataclass(frozen=True)
class LinkSpec:
    """``links: ["db:olddb"]``: target container name and the alias it gets (alias = name if absent)."""

    container: str
    alias: str
    key_path: str = ""


@dataclass(frozen=True)
class ContainerSpec:
    name: str
    host: str
    networks: tuple[AttachSpec, ...] = ()  # file order; empty + no network_mode -> default bridge
    network_mode: Optional[str] = None  # "bridge" | "host" | "none" | "container:<name>"
    links: tuple[LinkSpec, ...] = ()
    ports: tuple[PortSpec, ...] = ()
    hostname: Optional[str] = None
    expose: tuple[tuple[int, Proto], ...] = ()  # (port, protocol): the image's EXPOSE or --expose
    key_path: str = ""


@dataclass(frozen=True)
class ServicePortSpec:
    """One of a service's ``ports``: ``"8080:80/udp"``, ``"80"``, or the long form."""

    target: int
    published: Optional[int] = None  # None: the swarm picks one of 30000-32767
    protocol: Proto = "tcp"
    mode: str = "ingress"  # or "host"
    key_path: str = ""


@dataclass(frozen=True)
class ServiceSpec:
    """``services.NAME``, with a stack file's keys (``deploy.replicas``, ``deploy.placement``, ...)."""

    name: str
    image: str = "nginx:latest"
    mode: str = "replicated"  # or "global"
    replicas: int = 1
    networks: tuple[AttachSpec, ...] = ()  # overlays, with the service's aliases on each
    ports: tuple[ServicePortSpec, ...] = ()
    expose: tuple[tuple[int, Proto], ...] = ()  # what the tasks listen on besides the ports' targets
    endpoint_mode: str = "vip"  # or "dnsrr"
    constraints: tuple[str, ...] = ()  # deploy.placement.constraints
    max_replicas_per_node: int = 0  # deploy.placement.max_replicas_per_node; 0: no limit
    key_path: str = ""


@dataclass(frozen=True)
class EventSpec:
    at: float  # seconds
    kind: str  # one of EVENT_KINDS
    # connect/disconnect: container, network (+ aliases, ipv4_address for connect);
    # swarm_join: host, role; swarm_leave / link_down / link_up / node_fail / node_recover: host;
    # partition: groups; block / unblock: hosts, port; heal: nothing; scale: service, replicas;
    # drain / activate: host
    container: Optional[str] = None
    network: Optional[str] = None
    host: Optional[str] = None
    role: Optional[SwarmRole] = None
    aliases: tuple[str, ...] = ()
    ipv4_address: Optional[IPv4Address] = None
    groups: tuple[tuple[str, ...], ...] = ()
    hosts: tuple[str, ...] = ()
    port: str = ""
    service: Optional[str] = None  # scale
    replicas: int = 0  # scale
    key_path: str = ""


@dataclass(frozen=True)
class TopologySpec:
    name: str
    seed: int = 0
    engine: str = "29"
    underlay: UnderlaySpec = field(default_factory=UnderlaySpec)
    hosts: tuple[HostSpec, ...] = ()
    networks: tuple[NetworkSpec, ...] = ()
    containers: tuple[ContainerSpec, ...] = ()
    services: tuple[ServiceSpec, ...] = ()
    events: tuple[EventSpec, ...] = ()  # sorted by `at`, file order among equals
    traffic: tuple[Any, ...] = ()  # flows of netsim.traffic, in file order
    capture: tuple[str, ...] = ()  # NODE:IFACE packet captures, from t = 0
    mode: str = "event"  # how traffic moves: the event core, or steady flows vectorized (datapath.vectorized)
    source: str = "<memory>"  # file path, for error messages
    sha256: str = ""  # of the file bytes

    def host(self, name: str) -> HostSpec:
        return next(h for h in self.hosts if h.name == name)

    def network(self, name: str) -> NetworkSpec:
        return next(n for n in self.networks if n.name == name)

    def container(self, name: str) -> ContainerSpec:
        return next(c for c in self.containers if c.name == name)
