"""The managers' address allocation for swarm networks (swarmkit's cnmallocator, B37).

Subnets are cut in sequence from the default pool (10.0.0.0/8 in /24s); the ingress network
created at init takes the first, so the first user overlay is 10.0.1.0/24.  VNIs are handed
out serially from 4096 (``vxlanIDStart``), ingress first.  Addresses inside a network are
serial too: the next after the last one given, wrapping, so a released address is not
handed out again at once (unlike a local bridge's first-fit, B2).
"""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network
from typing import Iterable, Optional

from ..engine.ipam import check_wanted
from ..errors import DockerError

__all__ = ["SerialPool", "GlobalAllocator", "VXLAN_ID_START"]

VXLAN_ID_START = 4096
DEFAULT_POOL = IPv4Network("10.0.0.0/8")
DEFAULT_MASK = 24


class SerialPool:
    def __init__(self, subnet: IPv4Network, gateway: IPv4Address) -> None:
        self.subnet = subnet
        self.gateway = gateway
        self._used: set[int] = {int(gateway)}
        self._first = int(subnet.network_address) + 1
        self._last = int(subnet.broadcast_address) - 1
        self._next = self._first

    def allocate(self, wanted: Optional[IPv4Address] = None) -> IPv4Address:
        if wanted is not None:
            value = check_wanted(self.subnet, self.gateway, self._used - {int(self.gateway)}, wanted)
            self._used.add(value)
            return wanted
        size = self._last - self._first + 1
        for step in range(size):
            value = self._first + (self._next - self._first + step) % size
            if value not in self._used:
                self._used.add(value)
                self._next = value + 1 if value < self._last else self._first
                return IPv4Address(value)
        raise DockerError(f"no available IPv4 addresses on this network's address pools: {self.subnet}",
                          fix="use a larger subnet")

    def release(self, address: IPv4Address) -> None:
        self._used.discard(int(address))


class GlobalAllocator:
    """The swarm's one address space: /24s from 10.0.0.0/8 and VNIs, in order."""

    def __init__(self) -> None:
        self._subnets: list[IPv4Network] = []
        self._next_vni = VXLAN_ID_START
        self._vnis: set[int] = set()

    def subnet(self, wanted: Optional[IPv4Network] = None) -> IPv4Network:
        if wanted is not None:
            if any(wanted.overlaps(s) for s in self._subnets):
                other = next(s for s in self._subnets if wanted.overlaps(s))
                raise DockerError(f"Pool overlaps with other one on this address space: {wanted} overlaps {other} "
                                  "in the swarm", fix="give the network a subnet no other swarm network uses",
                                  field="subnet")
            self._subnets.append(wanted)
            return wanted
        for candidate in DEFAULT_POOL.subnets(new_prefix=DEFAULT_MASK):
            if not any(candidate.overlaps(s) for s in self._subnets):
                self._subnets.append(candidate)
                return candidate
        raise DockerError("could not find an available, non-overlapping IPv4 address pool among the defaults to "
                          "assign to the network", fix="give the network an explicit subnet")

    def vni(self) -> int:
        while self._next_vni in self._vnis:
            self._next_vni += 1
        vni = self._next_vni
        self._vnis.add(vni)
        return vni

    def take_vni(self, vni: int) -> None:
        if vni in self._vnis:
            raise DockerError(f"VXLAN id {vni} is already in use in the swarm",
                              fix="give the network another vxlanid_list, or leave it out", field="driver_opts")
        self._vnis.add(vni)

    def release(self, subnets: Iterable[IPv4Network]) -> None:
        for subnet in subnets:
            if subnet in self._subnets:
                self._subnets.remove(subnet)
