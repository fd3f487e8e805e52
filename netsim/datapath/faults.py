"""Defects of a host's NIC or its virtual switch, as users have met them (incident K4, T5).

Each fault is one function of a frame crossing the NIC (either way) and one registry line:
- ``vxlan-checksum``: VMware vmxnet3's VXLAN checksum offload writes a wrong inner TCP/UDP
  checksum, so the receiver drops the inner segment (``CSUM_ERROR``) while ICMP passes;
- ``vxlan-size-936``: an NSX agent drops VXLAN datagrams whose outer IP packet is longer than
  936 bytes (inner ``ping -s 858 -M do`` passes, ``-s 859`` does not);
- ``vxlan-port``: NSX takes UDP 4789 for itself: every VXLAN datagram is lost there.
"""

from __future__ import annotations

from typing import Callable, Optional

from .drop import DropReason
from .packet import TCP, UDP, VXLAN, VXLAN_PORT, IPv4
from .skb import Skb

__all__ = ["FAULTS", "apply"]

NSX_MAX_OUTER = 936


def _vxlan(skb: Skb) -> Optional[tuple[IPv4, VXLAN]]:
    pkt = skb.frame.payload
    if type(pkt) is IPv4 and type(pkt.payload) is UDP and type(pkt.payload.data) is VXLAN:
        return pkt, pkt.payload.data
    return None


def _checksum(skb: Skb) -> Optional[tuple[DropReason, str]]:
    found = _vxlan(skb)
    if found is not None:
        inner = found[1].inner.payload
        if type(inner) is IPv4 and type(inner.payload) in (TCP, UDP):
            skb.csum_bad = True  # what the receiver finds when it checks the inner segment
    return None


def _size(skb: Skb) -> Optional[tuple[DropReason, str]]:
    found = _vxlan(skb)
    if found is not None and found[0].length > NSX_MAX_OUTER:
        return DropReason.NIC_FAULT, f"the NSX agent drops VXLAN datagrams over {NSX_MAX_OUTER} bytes ({found[0].length})"
    return None


def _port(skb: Skb) -> Optional[tuple[DropReason, str]]:
    pkt = skb.frame.payload
    if type(pkt) is IPv4 and type(pkt.payload) is UDP and VXLAN_PORT in (pkt.payload.dport, pkt.payload.sport):
        return DropReason.NIC_FAULT, f"the virtual switch takes UDP {VXLAN_PORT} for itself"
    return None


FAULTS: dict[str, Callable[[Skb], Optional[tuple[DropReason, str]]]] = {
    "vxlan-checksum": _checksum,
    "vxlan-size-936": _size,
    "vxlan-port": _port,
}


def apply(faults: tuple[str, ...], skb: Skb) -> Optional[tuple[DropReason, str]]:
    """The first of ``faults`` that kills the frame, if any."""
    for name in faults:
        verdict = FAULTS[name](skb)
        if verdict is not None:
            return verdict
    return None
