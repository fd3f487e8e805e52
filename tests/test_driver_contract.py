"""A driver written outside netsim: one class against ``netsim.engine.drivers.api``, one ``register`` line.

The toy ``p2p`` driver routes instead of bridging, as Calico does: every endpoint gets a veth
whose host end carries the gateway address as a /32 and a host route to the container's
address.  Nothing in netsim names it, yet the loader validates its options, the builder places
its networks, and the forwarding core answers who reaches whom through the devices it made.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Iterator

import pytest
import yaml

from netsim.datapath.addr import ip
from netsim.datapath.device import Veth
from netsim.engine import drivers
from netsim.engine.drivers.api import EndpointInfo, HostContext, JoinInfo, NetworkInfo, Scope
from netsim.engine.drivers.options import DriverOptions, choice, option
from netsim.errors import TopologyError
from netsim.simulation import build
from netsim.topology import parse_spec


@dataclass(frozen=True)
class P2POptions(DriverOptions):
    host_reach: str = option("on", "p2p.host_reach", choice(("on", "off"), "host reach setting"), "host_reach")


class P2PDriver:
    TYPE: ClassVar[str] = "p2p"
    SCOPE: ClassVar[Scope] = "host"
    Options: ClassVar[type[DriverOptions]] = P2POptions

    def __init__(self, host: HostContext) -> None:
        self.host = host
        self.networks: dict[str, NetworkInfo] = {}
        self.veths: dict[str, Veth] = {}

    def create_network(self, net: NetworkInfo) -> None:
        self.networks[net.id] = net

    def delete_network(self, nid: str) -> None:
        del self.networks[nid]

    def join(self, nid: str, ep: EndpointInfo) -> JoinInfo:
        net, host = self.networks[nid], self.host
        inside, outside = Veth.pair(host.world, ep.ifname, ep.mac, host.new_ifname("p2p"), host.new_mac())
        host.ns.add_device(outside)
        if net.gateway is not None:
            host.ns.add_address(outside, ip(net.gateway), 32)
        if net.options.host_reach == "on":  # type: ignore[attr-defined]
            host.ns.add_route(ip(ep.address), 32, outside)
        self.veths[ep.id] = outside
        return JoinInfo(inside, net.gateway)

    def leave(self, nid: str, eid: str) -> None:
        self.host.ns.remove_device(self.veths.pop(eid))


TOPOLOGY = """
hosts: {node1: {}}
networks:
  routed: {driver: p2p, subnet: 10.77.0.0/24}
  dark: {driver: p2p, subnet: 10.78.0.0/24, host_reach: "off"}
containers:
  a: {networks: [routed]}
  b: {networks: [routed]}
  c: {networks: [dark]}
"""


@pytest.fixture
def p2p() -> Iterator[type]:
    drivers.register(P2PDriver)
    try:
        yield P2PDriver
    finally:
        del drivers.REGISTRY["p2p"]


def test_a_driver_from_outside_runs_a_topology(p2p: type) -> None:
    sim = build(parse_spec(yaml.safe_load(TOPOLOGY)))
    table = sim.reachability().set_index(["src", "dst"])
    assert table.loc[("a", "node1"), "reachable"].any(), "the container reaches its host through the p2p veth"
    assert table.loc[("node1", "a"), "reachable"].all(), "the host route leads to the container"
    # No bridge and no proxy ARP: a's connected route sends ARP for b out eth0, and nobody answers.
    assert table.loc[[("a", "b")], "disposition"].tolist() == ["NEIGH_FAILED"]
    # host_reach off: no host route, so the host sends c's traffic where its default route points.
    assert not table.loc[("node1", "c"), "reachable"].any()
    assert sim.host("node1").networks.get("dark").settings == P2POptions(host_reach="off")


def test_a_registered_driver_s_options_are_validated_by_the_loader(p2p: type) -> None:
    bad = TOPOLOGY.replace('host_reach: "off"', "host_reach: sideways")
    with pytest.raises(TopologyError) as err:
        parse_spec(yaml.safe_load(bad))
    assert err.value.key_path == "networks.dark.host_reach"
    assert "unknown host reach setting 'sideways'" in err.value.message
    with pytest.raises(TopologyError, match="host_reach applies to p2p networks, not bridge"):
        parse_spec({"hosts": {"node1": {}}, "networks": {"n": {"host_reach": "on"}}})


def test_an_unregistered_driver_is_unknown() -> None:
    with pytest.raises(TopologyError) as err:
        parse_spec(yaml.safe_load(TOPOLOGY))
    assert err.value.key_path == "networks.routed.driver" and "unknown driver 'p2p'" in err.value.message
