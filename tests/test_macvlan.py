"""Macvlan networks, each test named by the behaviour of docker-semantics.md it checks (B3, B60-B64)."""

from __future__ import annotations

from typing import Any

from dataclasses import replace

import pytest
from scapy.layers.l2 import Dot1Q

import netsim
from netsim.datapath.addr import mac_str
from netsim.datapath.frames import from_bytes
from netsim.errors import TopologyError
from netsim.simulation import build
from netsim.topology import parse_spec

from .conftest import ROOT

LAN = "192.168.100.0/24"


def _sim(mode: str = "bridge", engine: str = "29", network: dict[str, Any] | None = None,
         hosts: dict[str, Any] | None = None, underlay: dict[str, Any] | None = None,
         containers: dict[str, Any] | None = None) -> netsim.Simulation:
    data = {
        "engine": engine,
        "underlay": {"subnet": LAN, "gateway": "192.168.100.1", **(underlay or {})},
        "hosts": hosts or {"node1": {}, "node2": {}, "ext": {"docker": False}},
        "networks": {"lan": {"driver": "macvlan", "hosts": ["node1", "node2"], "parent": "eth0", "mode": mode,
                             "subnet": LAN, "gateway": "192.168.100.1", **(network or {})}},
        "containers": containers or {
            "m1": {"host": "node1", "networks": {"lan": {"ipv4_address": "192.168.100.201"}}},
            "m3": {"host": "node1", "networks": {"lan": {"ipv4_address": "192.168.100.203"}}},
            "m2": {"host": "node2", "networks": {"lan": {"ipv4_address": "192.168.100.202"}}},
        },
    }
    return build(parse_spec(data))


def _reach(sim: netsim.Simulation, src: str, dst: str) -> tuple[bool, str]:
    """Whether ``src`` reaches ``dst``'s address on the LAN (a container's macvlan one, a host's eth0)."""
    table = sim.reachability()
    rows = table[(table.src == src) & (table.dst == dst) & table.addr.str.startswith("192.168.100.")]
    assert len(rows) == 1, rows
    return bool(rows.iloc[0].reachable), str(rows.iloc[0].disposition)


@pytest.mark.parametrize(("engine", "scheme"), [("27", "ip"), ("29", "random")])
def test_b3_b60_a_macvlan_container_has_its_own_mac_on_the_lan(engine: str, scheme: str) -> None:
    sim = _sim(engine=engine)
    m1 = sim.container("m1").endpoints["lan"]
    if scheme == "ip":
        assert mac_str(m1.mac) == "02:42:c0:a8:64:c9", "02:42 + 192.168.100.201"
    else:
        assert m1.mac >> 40 & 0b11 == 0b10, "locally administered unicast"
    assert m1.mac != sim.host("node1").eth0.mac
    assert sim.ping("ext", "192.168.100.201").reachable
    ext = sim.host("ext").ns
    assert any(n.mac == m1.mac for (dev, addr), n in ext.neigh.items() if dev == "eth0"), \
        "the LAN's ARP table holds the container's own MAC"


def test_b60_containers_reach_each_other_across_hosts_and_on_one_host_without_nat_or_rules() -> None:
    plain = build(parse_spec({"underlay": {"subnet": LAN}, "hosts": {"node1": {}, "node2": {}}}))
    sim = _sim()
    assert _reach(sim, "m1", "m2") == (True, "ACCEPTED")
    assert _reach(sim, "m1", "m3") == (True, "ACCEPTED"), "bridge mode: inside the host"
    assert _reach(sim, "ext", "m1") == (True, "ACCEPTED")
    for host in ("node1", "node2"):
        assert sim.host(host).ns.nf.save() == plain.host(host).ns.nf.save(), "no iptables rule for macvlan"


def test_b60_two_hosts_can_hand_out_the_same_address_and_netsim_warns() -> None:
    sim = _sim(network={"ip_range": "192.168.100.192/27"},
               containers={"m1": {"host": "node1", "networks": ["lan"]}, "m2": {"host": "node2", "networks": ["lan"]}})
    a1, a2 = (str(sim.container(c).endpoints["lan"].address) for c in ("m1", "m2"))
    assert a1 == a2 == "192.168.100.192", "each host's IPAM starts at the range's first address"
    assert any("m1 on node1 and m2 on node2 both have 192.168.100.192" in w for w in sim.warnings)
    answers = {sim.ping("ext", a1).responder}
    assert len(answers) == 1 and answers <= {"m1", "m2"}, "one of them answers the LAN"


def test_b60_split_ranges_per_host_give_each_container_its_own_address() -> None:
    sim = _sim(network={"hosts": {"node1": {"ip_range": "192.168.100.192/28"},
                                  "node2": {"ip_range": "192.168.100.208/28"}}},
               containers={"m1": {"host": "node1", "networks": ["lan"]}, "m2": {"host": "node2", "networks": ["lan"]}})
    assert [str(sim.container(c).endpoints["lan"].address) for c in ("m1", "m2")] == ["192.168.100.192",
                                                                                       "192.168.100.208"]
    assert not sim.warnings
    assert sim.ping("m1", "192.168.100.208").reachable
    with pytest.raises(TopologyError) as err:
        _sim(network={"hosts": {"node1": {"ip_range": "10.0.0.0/28"}, "node2": {}}})
    assert err.value.key_path == "networks.lan.hosts.node1.ip_range" and "not inside the subnet" in err.value.message


def test_b61_the_host_and_its_own_macvlan_containers_cannot_reach_each_other() -> None:
    sim = _sim()
    assert _reach(sim, "node1", "m1")[0] is False
    assert _reach(sim, "m1", "node1")[0] is False
    assert _reach(sim, "node2", "m1") == (True, "ACCEPTED"), "another host can"
    assert _reach(sim, "m1", "node2") == (True, "ACCEPTED")


def test_b61_the_documented_shim_interface_lets_the_host_reach_its_containers() -> None:
    shim = {"node1": {"interfaces": {"lan-shim": {"address": "192.168.100.250/32",
                                                  "routes": ["192.168.100.192/27"]}}},
            "node2": {}, "ext": {"docker": False}}
    sim = _sim(hosts=shim)
    assert sim.ping("node1", "192.168.100.201").reachable, "through the host's own macvlan child"
    assert sim.ping("m1", "192.168.100.250").reachable
    assert sim.ping("m1", "192.168.100.11").reachable, "arp_ignore=0: the shim answers for every local address"
    assert not sim.ping("m2", "192.168.100.12").reachable, "node2 has no shim"


def test_b63_an_underlay_with_mac_filtering_cuts_macvlan_containers_off_while_hosts_work() -> None:
    sim = _sim(underlay={"mac_filtering": True})
    assert sim.ping("ext", "node1").reachable, "the hosts' own MACs pass"
    lost = sim.trace("ext", "192.168.100.201")
    assert not lost.reachable and lost.disposition == "NEIGH_FAILED"
    assert "the reply died at underlay:port1: MAC_FILTERED" in lost.detail, "the container's ARP reply is dropped"
    assert _reach(sim, "m1", "m2")[0] is False
    assert _reach(sim, "m1", "m3") == (True, "ACCEPTED"), "inside one host the switch is not involved"


def test_b63_a_port_that_is_not_promiscuous_delivers_nothing_for_the_containers_macs() -> None:
    sim = _sim(hosts={"node1": {"link": {"promiscuous": False}}, "node2": {}, "ext": {"docker": False}})
    assert sim.ping("ext", "node1").reachable
    lost = sim.trace("ext", "192.168.100.201")
    assert not lost.reachable and "is not promiscuous" in lost.detail
    assert _reach(sim, "m2", "ext") == (True, "ACCEPTED"), "node2's port is"


def test_modes_private_isolates_children_vepa_needs_the_switch_to_reflect() -> None:
    private = _sim("private")
    assert _reach(private, "m1", "m3")[0] is False, "private: no child to child, even through the switch"
    assert _reach(private, "m1", "m2") == (True, "ACCEPTED")
    vepa = _sim("vepa")
    assert _reach(vepa, "m1", "m3") == (True, "ACCEPTED"), "back through the switch's reflective relay"
    no_relay = _sim("vepa", hosts={"node1": {"link": {"hairpin": False}}, "node2": {}, "ext": {"docker": False}})
    assert _reach(no_relay, "m1", "m3")[0] is False, "a switch that does not reflect"
    assert _reach(no_relay, "m1", "m2") == (True, "ACCEPTED")


def test_passthru_takes_over_the_nic_so_the_host_drops_off_the_lan() -> None:
    sim = _sim("passthru", containers={"m1": {"host": "node1", "networks": {"lan": {"ipv4_address": "192.168.100.201"}}}})
    m1 = sim.container("m1").endpoints["lan"]
    assert sim.host("node1").eth0.mac == m1.mac, "the NIC takes the container's MAC"
    assert sim.ping("ext", "192.168.100.201").reachable
    assert not sim.ping("ext", "node1").reachable, "frames for the host now go to the container"
    with pytest.raises(TopologyError) as err:
        _sim("passthru", containers={c: {"host": "node1", "networks": ["lan"]} for c in ("m1", "m3")})
    assert err.value.key_path.startswith("containers.m3") and "failed to create the macvlan port: invalid argument" \
        in err.value.message


def test_b64_a_second_network_on_a_parent_is_refused_only_with_passthru() -> None:
    def two(mode_a: str, mode_b: str) -> dict[str, Any]:
        return {"hosts": {"node1": {}}, "networks": {
            "a": {"driver": "macvlan", "hosts": ["node1"], "parent": "eth0", "mode": mode_a, "subnet": "10.1.0.0/24"},
            "b": {"driver": "macvlan", "hosts": ["node1"], "parent": "eth0", "mode": mode_b, "subnet": "10.2.0.0/24"}}}
    build(parse_spec(two("bridge", "vepa")))
    with pytest.raises(TopologyError) as err:
        build(parse_spec(two("bridge", "passthru")))
    assert err.value.key_path == "networks.b.driver_opts.macvlan_mode"
    assert "cannot use mode passthru, macvlan network" in err.value.message and "parent interface eth0" in err.value.message
    with pytest.raises(TopologyError) as err:
        build(parse_spec(two("passthru", "bridge")))
    assert err.value.key_path == "networks.b.driver_opts.parent" and "in mode passthru" in err.value.message


@pytest.mark.parametrize(("engine", "gateway"), [("28", "192.168.100.1"), ("29", None)])
def test_b64_without_gateway_28_takes_one_from_ipam_and_29_has_none(engine: str, gateway: str | None) -> None:
    sim = build(parse_spec({"engine": engine, "hosts": {"node1": {}}, "networks": {
        "lan": {"driver": "macvlan", "hosts": ["node1"], "parent": "eth0", "subnet": "10.77.0.0/24"}},
        "containers": {"m1": {"host": "node1", "networks": ["lan"]}}}))
    m1 = sim.container("m1")
    default = [r for r in m1.ns.routes if r.plen == 0]
    if gateway is None:
        assert not default and str(m1.endpoints["lan"].address) == "10.77.0.1", "no gateway, and .1 is free"
    else:
        assert [str(netsim.datapath.addr.ip_str(r.gateway)) for r in default] == ["10.77.0.1"]
        assert str(m1.endpoints["lan"].address) == "10.77.0.2"
    assert "docker_gwbridge" not in [n.name for n in sim.host("node1").networks]


def test_b64_without_a_parent_the_network_only_connects_its_own_containers() -> None:
    sim = build(parse_spec({"underlay": {"subnet": LAN}, "hosts": {"node1": {}, "ext": {"docker": False}},
                            "networks": {"solo": {"driver": "macvlan", "hosts": ["node1"], "subnet": "10.88.0.0/24",
                                                  "gateway": "10.88.0.1"}},
                            "containers": {"a": {"host": "node1", "networks": ["solo"]},
                                           "b": {"host": "node1", "networks": ["solo"]}}}))
    assert sim.ping("a", str(sim.container("b").endpoints["solo"].address)).reachable
    assert not sim.ping("a", "192.168.100.12").reachable, "a dummy parent sends nothing anywhere"
    assert any(d.kind == "dummy" for d in sim.host("node1").ns.devices.values())


VLAN = ROOT / "topologies" / "vlan-trunk.yaml"


def test_b62_docker_creates_the_sub_interface_and_its_frames_leave_tagged() -> None:
    sim = netsim.load(VLAN)
    node1 = sim.host("node1").ns
    assert {"eth0.10", "eth0.20"} <= set(node1.devices), "created for the networks that name them"
    assert sim.container("a10").endpoints["mv10"].interface.lower is node1.devices["eth0.10"]
    trace = sim.trace("a10", "192.168.10.202")
    assert trace.reachable
    wire = [frame for step, frame in trace.frames() if step.node == "node1" and step.where == "eth0"]
    assert wire and all(f.haslayer(Dot1Q) and f[Dot1Q].vlan == 10 for f in wire), "tagged 10 on the wire"
    raw = bytes(wire[0])
    assert raw[12:14] == b"\x81\x00" and int.from_bytes(raw[14:16], "big") & 0xFFF == 10
    assert from_bytes(raw).vlan == 10, "and back: the bytes parse to the same tagged frame"


def test_b62_vlans_are_separate_unless_routed() -> None:
    sim = netsim.load(VLAN)
    assert _reach_any(sim, "a10", "192.168.10.202"), "VLAN 10 across hosts"
    assert _reach_any(sim, "a10", "192.168.20.201"), "VLAN 10 to VLAN 20 through r1"
    assert not _reach_any(sim, "u", "192.168.10.201"), "the untagged LAN is not routed to the VLANs"
    assert not _reach_any(sim, "a10", "192.168.100.201")
    spec = netsim.load_spec(VLAN)
    unrouted = build(replace(spec, underlay=replace(spec.underlay, routers=())))
    assert _reach_any(unrouted, "a10", "192.168.10.202")
    assert not _reach_any(unrouted, "a10", "192.168.20.201"), "without the router VLAN 10 and VLAN 20 are apart"


def test_b62_a_port_that_does_not_carry_a_vlan_drops_it_at_the_switch() -> None:
    spec = netsim.load_spec(VLAN)
    hosts = tuple(replace(h, link_tagged=frozenset({20})) if h.name == "node2" else h for h in spec.hosts)
    sim = build(replace(spec, hosts=hosts))
    lost = sim.trace("b10", "192.168.10.201")
    assert not lost.reachable and "VLAN_FILTERED" in lost.detail, lost.render()


def test_b62_the_sub_interface_goes_with_the_last_network_only_if_docker_made_it() -> None:
    sim = netsim.load(VLAN)
    node1 = sim.host("node1")
    for name in ("a10", "a20"):
        sim.container(name).remove(force=True)
    node1.networks.get("mv10").remove()
    assert "eth0.10" not in node1.ns.devices, "Docker created it: gone with its network"
    mine = build(parse_spec({"hosts": {"node1": {"interfaces": {"eth0.30": {"address": "10.30.0.5/24"}}}},
                             "networks": {"mv30": {"driver": "macvlan", "hosts": ["node1"], "parent": "eth0.30",
                                                   "subnet": "10.30.0.0/24"}}}))
    mine.host("node1").networks.get("mv30").remove()
    assert "eth0.30" in mine.host("node1").ns.devices, "the host's own sub-interface stays"


def _reach_any(sim: netsim.Simulation, src: str, addr: str) -> bool:
    return sim.ping(src, addr).reachable
