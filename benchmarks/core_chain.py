"""Benchmark: the forwarding core's links against a Lindley-recursion reference, and against ns.py.

    python benchmarks/core_chain.py                          # netsim's event core only
    python benchmarks/core_chain.py --nspy /tmp/nspy/bin/python   # and ns.py, in its own venv
    python benchmarks/core_chain.py --nspy /tmp/nspy/bin/python --ns3 /tmp/ns3v/bin/python   # and ns-3
    python benchmarks/core_chain.py --floor                  # and a bare heap loop: CPython's floor per hop

One and ten constant-bit-rate flows over a chain of 4 store-and-forward hops (1 Gbit/s, 10 us
propagation, 1000-byte frames on the wire, 50% load, 50,000 packets in all), as packet trains
(``netsim.datapath.trains``) in both of netsim's modes: ``event``, the event core's real ``Link``
objects on the simulation's clock, each end handing the frame to the next link at once as a
switch port does, and ``vectorized``, numpy over whole trains.  Every arrival time is checked against an independent
computation of the same chain (departure = max(arrival, previous departure) + size / rate, then
the propagation; simultaneous arrivals served in flow order), and the largest difference is
printed in nanoseconds.  ns.py (PyPI ``ns.py``; it installs a top-level ``ns`` package, so give
it a virtual environment of its own and pass its interpreter) runs the same chain with its
``Port`` and ``Wire`` elements.  One JSON object per line: bench, mode, flows, packets,
packet_hops_per_s, wall_s, peak_rss_mib, max_abs_error_ns (netsim only), repeats (each figure
is the fastest of that many runs, ``--repeat``, the peers' as netsim's).
"""

from __future__ import annotations

import argparse
import heapq
import itertools
import json
import math
import resource
import subprocess
import time
from pathlib import Path
from typing import Any

import numpy as np

from netsim.datapath.link import WIRE_OVERHEAD
from netsim.datapath.trains import MODES, Train, run_trains

HOPS, RATE, PROPAGATION, LOAD = 4, 1e9, 10e-6, 0.5
WIRE_BYTES = 1000  # on the wire, with Ethernet's overhead
SERVICE = WIRE_BYTES * 8 / RATE


class _Cable:
    bandwidth, latency = RATE, PROPAGATION


def _schedule(flows: int, packets: int) -> list[tuple[float, int, int]]:
    """(send time, flow, seq): each flow CBR at LOAD / flows, the flows evenly out of phase."""
    gap = SERVICE / LOAD * flows
    per_flow = packets // flows
    return sorted((f * SERVICE / LOAD + k * gap, f, k) for f in range(flows) for k in range(per_flow))


def run_netsim(flows: int, packets: int, mode: str) -> dict[str, Any]:
    sends = _schedule(flows, packets)
    trains = []
    for f in range(flows):
        times = np.array([at for at, flow, _ in sends if flow == f])
        trains.append(Train(times, np.full(len(times), WIRE_BYTES - WIRE_OVERHEAD), tuple(range(HOPS))))
    start = time.perf_counter()
    arrived = run_trains([_Cable()] * HOPS, trains, mode)
    wall = time.perf_counter() - start
    reference = _lindley(sends)
    error = max(abs(float(arrived[flow][seq]) - t) for (flow, seq), t in reference.items()) * 1e9
    return {"bench": "core_chain", "mode": mode, "sim": "netsim", "flows": flows, "packets": len(sends),
            "packet_hops_per_s": round(len(sends) * HOPS / wall), "wall_s": round(wall, 4),
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


def run_floor(flows: int, packets: int) -> dict[str, Any]:
    """The least any event core in CPython does per hop: one heap push and pop, one call to the
    link and one to its far end, a FIFO's arithmetic; no frames, no checks.  Each flow's next
    send is scheduled as it sends one, as netsim's sources and ns.py's do, so the heap holds
    what is due soon rather than every send of the run.  What one event per packet-hop costs
    here at best, measured beside the others."""
    sends = _schedule(flows, packets)
    heap: list[tuple[float, int, Any, Any]] = []
    order = itertools.count()
    busy = [-math.inf] * HOPS
    clock = [0.0]
    by_flow: list[list[float]] = [[] for _ in range(flows)]
    for at, flow, _ in sends:
        by_flow[flow].append(at)

    def transmit(hop: int, packet: list[int]) -> None:
        now = clock[0]
        done = (now if now > busy[hop] else busy[hop]) + SERVICE
        busy[hop] = done
        heapq.heappush(heap, (done + PROPAGATION, next(order), arrive, (hop, packet)))

    def arrive(hop: int, packet: list[int]) -> None:
        if hop + 1 < HOPS:
            transmit(hop + 1, packet)

    def send(flow: int, seq: int) -> None:
        transmit(0, [flow, seq])
        if seq + 1 < len(by_flow[flow]):
            heapq.heappush(heap, (by_flow[flow][seq + 1], next(order), send, (flow, seq + 1)))

    for flow in range(flows):
        heapq.heappush(heap, (by_flow[flow][0], next(order), send, (flow, 0)))
    start = time.perf_counter()
    pop = heapq.heappop
    while heap:
        clock[0], _, fn, args = pop(heap)
        fn(*args)
    wall = time.perf_counter() - start
    return {"bench": "core_chain", "mode": "event", "sim": "cpython-floor", "flows": flows, "packets": len(sends),
            "packet_hops_per_s": round(len(sends) * HOPS / wall), "wall_s": round(wall, 4),
            "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}


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


def run_ns3(python: str, flows: int, packets: int) -> dict[str, Any]:
    """ns-3 (PyPI ``ns3``, its own venv: it too installs a top-level ``ns``) on the same chain, by
    ``benchmarks/ns3_chain.py``: point-to-point links and the full IPv4/UDP stack at every node."""
    script = str(Path(__file__).with_name("ns3_chain.py"))
    out = subprocess.run([python, script, "--flows", str(flows), "--packets", str(packets)], capture_output=True,
                         text=True, check=True)
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def best(run: "Any", repeat: int) -> dict[str, Any]:
    """The fastest of ``repeat`` runs (as ``timeit`` reports): on a shared machine the others
    measure the neighbours as much as the simulator."""
    runs = [run() for _ in range(repeat)]
    fastest: dict[str, Any] = min(runs, key=lambda r: r["wall_s"])
    return {**fastest, "repeats": repeat}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packets", type=int, default=50_000)
    parser.add_argument("--nspy", metavar="PYTHON", help="an interpreter with ns.py installed, to run it side by side")
    parser.add_argument("--ns3", metavar="PYTHON", help="an interpreter with ns3 installed, to run it side by side")
    parser.add_argument("--floor", action="store_true", help="also the least an event core in CPython costs per hop")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each figure, the fastest reported (3)")
    args = parser.parse_args()
    for flows in (1, 10):
        for mode in MODES:
            print(json.dumps(best(lambda: run_netsim(flows, args.packets, mode), args.repeat)), flush=True)
        if args.floor:
            print(json.dumps(best(lambda: run_floor(flows, args.packets), args.repeat)), flush=True)
        if args.nspy:
            print(json.dumps(best(lambda: run_nspy(args.nspy, flows, args.packets), args.repeat)), flush=True)
        if args.ns3:
            print(json.dumps(best(lambda: run_ns3(args.ns3, flows, args.packets), args.repeat)), flush=True)


if __name__ == "__main__":
    main()
