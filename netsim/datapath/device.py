"""Network devices: the things a frame is transmitted on and received from.

Every device has the same two verbs: ``xmit(skb)`` (the owner sends the frame out of it) and
``rx(skb)`` (the medium hands it a frame).  A device enslaved to a bridge passes received
frames to the bridge; any other device passes them up to its namespace's stack.  How the
frame crosses the medium is the device kind's business: a veth hands it to its peer, a NIC
puts it on a cable to the underlay switch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

from .addr import mac_str
from .drop import DropReason
from .skb import Skb

if TYPE_CHECKING:
    from .bridge import Bridge
    from .netns import Namespace
    from .switch import Switch
    from .world import World

MAX_HOPS = 64  # a frame crossing more devices than this is in an L2 loop


class NetDevice:
    kind = "device"

    def __init__(self, world: "World", name: str, mac: int, mtu: int = 1500) -> None:
        self.world = world
        self.name = name
        self.mac = mac
        self.mtu = mtu
        self.up = True
        self.ns: Optional["Namespace"] = None
        self.master: Optional["Bridge"] = None
        self.hairpin = False  # as a bridge port: BR_HAIRPIN_MODE, frames may leave by the port they came in

    @property
    def node(self) -> str:
        return self.ns.name if self.ns is not None else "-"

    def rx(self, skb: Skb) -> None:
        if not self.up:
            skb.drop(self.node, self.name, DropReason.DEV_DOWN)
            return
        skb.hops += 1
        if skb.hops > MAX_HOPS:
            skb.drop(self.node, self.name, DropReason.NOT_SPECIFIED, "L2 loop")
            return
        if self.master is not None:
            self.master.handle_frame(self, skb)
        else:
            assert self.ns is not None
            self.ns.netif_receive(self, skb)

    def xmit(self, skb: Skb) -> None:
        raise NotImplementedError

    # What traffic taught the device (a bridge's FDB, ...), as an object ``relearn`` puts back;
    # ``flush_learned`` forgets it and keeps what was configured.  Most devices learn nothing.

    def learned(self) -> object:
        return None

    def relearn(self, learned: object) -> None:
        """Put back what ``learned`` returned."""

    def flush_learned(self) -> None:
        """Forget learned entries, keep configured ones."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.node}:{self.name} {mac_str(self.mac)}>"


class Loopback(NetDevice):
    kind = "loopback"

    def xmit(self, skb: Skb) -> None:
        self.world.sched.call_later(0.0, self.rx, skb)


class Veth(NetDevice):
    """One end of a veth pair; what goes in one end comes out of the other."""

    kind = "veth"

    def __init__(self, world: "World", name: str, mac: int, mtu: int = 1500) -> None:
        super().__init__(world, name, mac, mtu)
        self.peer: Optional[Veth] = None

    @staticmethod
    def pair(world: "World", name: str, mac: int, peer_name: str, peer_mac: int,
             mtu: int = 1500) -> tuple["Veth", "Veth"]:
        a, b = Veth(world, name, mac, mtu), Veth(world, peer_name, peer_mac, mtu)
        a.peer, b.peer = b, a
        return a, b

    def xmit(self, skb: Skb) -> None:
        peer = self.peer
        if peer is None or not self.up:
            skb.drop(self.node, self.name, DropReason.DEV_DOWN)
            return
        skb.step(self.node, self.name, "TRANSMITTED", f"veth -> {peer.node}:{peer.name}")
        self.world.sched.call_later(0.0, peer.rx, skb)


class Nic(NetDevice):
    """A physical NIC (a host's eth0), cabled to one port of the underlay switch."""

    kind = "nic"

    def __init__(self, world: "World", name: str, mac: int, mtu: int = 1500) -> None:
        super().__init__(world, name, mac, mtu)
        self.switch: Optional["Switch"] = None
        self.port = -1

    def xmit(self, skb: Skb) -> None:
        if self.switch is None or not self.up:
            skb.drop(self.node, self.name, DropReason.DEV_DOWN, "no carrier")
            return
        skb.step(self.node, self.name, "TRANSMITTED", f"wire -> {self.switch.name}")
        self.switch.transmit_to_switch(self.port, skb)
