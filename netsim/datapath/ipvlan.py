"""ipvlan: slaves of a master device that share its MAC and are told apart by IP (drivers/net/ipvlan).

Every slave has its master's MAC, so the LAN and its switch see one MAC per host (no
promiscuous mode, and a cloud's MAC filter lets it through, B65).  The master's rx handler
(``ipvlan_handle_frame``) hands a unicast frame to the slave that owns its destination address
(the IPv4 destination, or an ARP's target) and passes everything else to the host; in l2 mode
a broadcast from outside goes to every slave and to the host too, in l3 modes to no slave.

What a slave sends (``ipvlan_queue_xmit``): in l2 mode, a frame for the shared MAC goes to the
slave owning its destination address (dropped with the ``private`` flag), or to the host's stack
when none does; a broadcast goes to the other slaves and out; anything else out by the master.
In l3 and l3s modes a slave does no ARP: a packet for another slave goes straight to it, any
other is routed by the host's own routing table and leaves from the host (``ipvlan_process_v4_
outbound``), so the LAN needs a route to the slaves' subnet via the host (B66).  The host's own
stack never hears what a slave broadcasts, so in l2 mode the host and its slaves cannot resolve
each other (B61).  Not modelled: l3s's netfilter hooks in the host namespace on the way in (it
behaves as l3 here), multicast filters, IPv6.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

from .addr import is_multicast_mac
from .device import LowerPort, NetDevice
from .drop import DropReason
from .packet import ARP, IPv4
from .skb import Skb

if TYPE_CHECKING:
    from .world import World

__all__ = ["Ipvlan", "IpvlanPort", "MODES", "FLAGS"]

MODES = ("l2", "l3", "l3s")
FLAGS = ("bridge", "private", "vepa")


def _dst_addr(skb: Skb) -> Optional[int]:
    payload = skb.frame.payload
    if type(payload) is ARP:
        return payload.pdst
    if type(payload) is IPv4:
        return payload.dst
    return None


class IpvlanPort(LowerPort):
    """The master's ipvlan state: its slaves, one mode and flag for them all (ipvl_port)."""

    children: "list[Ipvlan]"

    def __init__(self, lower: NetDevice) -> None:
        super().__init__(lower)
        self.mode, self.flag = "l2", "bridge"

    def owner(self, addr: Optional[int]) -> "Optional[Ipvlan]":
        """ipvlan_addr_lookup: the slave with ``addr`` among its namespace's addresses on it."""
        if addr is None:
            return None
        for slave in self.children:
            ns = slave.ns
            if ns is not None and any(a.dev is slave and a.addr == addr for a in ns.addresses):
                return slave
        return None

    def handle_frame(self, lower: NetDevice, skb: Skb) -> bool:
        frame = skb.frame
        if is_multicast_mac(frame.dst):
            if self.mode == "l2" and self._external(skb):
                for slave in self.children:
                    slave.rx(skb.clone())
            return False  # a copy for the host straight away
        owner = self.owner(_dst_addr(skb))
        if owner is None:
            return False
        skb.step(lower.node, lower.name, "IPVLAN", f"for {owner.node}:{owner.name} ({self.mode})")
        owner.rx(skb)
        return True

    def _external(self, skb: Skb) -> bool:
        """ipvlan_external_frame: not one of our own slaves' broadcasts coming back."""
        payload = skb.frame.payload
        src = payload.psrc if type(payload) is ARP else getattr(payload, "src", None)
        return skb.frame.src != self.lower.mac or self.owner(src) is None


class Ipvlan(NetDevice):
    kind = "ipvlan"

    def __init__(self, world: "World", name: str, lower: NetDevice, mode: str = "l2", flag: str = "bridge") -> None:
        if mode not in MODES or flag not in FLAGS:
            raise ValueError(f"unknown ipvlan mode {mode!r} or flag {flag!r}")
        super().__init__(world, name, lower.mac, lower.mtu)
        self.lower = lower
        self.port = IpvlanPort.claim(lower)
        self.port.mode, self.port.flag = mode, flag  # the port's mode is the last slave's (ipvlan_set_port_mode)
        self.port.children.append(self)
        self.noarp = mode != "l2"  # IFF_NOARP on l3 slaves

    @property
    def mode(self) -> str:
        return self.port.mode

    def close(self) -> None:
        self.port.release(self)

    def xmit(self, skb: Skb) -> None:
        if not self.sending(skb):
            return
        if self.port.mode == "l2":
            self._xmit_l2(skb)
        else:
            self._xmit_l3(skb)

    def _local(self, skb: Skb) -> "Optional[Ipvlan]":
        if self.port.flag == "vepa":
            return None
        return self.port.owner(_dst_addr(skb))

    def _xmit_l2(self, skb: Skb) -> None:
        frame = skb.frame
        if frame.dst == frame.src:
            dest = self._local(skb)
            if dest is not None:
                if self.port.flag == "private":
                    skb.drop(self.node, self.name, DropReason.NOT_SPECIFIED, "ipvlan private: no slave to slave")
                    return
                skb.step(self.node, self.name, "IPVLAN", f"to {dest.node}:{dest.name} inside the host")
                self.world.sched.call_later(0.0, dest.rx, skb)
                return
            skb.step(self.node, self.name, "IPVLAN", f"for the shared MAC: to {self.lower.node}'s own stack")
            ns = self.lower.ns
            if ns is not None:
                self.world.sched.call_later(0.0, ns.netif_receive, self.lower, skb)  # dev_forward_skb
            return
        if is_multicast_mac(frame.dst):
            for slave in self.port.children:
                if slave is not self:
                    slave.rx(skb.clone())
        skb.step(self.node, self.name, "IPVLAN", f"out by {self.lower.name} (l2)")
        self.lower.xmit(skb)

    def _xmit_l3(self, skb: Skb) -> None:
        pkt = skb.frame.payload
        if type(pkt) is not IPv4:
            skb.drop(self.node, self.name, DropReason.NOT_SPECIFIED, f"ipvlan {self.port.mode}: IPv4 only")
            return
        dest = self._local(skb)
        if dest is not None:
            if self.port.flag == "private":
                skb.drop(self.node, self.name, DropReason.NOT_SPECIFIED, "ipvlan private: no slave to slave")
                return
            skb.frame = skb.frame._replace(dst=dest.mac)
            skb.step(self.node, self.name, "IPVLAN", f"to {dest.node}:{dest.name} inside the host")
            self.world.sched.call_later(0.0, dest.rx, skb)
            return
        ns = self.lower.ns
        if ns is None:
            skb.drop(self.node, self.name, DropReason.DEV_DOWN, f"{self.lower.name} is in no namespace")
            return
        skb.step(self.node, self.name, "IPVLAN", f"routed by {ns.name}'s table ({self.port.mode})")
        skb.ct, skb.ct_new, skb.ct_reply = None, False, False  # the host's conntrack sees a new packet
        ns.ip_local_out(skb)
