"""One Docker engine: its networks, containers and endpoints, with docker SDK names.

``engine.networks.create(...)``, ``engine.containers.run(...)``, ``network.connect(...)``,
``network.disconnect(...)`` and ``network.remove()`` do what dockerd does, in its order:
allocate from IPAM, ask the driver for the kernel objects, install the interface, address
and routes in the container's namespace (the "sandbox"), pick the default gateway (B13),
publish ports on the gateway endpoint, and register names for the embedded DNS.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network
from typing import Any, Generic, Iterator, Mapping, Optional, Sequence, TypeVar, Union

from ..datapath.addr import BROADCAST_MAC, ip, mac, mac_str
from ..datapath.device import NetDevice
from ..datapath.netfilter import Netfilter
from ..datapath.netns import Namespace
from ..datapath.packet import ARP, ARPOP_REQUEST, Ether
from ..datapath.skb import Skb
from ..datapath.world import World
from ..errors import DockerError
from .cluster import INGRESS, AddressAllocator, ClusterAgent, IngressPort, ServiceBinding, SwarmNetwork, TaskAttachment
from .config import DaemonConfig
from .dns import NameTable, Record
from .drivers import lookup
from .drivers.api import Driver, EndpointInfo, GatewayPolicy, HostInterface, LegacyLinks, NetworkInfo, PortPublisher, TableEntry
from .drivers.options import DriverOptions
from .ipam import AddressPool, pick_subnet
from .ports import PortBinding, port_bindings
from .ingress import add_redirect_rules
from .service import LoadBalancers
from .profile import EngineProfile

RANDOM_PORTS = (49153, 65535)  # B23: ip_local_port_range fallback
ENDPOINT_TABLE = "endpoint_table"  # libnetwork's service records, gossiped per network
GW_NETWORK = "docker_gwbridge"  # libnetwork's external-connectivity network for gateway-less drivers (B46)


@dataclass
class Endpoint:
    id: str
    network: "Network"
    container: "Container"
    address: IPv4Address
    mac: int
    ifname: str
    aliases: tuple[str, ...] = ()
    interface: Optional[NetDevice] = None  # container side
    gateway: Optional[IPv4Address] = None  # what the driver offered
    gateway_service: bool = True  # whether the container needs docker_gwbridge when nothing offers a gateway
    device_default: bool = False  # the driver offers ``default dev IFACE`` (ipvlan l3) instead of a gateway
    table_keys: tuple[tuple[str, str], ...] = ()  # (table, key) the driver published for it
    resolvable: bool = True  # False for the docker_gwbridge endpoint, named gateway_<id>, not after the container
    assigned: bool = False  # its address came from the swarm's manager (a task), which also frees it
    service: Optional[ServiceBinding] = None  # a swarm task's service, for the embedded DNS (B59)

    @property
    def plen(self) -> int:
        return self.network.subnet.prefixlen

    @property
    def info(self) -> EndpointInfo:
        """What the driver sees of it."""
        return EndpointInfo(self.id, self.network.id, self.container.name, self.address, self.plen, self.mac,
                            self.ifname)


class Network:
    """One network of this engine; what is kernel state belongs to its driver, not to this record."""

    def __init__(self, engine: "Engine", name: str, driver: Driver, net_id: str,
                 subnet: Optional[IPv4Network], gateway: Optional[IPv4Address],
                 ip_range: Optional[IPv4Network], internal: bool, attachable: bool,
                 settings: DriverOptions, options: Mapping[str, str], labels: Mapping[str, str],
                 pool: Optional["AddressAllocator"] = None) -> None:
        self.engine = engine
        self.name = name
        self.driver = driver
        self.id = net_id
        self.internal = internal
        self.attachable = attachable
        self.settings = settings  # the driver's typed options
        self.options = dict(options)  # as given, the -o strings docker network inspect shows
        self.labels = dict(labels)
        self.endpoints: dict[str, Endpoint] = {}  # container name -> endpoint, join order
        self.names = NameTable()  # what the embedded DNS answers, kept in step with endpoints
        self.subnet = subnet or IPv4Network("0.0.0.0/32")
        self.gateway = gateway
        # A swarm network's addresses come from the managers' allocator, shared by every node.
        self.pool: Optional[AddressAllocator] = pool or (AddressPool(subnet, ip_range, gateway)
                                                         if subnet is not None else None)

    @property
    def driver_name(self) -> str:
        return self.driver.TYPE

    @property
    def mtu(self) -> Optional[int]:
        return self.settings.mtu

    @property
    def info(self) -> NetworkInfo:
        """What the driver sees of it."""
        return NetworkInfo(self.id, self.name, self.subnet, self.gateway, self.internal, self.settings)

    @property
    def host_interface(self) -> Optional[NetDevice]:
        """The host's own device on this network (a bridge with the gateway address), if it has one."""
        drv = self.driver
        return drv.host_interface(self.id) if isinstance(drv, HostInterface) else None

    @property
    def ingress(self) -> bool:
        """The swarm's routing-mesh network: no names are registered on it (addSvcRecords)."""
        return self.name == INGRESS and self.driver.SCOPE == "swarm"

    @property
    def user_defined(self) -> bool:
        return self.name not in ("bridge", "host", "none")

    @property
    def containers(self) -> list["Container"]:
        return [ep.container for ep in self.endpoints.values()]

    def connect(self, container: Union["Container", str], aliases: Sequence[str] = (),
                ipv4_address: Optional[Union[str, IPv4Address]] = None,
                links: Sequence[str] = ()) -> Endpoint:
        """``docker network connect [--alias A] [--ip X] NETWORK CONTAINER`` (B13)."""
        ctr = self.engine.containers.get(container) if isinstance(container, str) else container
        return self.engine._connect(ctr, self, tuple(aliases),
                                    IPv4Address(ipv4_address) if ipv4_address is not None else None,
                                    tuple(links))

    def disconnect(self, container: Union["Container", str], force: bool = False) -> None:
        """``docker network disconnect NETWORK CONTAINER`` (B14)."""
        ctr = self.engine.containers.get(container) if isinstance(container, str) else container
        self.engine._disconnect(ctr, self)

    def remove(self) -> None:
        """``docker network rm`` (B17)."""
        self.engine.networks._remove(self)

    @property
    def attrs(self) -> dict[str, object]:
        """The shape of ``docker network inspect``, for the fields we model."""
        config = []
        if self.pool is not None:
            entry = {"Subnet": str(self.subnet)}
            if self.gateway is not None:
                entry["Gateway"] = str(self.gateway)
            config.append(entry)
        inspected: dict[str, object] = {
            "Name": self.name, "Id": self.id, "Driver": self.driver.TYPE,
            "Scope": "swarm" if self.driver.SCOPE == "swarm" else "local",
            "Internal": self.internal, "Attachable": self.attachable, "Labels": dict(sorted(self.labels.items())),
            "IPAM": {"Driver": "default", "Config": config},
            "Options": dict(sorted(self.options.items())),
            "Containers": {ep.container.id: {"Name": name, "MacAddress": mac_str(ep.mac),
                                             "IPv4Address": f"{ep.address}/{ep.plen}"}
                           for name, ep in self.endpoints.items()},
        }
        agent = self.engine.agent
        if self.driver.SCOPE == "swarm" and agent is not None:
            # B36: the nodes that have the network instantiated, as this node's NetworkDB knows.
            inspected["Peers"] = [{"Name": name, "IP": address} for name, address in agent.peers(self.id)]
        return inspected

    def inspect(self) -> dict[str, object]:
        """``docker network inspect NAME``."""
        return self.attrs

    def __repr__(self) -> str:
        return f"<Network {self.name} {self.driver.TYPE} {self.subnet}>"


@dataclass
class Container:
    engine: "Engine"
    name: str
    id: str
    ns: Namespace
    network_mode: str  # "default" | "host" | "none" | "container:<name>"
    hostname: str
    endpoints: dict[str, Endpoint] = field(default_factory=dict)  # network name -> endpoint
    links: list[tuple[str, str]] = field(default_factory=list)  # (target container, alias)
    ports: list[PortBinding] = field(default_factory=list)
    exposed: set[tuple[int, str]] = field(default_factory=set)  # (port, proto): EXPOSE and published
    gateway_endpoint: Optional[Endpoint] = None
    first_network: str = "bridge"  # the --network it was started on, which HostConfig.NetworkMode names

    @property
    def short_id(self) -> str:
        return self.id[:12]

    @property
    def host(self) -> str:
        return self.engine.host

    @property
    def owns_namespace(self) -> bool:
        return self.network_mode in ("default", "none")

    @property
    def attrs(self) -> dict[str, object]:
        networks = {name: {"IPAddress": str(ep.address), "IPPrefixLen": ep.plen,
                           "Gateway": str(ep.gateway or ""), "MacAddress": mac_str(ep.mac),
                           "Aliases": list(ep.aliases), "NetworkID": ep.network.id}
                    for name, ep in self.endpoints.items()}
        return {"Name": "/" + self.name, "Id": self.id,
                "HostConfig": {"NetworkMode": self.network_mode if self.network_mode != "default"
                               else self.first_network},
                "NetworkSettings": {"Networks": networks,
                                    "Ports": {f"{p.container_port}/{p.proto}": [
                                        {"HostIp": str(p.host_ip or "0.0.0.0"), "HostPort": str(p.host_port)}]
                                        for p in self.ports}}}

    def remove(self, force: bool = False) -> None:
        """``docker rm -f``: leave every network, free the ports, and drop the namespace."""
        self.engine.containers._remove(self)

    def __repr__(self) -> str:
        return f"<Container {self.name} on {self.engine.host}>"


T = TypeVar("T", "Network", "Container")


class _Collection(Generic[T]):
    """Name -> object, in creation order: what ``client.networks`` / ``client.containers`` are."""

    missing = ""  # Docker's "not found" message, {} = the name

    def __init__(self, engine: "Engine") -> None:
        self.engine = engine
        self._by_name: dict[str, T] = {}

    def get(self, name: Union[str, T]) -> T:
        if not isinstance(name, str):
            return name
        try:
            return self._by_name[name]
        except KeyError:
            raise DockerError(self.missing.format(name)) from None

    def list(self) -> list[T]:
        return list(self._by_name.values())

    def __iter__(self) -> Iterator[T]:
        return iter(list(self._by_name.values()))

    def __contains__(self, name: object) -> bool:
        return name in self._by_name


class NetworkCollection(_Collection["Network"]):
    missing = "network {} not found"

    def create(self, name: str, driver: str = "bridge",
               options: Union[Mapping[str, str], DriverOptions, None] = None,
               internal: bool = False, attachable: bool = False,
               subnet: Optional[Union[str, IPv4Network]] = None,
               ip_range: Optional[Union[str, IPv4Network]] = None,
               gateway: Optional[Union[str, IPv4Address]] = None,
               labels: Optional[Mapping[str, str]] = None) -> Network:
        """``docker network create [-d DRIVER] [-o KEY=VALUE]... [--subnet ...] NAME``.

        ``options`` are docker-py's ``-o`` strings (``{"com.docker.network.bridge.enable_icc": "false"}``),
        parsed by the driver, or the driver's own typed ``Options`` record.
        """
        engine = self.engine
        if name in self._by_name:
            raise DockerError(f"network with name {name} already exists")
        cls = lookup(driver)
        if isinstance(options, DriverOptions):
            if not isinstance(options, cls.Options):
                raise DockerError(f"{type(options).__name__} are not options of the {driver} driver",
                                  fix=f"pass {cls.Options.__name__} or a mapping of -o strings")
            settings, given = options, options.to_opts()
        else:
            settings, given = cls.Options.from_opts(options), dict(options or {})
        drv = engine.driver(driver)
        sub = IPv4Network(subnet) if subnet is not None else None
        if cls.SCOPE != "swarm":  # one local address space per engine; the swarm's is global
            in_use = [n.subnet for n in self._by_name.values() if n.pool is not None]
            if sub is None:
                sub = pick_subnet(engine.config.default_address_pools, in_use, engine.on_link,
                                  engine.profile.pool_exhausted_error)
            elif any(sub.overlaps(u) for u in in_use):
                other = next(n for n in self._by_name.values() if n.pool is not None and sub.overlaps(n.subnet))
                raise DockerError(f"Pool overlaps with other one on this address space: {sub} overlaps network "
                                  f"{other.name} ({other.subnet}) on host {engine.host}",
                                  fix=f"give network {name} a subnet that no other network on {engine.host} uses",
                                  field="subnet")
        gw = IPv4Address(gateway) if gateway is not None else None
        if sub is not None and gw is None and not (isinstance(drv, GatewayPolicy)
                                                   and drv.skip_gateway_alloc(settings, internal)):
            gw = sub.network_address + 1
        net = Network(engine, name, drv, engine.new_id(), sub, gw,
                      IPv4Network(ip_range) if ip_range is not None else None, internal, attachable,
                      settings, given, labels or {})
        drv.create_network(net.info)
        self._by_name[name] = net
        return net

    def _remove(self, net: Network) -> None:
        users = [*net.endpoints, *self.engine.load_balancers.users(net)]
        if users:
            raise DockerError(f"error while removing network: network {net.name} id {net.id} has active "
                              f"endpoints ({', '.join(users)})",
                              fix="disconnect or remove its containers first")
        net.driver.delete_network(net.id)
        del self._by_name[net.name]

    def _add_builtin(self, net: Network) -> None:
        self._by_name[net.name] = net

    def _for_attach(self, name: str, container: str, task: bool = False) -> Network:
        """The network a container attaches to: this engine's, or a swarm network the node
        instantiates now, once the swarm lets the container attach (B35, B36); a swarm task's
        network needs no ``attachable``: the manager placed the task on it."""
        local = self._by_name.get(name)
        agent = self.engine.agent
        if local is not None or agent is None:
            return self.get(name)
        swarm_net = agent.network(name)
        if swarm_net is None:
            return self.get(name)
        if not task:
            agent.attach(swarm_net, container)
        return self._instantiate(swarm_net)

    def _instantiate(self, sn: SwarmNetwork) -> Network:
        cls = lookup(sn.driver)
        net = Network(self.engine, sn.name, self.engine.driver(sn.driver), sn.id, sn.subnet, sn.gateway, None,
                      sn.internal, sn.attachable, cls.Options.from_opts(sn.options), sn.options, sn.labels,
                      pool=sn.pool)
        net.driver.create_network(net.info)
        self._by_name[sn.name] = net
        if self.engine.agent is not None:
            self.engine.agent.network_joined(net.id)
        return net


    def _deinstantiate(self, net: Network) -> None:
        """The node's last endpoint of a swarm network left: the node deletes its copy."""
        self.engine.load_balancers.delete(net)
        net.driver.delete_network(net.id)
        del self._by_name[net.name]
        if self.engine.agent is not None:
            self.engine.agent.network_left(net.id)


class ContainerCollection(_Collection["Container"]):
    missing = "No such container: {}"

    def _remove(self, ctr: Container) -> None:
        users = [c.name for c in self if c.network_mode == f"container:{ctr.name}"]
        if users:
            raise DockerError(f"cannot remove container {ctr.name}: its network namespace is used by "
                              f"{', '.join(users)}", fix="remove those containers first")
        engine = self.engine
        for net_name in list(ctr.endpoints):
            if net_name in ctr.endpoints:  # leaving the last overlay takes docker_gwbridge with it (B46)
                engine._disconnect(ctr, engine.networks.get(net_name))
        engine._unbind(ctr)
        if ctr.owns_namespace:
            engine.world.namespaces.pop(ctr.ns.key, None)
        del self._by_name[ctr.name]

    def run(self, name: str, network: Optional[str] = None, network_mode: Optional[str] = None,
            networks: Optional[Mapping[str, Mapping[str, Any]]] = None,
            ports: Union[Mapping[Any, Any], Sequence[Any], None] = None,
            links: Union[Mapping[str, str], Sequence[tuple[str, str]], None] = None,
            hostname: Optional[str] = None, expose: Sequence[Union[int, str]] = ()) -> Container:
        """``docker run -d --name NAME [--network N | --network host|none|container:X] ...``.

        ``networks`` maps network name -> {"aliases": [...], "ipv4_address": "..."} for containers
        started on several networks at once (compose style); ``network`` is the one-network form.
        ``expose`` lists ports as ``5432`` or ``"53/udp"`` (the image's EXPOSE or ``--expose``).
        ``links`` maps target -> alias, or lists (target, alias) pairs when one target has several.
        ``ports`` takes docker-py's ``{"80/tcp": 8080}``, ``-p`` strings ``["8080:80"]`` or
        PortBinding records.  A refused run leaves nothing behind: no container, no namespace.
        """
        engine = self.engine
        if name in self._by_name:
            raise DockerError(f'Conflict. The container name "/{name}" is already in use',
                              fix="pick another container name")
        exposed = [_exposed_port(port) for port in expose]  # checked before anything is created
        bindings = port_bindings(ports)
        if network is not None and network_mode is None and (network in ("host", "none")
                                                             or network.startswith("container:")):
            network_mode, network = network, None  # docker-py: network= sets HostConfig.NetworkMode too
        attach: dict[str, Mapping[str, Any]] = dict(networks or {})
        if network is not None:
            attach = {network: {}, **attach}
        mode = network_mode or "default"
        if mode == "bridge":
            mode = "default"
            attach = {"bridge": {}, **attach}
        if mode in ("host", "none") or mode.startswith("container:"):
            if attach:
                raise DockerError("conflicting options: cannot attach both user-defined and non-user-defined network-modes")
            if links and mode != "none":  # moby runconfig ErrConflictHostNetworkAndLinks / ...ContainerNetworkAndLinks
                kind = "host type networking" if mode == "host" else "container type network"
                raise DockerError(f"conflicting options: {kind} can't be used with links. "
                                  "This would result in undefined behavior",
                                  fix=f"remove links, or drop network_mode: {mode}", field="links")
            if mode.startswith("container:") and (expose or ports):
                # moby runconfig ErrConflictNetworkExposePorts / ErrConflictNetworkPublishPorts
                what = "expose" if expose else "ports"
                raise DockerError(f"conflicting options: port {'exposing' if expose else 'publishing'} and the "
                                  "container type network mode",
                                  fix=f"remove {what}, or change network_mode: {mode}; expose or publish the ports "
                                      "on the other container", field=what)
        elif not attach:
            attach = {"bridge": {}}
        pairs = list(links.items()) if isinstance(links, Mapping) else [(t, a) for t, a in links or ()]
        if "bridge" in attach:
            for target, _ in pairs:  # a legacy link names a running container of this daemon (registerLinks)
                peer = self._by_name.get(target)
                if peer is None:
                    raise DockerError(f"could not get container for {target}",
                                      fix=f"start {target} first, or put both on a user-defined network",
                                      field=f"links.{target}")
                if peer.network_mode == "host":
                    raise DockerError("conflicting options: host type networking can't be used with links. "
                                      "This would result in undefined behavior",
                                      fix=f"remove the link to {target}, which uses network_mode: host",
                                      field=f"links.{target}")
                if "bridge" not in peer.endpoints:
                    raise DockerError(f"Cannot link to /{target}, as it does not belong to the default network",
                                      fix=f"put {target} on the default bridge too, or put both containers on a "
                                          "user-defined network", field=f"links.{target}")
        cid = engine.new_id()
        if mode == "host":
            ns = engine.ns
        elif mode.startswith("container:"):
            ns = self.get(mode.split(":", 1)[1]).ns
        else:
            ns = Namespace(engine.world, name, host=engine.host)
        ctr = Container(engine, name, cid, ns, mode, hostname or cid[:12], first_network=next(iter(attach), "bridge"))
        for number, proto in exposed:
            ctr.exposed.add((number, proto))
            ns.listening.add((proto, 0, number))  # the service behind an EXPOSE listens there
        self._by_name[name] = ctr
        # On a user-defined network a link is a container-scoped alias, resolved once its target exists.
        ctr.links.extend(pairs)
        try:
            for net_name, opts in attach.items():
                net = engine.networks._for_attach(net_name, name)
                aliases = tuple(opts.get("aliases") or ())
                addr = opts.get("ipv4_address")
                engine._connect(ctr, net, aliases, IPv4Address(addr) if addr else None, ())
            for binding in bindings:
                engine._publish(ctr, binding)
            engine._program_links(ctr)
        except DockerError:
            self._remove(ctr)  # as dockerd does when a start fails: nothing half-made stays
            raise
        return ctr

    def run_task(self, name: str, attachments: Sequence[TaskAttachment], ports: Sequence[PortBinding] = (),
                 expose: Sequence[Union[int, str]] = ()) -> Container:
        """What dockerd's swarm executor does for a task the manager assigned here
        (daemon/cluster/executor/container): a container named ``SERVICE.SLOT.TASKID`` on the
        task's networks, at the addresses the manager allocated, registered with its service
        for the embedded DNS; ``ports`` are its host-mode published ports, bound on this node
        as ``-p`` binds them (B58: only nodes with a task listen); its process listens on
        ``expose``."""
        engine = self.engine
        if name in self._by_name:
            raise DockerError(f'Conflict. The container name "/{name}" is already in use', fix="pick another name")
        exposed = [_exposed_port(port) for port in expose]
        cid = engine.new_id()
        ns = Namespace(engine.world, name, host=engine.host)
        first = attachments[0].network if attachments else "bridge"
        ctr = Container(engine, name, cid, ns, "default", cid[:12], first_network=first)
        for number, proto in exposed:
            ctr.exposed.add((number, proto))
            ns.listening.add((proto, 0, number))
        self._by_name[name] = ctr
        try:
            for att in attachments:
                engine._connect(ctr, engine.networks._for_attach(att.network, name, task=True), (), att.address, (),
                                service=att.service, assigned=True)
            if not attachments:
                engine._connect(ctr, engine.networks.get("bridge"), (), None, ())
            for binding in ports:
                engine._publish(ctr, binding)
        except DockerError:
            self._remove(ctr)
            raise
        return ctr



class _HostContext:
    """What a driver may touch of its host (drivers.api.HostContext): never the engine."""

    def __init__(self, engine: "Engine") -> None:
        self.host = engine.host
        nic = engine.ns.devices.get("eth0")
        self.address = (engine.ns.primary_address(nic) or 0) if nic is not None else 0
        self.ns = engine.ns
        self.world = engine.world
        self.nf = engine.nf
        self.profile = engine.profile
        self.config = engine.config
        self.new_mac = engine.random_mac
        self.new_ifname = engine.interface_name
        self.log = engine.log_line


class Engine:
    def __init__(self, host: str, world: World, ns: Namespace, rng: random.Random,
                 profile: EngineProfile, on_link: Sequence[IPv4Network],
                 config: DaemonConfig = DaemonConfig(), endpoint_rng: Optional[random.Random] = None) -> None:
        """``config`` holds dockerd's options (``--icc`` applies to the default bridge; user networks set their own).

        Endpoint ids come from ``endpoint_rng``, a stream of their own, so adding endpoints never
        shifts the network ids, MACs and interface names drawn from ``rng``.
        """
        self.host = host
        self.config = config
        # Where dockerd writes its rules: the host's tables, or with --iptables=false a table that
        # nothing consults, so every driver keeps one code path and the host keeps no rule.
        self.nf = ns.nf if config.iptables else Netfilter()
        self.world = world
        self.ns = ns
        self.rng = rng
        self._endpoint_rng = endpoint_rng or random.Random(f"{host}:endpoints")
        self.profile = profile
        self.on_link = list(on_link)
        self.warnings: list[str] = []
        self.log: list[tuple[float, str, str]] = []  # dockerd's log: (simulated time, level, message)
        self.agent: Optional[ClusterAgent] = None  # the swarm node this engine is, when it is one
        self._drivers: dict[str, Driver] = {}
        self._host_context = _HostContext(self)
        self._bound: dict[tuple[str, int], tuple[Optional[IPv4Address], str]] = {}
        self._next_random_port = RANDOM_PORTS[0]
        self.networks = NetworkCollection(self)
        self.containers = ContainerCollection(self)
        self.load_balancers = LoadBalancers(self)
        bip = config.bip
        self.networks.create("bridge", options={} if config.icc else {"com.docker.network.bridge.enable_icc": "false"},
                             subnet=bip.network if bip else None, gateway=bip.ip if bip else None)
        for builtin, drv in (("host", "host"), ("none", "null")):
            net = Network(self, builtin, self.driver(drv), self.new_id(), None, None, None, False, False,
                          DriverOptions(), {}, {})
            net.driver.create_network(net.info)
            self.networks._add_builtin(net)

    # ---- identities (all from the simulation's seeded RNG) ----------------------------------

    def new_id(self) -> str:
        return f"{self.rng.getrandbits(256):064x}"

    def random_hex(self, n: int) -> str:
        return f"{self.rng.getrandbits(4 * n):0{n}x}"

    def log_line(self, level: str, message: str) -> None:
        self.log.append((self.world.sched.now, level, message))

    def interface_name(self, prefix: str, n: int = 7) -> str:
        """A random free interface name in the host namespace (libnetwork ``GenerateIfaceName``).

        Seven hex digits collide by the birthday bound once a host has some ten thousand veths,
        so a taken name is drawn again, three times at most, as libnetwork does.
        """
        for _ in range(3):
            name = f"{prefix}{self.random_hex(n)}"
            if name not in self.ns.devices:
                return name
        raise DockerError("could not generate interface name", fix="retry; the host is full of interfaces")

    def random_mac(self) -> int:
        """A random locally administered unicast MAC (what the kernel gives bridges and veths)."""
        value = self.rng.getrandbits(48)
        return (value & ~(0x01 << 40)) | (0x02 << 40)

    def container_mac(self, address: IPv4Address) -> int:
        """B3: 02:42 + IPv4 up to Engine 27, random from 28 on."""
        if self.profile.mac_scheme == "ip":
            return mac("02:42:00:00:00:00") | ip(address)
        return self.random_mac()

    def driver(self, name: str) -> Driver:
        """This engine's instance of a registered driver, made on first use with the host's context."""
        if name not in self._drivers:
            self._drivers[name] = lookup(name)(self._host_context)
        return self._drivers[name]

    # ---- swarm membership ---------------------------------------------------------------------

    def setup_ingress(self) -> None:
        """SetupIngress, when the node joins a swarm (B51, B52): docker_gwbridge, the ingress
        network and its sandbox at the node's ingress address (B58)."""
        agent = self.agent
        swarm_net = agent.network(INGRESS) if agent is not None else None
        if agent is None or swarm_net is None:
            return
        self._gw_network()
        net = self.networks._by_name.get(INGRESS) or self.networks._instantiate(swarm_net)
        address = agent.load_balancer(net.id)
        if address is not None and net.id not in self.load_balancers.by_network:
            self.load_balancers.ensure(net, address)

    def release_ingress(self) -> None:
        """ReleaseIngress, when the node leaves: the sandbox, the mesh's rules and the network."""
        net = self.networks._by_name.get(INGRESS)
        if net is not None and net.driver.SCOPE == "swarm":
            for ctr in list(net.containers):
                self._disconnect(ctr, net)
            self.networks._deinstantiate(net)

    # ---- sandbox: what happens in the container's namespace ---------------------------------

    def _connect(self, ctr: Container, net: Network, aliases: tuple[str, ...],
                 address: Optional[IPv4Address], links: tuple[str, ...],
                 service: Optional[ServiceBinding] = None, assigned: bool = False) -> Endpoint:
        # ``field`` names what is wrong the way a compose file says it (networks.NAME.aliases).
        at = f"networks.{net.name}"
        if ctr.network_mode == "host" or ctr.network_mode.startswith("container:"):
            raise DockerError("container sharing network namespace with another container or host "
                              "cannot be connected to any other network",
                              fix=f"remove network_mode: {ctr.network_mode} from {ctr.name}")
        if ctr.network_mode == "none":
            raise DockerError("container cannot be connected to multiple networks with one of the "
                              "networks in private (none) mode", fix=f"remove network_mode: none from {ctr.name}")
        if net.name in ctr.endpoints:
            raise DockerError(f"endpoint with name {ctr.name} already exists in network {net.name}",
                              fix="remove this connect, or disconnect the container first", field=at)
        if not net.user_defined and aliases:
            raise DockerError("network-scoped aliases are only supported for user-defined networks",
                              fix="put the container on a user-defined network to give it aliases",
                              field=f"{at}.aliases")
        if not net.user_defined and address is not None:
            raise DockerError("user specified IP address is supported on user-defined networks only",
                              fix="put the container on a user-defined network with a subnet to give it a static "
                                  "address", field=f"{at}.ipv4_address")
        used = {dev.name for dev in ctr.ns.devices.values()}
        ifname = next(f"eth{i}" for i in range(len(used) + 1) if f"eth{i}" not in used)
        # host and none have no pool: their drivers refuse the join (moby's ErrConflictHostNetwork,
        # ErrConflictNoNetwork) before any address would be needed.
        try:
            if assigned and address is not None:
                addr = address
            else:
                addr = net.pool.allocate(address) if net.pool is not None else IPv4Address(0)
        except DockerError as err:
            raise DockerError(err.message, err.fix, f"{at}.ipv4_address" if address is not None else at) from None
        if net.driver.SCOPE == "swarm" and self.agent is not None and net.id not in self.load_balancers.by_network:
            # The node's first endpoint on the network: the managers give the node its
            # load-balancer address (after the endpoint's own, as swarmkit allocates them).
            lb_address = self.agent.load_balancer(net.id)
            if lb_address is not None:
                self.load_balancers.ensure(net, lb_address)
        ep = Endpoint(f"{self._endpoint_rng.getrandbits(256):064x}", net, ctr, addr, self.container_mac(addr), ifname,
                      aliases, assigned=assigned, service=service)
        try:
            info = net.driver.join(net.id, ep.info)
        except DockerError:
            if net.pool is not None and not assigned:
                net.pool.release(addr)
            raise
        ep.interface, ep.gateway, ep.mac = info.interface, info.gateway, info.interface.mac
        ep.gateway_service = not info.disable_gateway_service
        ep.device_default = any(r.prefixlen == 0 for r in info.device_routes)
        if self.agent is not None and net.driver.SCOPE == "swarm":
            # The driver's records (overlay peers), and libnetwork's own service record that makes
            # the name resolve on the other nodes (addServiceInfoToCluster).
            record: dict[str, object] = {"name": ctr.name, "aliases": list(aliases), "ip": str(addr), "host": self.host}
            if service is not None:
                record.update(service=service.name, service_id=service.id, vip=str(service.vip or ""),
                              service_aliases=list(service.aliases))
                if service.ingress_ports:
                    record["ingress_ports"] = [[p.protocol, p.published, p.target] for p in service.ingress_ports]
            entries = (*info.table_entries, TableEntry(ENDPOINT_TABLE, ep.id, json.dumps(record, sort_keys=True).encode()))
            for entry in entries:
                self.agent.add_table_entry(net.id, entry)
            ep.table_keys = tuple((e.table, e.key) for e in entries)
        ctr.ns.add_device(info.interface)
        ctr.ns.add_address(info.interface, ip(addr), ep.plen)
        nmsgs = net.settings.advertise_addr_nmsgs
        ms = net.settings.advertise_addr_ms
        self._advertise(ctr, info.interface, ip(addr), self.profile.advertise_addr_nmsgs if nmsgs is None else nmsgs,
                        self.profile.advertise_addr_interval if ms is None else ms / 1000)
        for route in info.device_routes:
            if route.prefixlen:
                ctr.ns.add_route(ip(route.network_address), route.prefixlen, info.interface, None)
        ctr.endpoints[net.name] = ep
        net.endpoints[ctr.name] = ep
        ep.resolvable = net.name != GW_NETWORK and not net.ingress
        if ep.resolvable:
            net.names.add(ep)
        if service is not None:
            self.load_balancers.add_backend(net, service, ep.id, addr)
            if net.ingress:  # populateLoadBalancers
                add_redirect_rules(ctr.ns, addr, service.ingress_ports)
        ctr.links.extend((target, alias) for target, alias in (_split_link(l) for l in links))
        self._select_gateway(ctr)
        self._default_gw(ctr)
        return ep

    def _advertise(self, ctr: Container, dev: NetDevice, addr: int, left: int, interval: float) -> None:
        """advertiseAddrs (28+): an unsolicited ARP for the new address now, and the rest one
        interval apart while the interface is still there with its MAC, so switches and bridges
        learn it and neighbours holding a stale MAC for a recycled address update theirs.
        Only on the simulation's clock: an instant question starts from a world that learned nothing."""
        sched = self.world.sched
        if left <= 0 or not sched.timed or dev.noarp or not dev.mac or ctr.ns.devices.get(dev.name) is not dev:
            return
        if dev.up:
            dev.xmit(Skb(Ether(BROADCAST_MAC, dev.mac, ARP(ARPOP_REQUEST, dev.mac, addr, 0, addr))))
        sched.call_later(interval, self._advertise, ctr, dev, addr, left - 1, interval)

    def _disconnect(self, ctr: Container, net: Network) -> None:
        ep = ctr.endpoints.get(net.name)
        if ep is None:
            raise DockerError(f"container {ctr.name} is not connected to network {net.name}",
                              fix="connect it first", field=f"networks.{net.name}")
        if ep is ctr.gateway_endpoint:
            self._withdraw_ports(ctr)
        if self.agent is not None:
            for table, key in ep.table_keys:
                self.agent.delete_table_entry(net.id, table, key)
        if ep.service is not None:
            self.load_balancers.remove_backend(net, ep.id)
        net.driver.leave(net.id, ep.id)
        if ep.interface is not None:
            ctr.ns.remove_device(ep.interface)
        if net.pool is not None and not ep.assigned:
            net.pool.release(ep.address)
        del ctr.endpoints[net.name]
        del net.endpoints[ctr.name]
        if ep.resolvable:
            net.names.remove(ep)
        if not net.endpoints and net.driver.SCOPE == "swarm" and not net.ingress:
            self.networks._deinstantiate(net)  # ingress stays while the node is in the swarm
        self._select_gateway(ctr)
        if net.name != GW_NETWORK:
            self._default_gw(ctr)

    def _select_gateway(self, ctr: Container) -> None:
        """B13: the endpoint that provides the default route, and where published ports go.

        Order: not docker_gwbridge, not internal, has a gateway, then the lowest network name.
        """
        candidates = [ep for ep in ctr.endpoints.values() if ep.gateway is not None or ep.device_default]
        best = min(candidates, key=lambda ep: (ep.network.name == "docker_gwbridge",
                                               ep.network.internal, ep.network.name), default=None)
        ctr.ns.routes.remove(lambda r: r.plen == 0)
        if best is not None and best.interface is not None:
            ctr.ns.add_route(0, 0, best.interface, ip(best.gateway) if best.gateway is not None else None)
        if best is not ctr.gateway_endpoint:
            # Published ports follow the gateway endpoint.
            self._withdraw_ports(ctr)
            ctr.gateway_endpoint = best
            if best is not None:
                for binding in ctr.ports:
                    self._program_port(ctr, binding)

    def service_record(self, nid: str, key: str, value: Optional[bytes]) -> None:
        """NetworkDB told of another node's endpoint on a swarm network (None: it is gone)."""
        net = next((n for n in self.networks if n.id == nid), None)
        if net is None:
            return
        if value is None:
            net.names.remove_remote(key)
            self.load_balancers.remove_backend(net, key)
            return
        record = json.loads(value)
        service = None
        if record.get("service"):
            service = ServiceBinding(record["service"], record.get("service_id", ""),
                                     IPv4Address(record["vip"]) if record.get("vip") else None,
                                     tuple(record.get("service_aliases", ())),
                                     tuple(IngressPort(p, n, t) for p, n, t in record.get("ingress_ports", ())))
        if not net.ingress:
            net.names.add_remote(key, [record["name"], *record["aliases"]], service,
                                 Record(record["name"], record.get("host", ""), IPv4Address(record["ip"])), net.name)
        if service is not None:
            self.load_balancers.add_backend(net, service, key, IPv4Address(record["ip"]))

    def _default_gw(self, ctr: Container) -> None:
        """libnetwork's setupDefaultGW / clearDefaultGW: a container whose endpoints offer no
        gateway, and some of which want one (not internal, not refused by their driver), gets
        an endpoint on docker_gwbridge, created on first need; one that gains a gateway loses it."""
        own = [ep for ep in ctr.endpoints.values() if ep.network.name != GW_NETWORK]
        offered = any(ep.gateway is not None for ep in own)
        wanted = any(ep.gateway is None and ep.gateway_service and not ep.network.internal for ep in own)
        has = GW_NETWORK in ctr.endpoints
        if wanted and not offered and not has:
            self._connect(ctr, self._gw_network(), (), None, ())
        elif has and not (wanted and not offered):
            self._disconnect(ctr, self.networks.get(GW_NETWORK))

    def _gw_network(self) -> Network:
        if GW_NETWORK not in self.networks:
            # createGWNetwork: a plain bridge, ICC off, masquerade on, named after itself.
            self.networks.create(GW_NETWORK, options={"com.docker.network.bridge.name": GW_NETWORK,
                                                      "com.docker.network.bridge.enable_icc": "false",
                                                      "com.docker.network.bridge.enable_ip_masquerade": "true"})
        return self.networks.get(GW_NETWORK)

    def _withdraw_ports(self, ctr: Container) -> None:
        ep = ctr.gateway_endpoint
        if ep is not None and isinstance(ep.network.driver, PortPublisher):
            ep.network.driver.unpublish(ep.network.id, ep.id)
        ctr.gateway_endpoint = None

    def _program_links(self, ctr: Container) -> None:
        """B7: legacy links on the default bridge; its driver decides what a link opens."""
        bridge = self.networks.get("bridge")
        client = ctr.endpoints.get("bridge")
        if client is None or not isinstance(bridge.driver, LegacyLinks):
            return
        for target_name, _ in ctr.links:
            server = self.containers.get(target_name).endpoints.get("bridge")
            if server is not None:
                bridge.driver.link(bridge.id, client.info, server.info, tuple(sorted(server.container.exposed)))

    # ---- published ports (B20-B23, B29) -------------------------------------------------------

    def _publish(self, ctr: Container, binding: PortBinding) -> None:
        if ctr.network_mode == "host":
            self.warnings.append(f"{ctr.name}: Published ports are discarded when using host network mode")
            self._listen_host_mode(ctr, binding.container_port, binding.proto)
            return
        if binding.host_port == 0:
            binding = PortBinding(binding.container_port, self._random_port(binding.proto),
                                  binding.proto, binding.host_ip)
        self._bind(binding, owner=ctr.name)
        ctr.ports.append(binding)
        ctr.exposed.add((binding.container_port, binding.proto))
        ctr.ns.listening.add((binding.proto, 0, binding.container_port))  # the service it is published for
        # The daemon holds the host port (docker-proxy), bound to the published address only.
        self.ns.listening.add((binding.proto, ip(binding.host_ip) if binding.host_ip else 0, binding.host_port))
        if ctr.gateway_endpoint is not None:
            self._program_port(ctr, binding)

    def _program_port(self, ctr: Container, binding: PortBinding) -> None:
        ep = ctr.gateway_endpoint
        if ep is not None and isinstance(ep.network.driver, PortPublisher):
            ep.network.driver.publish(ep.network.id, ep.info, binding)

    def _bind(self, binding: PortBinding, owner: str) -> None:
        key = (binding.proto, binding.host_port)
        held = self._bound.get(key)
        if held is not None:
            held_ip, held_by = held
            if held_ip is None or binding.host_ip is None or held_ip == binding.host_ip:
                addr = f"{binding.host_ip or '0.0.0.0'}:{binding.host_port}"
                if held_by.startswith("host-mode:"):
                    raise DockerError(self.profile.port_bind_error.format(
                        endpoint=owner, addr=addr, proto=binding.proto, binding=binding),
                        fix=f"{held_by[10:]} (network_mode: host) already listens on that port; pick another host port")
                raise DockerError(f"Bind for {addr} failed: port is already allocated",
                                  fix=f"{held_by} already publishes it; pick another host port")
        self._bound[key] = (binding.host_ip, owner)

    def _unbind(self, ctr: Container) -> None:
        """Release every host port the container held (published, or bound by its host-mode app)."""
        owners = (ctr.name, f"host-mode:{ctr.name}")
        for (proto, port), (host_ip, owner) in list(self._bound.items()):
            if owner in owners:
                del self._bound[(proto, port)]
                self.ns.listening.discard((proto, ip(host_ip) if host_ip else 0, port))

    def _listen_host_mode(self, ctr: Container, port: int, proto: str) -> None:
        """A host-mode app binds its port on the host: EADDRINUSE if Docker holds it (B29)."""
        key = (proto, port)
        if key in self._bound:
            self.warnings.append(f"{ctr.name}: bind 0.0.0.0:{port}/{proto}: address already in use "
                                 f"(held by {self._bound[key][1]}); Docker reports no error")
            return
        self._bound[key] = (None, f"host-mode:{ctr.name}")
        self.ns.listening.add((proto, 0, port))

    def _random_port(self, proto: str) -> int:
        while (proto, self._next_random_port) in self._bound:
            self._next_random_port += 1
        if self._next_random_port > RANDOM_PORTS[1]:
            raise DockerError("no free host port in 49153-65535")
        return self._next_random_port


def _exposed_port(port: Union[int, str]) -> tuple[int, str]:
    """``5432`` or ``"53/udp"`` as (number, protocol), in ASCII digits as Docker parses them."""
    number, _, proto = str(port).partition("/")
    if not (number.isascii() and number.isdigit() and 1 <= int(number) <= 65535) or proto not in _EXPOSE_PROTOS:
        raise DockerError(f"invalid port {str(port)!r} to expose", fix='write it like 5432 or "53/udp"')
    return int(number), proto or "tcp"


_EXPOSE_PROTOS = ("", "tcp", "udp", "sctp")


def _split_link(text: str) -> tuple[str, str]:
    target, _, alias = text.partition(":")
    return target, alias or target
