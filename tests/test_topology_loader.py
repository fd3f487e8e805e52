"""Topology loader: good files become spec records, bad files name the key path and a fix."""

from __future__ import annotations

import hashlib
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path
from typing import Any

import pytest
import yaml

import netsim
from netsim.errors import TopologyError
from netsim.topology import PortSpec, TopologySpec, load_spec, parse_spec

BAD = Path(__file__).parent / "bad_topologies"

# The example of topology-format.md.  One deviation: there `legacy` (node1) links to `db` (node2),
# which Docker refuses (a link names a container of the same daemon, on the default bridge), so
# `legacy` here has no link; links are covered by their own tests below.
EXAMPLE = """
name: two-host-overlay
seed: 7
engine: "29"
underlay:
  subnet: 192.168.100.0/24
  gateway: 192.168.100.1
  latency: 50us
  bandwidth: 10Gbps
  mtu: 1500
hosts:
  node1: {swarm: manager}
  node2: {swarm: worker, address: 192.168.100.12}
  ext:   {docker: false}
networks:
  appnet: {driver: overlay, subnet: 10.0.1.0/24, attachable: true}
  front:  {driver: bridge, host: node1}
  quiet:  {driver: bridge, host: node1, icc: false, internal: true}
  lan:    {driver: macvlan, hosts: [node1, node2], parent: eth0, subnet: 192.168.100.0/24,
           ip_range: 192.168.100.128/25, gateway: 192.168.100.1, mode: bridge}
containers:
  web:    {host: node1, networks: [appnet, front]}
  db:     {host: node2, networks: {appnet: {aliases: [database], ipv4_address: 10.0.1.50}}}
  legacy: {host: node1}
  hostc:  {host: node1, network_mode: host}
  iso:    {host: node2, network_mode: none}
  mv:     {host: node2, networks: [lan]}
  pub:    {host: node1, networks: [front], ports: ["8080:80/tcp"]}
events:
  - {at: 2s, disconnect: {container: web, network: front}}
  - {at: 3s, swarm_leave: node2}
  - {at: 4s, link_down: node1}
"""


def write(tmp_path: Path, text: str, name: str = "topo.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def parse(text: str) -> TopologySpec:
    return parse_spec(yaml.safe_load(text))


# -- good files ------------------------------------------------------------------------------


def test_format_example_parses(tmp_path: Path) -> None:
    spec = load_spec(write(tmp_path, EXAMPLE))

    assert (spec.name, spec.seed, spec.engine) == ("two-host-overlay", 7, "29")
    assert spec.underlay.gateway == IPv4Address("192.168.100.1")
    assert [(h.name, str(h.address), h.docker, h.swarm) for h in spec.hosts] == [
        ("node1", "192.168.100.11", True, "manager"),
        ("node2", "192.168.100.12", True, "worker"),
        ("ext", "192.168.100.13", False, None),
    ]
    appnet, front, quiet, lan = spec.networks
    assert (appnet.driver, appnet.host, appnet.attachable, appnet.subnet) == (
        "overlay",
        None,
        True,
        IPv4Network("10.0.1.0/24"),
    )
    assert (front.driver, front.host, front.icc, front.subnet) == ("bridge", "node1", True, None)
    assert (quiet.icc, quiet.internal) == (False, True)
    assert (lan.hosts, lan.parent, lan.mode, lan.ip_range) == (
        ("node1", "node2"),
        "eth0",
        "bridge",
        IPv4Network("192.168.100.128/25"),
    )
    db = spec.container("db")
    assert db.networks[0].aliases == ("database",)
    assert db.networks[0].ipv4_address == IPv4Address("10.0.1.50")
    assert db.networks[0].key_path == "containers.db.networks.appnet"
    assert spec.container("web").networks[1].key_path == "containers.web.networks[1]"
    assert spec.container("legacy").networks == () and spec.container("legacy").network_mode is None
    assert spec.container("hostc").network_mode == "host"
    assert spec.container("pub").ports == (
        PortSpec(container_port=80, host_port=8080, proto="tcp", key_path="containers.pub.ports[0]"),
    )
    assert [(e.at, e.kind, e.container or e.host) for e in spec.events] == [
        (2.0, "disconnect", "web"),
        (3.0, "swarm_leave", "node2"),
        (4.0, "link_down", "node1"),
    ]


def test_load_records_source_and_sha256(tmp_path: Path) -> None:
    path = write(tmp_path, "hosts: {solo: {}}\n", "lab-one.yaml")
    spec = load_spec(path)
    assert spec.source == str(path)
    assert spec.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert load_spec(str(path)).source == str(path)


def test_defaults(tmp_path: Path) -> None:
    spec = load_spec(write(tmp_path, "hosts: {solo: {}}\n", "lab-one.yaml"))
    assert (spec.name, spec.seed, spec.engine) == ("lab-one", 0, "29")
    assert spec.underlay.subnet == IPv4Network("192.168.100.0/24")
    assert spec.underlay.gateway is None
    assert (spec.underlay.latency, spec.underlay.bandwidth, spec.underlay.mtu) == (50e-6, 10e9, 1500)
    (solo,) = spec.hosts
    assert (solo.address, solo.docker, solo.swarm, solo.key_path) == (
        IPv4Address("192.168.100.11"),
        True,
        None,
        "hosts.solo",
    )
    assert (spec.networks, spec.containers, spec.events) == ((), (), ())


def test_parse_spec_in_memory() -> None:
    spec = parse_spec({"hosts": {"solo": None}})
    assert (spec.name, spec.source, spec.sha256) == ("topology", "<memory>", "")


def test_host_addresses_follow_file_order() -> None:
    spec = parse("""
underlay: {subnet: 10.9.0.0/16}
hosts:
  a: {}
  b: {address: 10.9.7.7}
  c:
  ext: {docker: false}
""")
    assert [str(h.address) for h in spec.hosts] == ["10.9.0.11", "10.9.7.7", "10.9.0.13", "10.9.0.14"]
    assert spec.host("c").docker


@pytest.mark.parametrize("engine", [27, 28, 29, "27", "28", "29"])
def test_engine_accepts_strings_and_ints(engine: Any) -> None:
    assert parse_spec({"engine": engine, "hosts": {"h": None}}).engine == str(engine)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("50us", 50e-6), ("1ms", 1e-3), ("2s", 2.0), ("100ns", 100e-9), ("1.5ms", 1.5e-3), ("2m", 120.0), (3, 3.0),
     (0.25, 0.25), ("0", 0.0)],
)  # fmt: skip
def test_durations(text: Any, seconds: float) -> None:
    spec = parse_spec({"underlay": {"latency": text}, "hosts": {"h": None}})
    assert spec.underlay.latency == seconds


@pytest.mark.parametrize(
    ("text", "bits"),
    [("10Gbps", 10e9), ("100Mbps", 100e6), ("1kbps", 1e3), ("1bps", 1.0), ("2.5Gbps", 2.5e9), (9600, 9600.0)],
)
def test_bandwidths(text: Any, bits: float) -> None:
    spec = parse_spec({"underlay": {"bandwidth": text}, "hosts": {"h": None}})
    assert spec.underlay.bandwidth == bits


def test_bridge_shorthands_equal_driver_opts() -> None:
    spec = parse("""
hosts: {node1: {}}
networks:
  short: {icc: false, masquerade: false, mtu: 1400}
  long:
    driver_opts:
      com.docker.network.bridge.enable_icc: "false"
      com.docker.network.bridge.enable_ip_masquerade: "false"
      com.docker.network.driver.mtu: 1400
  both: {icc: false, driver_opts: {com.docker.network.bridge.enable_icc: "0"}}
""")
    short, long, both = spec.networks
    assert (short.icc, short.masquerade, short.mtu) == (long.icc, long.masquerade, long.mtu) == (False, False, 1400)
    assert short.driver_opts == ()
    assert long.driver_opts == (
        ("com.docker.network.bridge.enable_icc", "false"),
        ("com.docker.network.bridge.enable_ip_masquerade", "false"),
        ("com.docker.network.driver.mtu", "1400"),
    )
    assert both.icc is False


def test_macvlan_ipvlan_and_overlay_shorthands_equal_driver_opts() -> None:
    spec = parse("""
hosts: {node1: {swarm: manager}}
networks:
  mv_short: {driver: macvlan, parent: eth0.10, mode: private, subnet: 10.10.0.0/24}
  mv_long: {driver: macvlan, driver_opts: {parent: eth0.10, macvlan_mode: private}, subnet: 10.11.0.0/24}
  mv_default: {driver: macvlan, subnet: 10.12.0.0/24}
  ipv_long: {driver: ipvlan, driver_opts: {ipvlan_mode: l3}, subnet: 10.13.0.0/24}
  ipv_default: {driver: ipvlan, parent: eth0, subnet: 10.14.0.0/24}
  enc_short: {driver: overlay, encrypted: true}
  enc_long: {driver: overlay, driver_opts: {encrypted: ""}}
  enc_null: {driver: overlay, driver_opts: {encrypted: }}
""")
    nets = {n.name: n for n in spec.networks}
    assert (nets["mv_short"].parent, nets["mv_short"].mode) == (nets["mv_long"].parent, nets["mv_long"].mode)
    assert nets["mv_long"].mode == "private" and nets["mv_long"].hosts == ("node1",)
    assert (nets["mv_default"].parent, nets["mv_default"].mode) == (None, "bridge")
    assert nets["ipv_long"].mode == "l3" and nets["ipv_default"].mode == "l2"
    assert nets["enc_short"].encrypted and nets["enc_long"].encrypted and nets["enc_null"].encrypted
    assert nets["enc_null"].driver_opts == (("encrypted", ""),)


def test_driver_opts_keep_generic_docker_keys_as_text() -> None:
    spec = parse("""
hosts: {node1: {}}
networks:
  front:
    driver_opts: {com.docker.network.bridge.name: br-front, com.docker.network.bridge.enable_icc: true}
    labels: {team: web}
""")
    (front,) = spec.networks
    assert front.driver_opts == (
        ("com.docker.network.bridge.enable_icc", "true"),
        ("com.docker.network.bridge.name", "br-front"),
    )
    assert front.icc is True


def test_ipam_config_folds_into_addressing() -> None:
    spec = parse("""
hosts: {node1: {}}
networks:
  front:
    subnet: 10.0.1.0/24
    ipam:
      driver: default
      config: [{subnet: 10.0.1.0/24, ip_range: 10.0.1.128/25, gateway: 10.0.1.254}]
""")
    (front,) = spec.networks
    assert (front.subnet, front.ip_range, front.gateway) == (
        IPv4Network("10.0.1.0/24"),
        IPv4Network("10.0.1.128/25"),
        IPv4Address("10.0.1.254"),
    )


def test_single_docker_host_is_the_default_host() -> None:
    spec = parse("""
hosts: {node1: {}, ext: {docker: false}}
networks: {front: {}}
containers: {web: {networks: [front]}, bare: }
""")
    assert spec.network("front").host == "node1"
    assert spec.container("web").host == spec.container("bare").host == "node1"
    assert spec.container("bare").networks == () and spec.container("bare").network_mode is None


def test_container_network_forms() -> None:
    spec = parse("""
hosts: {node1: {}}
networks: {front: {subnet: 10.0.1.0/24}, back: {}}
containers:
  listed: {networks: [front, bridge]}
  mapped:
    networks:
      front: {aliases: [api, api.internal], ipv4_address: 10.0.1.9}
      back:
      bridge: {}
""")
    assert [a.network for a in spec.container("listed").networks] == ["front", "bridge"]
    front, back, bridge = spec.container("mapped").networks
    assert (front.aliases, front.ipv4_address) == (("api", "api.internal"), IPv4Address("10.0.1.9"))
    assert (back.network, back.aliases, back.ipv4_address) == ("back", (), None)
    assert bridge.network == "bridge"


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ("8080:80", (None, 8080, 80, "tcp")),
        ("8080:80/udp", (None, 8080, 80, "udp")),
        ("127.0.0.1:8080:80", (IPv4Address("127.0.0.1"), 8080, 80, "tcp")),
        ("127.0.0.1::53/udp", (IPv4Address("127.0.0.1"), None, 53, "udp")),
        ("80", (None, None, 80, "tcp")),
        (443, (None, None, 443, "tcp")),
        ("9000:9000/sctp", (None, 9000, 9000, "sctp")),
    ],
)
def test_ports(entry: Any, expected: tuple[Any, ...]) -> None:
    spec = parse_spec({"hosts": {"h": None}, "containers": {"web": {"ports": [entry]}}})
    (port,) = spec.container("web").ports
    assert (port.host_ip, port.host_port, port.container_port, port.proto) == expected
    assert port.key_path == "containers.web.ports[0]"


def test_unquoted_port_pair_stays_text(tmp_path: Path) -> None:
    # YAML 1.1 would read 8080:80 as the base-60 integer 484880; compose files mean a port pair.
    spec = load_spec(write(tmp_path, "hosts: {h: {}}\ncontainers:\n  web: {ports: [8080:80]}\n"))
    assert spec.container("web").ports[0].host_port == 8080


def test_ports_with_host_mode_are_accepted() -> None:
    spec = parse_spec({"hosts": {"h": None}, "containers": {"web": {"network_mode": "host", "ports": ["80:80"]}}})
    assert spec.container("web").ports[0].container_port == 80


def test_links_and_shared_namespaces() -> None:
    spec = parse("""
hosts: {node1: {}}
containers:
  db: {}
  cache: {network_mode: bridge}
  web: {links: [db, "cache:redis"], hostname: web.local}
  sidecar: {network_mode: "container:web"}
  sidecar2: {network_mode: "container:sidecar"}
""")
    assert [(link.container, link.alias) for link in spec.container("web").links] == [
        ("db", "db"),
        ("cache", "redis"),
    ]
    assert spec.container("web").hostname == "web.local"
    assert spec.container("sidecar2").network_mode == "container:sidecar"


def test_events_sorted_stably_with_all_forms() -> None:
    spec = parse("""
hosts: {node1: {swarm: manager}, node2: {}, ext: {docker: false}}
networks:
  appnet: {driver: overlay, attachable: true, subnet: 10.0.1.0/24}
  front: {host: node2}
containers:
  web: {host: node2, networks: [front]}
events:
  - {at: 3s, connect: {container: web, network: appnet, aliases: [w], ipv4_address: 10.0.1.7}}
  - {at: 1s, swarm_join: node2}
  - {at: 2s, disconnect: {container: web, network: front}}
  - {at: 2s, connect: {container: web, network: front}}
  - {at: 500ms, link_down: {host: ext}}
  - {at: 4s, swarm_join: {host: node2, role: manager}}
  - {at: 3500ms, swarm_leave: {host: node2}}
  - {at: 5, link_up: ext}
""")
    assert [(e.at, e.kind, e.key_path) for e in spec.events] == [
        (0.5, "link_down", "events[4]"),
        (1.0, "swarm_join", "events[1]"),
        (2.0, "disconnect", "events[2]"),
        (2.0, "connect", "events[3]"),
        (3.0, "connect", "events[0]"),
        (3.5, "swarm_leave", "events[6]"),
        (4.0, "swarm_join", "events[5]"),
        (5.0, "link_up", "events[7]"),
    ]
    assert spec.events[1].role == "worker" and spec.events[6].role == "manager"
    connect = spec.events[4]
    assert (connect.container, connect.network, connect.aliases, connect.ipv4_address) == (
        "web",
        "appnet",
        ("w",),
        IPv4Address("10.0.1.7"),
    )


def test_same_subnet_on_different_hosts_is_allowed() -> None:
    spec = parse("""
hosts: {node1: {}, node2: {}}
networks:
  a: {host: node1, subnet: 10.0.0.0/24}
  b: {host: node2, subnet: 10.0.0.0/24}
  lan: {driver: macvlan, hosts: [node1, node2], subnet: 192.168.50.0/24}
containers:
  m1: {host: node1, networks: {lan: {ipv4_address: 192.168.50.9}}}
  m2: {host: node2, networks: {lan: {ipv4_address: 192.168.50.9}}}
""")
    assert [n.subnet for n in spec.networks[:2]] == [IPv4Network("10.0.0.0/24")] * 2


# -- bad files -------------------------------------------------------------------------------

# fixture -> (key path, fragment of the message, fragment of the fix)
BAD_CASES: dict[str, tuple[str, str, str]] = {
    "unknown_top_key.yaml": ("netwrks", "unknown key 'netwrks'", "did you mean 'networks'?"),
    "unknown_nested_key.yaml": ("networks.front.drivr", "unknown key 'drivr'", "did you mean 'driver'?"),
    "bad_cidr.yaml": ("networks.front.subnet", "invalid subnet '10.0.300.0/24'", "10.0.1.0/24"),
    "host_bits_cidr.yaml": ("networks.front.subnet", "has host bits set", "10.0.1.0/24"),
    "overlap_same_host.yaml": ("networks.b.subnet", "Pool overlaps with other one", "give network b a subnet"),
    "overlap_overlays.yaml": ("networks.o2.subnet", "networks.o1.subnet (10.0.1.0/24) in the swarm", "overlap"),
    "network_on_other_host.yaml": (
        "containers.web.networks[0]",
        "network front lives on host node1, and the container is on node2",
        "move the container to host node1",
    ),
    "overlay_without_swarm.yaml": ("networks.appnet.driver", "This node is not a swarm manager", "swarm: manager"),
    "overlay_container_non_swarm_host.yaml": (
        "containers.web.networks[0]",
        "host node2 is not in a swarm",
        "hosts.node2",
    ),
    "overlay_not_attachable.yaml": ("containers.web.networks[0]", "not manually attachable", "attachable: true"),
    "unknown_network_ref.yaml": ("containers.web.networks[0]", "unknown network 'frnt'", "did you mean 'front'?"),
    "unknown_host_ref.yaml": ("containers.web.host", "unknown host 'nod1'", "did you mean 'node1'?"),
    "unknown_container_in_event.yaml": ("events[0].connect.container", "unknown container 'wbe'", "'web'"),
    "bad_duration.yaml": ("underlay.latency", "expected a duration like 50us", "50us"),
    "negative_event_time.yaml": ("events[0].at", "zero or more, got the string '-2s'", "2s"),
    "bad_engine.yaml": ("engine", "unknown engine '30'", "27, 28, 29"),
    "bad_mode.yaml": ("mode", "unknown mode 'fast'", "event, vectorized"),
    "bridge_without_host.yaml": ("networks.front", "bridge networks are local to one host", "add host: <one of"),
    "gateway_outside_subnet.yaml": ("networks.front.gateway", "10.0.2.1 is outside", "inside 10.0.1.0/24"),
    "ipv4_outside_subnet.yaml": (
        "containers.web.networks.front.ipv4_address",
        "no configured subnet contains IP address 10.0.9.9",
        "inside 10.0.1.0/24",
    ),
    "static_ip_default_bridge.yaml": (
        "containers.web.networks.bridge.ipv4_address",
        "user specified IP address is supported on user-defined networks only",
        "user-defined network",
    ),
    "alias_default_bridge.yaml": (
        "containers.web.networks.bridge.aliases",
        "network-scoped aliases are only supported for user-defined networks",
        "user-defined network",
    ),
    "links_host_mode.yaml": (
        "containers.web.links[0]",
        "host type networking can't be used with links",
        "network_mode: host",
    ),
    "link_other_host.yaml": ("containers.web.links[0]", "container db is on host node2", "on node1"),
    "link_not_default_network.yaml": (
        "containers.web.links[0]",
        "Cannot link to /db, as it does not belong to the default network",
        "default bridge",
    ),
    "duplicate_host_address.yaml": (
        "hosts.node2.address",
        "192.168.100.11 of host node2 is already used by host node1",
        "different address",
    ),
    "host_address_is_gateway.yaml": ("hosts.node2", "10.1.0.12 of host node2 is the underlay gateway", "address:"),
    "yaml_syntax_error.yaml": ("", "invalid YAML at line 3, column 9", "check indentation"),
    "duplicate_key.yaml": ("", "duplicate key 'front'", "remove or rename"),
    "shorthand_conflict.yaml": (
        "networks.front.driver_opts.com.docker.network.bridge.enable_icc",
        "conflicts with networks.front.icc (false)",
        "keep only one",
    ),
    "unknown_driver_opt.yaml": (
        "networks.secure.driver_opts.encrypt",
        "unknown driver option 'encrypt' for the overlay driver",
        "did you mean 'encrypted'?",
    ),
    "encrypted_false_option.yaml": ("networks.appnet.driver_opts.encrypted", "whenever the 'encrypted'", "remove"),
    "event_two_kinds.yaml": ("events[0].link_down", "exactly one thing", "split it"),
    "connect_host_mode.yaml": (
        "events[0].connect",
        "container sharing network namespace with another container or host cannot be connected",
        "network_mode: host",
    ),
    "connect_none_mode.yaml": ("events[0].connect", "in private (none) mode", "network_mode: none"),
    "connect_twice.yaml": (
        "events[1].connect.network",
        "endpoint with name web already exists in network front",
        "disconnect",
    ),
    "connect_overlay_after_leave.yaml": ("events[1].connect.network", "host node2 is not in a swarm", "swarm:"),
    "swarm_on_docker_false.yaml": ("hosts.ext.swarm", "host ext has docker: false", "docker: true"),
    "ports_none_mode.yaml": ("containers.iso.ports", "cannot be published from network_mode none", "remove ports"),
    "ports_container_mode.yaml": (
        "containers.sidecar.ports",
        "conflicting options: port publishing and the container type network mode",
        "remove ports",
    ),
    "port_range.yaml": ("containers.web.ports[0]", "port ranges are not supported", "each port"),
    "network_mode_cycle.yaml": ("containers.a.network_mode", "cycle: a -> b -> a", "own network"),
    "networks_and_network_mode.yaml": ("containers.web.network_mode", "cannot be used together", "remove"),
    "reserved_network_name.yaml": ("networks.bridge", "pre-defined network", "rename"),
    "missing_hosts.yaml": ("hosts", "missing required key 'hosts'", "add hosts:"),
    "top_level_list.yaml": ("", "top level must be a mapping, got a list", "hosts:"),
    "wrong_type_mapping.yaml": ("hosts.node1", "expected a mapping, got a list", "key: value"),
    "bad_swarm_role.yaml": ("hosts.node1.swarm", "unknown swarm role 'manger'", "did you mean 'manager'?"),
    "macvlan_bad_mode.yaml": ("networks.lan.mode", "unknown macvlan mode 'l2'", "bridge, vepa, private, passthru"),
    "macvlan_parent_missing_nic.yaml": ("networks.lan.parent", "parent interface was not found on the host", "eth0"),
    "icc_on_overlay.yaml": ("networks.appnet.icc", "icc applies to bridge networks, not overlay", "driver: bridge"),
    "ip_range_without_subnet.yaml": ("networks.front.ip_range", "ip_range needs a subnet", "add subnet:"),
    "ipam_two_pools.yaml": ("networks.front.ipam.config[1]", "only one IPv4 address pool", "single entry"),
    "ipam_conflicts_with_shorthand.yaml": (
        "networks.front.ipam.config[0].subnet",
        "conflicts with networks.front.subnet",
        "give subnet once",
    ),
    "duplicate_static_ip.yaml": (
        "containers.b.networks.front.ipv4_address",
        "Address already in use: 10.0.1.5",
        "its own ipv4_address",
    ),
    "container_named_like_host.yaml": ("containers.node1", "same name as host node1", "rename"),
    "swarm_join_twice.yaml": ("events[0].swarm_join", "already part of a swarm", "swarm_leave"),
}


@pytest.mark.parametrize(("fixture", "expected"), sorted(BAD_CASES.items()), ids=sorted(BAD_CASES))
def test_bad_topology(fixture: str, expected: tuple[str, str, str]) -> None:
    key_path, message, fix = expected
    path = BAD / fixture
    with pytest.raises(TopologyError) as caught:
        netsim.load(path)  # the loader checks shape and references; building checks Docker's rules
    err = caught.value
    assert err.file == str(path)
    assert str(err).startswith(str(path))
    assert err.key_path == key_path
    assert message in err.message
    assert err.fix and fix in err.fix


def test_every_bad_fixture_has_an_expectation() -> None:
    assert sorted(p.name for p in BAD.glob("*.yaml")) == sorted(BAD_CASES)


def test_unreadable_file(tmp_path: Path) -> None:
    missing = tmp_path / "missing.yaml"
    with pytest.raises(TopologyError, match="cannot read the file") as caught:
        load_spec(missing)
    assert caught.value.key_path == "" and str(caught.value).startswith(str(missing))


@pytest.mark.parametrize(
    ("data", "key_path", "message"),
    [
        ({"hosts": {"h": None}, "seed": "7"}, "seed", "expected an integer"),
        ({"hosts": {"h": None}, "underlay": {"bandwidth": "10 gigs"}}, "underlay.bandwidth", "like 10Gbps"),
        ({"hosts": {"h": None}, "underlay": {"mtu": 40}}, "underlay.mtu", "40 is out of range"),
        ({"hosts": {"h": {"docker": "yes"}}}, "hosts.h.docker", "expected true or false"),
        ({"hosts": {"-h": None}}, "hosts.-h", "invalid host name"),
        ({"hosts": {}}, "hosts", "there are no hosts"),
        ({"hosts": {"h": None}, "networks": {"n": {"driver": "overlay2"}}}, "networks.n.driver", "unknown driver"),
        ({"hosts": {"h": None}, "containers": {"c": {"networks": "front"}}}, "containers.c.networks", "list or"),
        ({"hosts": {"h": None}, "events": [{"at": "1s"}]}, "events[0]", "the event does nothing"),
        ({"hosts": {"h": None}, "events": {"at": "1s"}}, "events", "expected a list"),
        ({"hosts": {"h": None}, "containers": {"c": None}, "traffic": [{"flood": {}}]}, "traffic[0].flood",
         "unknown key 'flood'"),
        ({"hosts": {"h": None}, "containers": {"c": None}, "traffic": [{"ping": {"to": "c"}}]}, "traffic[0].ping.from",
         "a ping flow needs from:"),
        ({"hosts": {"h": None}, "containers": {"c": None}, "traffic": [{"ping": {"from": "web", "to": "c"}}]},
         "traffic[0].ping.from", "no container named 'web'"),
        ({"hosts": {"h": None}, "containers": {"c": None},
          "traffic": [{"ping": {"from": "c", "to": "c", "interval": 0}}]}, "traffic[0].ping.interval", "positive"),
        ({"hosts": {"h": None}, "containers": {"c": None},
          "traffic": [{"ping": {"from": "c", "to": "c", "count": 0}}]}, "traffic[0].ping.count", "out of range"),
        ({"hosts": {"h": None}, "containers": {"c": None},
          "traffic": [{"ping": {"from": "c", "to": "c"}, "udp": {}}]}, "traffic[0]", "exactly one flow"),
        ({"hosts": {"h": None}, "containers": {"c": None},
          "traffic": [{"udp": {"from": "c", "to": "c", "rate": "1Mbps", "start": "2s", "stop": "1s"}}]},
         "traffic[0].udp.stop", "before it starts"),
        ({"hosts": {"h": None}, "containers": {"c": None},
          "traffic": [{"udp": {"from": "c", "to": "c"}}]}, "traffic[0].udp.rate", "a udp flow needs rate:"),
        ({"hosts": {"h": None}, "containers": {"c": None},
          "traffic": [{"tcp": {"from": "c", "to": "c", "mss": 70000}}]}, "traffic[0].tcp.mss", "out of range"),
        ({"hosts": {"h": None}, "containers": {"c": None},
          "traffic": [{"tcp": {"from": "c", "to": "c", "window": "lots"}}]}, "traffic[0].tcp.window", "a size"),
        ({"hosts": {"h": None}, "underlay": {"queue": "1500"}}, "underlay.queue", "gives no unit"),
        ({"hosts": {"h": {"link": {"queue": "64 parsecs"}}}}, "hosts.h.link.queue", "a size"),
        ({"hosts": {"h": {"costs": {"wormhole": "1us"}}}}, "hosts.h.costs.wormhole", "unknown cost kind"),
        ({"hosts": {"h": None}, "networks": {"n": {"host": "h", "driver_opts": {
            "com.docker.network.advertise_addr_ms": "50"}}}}, "networks.n.driver_opts.com.docker.network.advertise_addr_ms",
         "must be in the range 100 to 2000"),
    ],
)
def test_bad_values_in_memory(data: dict[str, Any], key_path: str, message: str) -> None:
    with pytest.raises(TopologyError) as caught:
        parse_spec(data)
    assert caught.value.key_path == key_path
    assert message in caught.value.message
    assert str(caught.value).startswith("<memory>: ")
