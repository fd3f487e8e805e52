"""IPAM for local-scope networks: subnets from Docker's default pools, addresses first-fit.

Pools and their order come from libnetwork's ``ipamutils`` (B8, §2): 172.17/16, 172.18/16,
172.19/16, 172.20/14, 172.24/14 and 172.28/14 cut into /16s, then 192.168/16 cut into /20s:
31 subnets.  A candidate is skipped when it overlaps a network already on the host or one
of the host's on-link routes (the ``InferReservedNetworks`` rule of Engine 23+).  Inside a
network, addresses are handed out lowest-free-first and reused at once (B2); swarm-scope
serial allocation is a different allocator and not this one.
"""

from __future__ import annotations

import heapq
from ipaddress import IPv4Address, IPv4Network
from typing import Iterable, Optional

from ..errors import DockerError

DEFAULT_POOLS: tuple[tuple[str, int], ...] = (
    ("172.17.0.0/16", 16),
    ("172.18.0.0/16", 16),
    ("172.19.0.0/16", 16),
    ("172.20.0.0/14", 16),
    ("172.24.0.0/14", 16),
    ("172.28.0.0/14", 16),
    ("192.168.0.0/16", 20),
)


def pool_subnets(pools: Iterable[tuple[IPv4Network, int]]) -> Iterable[IPv4Network]:
    """The candidate subnets of address pools (base, size), in order: Docker's defaults or the daemon's."""
    for base, size in pools:
        yield from base.subnets(new_prefix=size)


def pick_subnet(pools: Iterable[tuple[IPv4Network, int]], in_use: Iterable[IPv4Network],
                reserved: Iterable[IPv4Network], exhausted_error: str) -> IPv4Network:
    taken = list(in_use) + list(reserved)
    for candidate in pool_subnets(pools):
        if not any(candidate.overlaps(t) for t in taken):
            return candidate
    raise DockerError(exhausted_error, fix="give the network an explicit subnet, or remove unused networks")


def check_wanted(subnet: IPv4Network, gateway: Optional[IPv4Address], used: set[int],
                 wanted: IPv4Address) -> int:
    """Whether a static address (``--ip``) may be given on ``subnet``: Docker's refusals, in its order."""
    value = int(wanted)
    if wanted not in subnet:
        raise DockerError(f"no configured subnet contains IP address {wanted}", fix=f"pick an address inside {subnet}")
    if wanted in (subnet.network_address, subnet.broadcast_address):
        raise DockerError(f"{wanted} is not a host address of {subnet}",
                          fix=f"pick an address inside {subnet} other than {subnet.network_address} and "
                              f"{subnet.broadcast_address}")
    if wanted == gateway:
        raise DockerError(f"Address already in use: {wanted} is the network's gateway", fix="pick another address")
    if value in used:
        raise DockerError(f"Address already in use: {wanted}",
                          fix="give each container its own ipv4_address, or leave it out")
    return value


class AddressPool:
    """The addresses of one network: gateway reserved, containers first-fit in ``ip_range``."""

    def __init__(self, subnet: IPv4Network, ip_range: Optional[IPv4Network] = None,
                 gateway: Optional[IPv4Address] = None) -> None:
        self.subnet = subnet
        self.range = ip_range or subnet
        self.gateway = gateway
        self._used: set[int] = set()
        if gateway is not None:
            self._used.add(int(gateway))
        self._first = int(self.range.network_address)
        self._last = int(self.range.broadcast_address)
        # The subnet's own network and broadcast addresses are never handed out.
        self._reserved = {int(subnet.network_address), int(subnet.broadcast_address)}
        # First-fit without rescanning from the range start on every allocation (quadratic in
        # the containers of a network): nothing below ``_scan`` is free except what was
        # released since, and every such address is on the ``_freed`` heap.  The heap may also
        # hold addresses taken again by an explicit ``wanted``; they are skipped when popped.
        self._scan = self._first
        self._freed: list[int] = []

    def allocate(self, wanted: Optional[IPv4Address] = None) -> IPv4Address:
        if wanted is not None:
            value = check_wanted(self.subnet, self.gateway, self._used, wanted)
            self._used.add(value)
            return wanted
        while self._freed:
            value = heapq.heappop(self._freed)
            if value not in self._used:
                self._used.add(value)
                return IPv4Address(value)
        while self._scan <= self._last:
            value = self._scan
            self._scan += 1
            if value not in self._used and value not in self._reserved:
                self._used.add(value)
                return IPv4Address(value)
        raise DockerError(f"no available IPv4 addresses on this network's address pools: {self.subnet}",
                          fix="use a larger subnet or ip_range")

    def release(self, address: IPv4Address) -> None:
        value = int(address)
        if value in self._used:
            self._used.remove(value)
            if self._first <= value < self._scan and value not in self._reserved:
                heapq.heappush(self._freed, value)

    @property
    def in_use(self) -> int:
        return len(self._used) - (1 if self.gateway is not None else 0)
