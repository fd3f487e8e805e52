"""Read a topology file (format v1) and check it into :mod:`netsim.topology.spec` records.

Checking happens in three passes: the shape of every key (unknown keys, types, enum values),
then references between sections (hosts, networks, containers), then the events in time
order.  Every problem becomes a :class:`~netsim.errors.TopologyError` naming the key path and
a fix; where Docker itself would refuse the same setup, the message carries Docker's text.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import replace
from decimal import Decimal
from ipaddress import IPv4Address, IPv4Interface, IPv4Network, ip_address, ip_network
from pathlib import Path
from typing import Any, NoReturn, Optional, TypeVar, cast

import yaml
from yaml.constructor import ConstructorError

from netsim.engine.config import DaemonConfig
from netsim.engine.drivers import REGISTRY, user_drivers
from netsim.engine.drivers.options import GENERIC_PREFIX, DriverOptions, OptionError
from netsim.datapath.costs import DEFAULT_COSTS
from netsim.datapath.faults import FAULTS
from netsim.datapath.vectorized import MODES
from netsim.engine.ports import parse_port
from netsim.swarm.scheduler import parse_constraints
from netsim.traffic import KINDS as TRAFFIC_KINDS
from netsim.errors import DockerError, TopologyError, one_line
from netsim.errors import quote as _quote
from netsim.errors import suggest as _suggest

from .spec import (
    BLOCKABLE,
    EVENT_KINDS,
    GATEWAY_NAME,
    AttachSpec,
    ContainerSpec,
    EventSpec,
    ServicePortSpec,
    ServiceSpec,
    HostSpec,
    InterfaceSpec,
    RouterSpec,
    LinkSpec,
    NetworkSpec,
    PortSpec,
    Proto,
    SwarmRole,
    TopologySpec,
    UnderlaySpec,
)

__all__ = ["load_spec", "parse_spec"]

_T = TypeVar("_T")

_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*\Z")
_NAME_RULE = "names start with a letter or digit and use only letters, digits, '_', '.' and '-'"
_HOSTNAME_RE = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)(\.(?!-)[A-Za-z0-9-]{1,63}(?<!-))*\Z")

_TOP_KEYS = ("name", "seed", "engine", "mode", "underlay", "hosts", "networks", "containers", "services", "events",
             "traffic", "capture")
_UNDERLAY_KEYS = ("subnet", "gateway", "latency", "bandwidth", "mtu", "queue", "loss", "faults", "costs",
                  "mac_filtering", "routers")
_ROUTER_KEYS = ("address", "vlans")
_HOST_KEYS = ("docker", "swarm", "address", "daemon", "routes", "link", "interfaces", "costs", "labels")
_INTERFACE_KEYS = ("type", "mode", "address", "routes")
_INTERFACE_TYPES = ("macvlan", "vlan")
_LINK_KEYS = ("mtu", "latency", "bandwidth", "queue", "loss", "faults", "hairpin", "vlan", "vlans", "native",
              "promiscuous")
_ROUTE_RE = re.compile(r"\s*(\S+)\s+via\s+(\S+)\s*\Z", re.ASCII)
#: dockerd's option names (daemon.json), as hosts.NAME.daemon takes them.
_DAEMON_FLAGS = {"icc": "icc", "userland-proxy": "userland_proxy", "ip-forward": "ip_forward", "iptables": "iptables",
                 "allow-direct-routing": "allow_direct_routing"}
_DAEMON_KEYS = (*_DAEMON_FLAGS, "default-address-pools", "bip")
_POOL_SPEC_KEYS = ("base", "size")
#: Keys of every network; each driver adds the shorthands of its options (icc, mode, parent, ...).
_NETWORK_KEYS = (
    "driver", "host", "hosts", "subnet", "ip_range", "gateway", "internal", "attachable", "driver_opts", "ipam",
    "labels",
)  # fmt: skip
_IPAM_KEYS = ("driver", "config")
_POOL_KEYS = ("subnet", "ip_range", "gateway")
_CONTAINER_KEYS = ("host", "networks", "network_mode", "links", "ports", "hostname", "expose")
_ATTACH_KEYS = ("aliases", "ipv4_address")
_CONNECT_KEYS: tuple[str, ...] = ("container", "network", "aliases", "ipv4_address")
_DISCONNECT_KEYS: tuple[str, ...] = ("container", "network")
_SWARM_JOIN_KEYS: tuple[str, ...] = ("host", "role")
_HOST_EVENT_KEYS: tuple[str, ...] = ("host",)
_SCALE_KEYS: tuple[str, ...] = ("service", "replicas")
_SERVICE_KEYS = ("image", "networks", "ports", "expose", "deploy")
_DEPLOY_KEYS = ("mode", "replicas", "endpoint_mode", "placement")
_PLACEMENT_KEYS = ("constraints", "max_replicas_per_node")
_SERVICE_PORT_KEYS = ("target", "published", "protocol", "mode")
_SERVICE_MODES = ("replicated", "global")
_ENDPOINT_MODES = ("vip", "dnsrr")
_PUBLISH_MODES = ("ingress", "host")
_MAX_REPLICAS = 10_000  # a simulated service, not a fleet: more tasks than this is a typo

_ENGINES = ("27", "28", "29")
_ROLES: tuple[SwarmRole, ...] = ("manager", "worker")
_PROTOS: tuple[Proto, ...] = ("tcp", "udp", "sctp")
_BUILTIN_NETWORKS = ("bridge", "host", "none")
_DEFAULT_UNDERLAY = UnderlaySpec()
_MTU_RANGE = (68, 65535)

_UNSET = object()

# re.ASCII everywhere a number is read: Docker (Go) parses ASCII digits only, and "８０" or "²" are not numbers.
_DURATION_RE = re.compile(r"\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*(ns|us|µs|ms|s|m|h)?\s*\Z", re.ASCII)
# Decimal scaling, so "50us" is exactly the float 5e-05 rather than 50 * 1e-6 = 4.9999999999999996e-05.
_DURATION_UNITS = {
    None: Decimal(1), "ns": Decimal("1e-9"), "us": Decimal("1e-6"), "µs": Decimal("1e-6"), "ms": Decimal("1e-3"),
    "s": Decimal(1), "m": Decimal(60), "h": Decimal(3600),
}  # fmt: skip
_BANDWIDTH_RE = re.compile(r"\s*(\d+\.?\d*|\.\d+)\s*([kKMGT]?)bps\s*\Z", re.ASCII)
_DIGITS_RE = re.compile(r"[0-9]+\Z", re.ASCII)
_SIZE_RE = re.compile(r"\s*(\d+\.?\d*|\.\d+)\s*(B|kB|KB|MB|GB|KiB|MiB|GiB)?\s*\Z", re.ASCII)
# docker's units: decimal kB/MB/GB (FromHumanSize), binary KiB/MiB/GiB (RAMInBytes)
_SIZE_UNITS = {None: Decimal(1), "B": Decimal(1), "kB": Decimal(10**3), "KB": Decimal(10**3), "MB": Decimal(10**6),
               "GB": Decimal(10**9), "KiB": Decimal(2**10), "MiB": Decimal(2**20), "GiB": Decimal(2**30)}
_BANDWIDTH_PREFIXES = {
    "": Decimal(1),
    "k": Decimal(10**3),
    "K": Decimal(10**3),
    "M": Decimal(10**6),
    "G": Decimal(10**9),
    "T": Decimal(10**12),
}


def parse_duration(value: Any) -> float:
    """Seconds from ``50us``, ``1ms``, ``2s`` ... or a bare number of seconds; ValueError otherwise."""
    return _parse_quantity(value, _DURATION_RE, _DURATION_UNITS, "a duration like 50us", allow_zero=True)


def parse_bandwidth(value: Any) -> float:
    """Bits per second from ``10Gbps``, ``100Mbps``, ``1kbps`` ... or a bare number; ValueError otherwise."""
    return _parse_quantity(value, _BANDWIDTH_RE, _BANDWIDTH_PREFIXES, "a bandwidth like 10Gbps", allow_zero=False)


def parse_size(value: Any) -> float:
    """Bytes from ``1500``, ``64KiB``, ``10MB`` ...; ValueError otherwise."""
    return _parse_quantity(value, _SIZE_RE, _SIZE_UNITS, "a size like 10MB", allow_zero=False)


def _parse_quantity(value: Any, pattern: "re.Pattern[str]", units: dict[Any, Decimal], what: str,
                    allow_zero: bool) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        number = float(value)
    else:
        match = pattern.match(value) if isinstance(value, str) else None
        if not match:
            raise ValueError(f"expected {what}")
        number = float(Decimal(match.group(1)) * units[match.group(2)])
    if not math.isfinite(number) or number < 0 or (number == 0 and not allow_zero):
        raise ValueError(f"{what.split(' like')[0]} must be finite and {'zero or more' if allow_zero else 'more than zero'}")
    return number

_MSG_NOT_MANAGER = (
    'This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to connect '
    "this node to swarm and try again."
)


def load_spec(path: str | os.PathLike[str]) -> TopologySpec:
    """Read and check the topology file at *path*; raise :class:`TopologyError` on any problem."""
    source = os.fspath(path)
    try:
        raw = Path(source).read_bytes()
    except OSError as exc:
        raise TopologyError(
            source, "", f"cannot read the file: {exc.strerror}", "check the path and permissions"
        ) from None
    try:
        data = yaml.load(raw, Loader=_YamlLoader)  # noqa: S506 - _YamlLoader is a SafeLoader
    except _DuplicateKeyError as exc:
        raise TopologyError(
            source,
            "",
            f"invalid YAML {_where(exc.problem_mark)}: {exc.problem}",
            "remove or rename one of the two keys",
        ) from None
    except _LimitError as exc:
        raise TopologyError(source, "", f"invalid YAML {_where(exc.problem_mark)}: {exc.problem}", exc.fix) from None
    except yaml.MarkedYAMLError as exc:
        message = f"invalid YAML {_where(exc.problem_mark or exc.context_mark)}: {exc.problem or exc.context}"
        if exc.problem and exc.context and exc.context_mark:
            # PyYAML notices a missing bracket only where parsing breaks; the context points at its opening.
            message += f" ({exc.context} {_where(exc.context_mark)})"
        raise TopologyError(source, "", message, "fix the YAML there: check indentation, quotes and brackets") from None
    except yaml.reader.ReaderError as exc:
        raise TopologyError(source, "", *_reader_problem(raw, exc)) from None
    except yaml.YAMLError as exc:
        raise TopologyError(source, "", f"invalid YAML: {exc}", "save the file as UTF-8 YAML") from None
    spec = parse_spec(data, source)
    return replace(spec, sha256=hashlib.sha256(raw).hexdigest())


def parse_spec(data: Any, source: str = "<memory>") -> TopologySpec:
    """Check an already-parsed topology (the dict ``yaml.safe_load`` gives) into a :class:`TopologySpec`."""
    return _Parser(source).topology(data)


def _reader_problem(raw: bytes, exc: yaml.reader.ReaderError) -> tuple[str, str]:
    """(message, fix) for bytes the YAML reader refused, placed by line and column rather than offset."""
    if exc.encoding != "unicode":  # a decoding error: the position counts bytes (PyYAML's convention)
        before = raw[:exc.position]
        line = before.count(b"\n") + 1
        column = len(before[before.rfind(b"\n") + 1:].decode(exc.encoding, errors="replace")) + 1
        bad = raw[exc.position:exc.position + 1]
        return (f"invalid YAML at line {line}, column {column}: byte 0x{bad.hex()} is not {exc.encoding.upper()} "
                "text", "save the file as UTF-8")
    text = raw.decode("utf-8", errors="replace")[:exc.position]  # a character YAML forbids: it counts characters
    line = text.count("\n") + 1
    column = exc.position - (text.rfind("\n") + 1) + 1
    code = exc.character if isinstance(exc.character, int) else ord(exc.character)
    return (f"invalid YAML at line {line}, column {column}: character U+{code:04X} is not allowed in YAML",
            "remove it, or write it as an escape inside a double-quoted string")


def _where(mark: Optional[yaml.Mark]) -> str:
    return f"at line {mark.line + 1}, column {mark.column + 1}" if mark else "somewhere"


_MAX_DEPTH = 64  # a topology needs about 6 levels
_MAX_DIGITS = 40  # a seed needs 19


class _DuplicateKeyError(ConstructorError):
    pass


class _LimitError(ConstructorError):
    """A document beyond what any topology needs (nesting, digits); ``fix`` says what to write instead."""

    def __init__(self, problem: str, mark: yaml.Mark, fix: str) -> None:
        super().__init__(None, None, problem, mark)
        self.fix = fix


class _YamlLoader(yaml.SafeLoader):
    """A safe loader with two compose-like departures from YAML 1.1.

    A key given twice is an error instead of the last one silently winning, and ``8080:80`` or
    ``1:30`` stay strings instead of becoming base-60 integers (484880), as in YAML 1.2.
    """

    def compose_node(self, parent: Optional[yaml.Node], index: Any) -> Optional[yaml.Node]:
        # PyYAML composes recursively; a file nested hundreds deep must be bad input, not a RecursionError.
        self._depth = getattr(self, "_depth", 0) + 1
        try:
            if self._depth > _MAX_DEPTH:
                mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
                raise _LimitError(f"nesting deeper than {_MAX_DEPTH} levels", mark,
                                  "a topology nests about six levels deep; flatten the lists and mappings there")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_yaml_int(self, node: yaml.ScalarNode) -> int:
        # Python refuses to convert more than 4300 digits (a ValueError from deep inside PyYAML).
        digits = sum(ch.isdigit() for ch in node.value)
        if digits > _MAX_DIGITS:
            raise _LimitError(f"a {digits}-digit integer; no number in a topology has more than {_MAX_DIGITS}",
                              node.start_mark, "write a smaller number, or quote it if it is a name")
        return super().construct_yaml_int(node)

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, yaml.Mark] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # `<<: *anchor` keys may be overridden on purpose
            key = self.construct_object(key_node, deep=True)
            try:
                first = seen.setdefault(key, key_node.start_mark)
            except TypeError:
                continue  # unhashable: the base class reports it
            if first is not key_node.start_mark:
                raise _DuplicateKeyError(
                    None, None, f"duplicate key {key!r} (first given at line {first.line + 1})", key_node.start_mark
                )
        return cast(dict[Any, Any], super().construct_mapping(node, deep=deep))


_YamlLoader.add_constructor("tag:yaml.org,2002:int", _YamlLoader.construct_yaml_int)
_INT_TAG, _FLOAT_TAG = "tag:yaml.org,2002:int", "tag:yaml.org,2002:float"
_YamlLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag not in (_INT_TAG, _FLOAT_TAG)]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_YamlLoader.add_implicit_resolver(
    _INT_TAG,
    re.compile(r"^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+)$"),
    list("-+0123456789"),
)
_YamlLoader.add_implicit_resolver(
    _FLOAT_TAG,
    re.compile(
        r"^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?|\.[0-9_]+(?:[eE][-+][0-9]+)?"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
    ),
    list("-+0123456789."),
)


def _decimal(text: str) -> Optional[int]:
    """The number ASCII digits spell (at most 20 of them, which covers every field), else None."""
    return int(text) if len(text) <= 20 and _DIGITS_RE.match(text) else None


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


# Echoed values are cut to this many characters: a message quotes the culprit, never a whole file.
_QUOTE_LIMIT = 60


def _number(value: "int | float") -> str:
    text = str(value) if isinstance(value, float) or abs(value) < 10**_QUOTE_LIMIT else ""
    return text or f"{len(str(abs(value)))}-digit number"


def _kind(value: Any) -> str:
    """What *value* is, in words; containers are named, never printed (they may be alias bombs)."""
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, (int, float)):
        return f"the number {_number(value)}"
    if isinstance(value, str):
        return f"the string {_quote(value)}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def _one_of(names: Sequence[str]) -> str:
    return names[0] if len(names) == 1 else f"<one of {', '.join(names)}>"


def _scalar(value: Any) -> str:
    """*value* spelled as in the YAML file (a container only by its kind)."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str):
        return _quote(value)
    if isinstance(value, (int, float)):
        return _number(value)
    return _kind(value)


def _show(value: Any) -> str:
    return _quote(value) if isinstance(value, str) else _kind(value)


def _shorthands(driver: str) -> set[str]:
    return {o.shorthand for _, o in REGISTRY[driver].Options.declared() if o.shorthand}


def _option_keys(driver: str) -> set[str]:
    return {o.key for _, o in REGISTRY[driver].Options.declared()}


def _scoped(scope: str) -> list[str]:
    return [d for d in user_drivers() if REGISTRY[d].SCOPE == scope]


def _swarm_drivers() -> list[str]:
    return _scoped("swarm")


def _host_address_fix(net: IPv4Network) -> str:
    return f"pick an address inside {net} other than {net.network_address} and {net.broadcast_address}"


class _Parser:
    """One check of one document; ``source`` goes into every error."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.engine_version = "29"
        self.underlay = _DEFAULT_UNDERLAY
        self.hosts: dict[str, HostSpec] = {}
        self.networks: dict[str, NetworkSpec] = {}
        self.containers: dict[str, ContainerSpec] = {}
        self.services: dict[str, ServiceSpec] = {}
        self.subnet_paths: dict[str, str] = {}  # network name -> where its subnet was written

    def fail(self, path: str, message: str, fix: str) -> NoReturn:
        raise TopologyError(self.source, path, message, fix)

    # -- the document -----------------------------------------------------------------------

    def topology(self, data: Any) -> TopologySpec:
        if not isinstance(data, dict):
            self.fail("", f"the top level must be a mapping, got {_kind(data)}", "start the file with keys like hosts:")
        top = self.fields(data, "", _TOP_KEYS)
        if "hosts" not in top:
            self.fail(
                "hosts", "missing required key 'hosts'", "add hosts: with at least one host, e.g. hosts: {node1: {}}"
            )
        default_name = Path(self.source).stem if self.source != "<memory>" else "topology"
        name = self.string(top.get("name", default_name), "name")
        seed = self.integer(top.get("seed", 0), "seed", 0, 2**63 - 1)
        engine = self.engine_version = self.engine(top.get("engine", "29"))
        mode = self.choice(top.get("mode", "event"), "mode", MODES, "mode")
        self.underlay = self.parse_underlay(top.get("underlay"))
        self.hosts = self.parse_hosts(top["hosts"])
        self.networks = self.parse_networks(top.get("networks"))
        self.check_overlaps()
        self.containers = self.parse_containers(top.get("containers"))
        self.services = self.parse_services(top.get("services"))
        events = self.parse_events(top.get("events"))
        traffic = self.parse_traffic(top.get("traffic"))
        capture = tuple(self.capture_ref(raw, at) for at, raw in self.items(top.get("capture"), "capture"))
        return TopologySpec(
            name=name,
            seed=seed,
            engine=engine,
            underlay=self.underlay,
            hosts=tuple(self.hosts.values()),
            networks=tuple(self.networks.values()),
            containers=tuple(self.containers.values()),
            services=tuple(self.services.values()),
            events=events,
            traffic=traffic,
            capture=capture,
            mode=mode,
            source=self.source,
        )

    def engine(self, value: Any) -> str:
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str) or value not in _ENGINES:
            self.fail("engine", f"unknown engine {_show(value)}", _suggest(value, _ENGINES, "engine profiles"))
        return value

    # -- underlay and hosts -----------------------------------------------------------------

    def parse_underlay(self, value: Any) -> UnderlaySpec:
        body = self.fields(value, "underlay", _UNDERLAY_KEYS)
        d = _DEFAULT_UNDERLAY
        subnet = self.subnet(body["subnet"], "underlay.subnet") if "subnet" in body else d.subnet
        gateway = None
        if "gateway" in body:
            gateway = self.address(body["gateway"], "underlay.gateway")
            self.check_usable(gateway, subnet, "underlay.gateway", "underlay.subnet")
        latency = self.duration(body["latency"], "underlay.latency") if "latency" in body else d.latency
        bandwidth = self.bandwidth(body["bandwidth"], "underlay.bandwidth") if "bandwidth" in body else d.bandwidth
        mtu = self.integer(body["mtu"], "underlay.mtu", *_MTU_RANGE) if "mtu" in body else d.mtu
        queue, queue_bytes = self.queue(body["queue"], "underlay.queue") if "queue" in body else (d.queue, None)
        loss = self.probability(body["loss"], "underlay.loss") if "loss" in body else d.loss
        faults = self.faults(body.get("faults"), "underlay.faults")
        costs = self.costs(body.get("costs"), "underlay.costs")
        mac_filtering = self.boolean(body.get("mac_filtering", False), "underlay.mac_filtering")
        routers = tuple(self.router(name, raw, f"underlay.routers.{name}", subnet)
                        for name, raw in self.named_items(body.get("routers"), "underlay.routers", "router"))
        return UnderlaySpec(subnet=subnet, gateway=gateway, latency=latency, bandwidth=bandwidth, mtu=mtu,
                            queue=queue, queue_bytes=queue_bytes, loss=loss, faults=faults, costs=costs, mac_filtering=mac_filtering,
                            routers=routers)

    def queue(self, value: Any, path: str) -> tuple[Optional[int], Optional[int]]:
        """(frames, bytes): a whole number is frames (``txqueuelen``), a size with its unit
        (``64KB``) bytes; a quoted number says neither, so it is refused."""
        if isinstance(value, str):
            if value.strip().isdigit():
                self.fail(path, f"{value!r} gives no unit", f"write {value.strip()} unquoted for frames, "
                          f"or a size with its unit ({value.strip()}B) for bytes")
            return None, self.size(value, path)
        return self.integer(value, path, 1, 1_000_000), None

    def costs(self, value: Any, path: str) -> tuple[tuple[str, float], ...]:
        """``{veth: 1us, netfilter_rule: 10ns, ...}``: kinds of datapath.costs, each a duration."""
        return tuple((self.choice(kind, f"{path}.{kind}", tuple(DEFAULT_COSTS), "cost kind"),
                      self.duration(value, f"{path}.{kind}"))
                     for kind, value in self.fields(value, path, None).items())

    def router(self, name: str, value: Any, path: str, subnet: IPv4Network) -> RouterSpec:
        body = self.fields(value, path, _ROUTER_KEYS, nullable=False)
        address = None
        if "address" in body:
            address = self.address(body["address"], f"{path}.address")
            self.check_usable(address, subnet, f"{path}.address", "underlay.subnet")
        vlans = []
        raw_vlans = body.get("vlans") or {}
        if not isinstance(raw_vlans, dict):
            self.fail(f"{path}.vlans", f"expected a mapping, got {_kind(raw_vlans)}",
                      "write vlans: {10: 192.168.10.1/24, 20: 192.168.20.1/24}")
        for key, raw in raw_vlans.items():
            at = f"{path}.vlans.{key}"
            vid = self.vlan_id(key, at)
            vlans.append((vid, self.cidr(raw, at)))
        if not vlans:
            self.fail(f"{path}.vlans", "the router has no VLAN to route between",
                      "give it an address per VLAN, e.g. vlans: {10: 192.168.10.1/24, 20: 192.168.20.1/24}")
        return RouterSpec(name, tuple(sorted(vlans)), address)

    def faults(self, value: Any, path: str) -> tuple[str, ...]:
        return tuple(self.choice(raw, at, tuple(FAULTS), "NIC fault") for at, raw in self.items(value, path))

    def probability(self, value: Any, path: str) -> float:
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 <= value < 1:
            self.fail(path, f"expected a loss rate from 0 to below 1, got {_show(value)}", "write e.g. 0.01 for 1%")
        return float(value)

    def not_a_router(self, name: str, path: str, what: str) -> None:
        """Routers are machines of the underlay: no host or container may take one's name."""
        if any(r.name == name for r in self.underlay.routers):
            self.fail(path, f"the name {name} belongs to a router (underlay.routers.{name})",
                      f"rename the {what} or the router")

    def vlan_id(self, value: Any, path: str) -> int:
        text = str(value)
        if not text.isascii() or not text.isdigit() or not 1 <= int(text) <= 4094:
            self.fail(path, f"invalid VLAN id {_show(value)}", "write a VLAN id from 1 to 4094")
        return int(text)

    def cidr(self, value: Any, path: str) -> IPv4Interface:
        try:
            return IPv4Interface(self.string(value, path))
        except ValueError:
            self.fail(path, f"invalid address {_show(value)}", "write an IPv4 address with its prefix length, "
                      "e.g. 192.168.10.1/24")

    def parse_hosts(self, value: Any) -> dict[str, HostSpec]:
        items = self.named_items(value, "hosts", "host")
        if not items:
            self.fail("hosts", "there are no hosts", "add at least one host, e.g. hosts: {node1: {}}")
        subnet = self.underlay.subnet
        owners: dict[IPv4Address, str] = {}
        hosts: dict[str, HostSpec] = {}
        for index, (name, raw) in enumerate(items):
            path = f"hosts.{name}"
            self.not_a_router(name, path, "host")
            if name == GATEWAY_NAME and self.underlay.gateway is not None:
                self.fail(
                    path,
                    f"the name {name} belongs to the underlay's router (underlay.gateway {self.underlay.gateway})",
                    "rename the host, or remove underlay.gateway to have no router",
                )
            body = self.fields(raw, path, _HOST_KEYS)
            docker = self.boolean(body.get("docker", True), f"{path}.docker")
            swarm = None
            if "swarm" in body:
                swarm = cast(SwarmRole, self.choice(body["swarm"], f"{path}.swarm", _ROLES, "swarm role"))
                if not docker:
                    self.fail(
                        f"{path}.swarm",
                        f"host {name} has docker: false, so it has no engine to join a swarm",
                        f"remove swarm from {path}, or set docker: true",
                    )
            if "address" in body:
                address_path = f"{path}.address"
                address = self.address(body["address"], address_path)
                self.check_usable(address, subnet, address_path, "underlay.subnet")
            else:
                # The automatic address depends only on file order, so adding an explicit address
                # to one host never renumbers the others.
                address_path = path
                number = int(subnet.network_address) + 11 + index
                if number >= int(subnet.broadcast_address):
                    self.fail(
                        path,
                        f"host {name} would get host number {11 + index} of the underlay, which is outside {subnet}",
                        f"give {path} an address: inside {subnet}, or make underlay.subnet larger",
                    )
                address = IPv4Address(number)
            if address == self.underlay.gateway:
                self.fail(
                    address_path,
                    f"address {address} of host {name} is the underlay gateway",
                    f"give {path} a different address:, or change underlay.gateway",
                )
            if address in owners:
                other = owners[address]
                self.fail(
                    address_path,
                    f"address {address} of host {name} is already used by host {other} (hosts.{other})",
                    f"give hosts.{name} or hosts.{other} a different address: inside {subnet}",
                )
            owners[address] = name
            daemon = self.daemon(body["daemon"], f"{path}.daemon", docker) if "daemon" in body else DaemonConfig()
            routes = tuple(self.route(raw_route, at) for at, raw_route in self.items(body.get("routes"), f"{path}.routes"))
            link = self.fields(body.get("link"), f"{path}.link", _LINK_KEYS)
            link_mtu = self.integer(link["mtu"], f"{path}.link.mtu", *_MTU_RANGE) if "mtu" in link else None
            hairpin = self.boolean(link["hairpin"], f"{path}.link.hairpin") if "hairpin" in link else None
            pvid, tagged = self.port_vlans(link, f"{path}.link")
            promiscuous = self.boolean(link.get("promiscuous", True), f"{path}.link.promiscuous")
            link_timing: dict[str, Any] = {
                "link_latency": self.duration(link["latency"], f"{path}.link.latency") if "latency" in link else None,
                "link_bandwidth": self.bandwidth(link["bandwidth"], f"{path}.link.bandwidth")
                if "bandwidth" in link else None,
                **dict(zip(("link_queue", "link_queue_bytes"), self.queue(link["queue"], f"{path}.link.queue")
                           if "queue" in link else (None, None))),
                "link_loss": self.probability(link["loss"], f"{path}.link.loss") if "loss" in link else None,
                "link_faults": self.faults(link.get("faults"), f"{path}.link.faults"),
            }
            interfaces = tuple(self.interface(if_name, if_body, f"{path}.interfaces.{if_name}")
                               for if_name, if_body in self.named_items(body.get("interfaces"), f"{path}.interfaces",
                                                                        "interface"))
            labels = self.labels(body.get("labels"), f"{path}.labels")
            if labels and swarm is None:
                self.fail(f"{path}.labels", f"labels are a swarm node's (docker node update --label-add), and host "
                          f"{name} is not in the swarm", f"add swarm: worker to {path}, or remove labels")
            hosts[name] = HostSpec(name=name, address=address, docker=docker, swarm=swarm, daemon=daemon,
                                   routes=routes, link_mtu=link_mtu, link_hairpin=hairpin, link_pvid=pvid,
                                   link_tagged=tagged, link_promiscuous=promiscuous, interfaces=interfaces,
                                   costs=self.costs(body.get("costs"), f"{path}.costs"), labels=labels, key_path=path,
                                   **link_timing)
        return hosts

    def port_vlans(self, link: dict[str, Any], path: str) -> tuple[Optional[int], Optional[frozenset[int]]]:
        """The switch port's 802.1Q setup: ``vlan: N`` an access port, ``vlans: [..]`` a trunk
        carrying those tagged (with ``native``, default 1, untagged); neither: every VLAN."""
        if "vlan" in link and ("vlans" in link or "native" in link):
            self.fail(f"{path}.vlan", "an access port (vlan:) has one VLAN, untagged",
                      "write vlan: N for an access port, or vlans: [..] (and native:) for a trunk")
        if "vlan" in link:
            return self.vlan_id(link["vlan"], f"{path}.vlan"), frozenset()
        native = self.vlan_id(link["native"], f"{path}.native") if "native" in link else 1
        if "vlans" not in link:
            return native, None
        ids = frozenset(self.vlan_id(v, at) for at, v in self.items(link["vlans"], f"{path}.vlans"))
        return native, ids

    def interface(self, name: str, value: Any, path: str) -> InterfaceSpec:
        """A link of the host's own on eth0 (``ip link add NAME link eth0 type macvlan``), with an
        address and device routes: the documented way for a host to reach its macvlan containers."""
        body = self.fields(value, path, _INTERFACE_KEYS, nullable=False)
        if len(name.encode()) > 15:
            self.fail(path, f"interface name {name!r} is longer than 15 bytes", "use a shorter name, e.g. lan-shim")
        default = "vlan" if re.fullmatch(r"eth0\.\d+", name) else "macvlan"
        kind = self.choice(body.get("type", default), f"{path}.type", _INTERFACE_TYPES, "interface type")
        if kind == "vlan":
            if not re.fullmatch(r"eth0\.\d+", name):
                self.fail(path, f"a vlan interface is named eth0.ID, not {name!r}", "name it eth0.10 for VLAN 10")
            self.vlan_id(name[5:], path)
            if "mode" in body:
                self.fail(f"{path}.mode", "a vlan interface has no mode", "remove mode:")
            mode = ""
        else:
            mode = self.choice(body.get("mode", "bridge"), f"{path}.mode", ("bridge", "vepa", "private", "passthru"),
                               "macvlan mode")
        if "address" not in body:
            self.fail(path, "the interface has no address", "add address:, e.g. address: 192.168.100.250/32")
        address = self.cidr(body["address"], f"{path}.address")
        routes: list[tuple[IPv4Network, Optional[IPv4Address]]] = []
        for at, raw in self.items(body.get("routes"), f"{path}.routes"):
            if isinstance(raw, str) and " via " in raw:
                to, _, via = raw.partition(" via ")
                routes.append((self.subnet(to.strip(), at), self.address(via.strip(), at)))
            else:
                routes.append((self.subnet(raw, at), None))
        return InterfaceSpec(name, kind, mode, address, tuple(routes))

    def route(self, value: Any, path: str) -> tuple[IPv4Network, IPv4Address]:
        """``172.18.0.0/16 via 192.168.100.11`` or ``default via ...`` (``ip route add``), or {to:, via:}."""
        if isinstance(value, dict):
            body = self.fields(value, path, ("to", "via"), nullable=False)
            for key in ("to", "via"):
                if key not in body:
                    self.fail(path, f"a route needs {key}", "write it like 172.18.0.0/16 via 192.168.100.11")
            to, to_path, via, via_path = body["to"], f"{path}.to", body["via"], f"{path}.via"
        else:
            match = _ROUTE_RE.match(value) if isinstance(value, str) else None
            if not match:
                self.fail(path, f"expected a route, got {_kind(value)}", "write it like 172.18.0.0/16 via 192.168.100.11")
            to, via = match.groups()
            to_path = via_path = path
        network = IPv4Network("0.0.0.0/0") if to == "default" else self.subnet(to, to_path)
        gateway = self.address(via, via_path)
        self.check_usable(gateway, self.underlay.subnet, via_path, "underlay.subnet")
        return network, gateway

    def daemon(self, value: Any, path: str, docker: bool) -> DaemonConfig:
        """``hosts.NAME.daemon``: dockerd's networking options under their daemon.json names."""
        body = self.fields(value, path, _DAEMON_KEYS)
        if not docker:
            self.fail(path, "the host has docker: false, so there is no daemon to configure",
                      "remove daemon, or set docker: true")
        settings: dict[str, Any] = {
            field: self.boolean(body[key], f"{path}.{key}") for key, field in _DAEMON_FLAGS.items() if key in body
        }
        if settings.get("allow_direct_routing") and self.engine_version == "27":
            self.fail(f"{path}.allow-direct-routing",
                      "dockerd 27 has no --allow-direct-routing: it never drops direct routing to containers",
                      "remove it, or set engine: 28 or 29")
        if "default-address-pools" in body:
            pools = []
            for at, raw in self.items(body["default-address-pools"], f"{path}.default-address-pools"):
                pool = self.fields(raw, at, _POOL_SPEC_KEYS, nullable=False)
                for key in _POOL_SPEC_KEYS:
                    if key not in pool:
                        self.fail(at, f"an address pool needs {key}", "write it like {base: 10.10.0.0/16, size: 24}")
                base = self.subnet(pool["base"], f"{at}.base")
                pools.append((base, self.integer(pool["size"], f"{at}.size", base.prefixlen, 30)))
            if not pools:
                self.fail(f"{path}.default-address-pools", "the list of pools is empty",
                          "list at least one {base: ..., size: ...}, or remove the key for Docker's defaults")
            settings["default_address_pools"] = tuple(pools)
        if "bip" in body:
            settings["bip"] = self.bip(body["bip"], f"{path}.bip")
        return DaemonConfig(**settings)

    def bip(self, value: Any, path: str) -> IPv4Interface:
        """``--bip 10.10.0.1/24``: docker0's own address with the subnet's length."""
        if not isinstance(value, str) or "/" not in value:
            self.fail(path, f"expected an address with a prefix length, got {_kind(value)}", "write it like 10.10.0.1/24")
        try:
            bip = IPv4Interface(value.strip())
        except ValueError:
            self.fail(path, f"invalid bip {_quote(value)}", "write it like 10.10.0.1/24")
        if bip.network.prefixlen < 31 and bip.ip in (bip.network.network_address, bip.network.broadcast_address):
            self.fail(path, f"{bip.ip} is the network or broadcast address of {bip.network}",
                      f"give docker0 a host address, e.g. {bip.network.network_address + 1}/{bip.network.prefixlen}")
        return bip

    def docker_hosts(self) -> list[str]:
        return [h.name for h in self.hosts.values() if h.docker]

    def host_ref(self, value: Any, path: str, *, docker: bool = True) -> str:
        """A reference to a host; *docker* demands that the host runs an engine."""
        name = self.string(value, path)
        if name not in self.hosts:
            self.fail(path, f"unknown host '{name}'", _suggest(name, self.hosts, "hosts"))
        if docker and not self.hosts[name].docker:
            self.fail(
                path,
                f"host {name} runs no Docker engine (docker: false)",
                f"use a Docker host ({', '.join(self.docker_hosts()) or 'none defined'}), "
                f"or set docker: true on hosts.{name}",
            )
        return name

    def default_host(self, path: str, message: str, *, many: bool = False) -> str:
        """The one Docker host of the file, for items that may omit ``host`` (``hosts`` if *many*)."""
        docker_hosts = self.docker_hosts()
        if len(docker_hosts) == 1:
            return docker_hosts[0]
        if not docker_hosts:
            self.fail(path, f"{message}, and no host runs Docker", "set docker: true on one of the hosts")
        fix = (
            f"add hosts: [{', '.join(docker_hosts)}] or a part of it" if many else f"add host: {_one_of(docker_hosts)}"
        )
        self.fail(path, message, fix)

    # -- networks ---------------------------------------------------------------------------

    def parse_networks(self, value: Any) -> dict[str, NetworkSpec]:
        networks = {}
        for name, raw in self.named_items(value, "networks", "network"):
            path = f"networks.{name}"
            if name in _BUILTIN_NETWORKS:
                self.fail(
                    path,
                    f"{name} is a pre-defined network and cannot be created",
                    f"rename the network; every Docker host already has {', '.join(_BUILTIN_NETWORKS)}",
                )
            networks[name] = self.parse_network(name, raw, path)
        return networks

    def parse_network(self, name: str, raw: Any, path: str) -> NetworkSpec:
        body = self.fields(raw, path, None)
        driver_name = self.choice(body.get("driver", "bridge"), f"{path}.driver", user_drivers(), "driver")
        driver = REGISTRY[driver_name]
        shorthands = {opt.shorthand: opt for _, opt in driver.Options.declared() if opt.shorthand}
        for key in body:
            if key in _NETWORK_KEYS or key in shorthands:
                continue
            users = [d for d in user_drivers() if key in _shorthands(d)]
            if users:
                self.fail(f"{path}.{key}", f"{key} applies to {' and '.join(users)} networks, not {driver_name}",
                          f"remove {key}, or set driver: {users[0]}")
            self.fail(f"{path}.{key}", f"unknown key '{key}'",
                      _suggest(key, [*_NETWORK_KEYS, *shorthands], f"keys of a {driver_name} network"))
        options, driver_opts = self.driver_options(body, path, driver_name)
        subnet, ip_range, gateway = self.addressing(name, body, path)
        host, hosts = self.placement(body, path, driver_name)
        host_ranges = self.host_ranges(body, path, subnet)
        if driver.SCOPE == "swarm":
            if not any(h.swarm == "manager" for h in self.hosts.values()):
                self.fail(
                    f"{path}.driver",
                    f"{driver_name} networks need a swarm: {_MSG_NOT_MANAGER}",
                    f"add swarm: manager to one Docker host ({', '.join(self.docker_hosts())})",
                )
        labels = self.fields(body["labels"], f"{path}.labels", None) if "labels" in body else {}
        return NetworkSpec(
            name=name,
            driver=driver_name,
            host=host,
            hosts=hosts,
            subnet=subnet,
            ip_range=ip_range,
            host_ranges=host_ranges,
            gateway=gateway,
            internal=self.boolean(body.get("internal", False), f"{path}.internal"),
            attachable=self.boolean(body.get("attachable", False), f"{path}.attachable"),
            options=options,
            driver_opts=driver_opts,
            labels=tuple((key, self.option_text(value, f"{path}.labels.{key}")) for key, value in labels.items()),
            key_path=path,
        )

    def driver_options(self, body: dict[str, Any], path: str,
                       driver_name: str) -> tuple[DriverOptions, tuple[tuple[str, str], ...]]:
        """The driver's typed options, from its shorthand keys and ``driver_opts`` (which must agree),
        and the ``driver_opts`` as text."""
        cls = REGISTRY[driver_name].Options
        declared = list(cls.declared())
        by_key = {opt.key: opt for _, opt in declared}
        opts_path = f"{path}.driver_opts"
        given: dict[str, tuple[str, str]] = {}
        for key, raw in self.fields(body.get("driver_opts"), opts_path, None).items():
            at = f"{opts_path}.{key}"
            if key not in by_key:
                users = [d for d in user_drivers() if key in _option_keys(d)]
                if users:
                    # The same setting under this driver's own key (macvlan_mode for ipvlan_mode).
                    shorthand = next(o.shorthand for _, o in REGISTRY[users[0]].Options.declared() if o.key == key)
                    same = [o.key for _, o in declared if shorthand and o.shorthand == shorthand]
                    self.fail(
                        at,
                        f"driver option '{key}' applies to {' and '.join(users)} networks, not {driver_name}",
                        f"use '{same[0]}'" if same else f"remove it, or set driver: {users[0]}",
                    )
                if not key.startswith(GENERIC_PREFIX):
                    self.fail(
                        at,
                        f"unknown driver option '{key}' for the {driver_name} driver",
                        _suggest(key, list(by_key), f"{driver_name} options (or any {GENERIC_PREFIX}* key)"),
                    )
            given[key] = (self.option_text(raw, at), at)
        values: dict[str, Any] = {}
        for field_name, opt in declared:
            value: Any = _UNSET
            shorthand_path = f"{path}.{opt.shorthand}"
            if opt.shorthand and opt.shorthand in body:
                raw = body[opt.shorthand]
                checked = {"bool": self.boolean, "int": self.whole, "str": self.string}[opt.yaml](raw, shorthand_path)
                value = self.parsed(opt.from_yaml or opt.parse, checked if opt.from_yaml else
                                    self.option_text(checked, shorthand_path), shorthand_path)
            if opt.key in given:
                text, option_path = given[opt.key]
                from_opts = self.parsed(opt.parse, text, option_path)
                if value is not _UNSET and from_opts != value:
                    self.fail(
                        option_path,
                        f"driver option '{opt.key}' ({text!r}) conflicts with {shorthand_path} "
                        f"({_scalar(body[opt.shorthand])})",  # type: ignore[index]
                        f"keep only one of {shorthand_path} and {option_path}, or make them agree",
                    )
                value = from_opts
            if value is not _UNSET:
                values[field_name] = value
        return cls(**values), tuple(sorted((key, text) for key, (text, _) in given.items()))

    def parsed(self, parse: Callable[[Any], _T], value: Any, path: str) -> _T:
        try:
            return parse(value)
        except OptionError as err:
            self.fail(path, err.message, err.fix or "")

    def whole(self, value: Any, path: str) -> int:
        if not isinstance(value, int) or isinstance(value, bool):
            self.fail(path, f"expected an integer, got {_kind(value)}", "write a whole number")
        return value

    def option_text(self, value: Any, path: str) -> str:
        # Compose hands driver_opts to Docker as strings; unquoted YAML scalars mean the same text.
        if value is None:
            return ""
        if isinstance(value, bool):
            return str(value).lower()
        if isinstance(value, (int, float, str)):
            return str(value)
        self.fail(path, f"expected a text value, got {_kind(value)}", 'quote the value, e.g. "1400"')

    def addressing(
        self, name: str, body: dict[str, Any], path: str
    ) -> tuple[Optional[IPv4Network], Optional[IPv4Network], Optional[IPv4Address]]:
        """subnet, ip_range and gateway, from the shorthand keys or the single ipam pool."""
        given: dict[str, tuple[Any, str]] = {k: (body[k], f"{path}.{k}") for k in _POOL_KEYS if k in body}
        if "ipam" in body:
            ipam_path = f"{path}.ipam"
            ipam = self.fields(body["ipam"], ipam_path, _IPAM_KEYS)
            if "driver" in ipam and ipam["driver"] != "default":
                self.fail(
                    f"{ipam_path}.driver",
                    f"unsupported IPAM driver {_show(ipam['driver'])}; netsim models Docker's default IPAM only",
                    "remove ipam.driver, or set it to default",
                )
            pools = self.items(ipam.get("config"), f"{ipam_path}.config")
            if len(pools) > 1:
                self.fail(
                    f"{ipam_path}.config[1]",
                    "only one IPv4 address pool per network is supported",
                    "keep a single entry under ipam.config",
                )
            for pool_path, pool in pools:
                for key, raw in self.fields(pool, pool_path, _POOL_KEYS).items():
                    at = f"{pool_path}.{key}"
                    if not isinstance(raw, str):  # before comparing: two alias bombs take minutes to compare
                        self.fail(at, f"expected text, got {_kind(raw)}", f"write {key} like 10.0.1.0/24 or 10.0.1.1")
                    if key in given and given[key][0] != raw:
                        self.fail(
                            at,
                            f"{key} {_scalar(raw)} conflicts with {given[key][1]} ({_scalar(given[key][0])})",
                            f"give {key} once, either at {given[key][1]} or under ipam.config",
                        )
                    given[key] = (raw, at)
        subnet = self.subnet(*given["subnet"]) if "subnet" in given else None
        ip_range = self.subnet(*given["ip_range"]) if "ip_range" in given else None
        gateway = self.address(*given["gateway"]) if "gateway" in given else None
        for key, value in (("ip_range", ip_range), ("gateway", gateway)):
            if value is not None and subnet is None:
                self.fail(given[key][1], f"{key} needs a subnet", f"add subnet: to {path} that contains {value}")
        if subnet is not None:
            self.subnet_paths[name] = given["subnet"][1]
            if ip_range is not None and not ip_range.subnet_of(subnet):
                self.fail(
                    given["ip_range"][1],
                    f"ip_range {ip_range} is not inside subnet {subnet}",
                    f"give an ip_range inside {subnet}",
                )
            if gateway is not None:
                self.check_usable(gateway, subnet, given["gateway"][1], given["subnet"][1])
        return subnet, ip_range, gateway

    def placement(self, body: dict[str, Any], path: str, driver: str) -> tuple[Optional[str], tuple[str, ...]]:
        """Where the driver's scope puts a network: ``host`` (one host), ``hosts`` (a list), or the swarm."""
        scope = REGISTRY[driver].SCOPE
        if scope == "swarm":
            for key in ("host", "hosts"):
                if key in body:
                    self.fail(
                        f"{path}.{key}",
                        f"{driver} networks span the swarm and are not placed on hosts",
                        f"remove {key}; containers on any swarm host can attach",
                    )
            return None, ()
        if scope == "host":
            if "hosts" in body:
                self.fail(
                    f"{path}.hosts",
                    f"hosts is for networks created on several hosts ({' and '.join(_scoped('hosts'))}); "
                    f"a {driver} network lives on one host",
                    f"use host: {_one_of(self.docker_hosts())}",
                )
            if "host" in body:
                return self.host_ref(body["host"], f"{path}.host"), ()
            return self.default_host(path, f"{driver} networks are local to one host"), ()
        if "host" in body:
            self.fail(
                f"{path}.host",
                f"{driver} networks are created on a list of hosts",
                f"use hosts: [{self.string(body['host'], f'{path}.host')}]",
            )
        if "hosts" not in body:
            return None, (
                self.default_host(path, f"{driver} networks are created on each host that uses them", many=True),
            )
        if isinstance(body["hosts"], dict):
            # hosts: {node1: {ip_range: ...}, node2: {ip_range: ...}}: each host's own IPAM range (B60)
            hosts_map = self.named_items(body["hosts"], f"{path}.hosts", "host")
            if not hosts_map:
                self.fail(f"{path}.hosts", "the list of hosts is empty",
                          f"list at least one of {', '.join(self.docker_hosts())}")
            for name, settings in hosts_map:
                self.host_ref(name, f"{path}.hosts.{name}")
                self.fields(settings, f"{path}.hosts.{name}", ("ip_range",))
            return None, tuple(name for name, _ in hosts_map)
        entries = self.items(body["hosts"], f"{path}.hosts")
        if not entries:
            self.fail(
                f"{path}.hosts", "the list of hosts is empty", f"list at least one of {', '.join(self.docker_hosts())}"
            )
        hosts: list[str] = []
        for at, raw in entries:
            name = self.host_ref(raw, at)
            if name in hosts:
                self.fail(at, f"host {name} is listed twice", f"remove the second {name}")
            hosts.append(name)
        return None, tuple(hosts)

    def host_ranges(self, body: dict[str, Any], path: str, subnet: Optional[IPv4Network]) -> tuple[tuple[str, IPv4Network], ...]:
        """The per-host ``ip_range`` of a network placed with ``hosts: {NAME: {ip_range: ...}}``."""
        if not isinstance(body.get("hosts"), dict):
            return ()
        ranges = []
        for name, settings in body["hosts"].items():
            if not settings or "ip_range" not in settings:
                continue
            at = f"{path}.hosts.{name}.ip_range"
            if subnet is None:
                self.fail(at, "an ip_range needs the network's subnet", f"add subnet: to {path}")
            rng = self.subnet(settings["ip_range"], at)
            if not rng.subnet_of(subnet):
                self.fail(at, f"ip_range {rng} is not inside the subnet {subnet}", f"pick a range inside {subnet}")
            ranges.append((name, rng))
        return tuple(ranges)

    def check_overlaps(self) -> None:
        # Swarm-scope networks share the swarm's one address space.  (Each Docker host's local
        # space is checked by its engine when the network is created.)
        seen: list[NetworkSpec] = []
        for net in self.networks.values():
            if net.subnet is None or REGISTRY[net.driver].SCOPE != "swarm":
                continue
            for other in seen:
                if other.subnet is not None and net.subnet.overlaps(other.subnet):
                    self.fail(
                        self.subnet_paths[net.name],
                        f"Pool overlaps with other one on this address space: {net.subnet} overlaps "
                        f"{self.subnet_paths[other.name]} ({other.subnet}) in the swarm",
                        f"give networks.{net.name} a subnet that does not overlap {other.subnet}",
                    )
            seen.append(net)

    def network_hosts(self, net: NetworkSpec) -> set[str]:
        return {net.host} if net.host else set(net.hosts)

    # -- containers -------------------------------------------------------------------------

    def parse_containers(self, value: Any) -> dict[str, ContainerSpec]:
        containers = {}
        for name, raw in self.named_items(value, "containers", "container"):
            path = f"containers.{name}"
            if name in self.hosts:
                self.fail(
                    path, f"container {name} has the same name as host {name}", "rename the container or the host"
                )
            self.not_a_router(name, path, "container")
            if name == GATEWAY_NAME and self.underlay.gateway is not None:
                self.fail(
                    path,
                    f"container {name} has the same name as the underlay's router (underlay.gateway)",
                    "rename the container",
                )
            containers[name] = self.parse_container(name, raw, path)
        self.containers = containers
        for container in containers.values():
            self.check_container_refs(container)
        return containers

    def parse_container(self, name: str, raw: Any, path: str) -> ContainerSpec:
        body = self.fields(raw, path, _CONTAINER_KEYS)
        if "host" in body:
            host = self.host_ref(body["host"], f"{path}.host")
        else:
            host = self.default_host(path, f"container {name} needs a host")
        mode = self.network_mode(body["network_mode"], f"{path}.network_mode") if "network_mode" in body else None
        if mode is not None and body.get("networks"):
            self.fail(
                f"{path}.network_mode",
                "network_mode and networks cannot be used together",
                "remove network_mode, or remove networks",
            )
        networks = self.attachments(body.get("networks"), f"{path}.networks", host)
        links = tuple(self.link(raw_link, at) for at, raw_link in self.items(body.get("links"), f"{path}.links"))
        ports = tuple(self.port(raw_port, at) for at, raw_port in self.items(body.get("ports"), f"{path}.ports"))
        expose = tuple(self.exposed(raw, at) for at, raw in self.items(body.get("expose"), f"{path}.expose"))
        if ports and mode == "none":
            self.fail(
                f"{path}.ports",
                "ports cannot be published from network_mode none: the container has only a loopback interface",
                "remove ports, or change network_mode: none",
            )
        hostname = None
        if "hostname" in body:
            hostname = self.string(body["hostname"], f"{path}.hostname")
            if not _HOSTNAME_RE.match(hostname):
                self.fail(
                    f"{path}.hostname",
                    f"invalid hostname {hostname!r}",
                    "use letters, digits and '-' in dot-separated labels of up to 63 characters",
                )
            if mode is not None and mode.startswith("container:"):
                self.fail(
                    f"{path}.hostname",
                    "conflicting options: hostname and the network mode",
                    "remove hostname; the container shares the other container's hostname",
                )
        return ContainerSpec(
            name=name,
            host=host,
            networks=networks,
            network_mode=mode,
            links=links,
            ports=ports,
            hostname=hostname,
            expose=expose,
            key_path=path,
        )

    def network_mode(self, value: Any, path: str) -> str:
        mode = self.string(value, path)
        if mode == "default":
            return "bridge"  # dockerd's name for the default bridge on Linux (--net default)
        if mode in _BUILTIN_NETWORKS:
            return mode
        if mode.startswith("container:"):
            if not _NAME_RE.match(mode.partition(":")[2]):
                self.fail(path, f"invalid network mode {mode!r}", "write container:<name of another container>")
            return mode
        if mode in self.networks:
            fix = f"attach it with networks: [{mode}] instead"
        else:
            fix = _suggest(mode, (*_BUILTIN_NETWORKS, "container:<name>"), "network modes")
        self.fail(path, f"invalid network mode {mode!r}", fix)

    def attachments(self, value: Any, path: str, host: str) -> tuple[AttachSpec, ...]:
        """A container's ``networks``: a list of names, or a mapping of name -> {aliases, ipv4_address}."""
        if value is None:
            return ()
        entries: list[tuple[str, str, dict[str, Any]]] = []
        if isinstance(value, list):
            for at, raw in self.items(value, path):
                entries.append((self.string(raw, at), at, {}))
        elif isinstance(value, dict):
            for name, raw in self.named_items(value, path, "network"):
                at = f"{path}.{name}"
                entries.append((name, at, self.fields(raw, at, _ATTACH_KEYS)))
        else:
            self.fail(path, f"expected a list or a mapping, got {_kind(value)}", "write networks: [name, ...]")
        attached: list[AttachSpec] = []
        for name, at, body in entries:
            if any(a.network == name for a in attached):
                self.fail(at, f"network {name} is listed twice", f"remove the second {name}")
            aliases = tuple(self.aliases(body["aliases"], f"{at}.aliases")) if "aliases" in body else ()
            address = self.address(body["ipv4_address"], f"{at}.ipv4_address") if "ipv4_address" in body else None
            self.check_attach(name, host, at)
            attached.append(AttachSpec(network=name, aliases=aliases, ipv4_address=address, key_path=at))
        return tuple(attached)

    def check_attach(
        self, network: str, host: str, network_path: str, swarm: Optional[dict[str, Optional[SwarmRole]]] = None
    ) -> None:
        """Whether *network* exists where a container on *host* could reach it; *swarm* is host membership
        at that time.  What the network then accepts (aliases, addresses) its engine checks."""
        if network in ("host", "none"):
            self.fail(
                network_path, f"{network} is a network mode, not a network to attach to", f"use network_mode: {network}"
            )
        if network == "bridge":
            return  # docker0 exists on every host; what it refuses (aliases, addresses) the engine says
        if network not in self.networks:
            self.fail(
                network_path, f"unknown network '{network}'", _suggest(network, [*self.networks, "bridge"], "networks")
            )
        net = self.networks[network]
        if REGISTRY[net.driver].SCOPE == "swarm":
            role = swarm[host] if swarm is not None else self.hosts[host].swarm
            if role is None:
                self.fail(
                    network_path,
                    f"network {network} is an {net.driver} network of the swarm, and host {host} is not in a swarm",
                    f"add swarm: worker (or manager) to hosts.{host}",
                )
            if not net.attachable:
                self.fail(
                    network_path,
                    f"Could not attach to network {network}: rpc error: code = PermissionDenied "
                    f"desc = network {network} not manually attachable",
                    f"set attachable: true on networks.{network}",
                )
        elif host not in self.network_hosts(net):
            where = f"host {net.host}" if net.host else f"hosts {', '.join(net.hosts)}"
            self.fail(
                network_path,
                f"network {network} lives on {where}, and the container is on {host}",
                f"attach a network that exists on {host}, or add {host} to networks.{network}"
                if net.hosts
                else f"move the container to host {net.host}, or use a network that lives on {host}",
            )

    def aliases(self, value: Any, path: str) -> list[str]:
        aliases = []
        for at, raw in self.items(value, path):
            alias = self.string(raw, at)
            if not _HOSTNAME_RE.match(alias):
                self.fail(at, f"invalid alias {alias!r}", "use a DNS name: letters, digits, '-' and '.'")
            aliases.append(alias)
        return aliases

    def link(self, value: Any, path: str) -> LinkSpec:
        text = self.string(value, path)
        target, colon, alias = text.partition(":")
        alias = alias if colon else target
        if not _NAME_RE.match(target) or not _HOSTNAME_RE.match(alias):
            self.fail(path, f"invalid link {text!r}", 'write "name" or "name:alias"')
        return LinkSpec(container=target, alias=alias, key_path=path)

    def port(self, value: Any, path: str) -> PortSpec:
        """Docker's ``[host_ip:][host_port:]container_port[/proto]``, or a bare container port number."""
        if not (isinstance(value, int) and not isinstance(value, bool)):
            value = self.string(value, path)
            if len(value) > _QUOTE_LIMIT:
                self.fail(path, f"invalid port {_quote(value)}", 'write it like "8080:80"')
        try:
            binding = parse_port(value)
        except DockerError as err:
            self.fail(path, one_line(err.message), err.fix or 'write it like "8080:80"')
        return PortSpec(
            container_port=binding.container_port,
            host_port=binding.host_port or None,
            host_ip=binding.host_ip,
            proto=cast(Proto, binding.proto),
            key_path=path,
        )

    def exposed(self, value: Any, path: str) -> tuple[int, Proto]:
        """compose's ``expose``: ``5432`` or ``"53/udp"``; the service behind it listens in the container."""
        text = str(value) if isinstance(value, int) and not isinstance(value, bool) else self.string(value, path)
        number, slash, proto = text.partition("/")
        if slash and proto not in _PROTOS:
            self.fail(path, f"unknown protocol {_quote(proto)} in {_quote(text)}", _suggest(proto, _PROTOS, "protocols"))
        return self.port_number(number, path), cast(Proto, proto or "tcp")

    def port_number(self, text: str, path: str) -> int:
        number = _decimal(text)
        if number is None or not 1 <= number <= 65535:
            self.fail(path, f"invalid port number {_quote(text)}", "use a port between 1 and 65535 (ASCII digits)")
        return number

    def check_container_refs(self, container: ContainerSpec) -> None:
        """References to other containers: ``network_mode: container:<x>`` and ``links``."""
        mode = container.network_mode
        if mode is not None and mode.startswith("container:"):
            self.check_shared_namespace(container, mode.partition(":")[2])
        for link in container.links:
            if link.container == container.name:
                self.fail(link.key_path, "a container cannot link to itself", "remove the link")
            self.check_link_target(container, link)

    def check_shared_namespace(self, container: ContainerSpec, peer_name: str) -> None:
        """``network_mode: container:<peer>``: the peer exists on the same host, with no cycle back."""
        mode_path = f"{container.key_path}.network_mode"
        chain = [container.name]
        current = container
        while current.network_mode is not None and current.network_mode.startswith("container:"):
            target = current.network_mode.partition(":")[2]
            if target not in self.containers:
                self.fail(
                    f"{current.key_path}.network_mode",
                    f"unknown container '{target}'",
                    _suggest(target, self.containers, "containers"),
                )
            if target in chain:
                message = (
                    "cannot join own network"
                    if len(chain) == 1
                    else f"network_mode forms a cycle: {' -> '.join([*chain, target])}"
                )
                self.fail(mode_path, message, "point network_mode: container:<x> at a container with its own network")
            chain.append(target)
            current = self.containers[target]
        peer = self.containers[peer_name]
        if peer.host != container.host:
            self.fail(
                mode_path,
                f"container {peer.name} is on host {peer.host}, and {container.name} is on {container.host}",
                f"put {container.name} on host {peer.host}: a network namespace cannot span hosts",
            )

    def check_link_target(self, container: ContainerSpec, link: LinkSpec) -> None:
        if link.container not in self.containers:
            if not self.on_default_bridge(container):
                return  # on a user-defined network the alias resolves once such a container exists
            self.fail(
                link.key_path,
                f"unknown container '{link.container}'",
                _suggest(link.container, self.containers, "containers"),
            )
        target = self.containers[link.container]
        if target.host != container.host:
            self.fail(
                link.key_path,
                f"container {target.name} is on host {target.host}, and links only reach containers "
                f"on the same host ({container.host})",
                f"link to a container on {container.host}, or reach {target.name} through a published port",
            )

    @staticmethod
    def on_default_bridge(container: ContainerSpec) -> bool:
        # On user-defined networks a link is only a name alias; on docker0 it is checked like Docker does.
        if container.networks:
            return any(a.network == "bridge" for a in container.networks)
        return container.network_mode in (None, "bridge")

    # -- events -----------------------------------------------------------------------------

    def labels(self, value: Any, path: str) -> tuple[tuple[str, str], ...]:
        """A mapping of label -> text (a number or true is written as Docker would take it: text)."""
        out = []
        for key, raw in self.fields(value, path, None).items():
            if isinstance(raw, bool) or not isinstance(raw, (str, int, float)):
                self.fail(f"{path}.{key}", f"a label's value is text, got {_kind(raw)}", "quote the value")
            out.append((key, str(raw)))
        return tuple(sorted(out))

    # -- services ---------------------------------------------------------------------------

    def parse_services(self, value: Any) -> dict[str, ServiceSpec]:
        services = {}
        for name, raw in self.named_items(value, "services", "service"):
            path = f"services.{name}"
            if not any(h.swarm for h in self.hosts.values()):
                self.fail(path, "services run on a swarm, and no host is in one",
                          "give a host swarm: manager (and the others swarm: worker)")
            for other, what in ((self.containers, "container"), (self.hosts, "host")):
                if name in other:
                    self.fail(path, f"service {name} has the same name as {what} {name}", "rename one of them")
            services[name] = self.parse_service(name, raw, path)
        return services

    def parse_service(self, name: str, raw: Any, path: str) -> ServiceSpec:
        if isinstance(raw, dict):
            for key in ("replicas", "mode", "endpoint_mode", "placement"):
                if key in raw:
                    self.fail(f"{path}.{key}", f"unknown key '{key}'",
                              f"write it under deploy: (deploy.{key}), as a stack file does")
        body = self.fields(raw, path, _SERVICE_KEYS)
        image = self.string(body.get("image", "nginx:latest"), f"{path}.image")
        deploy = self.fields(body.get("deploy"), f"{path}.deploy", _DEPLOY_KEYS)
        mode = self.choice(deploy.get("mode", "replicated"), f"{path}.deploy.mode", _SERVICE_MODES, "service mode")
        if mode == "global" and "replicas" in deploy:
            self.fail(f"{path}.deploy.replicas", "replicas can only be used with replicated mode",
                      "remove deploy.replicas, or use mode: replicated")
        replicas = self.integer(deploy.get("replicas", 1), f"{path}.deploy.replicas", 0, _MAX_REPLICAS)
        endpoint_mode = self.choice(deploy.get("endpoint_mode", "vip"), f"{path}.deploy.endpoint_mode",
                                    _ENDPOINT_MODES, "endpoint mode")
        placement = self.fields(deploy.get("placement"), f"{path}.deploy.placement", _PLACEMENT_KEYS)
        constraints = []
        for at, raw_c in self.items(placement.get("constraints"), f"{path}.deploy.placement.constraints"):
            text = self.string(raw_c, at)
            try:
                parse_constraints([text])
            except ValueError as err:
                self.fail(at, f"invalid constraint {_quote(text)}: {err}",
                          "write key==value or key!=value, e.g. node.role==worker")
            constraints.append(text)
        max_per_node = 0
        if "max_replicas_per_node" in placement:
            max_per_node = self.integer(placement["max_replicas_per_node"],
                                        f"{path}.deploy.placement.max_replicas_per_node", 0, _MAX_REPLICAS)
        networks = self.service_networks(body.get("networks"), f"{path}.networks")
        ports = tuple(self.service_port(raw_p, at) for at, raw_p in self.items(body.get("ports"), f"{path}.ports"))
        expose = tuple(self.exposed(raw, at) for at, raw in self.items(body.get("expose"), f"{path}.expose"))
        if endpoint_mode == "dnsrr":
            ingress = next((p for p in ports if p.mode == "ingress"), None)
            if ingress is not None:
                self.fail(ingress.key_path, "port published with ingress mode can't be used with dnsrr mode",
                          "publish it with mode: host, or use endpoint_mode: vip")
        for p in ports:
            clash = next((q for s in self.services.values() for q in s.ports if p.mode == q.mode == "ingress"
                          and p.published is not None and (q.protocol, q.published) == (p.protocol, p.published)), None)
            if clash is not None:
                owner = next(s.name for s in self.services.values() if clash in s.ports)
                self.fail(p.key_path, f"port '{p.published}' is already in use by service '{owner}' as an ingress "
                          f"port ({clash.key_path})", "publish another port")
        return ServiceSpec(name=name, image=image, mode=mode, replicas=replicas, networks=networks, ports=ports,
                           expose=expose, endpoint_mode=endpoint_mode, constraints=tuple(constraints),
                           max_replicas_per_node=max_per_node, key_path=path)

    def service_networks(self, value: Any, path: str) -> tuple[AttachSpec, ...]:
        """A service's ``networks``: overlays by name, or name -> {aliases}."""
        entries: list[tuple[str, str, dict[str, Any]]] = []
        if isinstance(value, dict):
            for net, raw in self.named_items(value, path, "network"):
                entries.append((net, f"{path}.{net}", self.fields(raw, f"{path}.{net}", ("aliases",))))
        else:
            entries = [(self.string(raw, at), at, {}) for at, raw in self.items(value, path)]
        attached: list[AttachSpec] = []
        for net, at, body in entries:
            if net == "ingress":
                self.fail(at, 'a service cannot be attached to the ingress network "ingress" explicitly',
                          "publish ports instead: the routing mesh puts the tasks on ingress")
            spec = self.networks.get(net)
            if spec is None:
                self.fail(at, f"unknown network '{net}'", _suggest(net, self.networks, "networks"))
            if REGISTRY[spec.driver].SCOPE != "swarm":
                self.fail(at, f"network {net} is not eligible for docker services: its driver {spec.driver} is not "
                          "swarm-scoped", f"give {net} driver: overlay")
            if any(a.network == net for a in attached):
                self.fail(at, f"network {net} is listed twice", f"remove the second {net}")
            aliases = tuple(self.aliases(body["aliases"], f"{at}.aliases")) if "aliases" in body else ()
            attached.append(AttachSpec(network=net, aliases=aliases, key_path=at))
        return tuple(attached)

    def service_port(self, value: Any, path: str) -> ServicePortSpec:
        """``"8080:80"``, ``"8080:80/udp"``, ``80`` (the swarm publishes it on a port of its
        choosing), or ``{target, published, protocol, mode}``."""
        if isinstance(value, dict):
            body = self.fields(value, path, _SERVICE_PORT_KEYS)
            if "target" not in body:
                self.fail(path, "a port needs its target", f"add target: to {path}")
            target = self.port_number(str(body["target"]), f"{path}.target")
            published = self.port_number(str(body["published"]), f"{path}.published") if "published" in body else None
            protocol = self.choice(body.get("protocol", "tcp"), f"{path}.protocol", _PROTOS, "protocol")
            mode = self.choice(body.get("mode", "ingress"), f"{path}.mode", _PUBLISH_MODES, "publish mode")
            return ServicePortSpec(target, published, cast(Proto, protocol), mode, path)
        text = str(value) if isinstance(value, int) and not isinstance(value, bool) else self.string(value, path)
        ports, slash, proto = text.partition("/")
        if slash and proto not in _PROTOS:
            self.fail(path, f"unknown protocol {_quote(proto)} in {_quote(text)}", _suggest(proto, _PROTOS, "protocols"))
        parts = ports.split(":")
        if len(parts) > 2:
            self.fail(path, f"invalid port {_quote(text)}", 'write it like "8080:80", or use the long form')
        target = self.port_number(parts[-1], path)
        published = self.port_number(parts[0], path) if len(parts) == 2 else None
        return ServicePortSpec(target, published, cast(Proto, proto or "tcp"), "ingress", path)

    def parse_events(self, value: Any) -> tuple[EventSpec, ...]:
        events = [self.parse_event(raw, at) for at, raw in self.items(value, "events")]
        events.sort(key=lambda e: e.at)
        self.check_event_sequence(events)
        return tuple(events)

    def parse_event(self, raw: Any, path: str) -> EventSpec:
        body = self.fields(raw, path, ("at", *EVENT_KINDS))
        kinds = [k for k in EVENT_KINDS if k in body]
        if "at" not in body:
            self.fail(path, "the event has no time", "add at:, e.g. at: 2s")
        if not kinds:
            self.fail(path, "the event does nothing", f"add one of {', '.join(EVENT_KINDS)}")
        if len(kinds) > 1:
            self.fail(
                f"{path}.{kinds[1]}",
                f"an event does exactly one thing; this one has {' and '.join(kinds)}",
                "split it into separate events with the same at:",
            )
        at = self.duration(body["at"], f"{path}.at")
        kind = kinds[0]
        args_path = f"{path}.{kind}"
        args = body[kind]
        if kind in ("connect", "disconnect"):
            keys = _CONNECT_KEYS if kind == "connect" else _DISCONNECT_KEYS
            fields = self.fields(args, args_path, keys, nullable=False)
            for key in ("container", "network"):
                if key not in fields:
                    self.fail(args_path, f"{kind} needs {key}", f"add {key}: to {args_path}")
            return EventSpec(
                at=at,
                kind=kind,
                container=self.string(fields["container"], f"{args_path}.container"),
                network=self.string(fields["network"], f"{args_path}.network"),
                aliases=tuple(self.aliases(fields["aliases"], f"{args_path}.aliases")) if "aliases" in fields else (),
                ipv4_address=(
                    self.address(fields["ipv4_address"], f"{args_path}.ipv4_address")
                    if "ipv4_address" in fields
                    else None
                ),
                key_path=path,
            )
        if kind == "heal":
            if args is not True:
                self.fail(args_path, "heal takes true", "write heal: true")
            return EventSpec(at=at, kind=kind, key_path=path)
        if kind == "partition":
            return EventSpec(at=at, kind=kind, groups=self.partition(args, args_path), key_path=path)
        if kind == "scale":
            fields = self.fields(args, args_path, _SCALE_KEYS, nullable=False)
            for key in _SCALE_KEYS:
                if key not in fields:
                    self.fail(args_path, f"scale needs {key}", "write scale: {service: web, replicas: 5}")
            service = self.string(fields["service"], f"{args_path}.service")
            if service not in self.services:
                self.fail(f"{args_path}.service", f"unknown service '{service}'",
                          _suggest(service, self.services, "services"))
            if self.services[service].mode == "global":
                self.fail(f"{args_path}.service", f"scale can only be used with replicated mode: {service} is global",
                          "scale a replicated service")
            replicas = self.integer(fields["replicas"], f"{args_path}.replicas", 0, _MAX_REPLICAS)
            return EventSpec(at=at, kind=kind, service=service, replicas=replicas, key_path=path)
        if kind in ("block", "unblock"):
            fields = self.fields(args, args_path, ("hosts", "port"), nullable=False)
            for key in ("hosts", "port"):
                if key not in fields:
                    self.fail(args_path, f"{kind} needs {key}", f"write {kind}: {{hosts: [h1, h2], port: 7946/udp}}")
            hosts = self.host_list(fields["hosts"], f"{args_path}.hosts", least=2)
            port = self.choice(fields["port"], f"{args_path}.port", BLOCKABLE, "blockable port")
            return EventSpec(at=at, kind=kind, hosts=hosts, port=port, key_path=path)
        keys = _SWARM_JOIN_KEYS if kind == "swarm_join" else _HOST_EVENT_KEYS
        if isinstance(args, str):
            fields = {"host": args}
            host_path = args_path
        else:
            fields = self.fields(args, args_path, keys, nullable=False)
            if "host" not in fields:
                self.fail(args_path, f"{kind} needs a host", f"write {kind}: <host name>")
            host_path = f"{args_path}.host"
        host = self.host_ref(fields["host"], host_path, docker=kind.startswith("swarm_") or kind in ("drain", "activate"))
        role = None
        if kind == "swarm_join":
            role = cast(SwarmRole, self.choice(fields.get("role", "worker"), f"{args_path}.role", _ROLES, "swarm role"))
        return EventSpec(at=at, kind=kind, host=host, role=role, key_path=path)

    def parse_traffic(self, value: Any) -> tuple[Any, ...]:
        """``traffic:``: a list of one-key mappings, the key a flow kind of ``netsim.traffic``."""
        flows = []
        for path, raw in self.items(value, "traffic"):
            body = self.fields(raw, path, tuple(TRAFFIC_KINDS), nullable=False)
            if len(body) != 1:
                self.fail(path, "a traffic entry is exactly one flow",
                          f"write one of {', '.join(TRAFFIC_KINDS)} per entry, e.g. - {{ping: {{from: web, to: api}}}}")
            (kind, args), = body.items()
            flow = TRAFFIC_KINDS[kind]
            flows.append(flow.parse(self, self.fields(args, f"{path}.{kind}", flow.KEYS, nullable=False),
                                    f"{path}.{kind}"))
        return tuple(flows)

    def capture_ref(self, value: Any, path: str) -> str:
        """``NODE:IFACE``: a host or container of the file and an interface (checked at build)."""
        text = self.string(value, path)
        node, sep, iface = text.partition(":")
        if not sep or not iface:
            self.fail(path, f"{text!r} names no interface", "write NODE:IFACE, e.g. node1:eth0 or web:eth0")
        if node not in self.hosts and node not in self.containers:
            self.fail(path, f"no host or container named {node!r}",
                      _suggest(node, [*self.hosts, *self.containers], "hosts and containers"))
        return text

    def container_ref(self, value: Any, path: str) -> str:
        name = self.string(value, path)
        if name not in self.containers:
            self.fail(path, f"no container named {name!r}", _suggest(name, list(self.containers), "containers"))
        return name

    def host_list(self, value: Any, path: str, least: int = 1) -> tuple[str, ...]:
        entries = self.items(value, path)
        if len(entries) < least:
            self.fail(path, f"list at least {least} hosts", f"e.g. [{', '.join(list(self.hosts)[:2])}]")
        hosts: list[str] = []
        for at, raw in entries:
            name = self.host_ref(raw, at, docker=False)
            if name in hosts:
                self.fail(at, f"host {name} is listed twice", f"remove the second {name}")
            hosts.append(name)
        return tuple(hosts)

    def partition(self, value: Any, path: str) -> tuple[tuple[str, ...], ...]:
        """``[[h1, h2], [h3]]``: groups that hear nothing of each other; unlisted hosts form one more."""
        groups = [self.host_list(raw, at) for at, raw in self.items(value, path)]
        if len(groups) < 2:
            self.fail(path, "a partition needs at least two groups", "write partition: [[node1, node2], [node3]]")
        seen: dict[str, int] = {}
        for index, group in enumerate(groups):
            for host in group:
                if host in seen:
                    self.fail(f"{path}[{index}]", f"host {host} is in two groups", "put each host in one group")
                seen[host] = index
        return tuple(groups)

    def check_event_sequence(self, events: list[EventSpec]) -> None:
        """Replay swarm membership in time order, for the references of connect events.

        Which attachments the engines accept at each instant (twice, not connected, a shared
        namespace) is theirs to say: ``build`` walks a copy of the timeline and reports those.
        Membership is replayed here until the swarm is modelled; then it moves to ``swarm/``.
        """
        swarm: dict[str, Optional[SwarmRole]] = {h.name: h.swarm for h in self.hosts.values()}
        for event in events:
            args_path = f"{event.key_path}.{event.kind}"
            if event.kind == "swarm_join" and event.host is not None:
                if swarm[event.host] is not None:
                    self.fail(
                        args_path,
                        'This node is already part of a swarm. Use "docker swarm leave" to leave this swarm '
                        "and join another one.",
                        f"add a swarm_leave of {event.host} before this event",
                    )
                swarm[event.host] = event.role
            elif event.kind == "swarm_leave" and event.host is not None:
                if swarm[event.host] is None:
                    self.fail(
                        args_path,
                        f"This node is not part of a swarm (host {event.host})",
                        f"add swarm: to hosts.{event.host}, or a swarm_join before this event",
                    )
                swarm[event.host] = None
            elif event.kind in ("connect", "disconnect"):
                self.check_connect(event, args_path, swarm)
            elif event.kind in ("drain", "activate") and event.host is not None and swarm[event.host] is None:
                self.fail(args_path, f"node {event.host} is not in the swarm at that time",
                          f"add swarm: to hosts.{event.host}, or a swarm_join before this event")

    def check_connect(self, event: EventSpec, path: str, swarm: dict[str, Optional[SwarmRole]]) -> None:
        """The container and network an event names exist, and a connect could reach that network."""
        container_name, network = event.container or "", event.network or ""
        if container_name not in self.containers:
            self.fail(
                f"{path}.container",
                f"unknown container '{container_name}'",
                _suggest(container_name, self.containers, "containers"),
            )
        container = self.containers[container_name]
        if network not in self.networks and network not in _BUILTIN_NETWORKS:
            self.fail(f"{path}.network", f"unknown network '{network}'", _suggest(network, self.networks, "networks"))
        if event.kind == "connect" and container.network_mode in (None, "bridge"):
            self.check_attach(network, container.host, f"{path}.network", swarm)

    # -- typed values -----------------------------------------------------------------------

    def fields(
        self, value: Any, path: str, allowed: Optional[Sequence[str]], *, nullable: bool = True
    ) -> dict[str, Any]:
        """A mapping with string keys; *allowed* (None = any key) are the keys it may have."""
        if value is None and nullable:
            return {}
        if not isinstance(value, dict):
            self.fail(path, f"expected a mapping, got {_kind(value)}", f"write {path or 'it'} as key: value pairs")
        for key in value:
            if not isinstance(key, str):
                shown = _scalar(key)
                self.fail(_join(path, shown), f"keys must be text, got {_kind(key)}", f"quote the key: '{shown}'")
            if allowed is not None and key not in allowed:
                self.fail(_join(path, key), f"unknown key '{key}'", _suggest(key, allowed))
        return value

    def named_items(self, value: Any, path: str, what: str) -> list[tuple[str, Any]]:
        """The entries of a name -> settings mapping such as ``hosts``, with the names checked."""
        items = list(self.fields(value, path, None).items())
        for name, _ in items:
            if not _NAME_RE.match(name):
                self.fail(_join(path, name), f"invalid {what} name {name!r}", _NAME_RULE)
        return items

    def items(self, value: Any, path: str) -> list[tuple[str, Any]]:
        """A list's entries with their key paths ``path[i]``; null is an empty list."""
        if value is None:
            return []
        if not isinstance(value, list):
            self.fail(path, f"expected a list, got {_kind(value)}", f"write {path} as a list, e.g. [a, b]")
        return [(f"{path}[{i}]", item) for i, item in enumerate(value)]

    def string(self, value: Any, path: str) -> str:
        if not isinstance(value, str) or not value:
            self.fail(path, f"expected a non-empty text value, got {_kind(value)}", "write a name or quote the value")
        return value

    def boolean(self, value: Any, path: str) -> bool:
        if not isinstance(value, bool):
            self.fail(path, f"expected true or false, got {_kind(value)}", "write true or false (unquoted)")
        return value

    def integer(self, value: Any, path: str, low: int, high: int) -> int:
        if not isinstance(value, int) or isinstance(value, bool):
            self.fail(path, f"expected an integer, got {_kind(value)}", f"write a whole number from {low} to {high}")
        if not low <= value <= high:
            self.fail(path, f"{value} is out of range", f"write a whole number from {low} to {high}")
        return value

    def choice(self, value: Any, path: str, choices: Sequence[str], what: str) -> str:
        """One of *choices*; *what* names a single choice in messages ("driver", "swarm role")."""
        if not isinstance(value, str) or value not in choices:
            self.fail(path, f"unknown {what} {_show(value)}", _suggest(value, choices, f"{what}s"))
        return value

    def duration(self, value: Any, path: str) -> float:
        """Seconds from ``50us``, ``1ms``, ``2s`` ... or a bare number of seconds."""
        return self._quantity(value, path, parse_duration, "write e.g. 100ns, 50us, 1ms or 2s")

    def bandwidth(self, value: Any, path: str) -> float:
        """Bits per second from ``10Gbps``, ``100Mbps``, ``1kbps`` ... or a bare number of bits per second."""
        return self._quantity(value, path, parse_bandwidth, "write e.g. 10Gbps, 100Mbps or 1kbps")

    def size(self, value: Any, path: str) -> int:
        """Whole bytes from ``1500``, ``64KiB``, ``10MB``, ``1GiB`` ..."""
        return math.ceil(self._quantity(value, path, parse_size, "write e.g. 1500, 64KiB or 10MB"))

    def _quantity(self, value: Any, path: str, parse: Callable[[Any], float], fix: str) -> float:
        try:
            return parse(value)
        except ValueError as err:
            self.fail(path, f"{err}, got {_kind(value)}", fix)

    def subnet(self, value: Any, path: str) -> IPv4Network:
        if not isinstance(value, str) or "/" not in value:
            self.fail(path, f"expected a subnet in CIDR form, got {_kind(value)}", "write it like 10.0.1.0/24")
        try:
            net = ip_network(value, strict=False)
        except ValueError:
            self.fail(path, f"invalid subnet {value!r}", "write it like 10.0.1.0/24")
        if not isinstance(net, IPv4Network):
            self.fail(path, f"IPv6 subnet {value!r} is not supported", "use an IPv4 subnet like 10.0.1.0/24")
        if str(net) != value.strip():
            self.fail(path, f"{value} has host bits set", f"write the network address: {net}")
        return net

    def address(self, value: Any, path: str) -> IPv4Address:
        if not isinstance(value, str):
            self.fail(path, f"expected an IPv4 address, got {_kind(value)}", "write it like 10.0.1.5")
        try:
            addr = ip_address(value.strip())
        except ValueError:
            self.fail(path, f"invalid IPv4 address {value!r}", "write it like 10.0.1.5")
        if not isinstance(addr, IPv4Address):
            self.fail(path, f"IPv6 address {value!r} is not supported", "use an IPv4 address like 10.0.1.5")
        return addr

    def check_usable(self, addr: IPv4Address, subnet: IPv4Network, path: str, subnet_path: str) -> None:
        """*addr* must be a host address of *subnet*: inside it, and neither its network nor broadcast address."""
        if addr not in subnet:
            self.fail(path, f"{addr} is outside {subnet_path} {subnet}", f"pick an address inside {subnet}")
        if addr in (subnet.network_address, subnet.broadcast_address):
            self.fail(path, f"{addr} is the network or broadcast address of {subnet}", _host_address_fix(subnet))
