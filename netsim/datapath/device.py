"""Network devices: the things a frame is transmitted on and received from.

Every device has the same two verbs: ``xmit(skb)`` (the owner sends the frame out of it) and
``rx(skb)`` (the medium hands it a frame).  A received frame goes to the device's rx handler
when one is registered (``netdev_rx_handler_register``: a bridge for its ports, and later
macvlan, ipvlan, vlan and vxlan for their lower devices), and otherwise, or when the handler
passes it on, up to the namespace's stack.  How the frame crosses the medium is the device
kind's business: a veth hands it to its peer, a NIC puts it on its ``Link``.
"""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING, Any, Callable, Optional, TypeVar

from .addr import mac_str
from .drop import DropReason
from .packet import Ether
from .skb import Skb
from .state import Versioned

if TYPE_CHECKING:
    from .link import Link
    from .netns import Namespace
    from .world import World

MAX_HOPS = 64  # a frame crossing more devices than this is in an L2 loop

#: An rx handler takes (the lower device, the frame) and returns True when it consumed the
#: frame (RX_HANDLER_CONSUMED) or False to let the lower device's own stack have it (RX_HANDLER_PASS).
RxHandler = Callable[["NetDevice", Skb], bool]


class NetDevice(Versioned):
    kind = "device"

    WATCHED = frozenset({"taps", "vlans"})

    def __init__(self, world: "World", name: str, mac: int, mtu: int = 1500) -> None:
        self.world = world
        self.name = name
        self.mac = mac
        self.mtu = mtu
        self.up = True
        self.ns: Optional["Namespace"] = None
        self.master: Optional["NetDevice"] = None  # the upper device it is enslaved to (a bridge)
        self.rx_handler: Optional[RxHandler] = None
        self.hairpin = False  # as a bridge port: BR_HAIRPIN_MODE, frames may leave by the port they came in
        self.vlans: dict[int, NetDevice] = {}  # 802.1Q devices on this one, by VLAN id (datapath.vlan)
        self.noarp = False  # IFF_NOARP: neighbours are NUD_NOARP, frames go to the device's own MAC
        #: packet captures on this device (tcpdump -i): each hears (time, frame) of what it
        #: receives and sends, on the simulation's clock only
        self.taps: list[Callable[[float, Ether], None]] = []
        self.upper_port: Optional["LowerPort"] = None  # macvlan's or ipvlan's state here, while it has children

    @property
    def node(self) -> str:
        return self.ns.name if self.ns is not None else "-"

    def tap(self, skb: Skb) -> None:
        """What a packet capture on the device sees: every frame in or out, as it is now."""
        if self.world.sched.timed:
            now = self.world.sched.now
            for tap in self.taps:
                tap(now, skb.frame)
            if skb.recorder is not None:
                skb.recorder.tap(self)

    def sending(self, skb: Skb) -> bool:
        """The start of a stacked device's ``xmit``: a device that is down drops the frame, a
        capture on it hears it; False when the frame goes no further."""
        if not self.up:
            skb.drop(self.node, self.name, DropReason.DEV_DOWN)
            return False
        if self.taps:
            self.tap(skb)
        return True

    def rx(self, skb: Skb) -> None:
        sched = self.world.sched
        if not sched.timed:
            self.receive(skb)
            return
        ns = self.ns
        delay = (self.world.costs_of(ns.host) if ns is not None else self.world.costs).get(self.kind, 0.0) + skb.debt
        if delay:  # datapath.costs: this device's driver, and what the packet owes from before
            skb.debt = 0.0
            sched.call_later(delay, self.receive, skb)
        else:
            self.receive(skb)

    def receive(self, skb: Skb) -> None:
        """The frame is handled, once the device's cost has been paid (``rx``)."""
        if not self.up:
            skb.drop(self.node, self.name, DropReason.DEV_DOWN)
            return
        if self.taps:
            self.tap(skb)
        skb.hops += 1
        if skb.hops > MAX_HOPS:
            skb.drop(self.node, self.name, DropReason.NOT_SPECIFIED, "L2 loop")
            return
        vid = skb.frame.vlan
        if vid is not None:
            # vlan_do_receive: a tagged frame goes, untagged, to the VLAN device of its id, before
            # any rx handler; with no such device it stays here as for another host, and dies.
            upper = self.vlans.get(vid)
            if upper is None:
                skb.drop(self.node, self.name, DropReason.OTHERHOST, f"tagged {vid}: no VLAN {vid} device on {self.name}")
                return
            skb.frame = skb.frame._replace(vlan=None)
            skb.step(self.node, self.name, "VLAN", f"untagged {vid} -> {upper.name}")
            upper.rx(skb)
            return
        handler = self.rx_handler
        if handler is not None and handler(self, skb):
            return
        if self.ns is not None:
            self.ns.netif_receive(self, skb)
        else:
            skb.drop(self.node, self.name, DropReason.DEV_DOWN, "not in any namespace")

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


class LowerPort(Versioned):
    """What a kind of stacked device keeps on its lower (macvlan_port, ipvl_port): the lower's rx
    handler while it has children.  A device has one rx handler (netdev_rx_handler_register), so a
    lower that is a bridge port, or has children of the other kind, refuses with EBUSY."""

    WATCHED = frozenset({"children"})

    def __init__(self, lower: NetDevice) -> None:
        self.lower = lower
        self.children: list[Any] = []

    @classmethod
    def claim(cls: type[_P], lower: NetDevice) -> _P:
        port = lower.upper_port
        if isinstance(port, cls):
            return port
        if lower.rx_handler is not None:
            raise OSError(errno.EBUSY, "device or resource busy")
        new = cls(lower)
        lower.upper_port, lower.rx_handler = new, new.handle_frame
        return new

    def release(self, child: NetDevice) -> None:
        """A child is deleted; with the last one the lower is its own again."""
        self.children.remove(child)
        if not self.children:
            self.lower.rx_handler, self.lower.upper_port = None, None

    def handle_frame(self, lower: NetDevice, skb: Skb) -> bool:
        raise NotImplementedError


_P = TypeVar("_P", bound=LowerPort)


class Loopback(NetDevice):
    kind = "loopback"

    def xmit(self, skb: Skb) -> None:
        self.world.sched.call_later(0.0, self.rx, skb)


class Dummy(NetDevice):
    """A ``dummy`` device: up, addressable, and what it transmits goes nowhere (dummy_xmit)."""

    kind = "dummy"

    def xmit(self, skb: Skb) -> None:
        skb.drop(self.node, self.name, DropReason.NOT_SPECIFIED, "a dummy device sends nothing anywhere")


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
        if self.taps:
            self.tap(skb)
        skb.step(self.node, self.name, "TRANSMITTED", f"veth -> {peer.node}:{peer.name}")
        world = self.world
        if world.sched.timed and peer.ns is not None and world.costs_of(peer.ns.host).get(peer.kind):
            # netif_rx's deferral is the peer's own cost, which rx waits out: no event in between
            peer.rx(skb)
        else:  # no time passes: a call, so a path of zero-cost hops is not one deep recursion
            world.sched.call_later(0.0, peer.rx, skb)


class Nic(NetDevice):
    """A physical NIC (a host's eth0), cabled by a ``Link`` to a port of the underlay switch."""

    kind = "nic"

    def __init__(self, world: "World", name: str, mac: int, mtu: int = 1500) -> None:
        super().__init__(world, name, mac, mtu)
        self.link: Optional["Link"] = None
        self.faults: tuple[str, ...] = ()  # defects of this NIC (datapath.faults), both ways

    def _faulty(self, skb: Skb) -> bool:
        from .faults import apply
        verdict = apply(self.faults, skb)
        if verdict is not None:
            skb.drop(self.node, self.name, *verdict)
        return verdict is not None

    def rx(self, skb: Skb) -> None:
        if self.faults and self._faulty(skb):
            return
        super().rx(skb)

    def xmit(self, skb: Skb) -> None:
        link = self.link
        if link is None or not self.up:
            skb.drop(self.node, self.name, DropReason.DEV_DOWN, "no carrier")
            return
        if self.faults and self._faulty(skb):
            return
        if self.taps:
            self.tap(skb)
        skb.step(self.node, self.name, "TRANSMITTED", (_describe_wire, link, self))
        link.transmit(self, skb, self.node)


def _describe_wire(link: "Link", sender: NetDevice) -> str:
    return f"wire -> {link.peer(sender).node}"
