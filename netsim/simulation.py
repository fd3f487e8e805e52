"""The simulation object: hosts on an underlay, their engines, a clock, and the questions.

``Simulation`` is what ``netsim.load(path)`` returns and what a notebook builds by hand:

    sim = netsim.Simulation("lab", seed=7)
    node1 = sim.add_host("node1")
    front = node1.networks.create("front", internal=True)
    node1.containers.run("web", network="front")
    sim.reachability()            # a pandas DataFrame

Building from a topology file goes through exactly these calls (``build``), so a file and a
notebook make the same world.  Time is simpy's: ``events:`` of the file are simpy processes,
``ping`` runs in simulated time, and ``reachability`` answers for the current instant.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from ipaddress import IPv4Address, IPv4Interface, IPv4Network
from typing import TYPE_CHECKING, Any, Iterator, Optional, Sequence, Union


from .datapath.addr import ip
from .datapath.device import Nic
from .datapath.device import NetDevice
from .datapath.macvlan import Macvlan
from .datapath.vlan import Vlan
from .datapath.netns import Namespace
from .datapath.scheduler import Environment, SimpyScheduler
from .datapath.switch import Switch
from .datapath.vectorized import MODES
from .datapath.world import World
from .engine.config import DaemonConfig
from .engine.daemon import Container, Engine, NetworkCollection, ContainerCollection
from .engine.ports import PortBinding
from .engine.profile import PROFILES, EngineProfile
from .errors import DockerError, NetsimError, TopologyError, UnderlayError
from .engine.drivers import REGISTRY
from .events import HANDLERS
from .topology.spec import GATEWAY_NAME, ContainerSpec, EventSpec, ServiceSpec, TopologySpec, UnderlaySpec

if TYPE_CHECKING:
    import pandas as pd

    from .analysis.pcap import Capture
    from .analysis.trace import PingResult, Trace
    from .swarm.cluster import Swarm

#: How long before t = 0 a file's swarm is formed and its containers started: gossip converges
#: within a few 200 ms rounds (B42), so the file's t = 0 sees the settled state.
SWARM_SETTLE = 5.0


class Host:
    """A machine on the underlay: its namespace, and its Docker engine if it runs one."""

    def __init__(self, sim: "Simulation", name: str, address: IPv4Address, engine: Optional[Engine]) -> None:
        self.sim = sim
        self.name = name
        self.address = address
        self.engine = engine

    @property
    def ns(self) -> Namespace:
        return self.sim.world.namespaces[(self.name, self.name)]

    @property
    def eth0(self) -> Nic:
        return self.ns.devices["eth0"]  # type: ignore[return-value]

    @property
    def docker(self) -> bool:
        return self.engine is not None

    @property
    def networks(self) -> NetworkCollection:
        return self._engine().networks

    @property
    def containers(self) -> ContainerCollection:
        return self._engine().containers

    def add_route(self, to: Union[str, IPv4Network], via: Union[str, IPv4Address]) -> None:
        """``ip route add TO via VIA`` on this machine: a static route out eth0, VIA on the underlay."""
        net, gateway = IPv4Network(to), IPv4Address(via)
        if gateway not in self.sim.underlay.subnet:
            raise DockerError(f"Nexthop has invalid gateway: {gateway} is not on the underlay {self.sim.underlay.subnet}",
                              fix="route via an address of the underlay subnet")
        if any(r.network == ip(net.network_address) and r.plen == net.prefixlen for r in self.ns.routes):
            raise DockerError(f"RTNETLINK answers: File exists ({net} already has a route on {self.name})",
                              fix="give each destination one route")
        self.ns.add_route(ip(net.network_address), net.prefixlen, self.eth0, ip(gateway))

    def add_macvlan(self, name: str, address: Union[str, IPv4Interface], routes: Sequence[RouteLike] = (),
                    mode: str = "bridge") -> Macvlan:
        """The workaround for B61: ``ip link add NAME link eth0 type macvlan mode MODE``, with an
        address and ``ip route add ROUTE dev NAME`` for each route, so the host reaches its own
        macvlan containers through a child of its own on the same parent."""
        self._free_name(name)
        try:
            dev = Macvlan(self.sim.world, name, _local_mac(self.sim.stream("interfaces", self.name, name)),
                          self.eth0, mode)
        except OSError as err:
            raise DockerError(f"RTNETLINK answers: {err.strerror}", fix="eth0 has a passthru child: it takes no other")
        self._configure(dev, IPv4Interface(address), routes)
        return dev

    def add_vlan(self, vid: int, address: Union[str, IPv4Interface], routes: Sequence[RouteLike] = ()) -> Vlan:
        """``ip link add link eth0 name eth0.VID type vlan id VID``, with an address and routes
        (``"NET"`` out of it, or ``"NET via GATEWAY"``)."""
        name = f"eth0.{vid}"
        self._free_name(name)
        try:
            dev = Vlan(self.sim.world, name, self.eth0, vid)
        except (OSError, ValueError) as err:
            raise DockerError(f"RTNETLINK answers: {err}", fix="use a VLAN id from 1 to 4094, once per host")
        self._configure(dev, IPv4Interface(address), routes)
        return dev

    def _free_name(self, name: str) -> None:
        if name in self.ns.devices:
            raise DockerError(f"RTNETLINK answers: File exists (device {name} on {self.name})",
                              fix="give the interface another name")

    def _configure(self, dev: NetDevice, iface: IPv4Interface, routes: Sequence[RouteLike]) -> None:
        self.ns.add_device(dev)
        self.ns.add_address(dev, ip(iface.ip), iface.network.prefixlen)
        for route in routes:
            net, via = _route(route)
            self.ns.add_route(ip(net.network_address), net.prefixlen, dev, ip(via) if via is not None else None)

    def _engine(self) -> Engine:
        if self.engine is None:
            raise DockerError(f"host {self.name} runs no Docker engine")
        return self.engine

    def __repr__(self) -> str:
        return f"<Host {self.name} {self.address}{'' if self.engine else ' (no docker)'}>"


@dataclass(frozen=True)
class EndpointView:
    """A reachability endpoint: a host or a container, the namespace it pings from, its addresses."""

    name: str
    kind: str  # "host" | "container"
    host: str
    ns: Namespace
    addresses: tuple[tuple[IPv4Address, str], ...]  # (address, network that owns it)


class Simulation:
    def __init__(self, name: str = "netsim", seed: int = 0, engine: str = "29",
                 underlay: Optional[UnderlaySpec] = None, source: str = "<memory>", start: float = 0.0) -> None:
        """``start`` is the clock's first reading: a file with a swarm is built from before 0 so
        that gossip has converged when the file's t = 0 begins."""
        if engine not in PROFILES:
            raise NetsimError(f"unknown engine profile {engine!r}; use one of {sorted(PROFILES)}")
        self.name = name
        self.seed = seed
        self.source = source
        self.profile: EngineProfile = PROFILES[engine]
        self.underlay = underlay or UnderlaySpec()
        self.world = World()
        self.env = Environment(initial_time=start)
        self._swarm: Optional["Swarm"] = None
        self.world.sched = SimpyScheduler(self.env)
        self.hosts: dict[str, Host] = {}
        self.events_log: list[tuple[float, str]] = []
        self.timeline: list[EventSpec] = []  # the events scheduled (the file's, and those given later)
        self.changes: list[tuple[float, str]] = []  # (time, cause) of every change of forwarding state noted
        self.traffic_flows: list[Any] = []  # the traffic flows started (netsim.traffic)
        self._warnings: list[str] = []  # what no single daemon sees (two hosts handing out one address)
        self.captures: dict[str, "Capture"] = {}  # NODE:IFACE -> its packet capture
        self._sent: list[dict[str, Any]] = []  # one row per packet a flow sent, in the order answered
        self.flow_results: dict[str, dict[str, Any]] = {}  # flow -> how it ended, for flows that end (tcp)
        self.switch = Switch(self.world, "underlay", self.underlay.latency, self.underlay.bandwidth)
        self.switch.mac_filtering = self.underlay.mac_filtering
        self.world.costs.update(self.underlay.costs)
        self.world.switches.append(self.switch)
        if self.underlay.gateway is not None:
            self._add_machine(GATEWAY_NAME, self.underlay.gateway, router=True)
        for router in self.underlay.routers:
            self.add_router(router.name, dict(router.vlans), router.address)

    # ---- building ------------------------------------------------------------------------------

    def add_host(self, name: str, address: Optional[Union[str, IPv4Address]] = None,
                 docker: bool = True, icc: bool = True, daemon: Optional[DaemonConfig] = None) -> Host:
        """Plug a machine into the underlay switch; with ``docker=True`` it runs an engine.

        ``daemon`` holds dockerd's options (``DaemonConfig(userland_proxy=False, bip=...)``);
        ``icc=False`` is the short way to start it as ``dockerd --icc=false`` (B7).
        """
        config = daemon or DaemonConfig()
        if not icc:
            config = replace(config, icc=False)
        if name in self.hosts:
            raise DockerError(f"name {name} is already taken by a host", fix="give each host its own name")
        if (name, name) in self.world.namespaces:
            raise DockerError(f"name {name} is already taken by the underlay's router",
                              fix="rename the host, or give the underlay no gateway")
        if address is None:
            address = self.underlay.subnet.network_address + 11 + len(self.hosts)
        addr = IPv4Address(address)
        ns = self._add_machine(name, addr, router=False)
        engine = None
        if docker:
            try:
                engine = Engine(name, self.world, ns, self.stream("engine", name), self.profile,
                                [self.underlay.subnet], config, endpoint_rng=self.stream("endpoints", name))
            except DockerError as err:
                if config.bip is not None or config.default_address_pools != DaemonConfig().default_address_pools:
                    raise
                # At start the engine's only reserved route is the underlay's: if docker0 finds no
                # default pool, the underlay covers them all, and that is the setting to change.
                raise UnderlayError(f"{err.message}: every default address pool overlaps the underlay "
                                    f"{self.underlay.subnet}, so docker0 on {name} gets no subnet",
                                    fix="give the underlay a subnet that leaves Docker's default pools (172.17.0.0/16 "
                                        "to 172.31.0.0/16, 192.168.0.0/16) free, e.g. 192.168.100.0/24") from None
        host = Host(self, name, addr, engine)
        self.hosts[name] = host
        return host

    def add_router(self, name: str, vlans: dict[int, Union[str, IPv4Interface]],
                   address: Optional[IPv4Address] = None) -> Namespace:
        """A router on the underlay between VLANs: a trunk port carrying them tagged, an
        ``eth0.ID`` with an address on each, forwarding on (not an endpoint of the tables)."""
        ns = self._add_machine(name, address, router=True)
        nic = ns.devices["eth0"]
        for vid, addr in sorted(vlans.items()):
            dev = Vlan(self.world, f"eth0.{vid}", nic, vid)
            iface = IPv4Interface(addr)
            ns.add_device(dev)
            ns.add_address(dev, ip(iface.ip), iface.network.prefixlen)
        port = self.switch.ports[-1]
        port.tagged = frozenset(vlans)
        return ns

    def _add_machine(self, name: str, address: Optional[IPv4Address], router: bool) -> Namespace:
        ns = Namespace(self.world, name)
        nic = Nic(self.world, "eth0", _host_mac(self.stream("nic", name)), self.underlay.mtu)
        ns.add_device(nic)
        if address is not None:
            ns.add_address(nic, ip(address), self.underlay.subnet.prefixlen)
        link = self.switch.attach(nic)
        link.queue, link.queue_bytes, link.loss = self.underlay.queue, self.underlay.queue_bytes, self.underlay.loss
        nic.faults = self.underlay.faults
        link.rng = self.stream("link", name)
        if router:
            ns.ip_forward = True
        elif self.underlay.gateway is not None:
            ns.add_route(0, 0, nic, ip(self.underlay.gateway))
        return ns

    @property
    def swarm(self) -> "Swarm":
        """The swarm of this simulation's hosts (``sim.swarm.init(host)``, ``join``, ``leave``, ``nodes_frame()``)."""
        if self._swarm is None:
            from .swarm.cluster import Swarm
            self._swarm = Swarm(self)
        return self._swarm

    @property
    def warnings(self) -> list[str]:
        """What the daemons warned about, as ``host: text`` (docker run prints these as WARNING lines)."""
        return [f"{h.name}: {text}" for h in self.hosts.values() if h.engine is not None
                for text in h.engine.warnings] + self._warnings

    def daemon_log(self) -> "pd.DataFrame":
        """What the daemons logged while the simulation ran (``journalctl -u docker`` on every
        host), in time order: ``time``, ``host``, ``level``, ``msg``."""
        import pandas as pd
        rows = sorted((t, h.name, level, msg) for h in self.hosts.values() if h.engine is not None
                      for t, level, msg in h.engine.log)
        return pd.DataFrame(rows, columns=["time", "host", "level", "msg"])

    def stream(self, *name: str) -> random.Random:
        """The random stream of one subsystem, derived from the seed and its name.

        Each engine and each NIC draws from its own stream, so adding a host, a container or a
        new kind of draw changes no other subsystem's ids, MACs or timers.
        """
        return random.Random(":".join((str(self.seed), *name)))  # str seeds hash the same in every process

    def host(self, name: str) -> Host:
        try:
            return self.hosts[name]
        except KeyError:
            raise NetsimError(f"no host named {name!r}") from None

    def container(self, name: str) -> Container:
        """The container called ``name``, or ``HOST/NAME`` when several daemons run one of that name."""
        host, _, bare = name.rpartition("/")
        if host:
            engine = self.hosts[host].engine if host in self.hosts else None
            if engine is None or bare not in engine.containers:
                raise NetsimError(f"no container named {bare!r} on host {host!r}")
            return engine.containers.get(bare)
        found = [h.engine.containers.get(name) for h in self.hosts.values()
                 if h.engine is not None and name in h.engine.containers]
        if len(found) > 1:
            raise NetsimError(f"{len(found)} hosts run a container named {name!r}; say which: "
                              + ", ".join(f"{c.host}/{name}" for c in found))
        if not found:
            raise NetsimError(f"no container named {name!r}")
        return found[0]

    def display_name(self, ctr: Container) -> str:
        """How tables name a container: its name, or ``HOST/NAME`` when the name alone is ambiguous."""
        ambiguous = ctr.name in self.hosts or sum(
            1 for h in self.hosts.values() if h.engine is not None and ctr.name in h.engine.containers) > 1
        return f"{ctr.host}/{ctr.name}" if ambiguous else ctr.name

    def _ambiguous(self) -> set[str]:
        seen: set[str] = set(self.hosts)
        twice: set[str] = set()
        for ctr in self.containers():
            (twice if ctr.name in seen else seen).add(ctr.name)
        return twice

    def containers(self) -> Iterator[Container]:
        for host in self.hosts.values():
            if host.engine is not None:
                yield from host.engine.containers

    # ---- time ----------------------------------------------------------------------------------

    @property
    def mode(self) -> str:
        """How traffic moves: ``event`` (every packet through the event core, the default) or
        ``vectorized`` (steady UDP flows a window at a time, ``netsim.datapath.vectorized``)."""
        return "vectorized" if self.world.vectorizer.enabled else "event"

    @mode.setter
    def mode(self, value: str) -> None:
        if value not in MODES:
            raise NetsimError(f"unknown mode {value!r}; use one of {', '.join(MODES)}")
        self.world.vectorizer.enabled = value == "vectorized"

    @property
    def now(self) -> float:
        return float(self.env.now)

    def run(self, until: Union[float, str]) -> None:
        """Advance simulated time to ``until`` (seconds, or a duration like ``"30s"``), applying the
        timeline's events up to and at it."""
        # simpy stops *before* events due at `until`; a question asked "at 2s" must see them.
        self.env.run_through(seconds(until))

    def schedule(self, event: EventSpec) -> None:
        self.timeline.append(event)
        self.env.process(self._event_process(event))

    def _event_process(self, event: EventSpec):  # type: ignore[no-untyped-def]
        yield self.env.timeout(event.at - self.env.now)
        try:
            self.apply(event)
        except DockerError as err:
            where = f"{event.key_path}.{event.kind}"
            # networks.NAME[.KEY] in the engine's words is the event's network (or that key of it).
            head, _, tail = (err.field or "").partition(".")
            if head == "networks":
                where = f"{where}.{tail.partition('.')[2] or 'network'}"
            raise TopologyError(self.source, where, f"at {event.at:g}s: {err.message}", err.fix) from None

    def apply(self, event: EventSpec) -> None:
        """Carry out one timeline event now, through the handler registered for its kind."""
        text = HANDLERS[event.kind](self, event)
        self._log(text)
        self.note_change(text)

    def add_traffic(self, flow: Any) -> None:
        """Start a flow of ``netsim.traffic`` (``PingFlow(...)``, or what ``traffic:`` declares);
        it sends as the clock runs."""
        self.traffic_flows.append(flow)
        self.env.process(flow.run(self, self._sent))

    def traffic_end(self) -> float:
        """When the last flow started is over (its last packet answered or given up)."""
        return max((flow.end() for flow in self.traffic_flows), default=self.now)

    def pings(self) -> "pd.DataFrame":
        """Every echo the ``ping`` flows sent so far: flow (its key path), seq, sent (simulated
        time), src, dst, addr, reachable, rtt_us, disposition, detail, responder."""
        import pandas as pd
        columns = ["flow", "seq", "sent", "src", "dst", "addr", "reachable", "rtt_us", "disposition", "detail",
                   "responder"]
        rows = sorted((r for r in self._sent if r["kind"] == "ping"), key=lambda r: (r["sent"], r["flow"], r["seq"]))
        return pd.DataFrame(rows, columns=columns)

    def capture(self, where: str) -> "Capture":
        """Start a packet capture (``tcpdump -i``) on ``NODE:IFACE``: a host or container and one
        of its interfaces (``node1:eth0``, ``web:eth0``); ``sim.pcap(where)`` gives the file."""
        from .analysis.pcap import Capture
        if where in self.captures:
            return self.captures[where]
        node, sep, iface = where.partition(":")
        if not sep or not node or not iface:
            raise NetsimError(f"capture {where!r}: write NODE:IFACE, e.g. node1:eth0 or web:eth0")
        try:
            ns = self.endpoint(node).ns
        except NetsimError:
            raise NetsimError(f"capture {where!r}: no host or container named {node!r}") from None
        dev = ns.devices.get(iface)
        if dev is None:
            raise NetsimError(f"capture {where!r}: {node} has no interface {iface!r} "
                              f"(it has {', '.join(sorted(ns.devices))})")
        capture = self.captures[where] = Capture(where, dev)
        return capture

    def pcap(self, where: str) -> bytes:
        """The pcap file's bytes of the capture on ``where`` (started now if it was not)."""
        return self.capture(where).pcap()

    def flows(self) -> "pd.DataFrame":
        """One row per traffic flow so far, FlowMonitor-like: sent, received, lost, bytes, delay
        min/mean/p50/p99/max, jitter, throughput, drop reasons (``netsim.analysis.flows``)."""
        from .analysis.flows import flow_table
        return flow_table(self)

    def packets(self) -> "pd.DataFrame":
        """Every packet the flows sent so far, one row each: when, where to, and how it ended."""
        from .analysis.flows import packet_table
        return packet_table(self)

    def note_change(self, cause: str) -> None:
        """Something that may change who reaches whom happened now (an event, what gossip learned)."""
        self.changes.append((self.now, cause))

    def _log(self, text: str) -> None:
        self.events_log.append((self.now, text))

    # ---- endpoints -----------------------------------------------------------------------------

    def endpoints(self) -> list[EndpointView]:
        """Every host, then every container, in the order they were added."""
        views = [self._host_view(h) for h in self.hosts.values()]
        ambiguous = self._ambiguous()
        views.extend(self._container_view(ctr, ambiguous) for ctr in self.containers())
        return views

    def _host_view(self, host: Host) -> EndpointView:
        return EndpointView(host.name, "host", host.name, host.ns, self._ns_addresses(host.ns, host))

    def _container_view(self, ctr: Container, ambiguous: Optional[set[str]] = None) -> EndpointView:
        if ambiguous is None:
            name = self.display_name(ctr)
        else:
            name = f"{ctr.host}/{ctr.name}" if ctr.name in ambiguous else ctr.name
        return EndpointView(name, "container", ctr.host, ctr.ns, self._ns_addresses(ctr.ns, self.hosts[ctr.host]))

    def _ns_addresses(self, ns: Namespace, host: Host) -> tuple[tuple[IPv4Address, str], ...]:
        """Non-loopback addresses of a namespace, each with the network that owns it."""
        by_device: dict[str, str] = {"eth0": "underlay"} if ns is host.ns else {}
        local: list[tuple[IPv4Network, str]] = []  # the host's own addresses on its networks (gateways)
        if host.engine is not None:
            if ns is host.ns:
                local = [(net.subnet, net.name) for net in host.engine.networks if net.pool is not None]
            # A namespace's endpoints all belong to the container that created it and gave it
            # its name (one sharing it, by container:NAME or host mode, cannot connect): looking
            # that container up replaces a scan of every endpoint on the host, which made
            # listing N endpoints cost N^2.
            containers = host.engine.containers
            creator = containers.get(ns.name) if ns.name in containers else None
            if creator is not None and creator.ns is ns:
                by_device.update((ep.interface.name, ep.network.name) for ep in creator.endpoints.values()
                                 if ep.interface is not None)
        out: dict[tuple[IPv4Address, str], None] = {}  # a driver may put one address on several devices
        for a in ns.addresses:
            if a.addr >> 24 == 127:
                continue
            addr = IPv4Address(a.addr)
            network = by_device.get(a.dev.name) or next((name for subnet, name in local if addr in subnet), a.dev.name)
            out[(addr, network)] = None
        return tuple(out)

    def endpoint(self, name: str) -> EndpointView:
        """The view ``endpoints()`` lists first under that name: a host before a container."""
        if name in self.hosts:
            return self._host_view(self.hosts[name])
        try:
            ctr = self.container(name)
        except NetsimError:
            raise NetsimError(f"no host or container named {name!r}") from None
        return self._container_view(ctr)

    # ---- questions (answered by netsim.analysis) ---------------------------------------------

    def reachability(self, at: Optional[float] = None, workers: int = 1) -> "pd.DataFrame":
        """Who reaches whom at time ``at`` (default: now); ``workers`` forks probe processes."""
        from .analysis.reachability import reachability
        self.run(at if at is not None else self.now)
        return reachability(self, workers)

    def reachability_by_name(self, at: Optional[float] = None) -> "pd.DataFrame":
        from .analysis.reachability import reachability_by_name
        self.run(at if at is not None else self.now)
        return reachability_by_name(self)

    def resolve(self, src: str, name: str) -> "pd.DataFrame":
        """What ``src``'s resolver answers for ``name`` now (``nslookup NAME`` in it): one row per
        address, in the order given (src, name, address, owner, network, source: ``dns``,
        ``hosts`` or ``link-alias``); no rows for NXDOMAIN."""
        from .analysis.trace import resolve_table
        return resolve_table(self, src, name)

    def connect(self, src: str, dst: str, port: int, proto: str = "tcp", count: int = 1) -> "pd.DataFrame":
        """``count`` connections from ``src`` to ``dst:port`` now (``dst`` a name or an address):
        whether each completed, which endpoint answered (a task's Docker name) and the source
        address it saw; the attempts share IPVS's round robin (``analysis/connect.py``)."""
        from .analysis.connect import connect
        return connect(self, src, dst, port, proto, count)

    def reachability_changes(self, until: Union[float, str], step: float = 0.1) -> "pd.DataFrame":
        """Walk the clock from now to ``until`` and list every cell of the address and by-name tables
        that changes: time, src, dst, addr, name, network, old, new, cause (``step`` is the resolution)."""
        from .analysis.changes import reachability_changes
        return reachability_changes(self, until, step)

    def ports(self, at: Optional[float] = None) -> "pd.DataFrame":
        """Who reaches which listening TCP/UDP port at ``at`` (default: now), and who answers it."""
        from .analysis.ports import ports
        self.run(at if at is not None else self.now)
        return ports(self)

    def trace(self, src: str, dst: str, proto: str = "icmp", port: int = 0, size: int = 56,
              df: bool = True) -> "Trace":
        """One probe hop by hop; ``size`` and ``df`` shape an echo as ``ping -s SIZE -M do`` would."""
        from .analysis.trace import trace
        return trace(self, src, dst, proto, port, size, df)

    def ping(self, src: str, dst: str, timeout: float = 1.0, size: int = 56, df: bool = False) -> "PingResult":
        """One echo in simulated time; ``size`` and ``df`` as ``ping -s SIZE -M do``."""
        from .analysis.trace import ping
        return ping(self, src, dst, timeout, size, df)

    def __repr__(self) -> str:
        return f"<Simulation {self.name} seed={self.seed} engine={self.profile.version} t={self.now:g}s " \
               f"hosts={len(self.hosts)}>"


def seconds(value: Union[float, str]) -> float:
    """A point in simulated time given as seconds or as a duration like ``"30s"`` or ``"500ms"``."""
    if not isinstance(value, str):
        return float(value)
    from .topology.loader import parse_duration
    try:
        return parse_duration(value)
    except ValueError as err:
        raise NetsimError(f"until={value!r}: {err}; write e.g. 30s or 500ms") from None


RouteLike = Union[str, IPv4Network, tuple[IPv4Network, Optional[IPv4Address]]]


def _route(route: RouteLike) -> tuple[IPv4Network, Optional[IPv4Address]]:
    """``"10.1.0.0/24"``, ``"10.1.0.0/24 via 192.168.10.1"``, or the pair the loader makes."""
    if isinstance(route, tuple):
        return route
    to, _, via = str(route).partition(" via ")
    return IPv4Network(to.strip()), IPv4Address(via.strip()) if via else None


def _warn_shared_addresses(sim: Simulation, spec: TopologySpec) -> None:
    """B60: a network created alike on several hosts has an IPAM per host (scope local), so two
    hosts can hand out the same address; nothing warns in Docker, netsim does, naming both."""
    for n in spec.networks:
        if REGISTRY[n.driver].SCOPE != "hosts":
            continue
        owners: dict[IPv4Address, list[str]] = {}
        for place in n.hosts:
            for ctr in sim.host(place).containers:
                ep = ctr.endpoints.get(n.name)
                if ep is not None:
                    owners.setdefault(ep.address, []).append(f"{ctr.name} on {place}")
        for addr, who in sorted(owners.items()):
            if len(who) > 1:
                sim._warnings.append(f"{n.driver} network {n.name}: {' and '.join(who)} {'both' if len(who) == 2 else 'all'} have {addr}: each "
                                     f"host's IPAM hands out addresses on its own (scope local); give each host "
                                     f"its own ip_range")


def _local_mac(rng: random.Random) -> int:
    """A random locally administered unicast MAC, as the kernel gives a new macvlan link."""
    return (rng.getrandbits(48) & ~(1 << 40)) | (1 << 41)


def _host_mac(rng: random.Random) -> int:
    """Host NICs get 52:54:00:xx:xx:xx, the QEMU/KVM OUI most lab VMs show."""
    return 0x525400000000 | rng.getrandbits(24)


# ---- building from a topology file -----------------------------------------------------------

def build(spec: TopologySpec, seed: Optional[int] = None) -> Simulation:
    """Make the live simulation a spec describes, through the same calls a notebook would use.

    A timeline event the engine would refuse (an address someone holds by then, a subnet full
    by then) is bad input like any other, so it is reported now, as a ``TopologyError`` naming
    the event, rather than when a question first reaches its instant: a twin of the simulation
    is walked to the last event first.  That costs one more build for files with events.
    """
    sim = _build(spec, seed)
    if spec.events:
        _build(spec, seed).run(spec.events[-1].at)
    return sim


def _build(spec: TopologySpec, seed: Optional[int]) -> Simulation:
    members = [h for h in spec.hosts if h.swarm]
    sim = Simulation(spec.name, spec.seed if seed is None else seed, spec.engine, spec.underlay, spec.source,
                     start=-SWARM_SETTLE if members else 0.0)
    sim.mode = spec.mode
    for h in spec.hosts:
        _docker(spec, h.key_path, lambda h=h: sim.add_host(h.name, h.address, docker=h.docker, daemon=h.daemon))
        for index, (to, via) in enumerate(h.routes):
            _docker(spec, f"{h.key_path}.routes[{index}]", lambda h=h, to=to, via=via: sim.host(h.name).add_route(to, via))
        link = sim.host(h.name).eth0.link
        if link is not None and h.link_mtu is not None:
            link.mtu = h.link_mtu  # a VPN hop or a small fabric: the NIC still says 1500 (T3)
        sim.host(h.name).eth0.faults += h.link_faults
        if h.costs:
            sim.world.host_costs[h.name] = {**sim.world.costs, **dict(h.costs)}
        if link is not None:
            for attr in ("latency", "bandwidth", "loss"):
                value = getattr(h, f"link_{attr}")
                if value is not None:
                    setattr(link, attr, value)
            if h.link_queue is not None or h.link_queue_bytes is not None:  # one limit or the other
                link.queue, link.queue_bytes = h.link_queue, h.link_queue_bytes
        for iface in h.interfaces:
            host = sim.host(h.name)
            make = (lambda host=host, iface=iface: host.add_vlan(int(iface.name[5:]), iface.address, iface.routes)) \
                if iface.type == "vlan" else \
                (lambda host=host, iface=iface: host.add_macvlan(iface.name, iface.address, iface.routes, iface.mode))
            _docker(spec, f"{h.key_path}.interfaces.{iface.name}", make)
        port = next((p for p in sim.switch.ports if p.link is link), None) if link is not None else None
        if port is not None:
            port.hairpin, port.pvid, port.tagged = h.link_hairpin, h.link_pvid, h.link_tagged
            port.promiscuous = h.link_promiscuous
    # Local networks first: the swarm's docker_gwbridge then takes the next free local pool, as it
    # does on a host whose networks were made before it joined.
    for n in spec.networks:
        if REGISTRY[n.driver].SCOPE == "swarm":
            continue
        options = {**dict(n.driver_opts), **n.options.to_opts()}
        # The loader placed each local network by its driver's scope: one host, or a list.
        for place in (n.host,) if n.host else n.hosts:
            _docker(spec, n.key_path, lambda n=n, place=place, options=options: sim.host(place).networks.create(
                n.name, driver=n.driver, options=options, internal=n.internal, attachable=n.attachable,
                subnet=n.subnet, ip_range=dict(n.host_ranges).get(place, n.ip_range), gateway=n.gateway,
                labels=dict(n.labels)))
    # The first manager in file order runs swarm init; the others join with their role's token.
    for h in sorted(members, key=lambda h: h.swarm != "manager"):
        _docker(spec, f"{h.key_path}.swarm", lambda h=h: sim.swarm.join(h.name, h.swarm) if sim.swarm.managers()
                else sim.swarm.init(h.name))
    for n in spec.networks:
        if REGISTRY[n.driver].SCOPE == "swarm":
            options = {**dict(n.driver_opts), **n.options.to_opts()}
            _docker(spec, n.key_path, lambda n=n, options=options: sim.swarm.create_network(
                n.name, n.driver, subnet=n.subnet, gateway=n.gateway, internal=n.internal, attachable=n.attachable,
                options=options, labels=dict(n.labels)))
    for c in _creation_order(spec.containers):
        _docker(spec, c.key_path, lambda c=c: _run_container(sim, c), lambda field, c=c: _container_field(c, field))
    for h in members:
        if h.labels:
            _docker(spec, f"{h.key_path}.labels", lambda h=h: sim.swarm.update_node(h.name, labels=dict(h.labels)))
    for svc in spec.services:
        _docker(spec, svc.key_path, lambda svc=svc: _create_service(sim, svc))
    sim.run(0.0)  # the swarm, if any, settles before the file's t = 0
    _warn_shared_addresses(sim, spec)
    for index, where in enumerate(spec.capture):
        try:
            sim.capture(where)
        except NetsimError as err:
            raise TopologyError(spec.source, f"capture[{index}]", str(err), "name a host or container and one of "
                                "its interfaces, e.g. node1:eth0") from None
    for e in spec.events:
        sim.schedule(e)
    for flow in spec.traffic:
        sim.add_traffic(flow)
    return sim


def _run_container(sim: Simulation, c: ContainerSpec) -> Container:
    networks = {a.network: {"aliases": a.aliases, "ipv4_address": a.ipv4_address} for a in c.networks}
    ports = [PortBinding(p.container_port, p.host_port or 0, p.proto, p.host_ip) for p in c.ports]
    return sim.host(c.host).containers.run(
        c.name, network_mode=c.network_mode, networks=networks or None, ports=ports,
        links=[(l.container, l.alias) for l in c.links], hostname=c.hostname,
        expose=[f"{port}/{proto}" for port, proto in c.expose])


def _create_service(sim: Simulation, svc: ServiceSpec) -> object:
    from .swarm.orchestrator import PortConfig

    return sim.swarm.create_service(
        svc.name, image=svc.image, replicas=svc.replicas, mode=svc.mode,
        networks=[(a.network, a.aliases) for a in svc.networks],
        ports=[PortConfig(p.target, p.published, p.protocol, p.mode) for p in svc.ports],
        expose=[f"{port}/{proto}" for port, proto in svc.expose], endpoint_mode=svc.endpoint_mode, constraints=svc.constraints, max_replicas_per_node=svc.max_replicas_per_node)


def _creation_order(containers: Sequence[ContainerSpec]) -> list[ContainerSpec]:
    """File order, except that a container comes after those it links to or shares a namespace with."""
    by_name = {c.name: c for c in containers}
    done: dict[str, ContainerSpec] = {}

    def visit(c: ContainerSpec, stack: tuple[str, ...]) -> None:
        if c.name in done or c.name in stack:
            return
        deps = [l.container for l in c.links]
        if c.network_mode and c.network_mode.startswith("container:"):
            deps.append(c.network_mode.split(":", 1)[1])
        for dep in deps:
            if dep in by_name:
                visit(by_name[dep], stack + (c.name,))
        done[c.name] = c

    for c in containers:
        visit(c, ())
    return list(done.values())


def _container_field(c: ContainerSpec, field: str) -> str:
    """Where in the file a field of the engine's error (``networks.front.aliases``, ``links``) was written."""
    head, _, rest = field.partition(".")
    if head == "networks":
        name, _, key = rest.partition(".")
        attach = next((a for a in c.networks if a.network == name), None)
        if attach is not None:
            return f"{attach.key_path}.{key}" if key else attach.key_path
    if head == "links" and c.links:
        return next((link.key_path for link in c.links if link.container == rest), c.links[0].key_path)
    return f"{c.key_path}.{field}"


def _docker(spec: TopologySpec, key_path: str, action, where=None) -> object:  # type: ignore[no-untyped-def]
    try:
        return action()
    except DockerError as err:
        if err.setting:
            path = err.setting
        elif err.field:
            path = where(err.field) if where is not None else f"{key_path}.{err.field}"
        else:
            path = key_path
        raise TopologyError(spec.source, path, err.message, err.fix) from None
