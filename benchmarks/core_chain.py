"""Benchmark: the forwarding core's links against a Lindley-recursion reference, and against ns.py.

    python benchmarks/core_chain.py                          # netsim's event core only
    python benchmarks/core_chain.py --nspy /tmp/nspy/bin/python   # and ns.py, in its own venv

One and ten constant-bit-rate flows over a chain of 4 store-and-forward hops (1 Gbit/s, 10 us
propagation, 1000-byte frames on the wire, 50% load, 50,000 packets in all).  netsim's hops are
its real ``Link`` objects on a ``SimpyScheduler``, each end handing the frame to the next link at
once, the way a switch port does.  Every arrival time is checked against an independent
computation of the same chain (departure = max(arrival, previous departure) + size / rate, then
the propagation; simultaneous arrivals served in flow order), and the largest difference is
printed in nanoseconds.  ns.py (PyPI ``ns.py``; it installs a top-level ``ns`` package, so give
it a virtual environment of its own and pass its interpreter) runs the same chain with its
``Port`` and ``Wire`` elements.  One JSON object per line: bench, mode, flows, packets,
packet_hops_per_s, wall_s, peak_rss_mib, max_abs_error_ns (netsim only).  The vectorized mode
the issue asks for is not built yet.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import time
from typing import Any

import simpy

from netsim.datapath.link import WIRE_OVERHEAD, Link
from netsim.datapath.packet import UDP, Ether, IPv4
from netsim.datapath.scheduler import Environment, SimpyScheduler
from netsim.datapath.skb import Skb
from netsim.datapath.world import World

HOPS, RATE, PROPAGATION, LOAD = 4, 1e9, 10e-6, 0.5
WIRE_BYTES = 1000  # on the wire, with Ethernet's overhead
PAYLOAD = WIRE_BYTES - WIRE_OVERHEAD - 14 - 20 - 8
SERVICE = WIRE_BYTES * 8 / RATE


class _Hop:
    """A link end that forwards at once onto the next link, or records the arrival at the last."""

    def __init__(self, name: str, env: simpy.Environment, arrivals: dict[tuple[int, int], float]) -> None:
        self.name, self.env, self.arrivals = name, env, arrivals
        self.next: "tuple[Link, _Hop] | None" = None

    @property
    def node(self) -> str:
        return self.name

    def rx(self, skb: Skb) -> None:
        if self.next is None:
            udp = skb.frame.payload.payload
            self.arrivals[(udp.sport, udp.dport)] = self.env.now
        else:
            link, end = self.next
            link.transmit(end, skb, self.name)


def _schedule(flows: int, packets: int) -> list[tuple[float, int, int]]:
    """(send time, flow, seq): each flow CBR at LOAD / flows, the flows evenly out of phase."""
    gap = SERVICE / LOAD * flows
    per_flow = packets // flows
    return sorted((f * SERVICE / LOAD + k * gap, f, k) for f in range(flows) for k in range(per_flow))


def run_netsim(flows: int, packets: int) -> dict[str, Any]:
    env = Environment()
    world = World()
    world.sched = SimpyScheduler(env)
    arrivals: dict[tuple[int, int], float] = {}
    ends = [_Hop(f"n{i}", env, arrivals) for i in range(HOPS + 1)]
    links = [Link(world, ends[i], ends[i + 1], PROPAGATION, RATE) for i in range(HOPS)]
    for i in range(1, HOPS):
        ends[i].next = (links[i], ends[i])
    for link in links:
        link.queue = None
    sends = _schedule(flows, packets)

    def source() -> Any:
        for at, flow, seq in sends:
            if at > env.now:
                yield env.timeout(at - env.now)
            frame = Ether(2, 1, IPv4(1, 2, UDP(flow, seq, bytes(PAYLOAD))))
            links[0].transmit(ends[0], Skb(frame), "n0")

    env.process(source())
    start = time.perf_counter()
    env.run()
    wall = time.perf_counter() - start
    reference = _lindley(sends)
    error = max(abs(arrivals[key] - t) for key, t in reference.items()) * 1e9
    return {"bench": "core_chain", "mode": "event", "sim": "netsim", "flows": flows, "packets": len(sends),
            "packet_hops_per_s": round(len(sends) * HOPS / wall), "wall_s": round(wall, 3),
            "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            "max_abs_error_ns": round(error, 6)}


def _lindley(sends: list[tuple[float, int, int]]) -> dict[tuple[int, int], float]:
    """Arrival at the chain's end of every packet, hop by hop, FIFO in arrival order."""
    times = [(at, flow, seq) for at, flow, seq in sends]
    for _ in range(HOPS):
        busy = float("-inf")
        out = []
        for at, flow, seq in sorted(times):  # simultaneous arrivals: in the order they were sent
            busy = max(at, busy) + SERVICE
            out.append((busy + PROPAGATION, flow, seq))
        times = out
    return {(flow, seq): at for at, flow, seq in times}


NSPY = r"""
import json, resource, sys, time
import simpy
from ns.packet.packet import Packet
from ns.packet.sink import PacketSink
from ns.port.port import Port
from ns.port.wire import Wire
hops, rate, prop, size, sends = json.loads(sys.stdin.read())
env = simpy.Environment()
sink = PacketSink(env, rec_arrivals=False, rec_waits=False, rec_flow_ids=False)
first = None
previous = None
for i in range(hops):
    port = Port(env, rate)
    wire = Wire(env, lambda: prop, wire_id=i)
    port.out = wire
    if previous is None:
        first = port
    else:
        previous.out = port
    previous = wire
previous.out = sink
def source():
    for n, (at, flow, seq) in enumerate(sends):
        if at > env.now:
            yield env.timeout(at - env.now)
        first.put(Packet(env.now, size, n, flow_id=flow))
env.process(source())
start = time.perf_counter()
env.run()
wall = time.perf_counter() - start
print(json.dumps({"wall": wall, "received": sink.packets_received, "rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


def run_nspy(python: str, flows: int, packets: int) -> dict[str, Any]:
    sends = _schedule(flows, packets)
    payload = json.dumps([HOPS, RATE, PROPAGATION, WIRE_BYTES, sends])
    out = subprocess.run([python, "-c", NSPY], input=payload, capture_output=True, text=True, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    return {"bench": "core_chain", "mode": "event", "sim": "ns.py", "flows": flows, "packets": len(sends),
            "packet_hops_per_s": round(len(sends) * HOPS / result["wall"]), "wall_s": round(result["wall"], 3),
            "peak_rss_mib": round(result["rss"] / 1024), "received": sum(result["received"].values())
            if isinstance(result["received"], dict) else result["received"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packets", type=int, default=50_000)
    parser.add_argument("--nspy", metavar="PYTHON", help="an interpreter with ns.py installed, to run it side by side")
    args = parser.parse_args()
    for flows in (1, 10):
        print(json.dumps(run_netsim(flows, args.packets)), flush=True)
        if args.nspy:
            print(json.dumps(run_nspy(args.nspy, flows, args.packets)), flush=True)


if __name__ == "__main__":
    main()
