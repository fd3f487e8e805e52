"""macvlan: children of a lower device (a host's NIC), each with a MAC of its own (drivers/net/macvlan.c).

The first child makes the lower a ``MacvlanPort`` (its rx handler); every frame the lower
receives goes through ``macvlan_handle_frame``:

- unicast to a child's MAC goes to that child (in passthru mode, to the one child whatever the
  MAC); anything else passes on to the lower's own stack (the host);
- broadcast and multicast go to the children and pass on to the host too: from outside to every
  child, from a vepa child (reflected by the switch) to the vepa and bridge ones but itself, from
  a bridge child only to the vepa ones (the bridge ones saw it on the way out), and from a
  private or passthru child back to that child alone (so a private child's ARP reaches no one).

What a child transmits (``macvlan_queue_xmit``): in bridge mode, a broadcast is copied to the
other bridge children and goes out; unicast to another bridge child is handed to the lower as if
received (``dev_forward_skb``), so it never leaves the host.  Everything else, and every frame of
the other modes, leaves by the lower onto the wire, which is why the host cannot reach its
children, nor they the host (B61), unless the switch sends frames back out the port they came
in on (reflective relay, 802.1Qbg), as vepa needs.
"""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING, Optional

from .addr import is_multicast_mac, mac_str
from .device import LowerPort, NetDevice
from .skb import Skb

if TYPE_CHECKING:
    from .world import World

__all__ = ["Macvlan", "MacvlanPort", "MODES"]

MODES = ("private", "vepa", "bridge", "passthru")


class MacvlanPort(LowerPort):
    """The macvlan state of a lower device: its children, told apart by MAC."""

    children: "list[Macvlan]"

    @property
    def passthru(self) -> bool:
        return any(c.mode == "passthru" for c in self.children)

    def lookup(self, mac: int) -> "Optional[Macvlan]":
        for child in self.children:
            if child.mac == mac:
                return child
        return None

    # ---- receive: macvlan_handle_frame -----------------------------------------------------

    def handle_frame(self, lower: NetDevice, skb: Skb) -> bool:
        frame = skb.frame
        if is_multicast_mac(frame.dst):
            src = self.lookup(frame.src)
            if src is not None and src.mode in ("private", "passthru"):
                skb.step(lower.node, lower.name, "MACVLAN", f"reflected from {src.name} ({src.mode}): back to it only")
                src.deliver(skb)
                return True
            if src is None:
                targets = self.children
            elif src.mode == "vepa":
                targets = [c for c in self.children if c is not src and c.mode in ("vepa", "bridge")]
            else:
                targets = [c for c in self.children if c is not src and c.mode == "vepa"]
            for target in targets:
                target.deliver(skb.clone())
            return False  # RX_HANDLER_PASS: the host's stack sees it too
        child: Optional[Macvlan] = self.children[0] if self.passthru else self.lookup(frame.dst)
        if child is None:
            return False
        skb.step(lower.node, lower.name, "MACVLAN", f"{mac_str(frame.dst)} -> {child.name} ({child.mode})")
        child.deliver(skb)
        return True


class Macvlan(NetDevice):
    kind = "macvlan"

    def __init__(self, world: "World", name: str, mac: int, lower: NetDevice, mode: str = "bridge") -> None:
        super().__init__(world, name, lower.mac if mode == "passthru" else mac, lower.mtu)
        if mode not in MODES:
            raise ValueError(f"unknown macvlan mode {mode!r}")
        existing = lower.upper_port
        if isinstance(existing, MacvlanPort) and (existing.passthru or mode == "passthru"):
            # macvlan_common_newlink: a passthru child is the only one its lower may have
            raise OSError(errno.EINVAL, "invalid argument")
        self.lower = lower
        self.mode = mode
        self.port = MacvlanPort.claim(lower)
        self.port.children.append(self)
        if mode == "passthru" and mac != lower.mac:
            self.set_mac(mac)

    def set_mac(self, mac: int) -> None:
        """``ip link set DEV address MAC``; a passthru child changes its lower's MAC with its own."""
        self.mac = mac
        if self.mode == "passthru":
            self.lower.mac = mac

    def close(self) -> None:
        """The child is deleted (with its container's namespace)."""
        self.port.release(self)

    def deliver(self, skb: Skb) -> None:
        """The frame is the child's: its own namespace's stack receives it (RX_HANDLER_ANOTHER)."""
        self.rx(skb)

    # ---- transmit: macvlan_queue_xmit ------------------------------------------------------

    def xmit(self, skb: Skb) -> None:
        if not self.sending(skb):
            return
        if self.mode == "bridge":
            dst = skb.frame.dst
            if is_multicast_mac(dst):
                for child in self.port.children:
                    if child is not self and child.mode == "bridge":
                        child.deliver(skb.clone())
            else:
                dest = self.port.lookup(dst)
                if dest is not None and dest.mode == "bridge":
                    skb.step(self.node, self.name, "MACVLAN", f"bridge mode: to {dest.name} inside the host")
                    self.world.sched.call_later(0.0, self.lower.rx, skb)  # dev_forward_skb
                    return
        skb.step(self.node, self.name, "MACVLAN", f"out by {self.lower.name} ({self.mode})")
        self.lower.xmit(skb)
