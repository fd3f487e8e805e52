"""Benchmark: UDP traffic end to end on the Docker path, through the public API.

    python benchmarks/docker_path.py                  # 10 pairs, 2 s of 8 Mbit/s each
    python benchmarks/docker_path.py --seconds 5

Ten container pairs across two swarm hosts on one overlay (veth, bridge, VXLAN, the underlay
and back), each pair a constant-bit-rate UDP flow of 1000-byte datagrams; the same run again
with a packet capture on node1's eth0, in both modes (``vectorized``: steady flows a window at a
time, ``netsim.datapath.vectorized``; ``event``: every datagram an event at each hop), and once
more with the flow cache off (every datagram through the slow path), side by side.  Prints one
JSON object per line per figure: bench, mode, flows, packets (datagrams delivered end to end),
packets_per_s and packet_hops_per_s of wall time, wall_s, peak_rss_mib, flowcache (on or off)
replayed and recorded (datagrams that ended in a replay, and those whose path was recorded),
windows and vectorized (windows taken, datagrams that ended in one), capture, and the time to write the pcap file
(serialised from the records then, never on the forwarding path).
"""

from __future__ import annotations

import argparse
import json
import resource
import time

import netsim
from netsim.topology import parse_spec


def topology(pairs: int, seconds: float, rate: str, capture: bool) -> dict[str, object]:
    containers: dict[str, object] = {}
    traffic = []
    for i in range(pairs):
        containers[f"a{i}"] = {"host": "node1", "networks": ["appnet"]}
        containers[f"b{i}"] = {"host": "node2", "networks": ["appnet"]}
        traffic.append({"udp": {"from": f"a{i}", "to": f"b{i}", "rate": rate, "size": 1000, "start": "0s",
                                "stop": f"{seconds}s"}})
    spec: dict[str, object] = {
        "name": "docker-path", "seed": 3,
        "hosts": {"node1": {"swarm": "manager"}, "node2": {"swarm": "worker"}},
        "networks": {"appnet": {"driver": "overlay", "attachable": True}},
        "containers": containers, "traffic": traffic}
    if capture:
        spec["capture"] = ["node1:eth0"]
    return spec


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--rate", default="8Mbps")
    args = parser.parse_args()
    for mode, cache, capture in (("vectorized", True, False), ("vectorized", True, True), ("event", True, False),
                                 ("event", True, True), ("event", False, False)):
        sim = netsim.build(parse_spec(topology(args.pairs, args.seconds, args.rate, capture)))
        sim.mode = mode
        sim.world.flowcache.enabled = cache
        sim.run(0.0)
        start = time.perf_counter()
        sim.run(sim.traffic_end())
        wall = time.perf_counter() - start
        flows = sim.flows()
        delivered = int(flows.received.sum())
        written = time.perf_counter()
        pcap_bytes = len(sim.pcap("node1:eth0")) if capture else 0
        write_s = time.perf_counter() - written
        # Each datagram crosses veth, bridge, VXLAN, NIC, switch, NIC, VXLAN, bridge, veth: 9 hops.
        print(json.dumps({"bench": "docker_path", "mode": mode, "flows": args.pairs, "packets": delivered,
                          "packets_per_s": round(delivered / wall), "packet_hops_per_s": round(9 * delivered / wall),
                          "wall_s": round(wall, 3), "lost": int(flows.lost.sum()), "flowcache": cache,
                          "replayed": sim.world.flowcache.replayed, "recorded": sim.world.flowcache.recorded,
                          "windows": sim.world.vectorizer.windows, "vectorized": sim.world.vectorizer.packets,
                          "capture": capture,
                          "pcap_bytes": pcap_bytes, "pcap_write_s": round(write_s, 3),
                          "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}))


if __name__ == "__main__":
    main()
