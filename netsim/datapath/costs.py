"""What it costs a packet to cross each part of a Linux host, on the simulation's clock.

A frame entering a device waits its kind's cost before the device handles it (the driver, the
softirq).  What a namespace does to a packet between devices (bridge forwarding, routing,
netfilter rules walked, conntrack, NAT, ESP, local delivery to a socket) adds to the packet's
``debt``, paid when it next enters a device, a cable or a socket, so a path's latency is the
sum of what it crossed.  Instant questions pay nothing.

The defaults come from ``benchmarks/kernel_costs.py`` on this project's 2-core machine (Linux
6.18, namespaces and veth pairs, flood ping, the least of 5 runs of 100,000 round trips):
direct veth 2.6 us a round trip, through a bridge 3.9-4.0, routed 3.5-3.6, with 1000 FORWARD
rules 14.7, with a conntrack rule 4.0, with MASQUERADE 4.3-4.5, over VXLAN 4.4-4.7, between
two macvlan children 3.0, on ``lo`` 2.5.  A ping cannot tell a veth hop from the stack above
it, so ``veth`` is an assumed share (0.25 us) and ``stack`` the rest of a delivery: a
same-bridge container ping (4 veth entries, 2 bridge passes, 2 deliveries) is 3.8 us, as
measured.  Not measurable here and so assumptions: ``nic`` (a physical NIC's interrupt, NAPI
and driver: 2 us), ``ipvlan`` (as macvlan), ``vlan`` (an 802.1Q demultiplexer: as a veth
entry) and ``esp`` (software AES-GCM of a full-sized packet, each way: 1.5 us; this kernel has
no xfrm).  ``underlay.costs`` overrides any of them everywhere, ``hosts.NAME.costs`` on one
host (its namespaces and containers).
"""

from __future__ import annotations

__all__ = ["DEFAULT_COSTS"]

DEFAULT_COSTS: dict[str, float] = {
    # entering a device
    "veth": 0.25e-6,
    "loopback": 0.1e-6,
    "nic": 2.0e-6,
    "vxlan": 0.9e-6,  # encapsulation and decapsulation together, paid on the way in
    "macvlan": 0.35e-6,
    "ipvlan": 0.35e-6,
    "vlan": 0.25e-6,
    # what a namespace does between devices
    "bridge": 0.3e-6,  # br_handle_frame to the port's transmit
    "forward": 0.1e-6,  # ip_forward: the route lookup and TTL
    "stack": 1.1e-6,  # a local delivery: to a socket and its reader, or the kernel's own answer
    "netfilter_rule": 5.3e-9,  # per rule walked, iptables' linear scan
    "conntrack": 0.3e-6,  # nf_conntrack_in: a lookup, or a new entry
    "nat": 0.2e-6,  # rewriting a packet's address or port
    "esp": 1.5e-6,  # encrypting or decrypting one packet
}
