"""Unsolicited ARP when a container's interface comes up (moby 28+, libnetwork osl advertiseAddrs).

Source: moby ``daemon/libnetwork/osl/interface_linux.go`` (advertiseAddrs: 3 messages, 1 s apart,
options ``com.docker.network.advertise_addr_nmsgs`` 0-3 and ``advertise_addr_ms`` 100-2000),
``internal/l2disco/unsol_arp_linux.go`` (a broadcast ARP request, sender = target = the
address), first in v28.0.0 (commit eaa84bc8f4); and the kernel's ``arp_process`` (a
gratuitous request updates an existing entry of its sender even within locktime; none is created).
"""

from __future__ import annotations

import pytest

import netsim
from netsim.datapath.addr import ip
from netsim.datapath.packet import ARP, ARPOP_REQUEST
from netsim.errors import DockerError


def _lab(engine: str, **options: str) -> netsim.Simulation:
    sim = netsim.Simulation("lab", seed=5, engine=engine)
    node = sim.add_host("node1")
    node.networks.create("front", subnet="10.6.0.0/24", options=options or None)
    node.containers.run("a", network="front")
    return sim


def _arps(sim: netsim.Simulation, name: str) -> list[tuple[float, ARP]]:
    return [(t, f.payload) for t, f in sim.capture(f"{name}:eth0").records if type(f.payload) is ARP]


def test_a_joining_container_announces_its_address_three_times_a_second_apart() -> None:
    sim = _lab("29")
    cap = sim.capture("a:eth0")
    node = sim.host("node1")
    node.containers.run("b", network="front")
    b = sim.container("b").endpoints["front"]
    sim.run(5.0)
    heard = [(round(t, 6), f.payload) for t, f in cap.records if type(f.payload) is ARP and f.src == b.mac]
    assert [t for t, _ in heard] == [pytest.approx(0.0, abs=1e-4), pytest.approx(1.0, abs=1e-4),
                                     pytest.approx(2.0, abs=1e-4)]
    for _, arp in heard:
        assert arp.op == ARPOP_REQUEST and arp.psrc == arp.pdst == ip(b.address) and arp.hwsrc == b.mac
    bridge = next(dev for dev in node.ns.devices.values() if getattr(dev, "fdb", None) is not None
                  and b.mac in dev.fdb)
    assert bridge is not None, "the bridge learned b's MAC from its announcement"


def test_engine_27_and_the_option_zero_send_none_and_the_interval_is_an_option() -> None:
    for sim in (_lab("27"), _lab("29", **{"com.docker.network.advertise_addr_nmsgs": "0"})):
        cap = sim.capture("a:eth0")
        sim.host("node1").containers.run("b", network="front")
        sim.run(5.0)
        assert not [f for _, f in cap.records if type(f.payload) is ARP], "a and b both keep quiet"
    sim = _lab("29", **{"com.docker.network.advertise_addr_nmsgs": "2", "com.docker.network.advertise_addr_ms": "250"})
    cap = sim.capture("a:eth0")
    sim.host("node1").containers.run("b", network="front")
    sim.run(5.0)
    times = [t for t, f in cap.records if type(f.payload) is ARP and f.src != sim.container("a").endpoints["front"].mac]
    assert len(times) == 2 and times[1] - times[0] == pytest.approx(0.25, abs=1e-4)


@pytest.mark.parametrize(("value", "message"), [
    ("4", "com.docker.network.advertise_addr_nmsgs must be in the range 0 to 3"),
    ("x", 'value for option com.docker.network.advertise_addr_nmsgs "x" must be an integer'),
])
def test_docker_refuses_a_count_out_of_range_in_its_words(value: str, message: str) -> None:
    with pytest.raises(DockerError, match=message):
        _lab("29", **{"com.docker.network.advertise_addr_nmsgs": value})


def test_a_recycled_address_with_a_new_mac_is_updated_in_the_neighbours_cache() -> None:
    # An address freed by one container and taken by the next, with a new random MAC (28+): the
    # announcement updates the stale entry at once instead of leaving it until it expires.
    sim = _lab("29")
    node = sim.host("node1")
    node.containers.run("old", networks={"front": {"ipv4_address": "10.6.0.50"}})
    sim.run(3.0)
    assert sim.ping("a", "10.6.0.50").reachable
    old_mac = sim.container("old").endpoints["front"].mac
    a = sim.container("a")
    entry = a.ns.neigh[("eth0", ip("10.6.0.50"))]
    assert entry.mac == old_mac
    node.containers.get("old").remove()
    node.containers.run("new", networks={"front": {"ipv4_address": "10.6.0.50"}})
    new_mac = sim.container("new").endpoints["front"].mac
    assert new_mac != old_mac
    sim.run(sim.now + 0.01)
    assert a.ns.neigh[("eth0", ip("10.6.0.50"))].mac == new_mac, "a's entry follows the announcement"
