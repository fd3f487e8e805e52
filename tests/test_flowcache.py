"""The flow cache replays exactly what the slow path does (``netsim.datapath.flowcache``).

Random topologies from the fuzz generator (bridges, the default bridge, macvlan, ICC and
internal networks, published ports, timelines that pull cables and connect and disconnect
containers), with UDP flows between random endpoints running through the timeline: the packet
table, the flow table and a capture are identical, byte for byte, with the cache on and off.
"""

from __future__ import annotations

import functools
import random
from typing import Any

import pytest

import netsim
from netsim.simulation import build
from netsim.topology import parse_spec

from .kernel.generate import random_topology

SEEDS = range(8)  # the default run; ``pytest -m slow`` tries SLOW_SEEDS too
SLOW_SEEDS = range(8, 60)


def _with_traffic(seed: int) -> dict[str, Any]:
    topology = random_topology(seed)
    rng = random.Random(f"{seed}:flows")
    names = sorted(topology.get("containers", {}))
    hosts = sorted(topology.get("hosts", {}))
    # by address, so most flows go somewhere: any container's, on any network, or a host
    sim = build(parse_spec(topology))
    targets = sorted({str(ep.address) for name in names for ep in sim.container(name).endpoints.values()
                      if ep.address.packed != bytes(4)}) + hosts
    end = max((float(str(e["at"]).rstrip("ms")) / (1000 if str(e["at"]).endswith("ms") else 1)
               for e in topology.get("events", [])), default=1.0) + 0.5
    flows = []
    for _ in range(rng.randint(1, 4) if names and targets else 0):
        start = f"{rng.uniform(0, 0.6):.4f}s"
        if rng.random() < 0.3:
            flows.append({"tcp": {"from": rng.choice(names), "to": rng.choice(targets), "bytes": "300KB",
                                  "start": start, "stop": f"{end:.3f}s"}})
            continue
        rate = rng.choice(("1Mbps", "2Mbps", "4Mbps", "1Gbps"))
        # a gigabit one for 20 ms: datagrams closer together than a path is long
        stop = float(start[:-1]) + 0.02 if rate == "1Gbps" else end
        flows.append({"udp": {"from": rng.choice(names), "to": rng.choice(targets), "rate": rate,
                              "size": rng.choice((500, 1000, 1400)), "start": start, "stop": f"{stop:.4f}s"}})
    topology["traffic"] = flows
    topology["capture"] = [f"{hosts[0]}:eth0"] if hosts else []
    return topology


def _run(topology: dict[str, Any], cached: bool) -> tuple[Any, Any, bytes, int]:
    sim = build(parse_spec(topology))
    sim.world.flowcache.enabled = cached
    sim.run(sim.traffic_end())
    pcap = b"".join(sim.pcap(where) for where in topology["capture"])
    return sim.packets(), sim.flows(), pcap, sim.world.flowcache.replayed


#: How packets end when the path itself decided (not waiting for ARP, not unresolved).
STEADY = ("RECEIVED", "NETFILTER_DROP", "ICC_DISABLED", "NO_ROUTE", "DEV_DOWN", "FRAME_TOO_LONG", "MACVLAN_BLOCKED")


@functools.lru_cache(maxsize=None)
def _both(seed: int) -> tuple[tuple[Any, Any, bytes, int], tuple[Any, Any, bytes, int]]:
    topology = _with_traffic(seed)
    return _run(topology, cached=True), _run(topology, cached=False)


def _identical(seed: int) -> None:
    (packets, flows, pcap, _), (slow_packets, slow_flows, slow_pcap, _) = _both(seed)
    assert packets.equals(slow_packets), f"seed {seed}: the packet tables differ"
    assert flows.equals(slow_flows), f"seed {seed}: the flow tables differ"
    assert pcap == slow_pcap, f"seed {seed}: the captures differ"


@pytest.mark.parametrize("seed", SEEDS)
def test_cached_and_uncached_runs_are_identical(seed: int) -> None:
    _identical(seed)


@pytest.mark.slow
@pytest.mark.parametrize("seed", SLOW_SEEDS)
def test_cached_and_uncached_runs_are_identical_on_more_seeds(seed: int) -> None:
    _identical(seed)


def test_the_cache_serves_the_packets_of_steady_paths() -> None:
    steady = replayed = 0
    for seed in SEEDS:
        packets, _, _, count = _both(seed)[0]
        if len(packets):  # a datagram the sender's own routing refused never entered the datapath
            steady += int((packets.disposition.isin(STEADY) & ~packets.detail.str.startswith("connect:")).sum())
        replayed += count
    assert steady > 1000, "the seeds exercise the cache"
    assert replayed > 0.9 * steady, f"the cache replayed {replayed} of {steady} packets on steady paths"


def test_a_change_mid_flow_sends_packets_in_flight_back_to_the_slow_path() -> None:
    # A cable pulled while datagrams are in flight: those between hosts die on it, those still
    # inside the sender die at its NIC, exactly as without the cache; then the flow recovers.
    spec = {"name": "midflow", "hosts": {"node1": {}, "node2": {}},
            "containers": {"a": {"host": "node1"}},
            "events": [{"at": "0.5s", "link_down": "node1"}, {"at": "0.7s", "link_up": "node1"}],
            "traffic": [{"udp": {"from": "a", "to": "node2", "rate": "20Mbps", "size": 1000, "stop": "1s"}}]}
    runs = {cached: _run({**spec, "capture": ["node2:eth0"]}, cached) for cached in (True, False)}
    assert runs[True][0].equals(runs[False][0]) and runs[True][2] == runs[False][2]
    packets = runs[True][0]
    assert set(packets.disposition) == {"RECEIVED", "DEV_DOWN"}
    assert runs[True][3] > 0.9 * (packets.disposition == "RECEIVED").sum()


@pytest.mark.parametrize(("down", "up", "reason"), [
    ({"node_fail": "node2"}, {"node_recover": "node2"}, "NODE_FROZEN"),
    ({"partition": [["node1"], ["node2"]]}, {"heal": True}, "UNDERLAY_PARTITION"),
    ({"block": {"hosts": ["node1", "node2"], "port": "4789/udp"}},
     {"unblock": {"hosts": ["node1", "node2"], "port": "4789/udp"}}, "NETFILTER_DROP"),
])
def test_each_kind_of_change_reaches_replayed_flows_as_it_reaches_the_slow_path(
        down: dict[str, Any], up: dict[str, Any], reason: str) -> None:
    spec = {"name": "changes", "hosts": {"node1": {}, "node2": {}},
            "containers": {"a": {"host": "node1"}},
            "events": [{"at": "0.3s", **down}, {"at": "0.6s", **up}],
            "traffic": [{"udp": {"from": "a", "to": "node2", "rate": "20Mbps", "size": 1000, "stop": "0.9s",
                                 "port": 4789}}],  # a port `block` knows
            "capture": ["node1:eth0"]}
    cached, slow = _run(spec, True), _run(spec, False)
    assert cached[0].equals(slow[0]) and cached[2] == slow[2]
    packets = cached[0]
    during = packets[(packets.sent > 0.301) & (packets.sent < 0.599)]
    assert (during.disposition == reason).all() and len(during) > 700, "lost from the change on"
    after = packets[packets.sent > 0.61]
    assert (after.disposition == "RECEIVED").all(), "and back when it is undone"
    assert cached[3] > 0.8 * len(packets), "replayed, before, during and after"


def test_a_packet_replayed_inside_a_host_meets_a_change_where_the_slow_path_would() -> None:
    # b is disconnected while datagram 11 (sent 0.3 us before, a replay) is between a's veth and
    # b's: at its next step it leaves the replay, and the slow path drops it where the
    # interface was; the cache keeps no trace of the path it replayed.
    spec = {"name": "inside", "hosts": {"node1": {}},
            "networks": {"front": {"driver": "bridge", "host": "node1", "subnet": "10.9.0.0/24"}},
            "containers": {"a": {"host": "node1", "networks": ["front"]},
                           "b": {"host": "node1", "networks": {"front": {"ipv4_address": "10.9.0.20"}}}},
            "events": [{"at": "0.5s", "disconnect": {"container": "b", "network": "front"}}],
            "traffic": [{"udp": {"from": "a", "to": "10.9.0.20", "rate": "1Gbps", "size": 1000,
                                 "start": f"{0.5 - 0.3e-6 - 10 * 8e-6:.10f}s", "stop": "0.5001s"}}],
            "capture": []}
    cached, slow = _run(spec, True), _run(spec, False)
    assert cached[0].equals(slow[0])
    eleventh = cached[0].set_index("seq").loc[11]
    assert eleventh.disposition not in ("RECEIVED", "IN_FLIGHT"), "in flight inside the host when b left"
    assert cached[3] == 8, "3 to 10 were replayed (1 waited for ARP, 2 was recorded)"


@pytest.mark.parametrize("flow", [
    {"tcp": {"from": "a", "to": "b", "bytes": "3MB"}},  # segments sent in bursts from one event
    {"udp": {"from": "a", "to": "b", "rate": "1Gbps", "size": 1000, "stop": "0.02s"}},  # 8 us apart
])
def test_packets_sent_closer_than_their_path_is_long_replay_exactly_over_an_overlay(flow: dict[str, Any]) -> None:
    spec = {"name": "dense", "seed": 3, "hosts": {"node1": {"swarm": "manager"}, "node2": {"swarm": "worker"}},
            "networks": {"appnet": {"driver": "overlay", "attachable": True}},
            "containers": {"a": {"host": "node1", "networks": ["appnet"]}, "b": {"host": "node2", "networks": ["appnet"]}},
            "traffic": [flow], "capture": ["node1:eth0"]}
    cached, slow = _run(spec, True), _run(spec, False)
    assert cached[0].equals(slow[0]) and cached[1].equals(slow[1]) and cached[2] == slow[2]
    assert cached[3] > 0.9 * len(cached[0])


def test_the_cache_is_used_and_invisible_on_the_docker_path() -> None:
    spec = {"name": "overlay", "seed": 3, "hosts": {"node1": {"swarm": "manager"}, "node2": {"swarm": "worker"}},
            "networks": {"appnet": {"driver": "overlay", "attachable": True}},
            "containers": {"a": {"host": "node1", "networks": ["appnet"]}, "b": {"host": "node2", "networks": ["appnet"]}},
            "traffic": [{"udp": {"from": "a", "to": "b", "rate": "20Mbps", "size": 1000, "stop": "0.5s"}}],
            "capture": ["node1:eth0", "b:eth0"]}
    cached, slow = _run(spec, True), _run(spec, False)
    assert cached[0].equals(slow[0]) and cached[2] == slow[2]
    assert cached[3] >= len(cached[0]) - 5, "all but the first packets are replayed"
    assert netsim  # the public API builds it


def test_tcp_through_a_published_port_replays_its_rewritten_headers() -> None:
    # DNAT to the container at node2, MASQUERADE at node1, the TTL on each routed hop: the
    # segments are rebuilt on the way, and a replay rebuilds them the same way.
    spec = {"name": "tcpnat", "hosts": {"node1": {}, "node2": {}},
            "containers": {"a": {"host": "node1"}, "srv": {"host": "node2", "ports": ["8080:80"]}},
            "traffic": [{"tcp": {"from": "a", "to": "node2", "port": 8080, "bytes": "2MB"}}],
            "capture": ["node1:eth0", "srv:eth0"]}
    cached, slow = _run(spec, True), _run(spec, False)
    assert cached[0].equals(slow[0]) and cached[1].equals(slow[1]) and cached[2] == slow[2]
    assert cached[1].outcome.iloc[0] == "completed"
    assert cached[3] > 0.9 * len(cached[0]), "data and ACKs replayed, both ways through the NAT"
