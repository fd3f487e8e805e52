"""Datapath units: netfilter parsing and evaluation, conntrack NAT, LPM routing, bridges."""

from __future__ import annotations

import pytest

import netsim
from netsim.topology import parse_spec
from netsim.datapath.addr import ip
from netsim.datapath.conntrack import Conntrack
from netsim.datapath.netfilter import Netfilter, Packet, parse_rule
from netsim.datapath.packet import ICMP, ICMP_ECHO, ICMP_ECHOREPLY, IPv4, TCP
from netsim.datapath.probe import Probe
from netsim.datapath.scheduler import InstantScheduler

from .conftest import TOPOLOGIES


def _pkt(src: str, dst: str, proto: int = 1, dport: int | None = None, iif: str = "", oif: str = "",
         state: str = "NEW") -> Packet:
    return Packet(ip(src), ip(dst), proto, None, dport, iif, oif, state, lambda a: a == ip("192.168.1.11"))


def test_rule_round_trips_its_text_and_matches_like_iptables() -> None:
    text = "-A DOCKER -d 172.17.0.2/32 ! -i docker0 -o docker0 -p tcp -m tcp --dport 80 -j ACCEPT"
    rule = parse_rule(text)
    assert rule.text == text and rule.target.kind == "ACCEPT"
    nf = Netfilter()
    nf.new_chain("filter", "DOCKER")
    nf.append("filter", "-A FORWARD -o docker0 -j DOCKER")
    nf.append("filter", text)
    nf.set_policy("filter", "FORWARD", "DROP")
    assert nf.evaluate("filter", "FORWARD", _pkt("10.0.0.1", "172.17.0.2", 6, 80, "eth0", "docker0"))[0] == "ACCEPT"
    assert nf.evaluate("filter", "FORWARD", _pkt("10.0.0.1", "172.17.0.2", 6, 81, "eth0", "docker0"))[0] == "DROP"
    assert nf.evaluate("filter", "FORWARD", _pkt("10.0.0.1", "172.17.0.2", 6, 80, "docker0", "docker0"))[0] == "DROP"


def test_unknown_iptables_syntax_is_refused_not_ignored() -> None:
    with pytest.raises(ValueError, match="unsupported"):
        parse_rule("-A FORWARD -m physdev --physdev-in veth1 -j DROP")


def test_addrtype_local_and_ctstate() -> None:
    nf = Netfilter()
    nf.append("filter", "-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT")
    nf.append("filter", "-A INPUT -m addrtype --dst-type LOCAL -j DROP")
    assert nf.evaluate("filter", "INPUT", _pkt("1.1.1.1", "192.168.1.11", state="ESTABLISHED"))[0] == "ACCEPT"
    assert nf.evaluate("filter", "INPUT", _pkt("1.1.1.1", "192.168.1.11"))[0] == "DROP"
    assert nf.evaluate("filter", "INPUT", _pkt("1.1.1.1", "192.168.1.12"))[0] == "ACCEPT"


def test_masquerade_keeps_reply_tuples_unique() -> None:
    """Two echoes with the same id masqueraded to one address: the second gets another id."""
    ct = Conntrack()
    conns = []
    for src in ("172.17.0.2", "10.1.0.2"):
        pkt = IPv4(ip(src), ip("192.168.10.200"), ICMP(ICMP_ECHO, 0, 1, 1))
        conn, _, new = ct.lookup(pkt)
        assert conn is not None and new
        conn.snat(ip("192.168.10.11"))
        ct.make_unique(conn)
        ct.confirm(conn)
        conns.append(conn)
    assert len(ct) == 2
    assert conns[0].source_port == 1 and conns[1].source_port == 2
    for conn, src in zip(conns, ("172.17.0.2", "10.1.0.2")):
        out = conn.manip_src(IPv4(ip(src), ip("192.168.10.200"), ICMP(ICMP_ECHO, 0, 1, 1)), False)
        reply = IPv4(out.dst, out.src, ICMP(ICMP_ECHOREPLY, 0, out.payload.ident, 1))
        found, is_reply, _ = ct.lookup(reply)
        assert found is conn and is_reply
        back = conn.manip_dst(reply, True)
        assert back.dst == ip(src) and back.payload.ident == 1


def test_dnat_and_its_reverse_rewrite_ports() -> None:
    ct = Conntrack()
    syn = IPv4(ip("192.168.1.50"), ip("192.168.1.11"), TCP(40000, 8080))
    conn, _, _ = ct.lookup(syn)
    assert conn is not None
    conn.dnat(ip("172.17.0.2"), 80)
    ct.confirm(conn)
    inbound = conn.manip_dst(syn, False)
    assert (inbound.dst, inbound.payload.dport) == (ip("172.17.0.2"), 80)
    synack = IPv4(ip("172.17.0.2"), ip("192.168.1.50"), TCP(80, 40000))
    found, is_reply, _ = ct.lookup(synack)
    assert found is conn and is_reply
    outbound = conn.manip_src(synack, True)
    assert (outbound.src, outbound.payload.sport) == (ip("192.168.1.11"), 8080)


def test_concurrent_masqueraded_echoes_both_come_back() -> None:
    """Two containers of one host ping the same LAN machine with the same echo id at once."""
    sim = netsim.load(next(t for t in TOPOLOGIES if t.stem == "overlap"))
    sched = InstantScheduler()
    sim.world.sched = sched
    probes = [Probe(sim.container(name).ns, ip("192.168.10.200")) for name in ("a1", "s1")]
    for p in probes:
        p.send()  # both use echo id 1: the first probe of each namespace
    sched.run()
    assert [p.responder.name if p.responder else None for p in probes] == ["nas", "nas"]


def test_longest_prefix_wins() -> None:
    sim = netsim.load(next(t for t in TOPOLOGIES if t.stem == "basic"))
    ns = sim.host("node1").ns
    assert ns.routes.lookup(ip("172.18.0.9")).dev.name.startswith("br-")  # type: ignore[union-attr]
    assert ns.routes.lookup(ip("8.8.8.8")).gateway == ip("192.168.100.1")  # type: ignore[union-attr]
    assert ns.routes.lookup(ip("192.168.100.77")).dev.name == "eth0"  # type: ignore[union-attr]


def test_bridge_learns_and_stops_flooding() -> None:
    sim = netsim.load(next(t for t in TOPOLOGIES if t.stem == "basic"))
    first = sim.trace("web", "api")
    again = sim.trace("web", "api")
    assert first.reachable and again.reachable
    assert any(s.action == "BRIDGED" and "fdb" in s.text for s in first.steps), "replies use learned entries"


def test_first_arp_answer_wins_within_locktime() -> None:
    """Two hosts own 192.168.114.1 (a bridge subnet overlapping the LAN, B33) and both answer ARP.

    Linux keeps the first answer for locktime (1 s), so h2 sends to h1, which cannot reply (its
    /25 bridge route captures h2's address): no reply, as the kernel cross-check found (seed 606).
    """
    spec = parse_spec({
        "underlay": {"subnet": "192.168.114.0/24"}, "hosts": {"h1": {}, "h3": {}, "h2": {}},
        "networks": {"n1": {"host": "h1", "subnet": "192.168.114.0/25"},
                     "n3": {"host": "h3", "subnet": "192.168.114.0/24"}},
        "containers": {"c2": {"host": "h2"}},
    })
    sim = netsim.build(spec)
    t = sim.trace("c2", "192.168.114.1")
    assert not t.reachable and t.disposition == "NEIGH_FAILED"
    h2 = sim.host("h2").ns
    sim.world.sched = sched = InstantScheduler()
    Probe(h2, ip("192.168.114.1")).send()
    sched.run()
    assert h2.neigh[("eth0", ip("192.168.114.1"))].mac == sim.host("h1").eth0.mac


def test_source_nat_with_every_port_taken_drops_with_a_reason() -> None:
    # nf_nat_setup_info drops the packet when get_unique_tuple finds nothing: no exception.
    from netsim.datapath.conntrack import Conn, Conntrack

    ct = Conntrack()
    for sport in range(1024, 65536):
        taken = Conn((17, 0x0A000002, sport, 0x08080808, 53))
        taken.snat(0xC0A80001)
        ct.confirm(taken)
    extra = Conn((17, 0x0A000003, 1024, 0x08080808, 53))
    extra.snat(0xC0A80001)
    assert ct.make_unique(extra) is False
