"""What it costs a packet to enter each kind of device, on the simulation's clock.

A frame entering a device waits its kind's cost before the device handles it (the driver, the
softirq, the stack above it).  The defaults are assumptions fitted to one measurement: ``ping
-c 500 -i 0.002`` between real network namespaces on this project's 2-core machine (Linux 6.1)
gave round trips of 5-9 us on average over a veth pair and 5-8 us on ``lo`` (3 us at best),
ping's own user-space work included.  So a veth hop is 1.5 us (a same-host ping from container
to container, four veth entries, takes about 6 us), ``lo`` 2.5 us, a host NIC 2 us, VXLAN
decapsulation 1.5 us and the stacked devices (macvlan, ipvlan, 802.1Q) 0.5 us.  Bridges,
netfilter, conntrack, NAT and ESP are not priced separately yet.  ``underlay.costs`` overrides
any of them (``{veth: 3us, nic: 10us}``); instant questions pay nothing.
"""

from __future__ import annotations

__all__ = ["DEFAULT_COSTS"]

DEFAULT_COSTS: dict[str, float] = {
    "veth": 1.5e-6,
    "loopback": 2.5e-6,
    "nic": 2.0e-6,
    "vxlan": 1.5e-6,
    "macvlan": 0.5e-6,
    "ipvlan": 0.5e-6,
    "vlan": 0.5e-6,
}
