"""Benchmark: core_chain's 4-hop store-and-forward chain in ns-3, for a side-by-side with netsim and ns.py.

    /tmp/ns3v/bin/python benchmarks/ns3_chain.py --flows 1 --packets 50000
    /tmp/ns3v/bin/python benchmarks/ns3_chain.py --flows 10 --packets 50000

Run it with an interpreter that has the PyPI ``ns3`` package (cppyy bindings, ``from ns import ns``);
it imports neither netsim nor numpy, so it needs nothing else.  The chain is the one of
``benchmarks/core_chain.py``: nodes n0..n4 joined by 4 point-to-point links of 1 Gbit/s and 10 us
delay, the internet stack with global routing on top, and F constant-bit-rate UDP flows from n0 to
n4 (one ``UdpClient`` and one ``PacketSink`` per flow, each on a port of its own), N packets in all,
N // F per flow, at 50% of the link's rate, flow f sending its k-th packet at f * 16 us + k * 16 us * F,
the flows evenly out of phase as in core_chain's ``_schedule``.

Wire size: core_chain's frames are 1000 bytes on the wire, Ethernet's overhead included.  ns-3's
point-to-point device adds only a 2-byte PPP header and serializes exactly the packet it holds, so a
970-byte UDP payload (+ 8 UDP + 20 IPv4 + 2 PPP) gives the same 1000 bytes, 8 us at 1 Gbit/s; with
16 us between sends the links are half busy and never queue, so a packet's end-to-end delay is
4 * (8 + 10) = 72 us and nothing is dropped.  ``UdpClient`` counts its 12-byte sequence/timestamp
header inside ``PacketSize``, so ``PacketSize`` is the whole 970-byte payload, and the timestamp lets
the sink measure every packet's delay (printed on stderr, with the import and setup times).

Only ``Simulator::Run()`` is timed: the first ``from ns import ns`` takes seconds (cppyy parses
ns-3's headers at every start) and building the topology is not forwarding.  The receive hook is
C++ (``cppyy.cppdef``), so checking delays costs the run a header peek per packet, not a call into
Python.  The last line on stdout is one JSON object in core_chain's format, plus ``received``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time

HOPS = 4
RATE, DELAY = "1Gbps", "10us"
WIRE_BYTES, PPP, IPV4, UDP = 1000, 2, 20, 8
PAYLOAD = WIRE_BYTES - PPP - IPV4 - UDP
SLOT_NS = 16_000  # one 8 us frame per 16 us: 50% load
BASE_PORT = 9000

_RX_HOOK = r"""
#include "ns3/seq-ts-header.h"
namespace ns3chain {
using namespace ns3;
uint64_t received = 0;
int64_t min_delay_ns = INT64_MAX, max_delay_ns = -1, first_arrival_ns = -1;

void Rx(Ptr<const Packet> packet, const Address&)
{
    SeqTsHeader header;
    packet->PeekHeader(header);
    int64_t now = Simulator::Now().GetNanoSeconds();
    int64_t delay = now - header.GetTs().GetNanoSeconds();
    if (first_arrival_ns < 0) first_arrival_ns = now;
    if (delay < min_delay_ns) min_delay_ns = delay;
    if (delay > max_delay_ns) max_delay_ns = delay;
    ++received;
}

void Watch(Ptr<Application> sink)
{
    sink->TraceConnectWithoutContext("Rx", MakeCallback(&Rx));
}
}
"""


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run(flows: int, packets: int) -> dict:
    start = time.perf_counter()
    from ns import ns  # noqa: PLC0415 - slow (cppyy parses headers), kept out of the timed run

    ns.cppyy.cppdef(_RX_HOOK)
    hook = ns.cppyy.gbl.ns3chain
    _log(f"ns-3 import {time.perf_counter() - start:.1f} s")

    start = time.perf_counter()
    nodes = ns.NodeContainer()
    nodes.Create(HOPS + 1)
    p2p = ns.PointToPointHelper()
    p2p.SetDeviceAttribute("DataRate", ns.StringValue(RATE))
    p2p.SetChannelAttribute("Delay", ns.StringValue(DELAY))
    ns.InternetStackHelper().Install(nodes)
    addresses = ns.Ipv4AddressHelper()
    last = None
    for hop in range(HOPS):
        devices = p2p.Install(nodes.Get(hop), nodes.Get(hop + 1))
        addresses.SetBase(ns.Ipv4Address(f"10.0.{hop}.0"), ns.Ipv4Mask("255.255.255.0"))
        last = addresses.Assign(devices)
    ns.Ipv4GlobalRoutingHelper.PopulateRoutingTables()
    destination = last.GetAddress(1)

    per_flow = packets // flows
    for f in range(flows):
        port = BASE_PORT + f
        sink = ns.PacketSinkHelper("ns3::UdpSocketFactory",
                                   ns.InetSocketAddress(ns.Ipv4Address.GetAny(), port).ConvertTo())
        sinks = sink.Install(nodes.Get(HOPS))
        hook.Watch(sinks.Get(0))
        client = ns.UdpClientHelper(ns.InetSocketAddress(destination, port).ConvertTo())
        client.SetAttribute("MaxPackets", ns.UintegerValue(per_flow))
        client.SetAttribute("Interval", ns.TimeValue(ns.NanoSeconds(SLOT_NS * flows)))
        client.SetAttribute("PacketSize", ns.UintegerValue(PAYLOAD))
        apps = client.Install(nodes.Get(0))
        # UdpClient sends its first packet the moment it starts: the start time is the phase.
        apps.Start(ns.NanoSeconds(SLOT_NS * f))
    _log(f"setup {time.perf_counter() - start:.3f} s")

    start = time.perf_counter()
    ns.Simulator.Run()
    wall = time.perf_counter() - start
    sent = per_flow * flows
    received = int(hook.received)
    _log(f"first arrival at {hook.first_arrival_ns} ns, end-to-end delay min {hook.min_delay_ns} ns, "
         f"max {hook.max_delay_ns} ns (4 * (8 + 10) us = 72000 ns), "
         f"simulated end {ns.Simulator.Now().GetNanoSeconds()} ns")
    ns.Simulator.Destroy()
    return {"bench": "core_chain", "mode": "event", "sim": "ns-3", "flows": flows, "packets": sent,
            "received": received, "packet_hops_per_s": round(sent * HOPS / wall), "wall_s": round(wall, 4),
            "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flows", type=int, default=1)
    parser.add_argument("--packets", type=int, default=50_000)
    args = parser.parse_args()
    # cppyy and ns-3's C++ side may write to fd 1; the caller parses our last stdout line, so
    # everything until the result goes to stderr at the descriptor level.
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        result = run(args.flows, args.packets)
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
