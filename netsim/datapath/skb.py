"""The per-packet state that travels with a frame (Linux's ``sk_buff``), and its trace steps.

The frame itself is an immutable header record; everything the kernel keeps *beside* the
frame (conntrack entry, direction, the probe that sent it, the steps it took) lives here,
so no component's private state leaks into the frame.
"""

from __future__ import annotations

from typing import Any, TYPE_CHECKING, NamedTuple, Optional, Protocol

from .drop import DropReason
from .packet import IP_DF, UDP, Ether, IPv4

if TYPE_CHECKING:
    from .conntrack import Conn
    from .flowcache import Recorder
    from .netns import Namespace


class Step(NamedTuple):
    """One decision on the path: in ``node`` (a namespace or switch), at ``where`` (a device).

    ``detail`` is a string, or a tuple ``(function, *args)`` formatted only when someone reads
    it: the forwarding core records every step of every probe, and most are never shown.
    """

    node: str
    where: str
    action: str  # RECEIVED, ROUTED, FILTER, NAT, BRIDGED, FLOODED, TRANSMITTED, DELIVERED, DROPPED, ...
    detail: object = ""
    frame: Optional[Ether] = None  # the headers as they were at this step (a reference, not a copy)

    @property
    def text(self) -> str:
        d = self.detail
        if isinstance(d, str):
            return d
        lazy: tuple[Any, ...] = d  # type: ignore[assignment]
        return str(lazy[0](*lazy[1:]))

    def __str__(self) -> str:
        head = f"{self.node:<14} {self.where:<16} {self.action:<12}"
        return f"{head} {self.text}".rstrip()


class Observer(Protocol):
    """Whoever sent a probe packet and wants to hear how it ended."""

    def dropped(self, skb: "Skb", reason: DropReason, detail: str) -> None: ...


class Skb:
    __slots__ = ("frame", "observer", "steps", "ct", "ct_reply", "ct_new", "hops", "origin", "mark", "secpath",
                 "gso_size", "csum_bad", "debt", "recorder", "sized", "sized_of", "ipvs")

    def __init__(self, frame: Ether, observer: Optional[Observer] = None,
                 steps: Optional[list[Step]] = None, origin: Optional["Namespace"] = None) -> None:
        self.frame = frame
        self.observer = observer
        self.origin = origin  # the namespace whose stack generated the packet (skb->sk)
        self.steps: list[Step] = steps if steps is not None else []
        self.ct: Optional["Conn"] = None  # conntrack entry of the namespace handling it now
        self.ct_reply = False  # True when the packet travels in the entry's reply direction
        self.ct_new = False  # entry created by this packet, confirmed when it leaves the hook path
        self.hops = 0  # devices crossed: guards against L2 loops
        self.mark = 0  # skb->mark: an encrypted overlay's VXLAN datagrams carry the one its xfrm policy selects
        self.secpath = False  # arrived through an IPsec SA (xfrm_input): what `-m policy --pol ipsec` sees
        self.ipvs = False  # skb->ipvs_property: IPVS translated it (what `-m ipvs --ipvs` matches)
        # A TCP send bigger than one segment travels as one skb (GSO), cut into gso_size payloads
        # only on the wire: netfilter sees it once, MTU checks look at its segments.
        self.gso_size = 0
        self.csum_bad = False  # a NIC fault spoiled the inner TCP/UDP checksum (datapath.faults)
        self.debt = 0.0  # seconds of processing owed, paid at the next device, cable or socket (datapath.costs)
        self.recorder: Optional["Recorder"] = None  # datapath.flowcache, while this packet's path is recorded
        self.sized_of: Optional[Ether] = None  # the frame whose length ``sized`` is: a cable's hot path asks it
        self.sized = 0

    def frame_length(self) -> int:
        """``frame.length``, computed once per frame: devices that rewrite headers put a new frame."""
        frame = self.frame
        if self.sized_of is not frame:
            self.sized, self.sized_of = frame.length, frame
        return self.sized

    def ip_length(self, pkt: "IPv4") -> int:
        """The longest IP packet this skb puts on a wire: the packet, or one segment of a GSO skb."""
        return min(pkt.length, self.gso_size + 40) if self.gso_size else pkt.length

    def clone(self, frame: Optional[Ether] = None) -> "Skb":
        if self.recorder is not None:  # a flood: datapath.flowcache replays one path, not a tree
            self.recorder.fail()
        copy = Skb(self.frame if frame is None else frame, self.observer, list(self.steps), self.origin)
        copy.gso_size, copy.csum_bad, copy.debt = self.gso_size, self.csum_bad, self.debt
        return copy

    def step(self, node: str, where: str, action: str, detail: object = "") -> None:
        # A plain tuple: a NamedTuple costs three times as much to build, and most steps are
        # never read.  ``Step._make`` turns one into a Step when someone does read it.
        self.steps.append((node, where, action, detail, self.frame))  # type: ignore[arg-type]

    def drop(self, node: str, where: str, reason: DropReason, detail: str = "") -> None:
        self.steps.append((node, where, "DROPPED", f"{reason.value}{': ' + detail if detail else ''}",  # type: ignore[arg-type]
                           self.frame))
        if self.recorder is not None:
            self.recorder.dropped(node, where, reason, detail)
        if self.observer is not None:
            self.observer.dropped(self, reason, detail)


_tuple_new = tuple.__new__
_UDP_HEADERS = 14 + 20 + 8


def datagram(src: int, dst: int, sport: int, dport: int, data: bytes, observer: Optional[Observer] = None,
             origin: Optional["Namespace"] = None, flags: int = IP_DF) -> Skb:
    """The skb of one UDP datagram as a traffic source sends it (the stack fills in the MACs):
    ``Ether(0, 0, IPv4(src, dst, UDP(sport, dport, data), flags=flags))`` with its length known.
    A source sends thousands a second: ``tuple.__new__`` builds the headers at half the cost of
    their NamedTuple constructors, which are Python functions."""
    frame = _tuple_new(Ether, (0, 0, _tuple_new(IPv4, (src, dst, _tuple_new(UDP, (sport, dport, data)), 64, 0, 0,
                                                        flags)), None))
    skb = Skb(frame, observer, origin=origin)
    skb.sized, skb.sized_of = _UDP_HEADERS + len(data), frame
    return skb
