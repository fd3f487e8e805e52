"""ipvlan networks (B65, B66), and what the sources say of them: this kernel has no ipvlan, so
these tests are the model's only check, each derived from drivers/net/ipvlan and the moby driver."""

from __future__ import annotations

from typing import Any

import pytest

import netsim
from netsim.errors import TopologyError
from netsim.simulation import build
from netsim.topology import parse_spec

from .conftest import ROOT

LAN = "192.168.100.0/24"


def _sim(mode: str = "l2", flag: str = "bridge", engine: str = "29", subnet: str = LAN, **extra: Any) -> netsim.Simulation:
    network = {"driver": "ipvlan", "hosts": ["node1", "node2"], "parent": "eth0", "mode": mode, "flag": flag,
               "subnet": subnet}
    if mode == "l2":
        network["gateway"] = "192.168.100.1"
    prefix = subnet.rsplit(".", 1)[0]
    data = {"engine": engine, "underlay": {"subnet": LAN, "gateway": "192.168.100.1"},
            "hosts": {"node1": {}, "node2": {}, "ext": {"docker": False}},
            "networks": {"iv": network},
            "containers": {name: {"host": host, "networks": {"iv": {"ipv4_address": f"{prefix}.{n}"}}}
                           for name, host, n in (("a", "node1", 201), ("b", "node1", 202), ("c", "node2", 203))}}
    for key, value in extra.items():
        data[key] = value
    return build(parse_spec(data))


def test_b65_l2_slaves_share_the_parent_s_mac_and_sit_on_the_lan() -> None:
    sim = _sim()
    a = sim.container("a").endpoints["iv"]
    assert a.mac == sim.host("node1").eth0.mac, "no MAC of its own"
    assert sim.ping("ext", "192.168.100.201").reachable
    assert sim.ping("a", "192.168.100.202").reachable, "slave to slave inside the host"
    assert sim.ping("a", "192.168.100.203").reachable, "across hosts"
    ext = sim.host("ext").ns
    macs = {n.mac for (dev, addr), n in ext.neigh.items() if addr == int(a.address)}
    assert macs == {sim.host("node1").eth0.mac}, "the LAN sees node1's own MAC for a"


def test_b65_b61_the_host_and_its_own_l2_slaves_cannot_reach_each_other() -> None:
    sim = _sim()
    assert not sim.ping("node1", "192.168.100.201").reachable
    assert not sim.ping("a", "192.168.100.11").reachable
    assert sim.ping("node2", "192.168.100.201").reachable


def test_b65_l2_works_on_a_mac_filtering_cloud_where_macvlan_does_not() -> None:
    sim = netsim.load(ROOT / "topologies" / "cloud-mac-filtering.yaml")
    ip1 = str(sim.container("ip1").endpoints["iv"].address)
    mac1 = str(sim.container("mac1").endpoints["mv"].address)
    assert sim.ping("ext", ip1).reachable and sim.ping("node1", ip1).reachable
    lost = sim.trace("ext", mac1)
    assert not lost.reachable and "MAC_FILTERED" in lost.detail


def test_private_and_vepa_flags_keep_l2_slaves_of_one_host_apart() -> None:
    for flag in ("private", "vepa"):
        sim = _sim(flag=flag)
        assert not sim.ping("a", "192.168.100.202").reachable, flag
        assert sim.ping("a", "192.168.100.203").reachable, f"{flag}: other hosts are fine"


def test_b66_l3_has_a_device_default_route_no_arp_and_needs_an_upstream_route() -> None:
    sim = _sim("l3", subnet="10.50.0.0/24")
    a = sim.container("a")
    default = [r for r in a.ns.routes if r.plen == 0]
    assert len(default) == 1 and default[0].gateway is None and default[0].dev.name == "eth0", "default dev eth0"
    assert sim.ping("a", "10.50.0.202").reachable, "slave to slave inside the host, no ARP"
    assert not sim.ping("ext", "10.50.0.201").reachable, "the LAN has no route to the slaves' subnet"
    assert not sim.ping("a", "192.168.100.13").reachable, "ext answers, but has no route back to 10.50.0.0/24"
    routed = _sim("l3", subnet="10.50.0.0/24", hosts={
        "node1": {}, "node2": {}, "ext": {"docker": False, "routes": ["10.50.0.0/24 via 192.168.100.11"]}})
    assert routed.ping("ext", "10.50.0.201").reachable, "routed via node1, its master's host"
    assert routed.ping("a", "192.168.100.13").reachable
    arp = routed.trace("a", "10.50.0.202")
    assert not any(step.action == "NEIGH" for step in arp.steps), "l3 slaves resolve nobody"


def test_b66_l3_drops_broadcasts_from_the_lan() -> None:
    on_lan = _sim("l3", subnet=LAN)  # the slaves on the LAN's own subnet, as Docker warns against
    assert not on_lan.ping("ext", "192.168.100.201").reachable, "an ARP request for a slave reaches no slave"
    assert on_lan.container("a").endpoints["iv"].interface.noarp


def test_b66_the_host_cannot_reach_its_l3_slaves() -> None:
    sim = _sim("l3", subnet="10.50.0.0/24")
    assert not sim.ping("node1", "10.50.0.201").reachable


@pytest.mark.parametrize(("engine", "mode", "gateway"), [("27", "l2", "10.60.0.1"), ("27", "l3", "10.60.0.1"),
                                                           ("28", "l2", "10.60.0.1"), ("28", "l3", None),
                                                           ("29", "l2", None), ("29", "l3", None)])
def test_b64_gateway_allocation_by_engine_and_mode(engine: str, mode: str, gateway: str | None) -> None:
    sim = build(parse_spec({"engine": engine, "hosts": {"node1": {}}, "networks": {
        "iv": {"driver": "ipvlan", "hosts": ["node1"], "parent": "eth0", "mode": mode, "subnet": "10.60.0.0/24"}},
        "containers": {"a": {"host": "node1", "networks": ["iv"]}}}))
    net = sim.host("node1").networks.get("iv")
    assert (str(net.gateway) if net.gateway else None) == gateway
    first = str(sim.container("a").endpoints["iv"].address)
    assert first == ("10.60.0.2" if gateway else "10.60.0.1")


def test_one_ipvlan_network_per_parent_and_no_macvlan_beside_it() -> None:
    def two(second: dict[str, Any]) -> dict[str, Any]:
        return {"hosts": {"node1": {}}, "networks": {
            "a": {"driver": "ipvlan", "hosts": ["node1"], "parent": "eth0", "subnet": "10.1.0.0/24"}, "b": second},
            "containers": {"x": {"host": "node1", "networks": ["a"]}, "y": {"host": "node1", "networks": ["b"]}}}
    with pytest.raises(TopologyError) as err:
        build(parse_spec(two({"driver": "ipvlan", "hosts": ["node1"], "parent": "eth0", "subnet": "10.2.0.0/24"})))
    assert err.value.key_path == "networks.b.driver_opts.parent" and "is already using parent interface eth0" in \
        err.value.message and err.value.message.startswith("network dm-")
    with pytest.raises(TopologyError) as err:
        build(parse_spec(two({"driver": "macvlan", "hosts": ["node1"], "parent": "eth0", "subnet": "10.2.0.0/24"})))
    assert err.value.key_path.startswith("containers.y") and \
        "failed to create the macvlan port: device or resource busy" in err.value.message
