"""Learned state and configured state: what traffic teaches is flushed by queries, never what was written.

Docker's overlay driver writes permanent neighbours and static FDB entries from gossip; an
instant query must keep them, an ARP answer must not override them, and a timeline event must
not wipe what a timed run has learned.
"""

from __future__ import annotations

import pytest

import netsim
from netsim.datapath.addr import ip, mac
from netsim.datapath.netns import NUD_PERMANENT, NUD_REACHABLE


def _lab(engine: str = "29") -> netsim.Simulation:
    sim = netsim.Simulation("lab", seed=3, engine=engine)
    node = sim.add_host("node1")
    node.networks.create("front", subnet="10.5.0.0/24")
    node.containers.run("a", network="front")
    node.containers.run("b", network="front")
    return sim


def test_a_permanent_neighbour_outlives_queries_and_wins_over_arp() -> None:
    sim = _lab()
    a, b = sim.container("a"), sim.container("b")
    eth0 = a.ns.devices["eth0"]
    wrong = mac("02:00:00:00:00:99")
    a.ns.neigh_add(eth0, ip(b.endpoints["front"].address), wrong)
    sim.reachability()
    entry = a.ns.neigh[("eth0", ip(b.endpoints["front"].address))]
    assert (entry.state, entry.mac) == (NUD_PERMANENT, wrong)
    # The echo goes to the written MAC, which no port owns: b's stack never sees it.
    row = sim.reachability().query("src == 'a' and dst == 'b'").iloc[0]
    assert not row.reachable


def test_learned_neighbours_are_forgotten_by_a_query_and_handed_back_after_it() -> None:
    sim = _lab()
    assert sim.ping("a", "b").reachable
    key = ("eth0", ip(sim.container("b").endpoints["front"].address))
    learned = sim.container("a").ns.neigh[key]
    assert learned.state == NUD_REACHABLE
    sim.reachability()
    assert sim.container("a").ns.neigh[key] is learned


def test_a_static_fdb_entry_is_not_moved_by_learning_nor_flushed() -> None:
    sim = _lab()
    bridge = sim.host("node1").networks.get("front").host_interface
    b = sim.container("b").endpoints["front"]
    a_port = bridge.ports[0]  # a joined first
    bridge.fdb_add(b.mac, a_port)  # points b's MAC at the wrong port
    sim.reachability()
    assert bridge.fdb[b.mac] is a_port
    row = sim.reachability().query("src == 'a' and dst == 'b'").iloc[0]
    assert not row.reachable and row.disposition == "NO_REPLY"


def test_a_timeline_event_keeps_what_the_timed_run_learned() -> None:
    # The second echo of a run costs the same whether or not an unrelated container joined in between.
    def second_echo(event: bool) -> float:
        sim = _lab()
        assert sim.ping("a", "b").reachable
        if event:
            sim.host("node1").containers.run("c")
            sim.apply(netsim.topology.spec.EventSpec(at=sim.now, kind="connect", container="c", network="front"))
        rtt = sim.ping("a", "b").rtt
        assert rtt is not None
        return rtt

    assert second_echo(True) == second_echo(False)


@pytest.mark.parametrize("engine", ["27", "29"])
def test_a_failed_neighbour_is_resolved_again_when_its_owner_appears(engine: str) -> None:
    # __neigh_event_send: a FAILED entry starts a new resolution on the next packet, and while
    # resolving, a request goes out every second (mcast_solicit=3, retrans_time=1s).
    sim = _lab(engine)
    addr = "10.5.0.9"
    assert not sim.ping("a", addr, timeout=3.5).reachable
    sim.host("node1").containers.run("late", networks={"front": {"ipv4_address": addr}})
    assert sim.ping("a", addr).reachable
    sim.host("node1").containers.get("late").remove()
    sim.run(20.0)
    first = sim.ping("a", "10.5.0.10", timeout=1.0)  # nobody: resolution still going at the timeout
    sim.run(21.1)  # past the request of 21 s, which is in flight for microseconds (datapath.costs)
    sim.host("node1").containers.run("later", networks={"front": {"ipv4_address": "10.5.0.10"}})
    second = sim.ping("a", "10.5.0.10", timeout=1.5)
    assert not first.reachable and second.reachable, "the request due a second later is answered"
    assert second.rtt is not None
    if engine == "27":
        assert abs(second.rtt - 0.9) < 1e-3, "answered by the next request, due at 22 s"
    else:
        # 28+: the new container's unsolicited ARP (advertiseAddrs) updates the entry being
        # resolved, and arp_process sends what waited at once
        assert second.rtt < 1e-4
