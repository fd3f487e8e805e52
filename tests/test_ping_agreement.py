"""Time from day one: a ping in simulated time agrees with the instant reachability table.

Both go through the same forwarding core; ``ping`` as simpy events with the underlay's
latency on each link, the table on an instant clock.  On every bundled topology, for every
(source, address) the table lists, the endpoint that answers a real ping is the one the
table says is reachable, and RTTs are the link latencies the underlay declares.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from netsim.datapath.costs import DEFAULT_COSTS

import netsim
from netsim.topology import load_spec

from .conftest import TOPOLOGIES


def _static(topology: Path) -> netsim.Simulation:
    """The topology without its timeline, so pings (which advance time) see one state."""
    spec = load_spec(topology)
    return netsim.build(dataclasses.replace(spec, events=()))


@pytest.mark.parametrize("topology", TOPOLOGIES, ids=lambda p: p.stem)
def test_ping_agrees_with_reachability_table(topology: Path) -> None:
    sim = _static(topology)
    table = sim.reachability()
    ns_of = {v.name: v.ns.name for v in sim.endpoints()}
    seen: dict[tuple[str, str], object] = {}
    disagreements = []
    for row in table.itertuples():
        key = (row.src, row.addr)
        if key not in seen:
            seen[key] = sim.ping(row.src, row.addr)
        result = seen[key]
        answered_by_dst = result.responder == ns_of[row.dst]  # type: ignore[attr-defined]
        if answered_by_dst != row.reachable:
            disagreements.append(f"{row.src} -> {row.dst} {row.addr}: table {row.disposition}, ping {result}")
    assert not disagreements, "\n".join(disagreements)
    assert sim.now > 0, "pings must advance simulated time"


def test_ping_rtt_is_the_underlay_latency() -> None:
    """Host to host on one switch: 4 link traversals (there and back), plus serialisation."""
    sim = _static(next(t for t in TOPOLOGIES if t.stem == "timeline"))  # latency: 100us
    # the wire and the NICs alone: no price for the hosts' stacks, rules and conntrack
    sim.world.costs.update({kind: 0.0 for kind in DEFAULT_COSTS if kind != "nic"})
    sim.ping("n1", "n2")  # resolves ARP; the next ping measures the wire alone
    result = sim.ping("n1", "n2")
    assert result.reachable
    frame_bits = (14 + 20 + 8 + 56 + 24) * 8  # Ethernet + IPv4 + ICMP + 56 data, + preamble/FCS/IFG
    expected = 4 * (100e-6 + frame_bits / 10e9) + 2 * DEFAULT_COSTS["nic"]  # and each NIC's receive path
    assert result.rtt == pytest.approx(expected, rel=1e-9)


def test_first_ping_pays_for_arp() -> None:
    sim = _static(next(t for t in TOPOLOGIES if t.stem == "timeline"))
    first, second = sim.ping("n1", "n2"), sim.ping("n1", "n2")
    assert first.rtt is not None and second.rtt is not None
    assert first.rtt > 1.9 * second.rtt  # request + reply of ARP cross the same links first


def test_ping_timeout_advances_the_clock_by_one_second() -> None:
    sim = _static(next(t for t in TOPOLOGIES if t.stem == "isolation"))
    start = sim.now
    result = sim.ping("q1", "q2")  # ICC disabled (B15): dropped, the sender waits out its timeout
    assert not result.reachable and result.disposition == "ICC_DISABLED"
    assert sim.now == pytest.approx(start + 1.0)
