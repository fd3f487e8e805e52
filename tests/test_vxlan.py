"""The VXLAN device by hand, as Docker's overlay driver lays it out (B41, B42, B43, B40, T3, T14).

Two machines on the underlay; on each an overlay namespace with a bridge and a VXLAN device,
and one container namespace behind a veth.  The FDB and neighbour entries a control plane
would write are written here directly, so every test is about the data plane alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from scapy.layers.inet import ICMP as ScapyICMP
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether

import netsim
from netsim.analysis.disposition import classify
from netsim.datapath.addr import ip, mac
from netsim.datapath.bridge import Bridge
from netsim.datapath.device import Veth
from netsim.datapath.frames import to_scapy
from netsim.datapath.netns import Namespace
from netsim.datapath.probe import Probe
from netsim.datapath.scheduler import InstantScheduler
from netsim.datapath.vxlan import Vxlan

VNI = 4097


@dataclass
class Side:
    host: netsim.Host
    overlay: Namespace
    container: Namespace
    vxlan: Vxlan
    address: str
    mac: int


def _side(sim: netsim.Simulation, host: str, index: int, mtu: int = 1450) -> Side:
    h = sim.add_host(host, docker=False)
    world = sim.world
    overlay = Namespace(world, "1-abcdefghij", host=host)
    bridge = Bridge(world, "ov-001001-abcde", mac(f"02:00:00:00:0{index}:01"), mtu)
    overlay.add_device(bridge)
    overlay.add_address(bridge, ip("10.0.1.1"), 24)
    vx = Vxlan(world, "vx-001001-abcde", mac(f"02:00:00:00:0{index}:02"), VNI, h.ns, ip(str(h.address)), mtu=mtu)
    overlay.add_device(vx)
    bridge.add_port(vx)
    address = f"10.0.1.{index + 1}"
    ctr_mac = mac(f"02:42:0a:00:01:0{index + 1}")
    container = Namespace(world, f"c{index}", host=host)
    inside, outside = Veth.pair(world, "eth0", ctr_mac, f"veth{index}", mac(f"02:00:00:00:0{index}:03"), mtu)
    container.add_device(inside)
    container.add_address(inside, ip(address), 24)
    overlay.add_device(outside)
    bridge.add_port(outside)
    return Side(h, overlay, container, vx, address, ctr_mac)


def _peer(a: Side, b: Side) -> None:
    """What the overlay driver's peerAdd writes on a's host for b's container (B42)."""
    a.vxlan.fdb_add(b.mac, ip(str(b.host.address)))
    a.overlay.neigh_add(a.vxlan, ip(b.address), b.mac)


def _pair(mtu: int = 1450) -> tuple[netsim.Simulation, Side, Side]:
    sim = netsim.Simulation("vxlan")
    a, b = _side(sim, "h1", 1, mtu), _side(sim, "h2", 2, mtu)
    _peer(a, b)
    _peer(b, a)
    return sim, a, b


def _send(sim: netsim.Simulation, src: Namespace, dst: str, size: int = 56) -> Probe:
    sched = InstantScheduler()
    with sim.world.clock(sched):
        probe = Probe(src, ip(dst), size=size)
        probe.send()
        sched.run()
    return probe


def test_b41_b42_a_cross_host_echo_is_encapsulated_in_udp_4789_with_the_vni() -> None:
    sim, a, b = _pair()
    probe = _send(sim, a.container, b.address)
    assert classify(probe, b.container, 1.0)[:2] == (True, "ACCEPTED")
    steps = probe.reply_steps
    encap = next(s for s in steps if s[2] == "ENCAPSULATED")
    assert "vni 4097" in s_text(encap) and "192.168.100.11 > 192.168.100.12 udp/4789" in s_text(encap)
    entry = a.container.neigh[("eth0", ip(b.address))]
    assert entry.mac == b.mac, "ARP for the remote container answered in the overlay namespace (proxy)"
    wire = next(s[4] for s in steps if s[0] == "h1" and s[2] == "TRANSMITTED")
    pkt = to_scapy(wire)
    assert pkt[IP].src == "192.168.100.11" and pkt[IP].dst == "192.168.100.12"
    assert pkt[UDP].dport == 4789 and 32768 <= pkt[UDP].sport <= 60999
    raw = bytes(pkt)
    vxlan_header = raw[14 + 20 + 8:14 + 20 + 8 + 8]
    assert vxlan_header == bytes([0x08, 0, 0, 0]) + VNI.to_bytes(3, "big") + b"\x00"
    inner = Ether(raw[14 + 20 + 8 + 8:])
    assert inner[Ether].dst == "02:42:0a:00:01:03" and inner[IP].dst == b.address and inner.haslayer(ScapyICMP)
    assert inner[IP].ttl == 64, "one L2 segment: the inner TTL is untouched"
    assert len(raw) == inner[IP].len + 50 + 14


def s_text(step: object) -> str:
    detail = step[3]  # type: ignore[index]
    return detail[0](*detail[1:]) if isinstance(detail, tuple) else str(detail)


def test_b43_no_flooding_across_hosts() -> None:
    sim, a, b = _pair()
    probe = _send(sim, a.container, "10.0.1.9")  # nobody's neighbour entry: ARP is not sent across
    assert classify(probe, None, 1.0)[1] == "NEIGH_FAILED"
    assert not sim.switch.fdb, "no frame, not even the ARP broadcast, reached the underlay"


def test_b42_without_the_fdb_entry_the_frame_goes_nowhere() -> None:
    sim, a, b = _pair()
    a.vxlan.fdb_del(b.mac)
    probe = _send(sim, a.container, b.address)
    assert probe.rtt is None
    assert any(d.reason.value == "VXLAN_NO_REMOTE" for d in probe.drops)


def test_learned_entries_are_flushed_by_a_query_static_ones_stay() -> None:
    sim, a, b = _pair()
    b.vxlan.fdb_del(a.mac)  # b learns a's MAC from the first frame instead (vxlan_snoop)
    b.overlay.neigh_add(b.vxlan, ip(a.address), a.mac)
    probe = _send(sim, a.container, b.address)
    assert probe.rtt is not None
    assert b.vxlan.fdb[a.mac] == ip("192.168.100.11") and a.mac not in b.vxlan.static
    sim.world.flush_learned()
    assert a.mac not in b.vxlan.fdb and a.vxlan.fdb[b.mac] == ip("192.168.100.12")


def test_t14_a_static_entry_for_another_vtep_drops_the_frame() -> None:
    sim, a, b = _pair()
    b.vxlan.fdb_add(a.mac, ip("192.168.100.99"))  # b believes a's container sits behind another VTEP
    probe = _send(sim, a.container, b.address)
    assert probe.rtt is None
    assert any(d.reason.value == "VXLAN_ENTRY_EXISTS" for d in probe.drops)


def test_b40_1422_bytes_pass_1423_are_refused_at_the_sender() -> None:
    sim, a, b = _pair()
    assert _send(sim, a.container, b.address, size=1422).rtt is not None
    refused = _send(sim, a.container, b.address, size=1423)
    assert [d.reason.value for d in refused.drops] == ["MESSAGE_TOO_LONG"]
    assert "message too long, mtu=1450" in refused.drops[0].detail


def test_a_big_overlay_mtu_on_a_1500_underlay_gets_frag_needed_from_the_vxlan_device() -> None:
    sim, a, b = _pair(mtu=8950)  # com.docker.network.driver.mtu=9000
    assert _send(sim, a.container, b.address, size=1422).rtt is not None
    probe = _send(sim, a.container, b.address, size=1423)
    assert probe.refused_as == "FRAG_NEEDED" and "mtu = 1450" in probe.refused


@pytest.mark.parametrize("size", [1000, 1422])
def test_t3_an_underlay_hop_below_1500_black_holes_only_big_packets(size: int) -> None:
    sim, a, b = _pair()
    link = b.host.eth0.link
    assert link is not None
    link.mtu = 1400  # a VPN hop: the NICs still say 1500
    probe = _send(sim, a.container, b.address, size=size)
    if size == 1000:
        assert probe.rtt is not None
    else:
        assert probe.rtt is None and probe.refused == ""  # no ICMP: an L2 hop says nothing
        assert any(d.reason.value == "FRAME_TOO_LONG" for d in probe.drops)


def test_a_learned_entry_ages_out_300_seconds_after_the_last_frame_a_static_one_never() -> None:
    # K6's mechanism: with only a learned entry left, the way back dies once the peer is quiet.
    sim, a, b = _pair()
    b.vxlan.fdb_del(a.mac)
    b.overlay.neigh_add(b.vxlan, ip(a.address), a.mac)
    def echo(src: Namespace, dst: str, at: float) -> Probe:
        sched = InstantScheduler(at)
        with sim.world.clock(sched):
            probe = Probe(src, ip(dst))
            probe.send()
            sched.run()
        return probe

    assert echo(a.container, b.address, 0.0).rtt is not None, "b learned a's MAC from the request and answers"
    assert echo(b.container, a.address, 299.0).rtt is not None, "299 s after a's last frame: still there"
    late = echo(b.container, a.address, 600.0)
    assert late.rtt is None and any(d.reason.value == "VXLAN_NO_REMOTE" for d in late.drops), "aged out"
    assert a.vxlan.fdb[b.mac] == ip("192.168.100.12"), "a's static entry for b does not age"
