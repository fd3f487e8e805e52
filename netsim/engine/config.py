"""dockerd's own options that shape a host's networking (``daemon.json`` / command-line flags).

One record per engine; the topology loader fills it from ``hosts.NAME.daemon`` with dockerd's
names (``userland-proxy``, ``default-address-pools``, ...), and the engine reads nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Interface, IPv4Network
from typing import Optional

from .ipam import DEFAULT_POOLS

__all__ = ["DaemonConfig", "AddressPoolSpec"]

#: ``--default-address-pool base=10.10.0.0/16,size=24``: subnets of ``size`` cut from ``base``.
AddressPoolSpec = tuple[IPv4Network, int]


@dataclass(frozen=True)
class DaemonConfig:
    icc: bool = True  # --icc: containers on docker0 talk to each other (B7)
    userland_proxy: bool = True  # --userland-proxy: docker-proxy serves host-local clients; off = hairpin NAT
    ip_forward: bool = True  # --ip-forward: dockerd turns on forwarding and sets FORWARD's policy to DROP
    iptables: bool = True  # --iptables: dockerd programs no rule at all when false
    default_address_pools: tuple[AddressPoolSpec, ...] = tuple((IPv4Network(b), s) for b, s in DEFAULT_POOLS)
    bip: Optional[IPv4Interface] = None  # --bip 10.10.0.1/24: docker0's address and subnet
    allow_direct_routing: bool = False  # --allow-direct-routing (28.2+): no raw drop of direct access
