"""A cable: what carries a frame between a NIC and a switch port, and what it costs in time.

Devices hand frames to a ``Link`` and never compute wire time themselves, so a link is where
latency and serialisation live now and where queues, loss and capture taps attach later.
``up`` is carrier: a link that is down drops what is sent on it (``DEV_DOWN``, no carrier).
``mtu`` (None: as large as the NICs') is the largest IP packet the path carries, as a VPN hop
or a cloud fabric smaller than the hosts' NICs: a longer frame is dropped there, silently, since
no router on an L2 path sends ICMP (the overlay MTU black hole, T3).
"""

from __future__ import annotations

import math
import random
from collections import deque
from heapq import heappush
from typing import TYPE_CHECKING, Protocol

from .drop import DropReason
from .packet import IPv4
from .scheduler import NORMAL
from .skb import Skb
from .state import Versioned

if TYPE_CHECKING:
    from .world import World

# Preamble 8 + FCS 4 + inter-frame gap 12, and the 60-byte minimum frame: what a frame
# really occupies on Ethernet, so serialisation delay is not underestimated for pings.
WIRE_OVERHEAD = 24
MIN_FRAME = 60


class LinkEnd(Protocol):
    """Either end of a cable: a NIC, or a port of a switch."""

    name: str

    @property
    def node(self) -> str:
        """Who owns the end: a namespace, or a switch."""

    def rx(self, skb: Skb) -> None: ...


class _Direction:
    """One way of a cable: its transmitter is busy until ``busy``; ``finishing`` holds the end of
    transmission and the length of every frame sent or waiting (the one on the wire first), and
    ``backlog`` the sum of those lengths."""

    __slots__ = ("busy", "finishing", "backlog")

    def __init__(self) -> None:
        self.busy = -math.inf  # the clock may start before 0 (a swarm settles from -5 s)
        self.finishing: deque[tuple[float, int]] = deque()
        self.backlog = 0


_SHAPE = frozenset({"up", "mtu", "queue", "queue_bytes", "loss"})  # what decides the fast path


class Link(Versioned):
    _plain: bool  # see _reshape

    def __init__(self, world: "World", a: LinkEnd, b: LinkEnd, latency: float, bandwidth: float) -> None:
        object.__setattr__(self, "_plain", False)
        self.world = world
        self.a, self.b = a, b
        self.latency = latency  # seconds, one way
        self.bandwidth = bandwidth  # bits per second
        self.up = True
        self.mtu: "int | None" = None
        #: frames that may wait for the transmitter, each way (txqueuelen; None: no limit): drop-tail
        self.queue: "int | None" = None
        #: or bytes that may wait (a bfifo's limit: a frame is dropped if it would take the
        #: waiting frames' lengths past it); None: no limit in bytes
        self.queue_bytes: "int | None" = None
        self.loss = 0.0  # the chance that a frame is lost on the wire, each way
        self.rng = random.Random(0)  # the loss draws; the simulation seeds it per link
        self._to_b, self._to_a = _Direction(), _Direction()
        self._reshape()

    def __setattr__(self, name: str, value: object) -> None:
        Versioned.__setattr__(self, name, value)
        if name in _SHAPE and hasattr(self, "_to_a"):
            self._reshape()

    def _reshape(self) -> None:
        """Whether a frame's fate on this cable is only its time: carrier, no MTU, no queue limit,
        no loss.  Such a cable takes the fast path of ``transmit``."""
        object.__setattr__(self, "_plain", self.up and self.mtu is None and self.queue is None
                           and self.queue_bytes is None and not self.loss)

    def wire_time(self, skb: Skb) -> float:
        """Serialisation: what the frame occupies on the wire, at the link's rate."""
        size = max(skb.frame.length, MIN_FRAME) + WIRE_OVERHEAD
        return size * 8 / self.bandwidth

    def wire_delay(self, skb: Skb) -> float:
        return self.latency + self.wire_time(skb)

    def transmit(self, sender: LinkEnd, skb: Skb, node: str) -> None:
        """Carry ``skb`` from ``sender`` to the other end; ``node`` names the sender in a drop.

        On the simulation's clock a link is a FIFO with store-and-forward transmission: a frame
        starts when the transmitter is free (departure = max(arrival, previous departure) +
        size / bandwidth, then the propagation latency), waits in a drop-tail queue of
        ``queue`` frames, and is lost with probability ``loss``.  An instant query's clock
        only asks whether it gets there: no queue, no loss."""
        sched = self.world.sched
        if self._plain and skb.recorder is None and not skb.debt and sched.timed:
            # The hot path, what ``carry`` does on such a cable, inline: a frame's length once per
            # frame (``Skb.length``), and the arrival straight onto the packets' heap.
            env = sched.env  # type: ignore[attr-defined]
            if sender is self.a:
                way, peer = self._to_b, self.b
            else:
                way, peer = self._to_a, self.a
            length = skb.sized if skb.sized_of is skb.frame else skb.frame_length()
            now, busy = env._now, way.busy
            way.busy = done = (now if now > busy else busy) + \
                ((length if length > MIN_FRAME else MIN_FRAME) + WIRE_OVERHEAD) * 8 / self.bandwidth
            heappush(env._calls, (done + self.latency, NORMAL, next(env._eid), peer.rx, (skb,)))
            return
        if not sched.timed:
            if self._fits(sender, skb, node):
                sched.call_later(self.wire_delay(skb), self.peer(sender).rx, skb)
            return
        if skb.debt:  # the sender's processing first (datapath.costs), then the cable
            debt, skb.debt = skb.debt, 0.0
            sched.call_later(debt, self.transmit, sender, skb, node)
            return
        at = self.carry(sender, skb, node)
        if at is not None:
            peer = self.peer(sender)
            if skb.recorder is not None:  # datapath.flowcache
                skb.recorder.link(self, sender, node, peer)
            sched.call_at(at, peer.rx, skb)
        elif skb.recorder is not None:
            skb.recorder.fail()  # a queue or loss decided: the next frame's fate is its own

    def carry(self, sender: LinkEnd, skb: Skb, node: str) -> "float | None":
        """The timed cable itself: when the frame arrives at the far end, or None when the
        cable dropped it (no carrier, too long, queue full, lost)."""
        if not self._fits(sender, skb, node):
            return None
        sched = self.world.sched
        now = sched.now
        way = self._to_b if sender is self.a else self._to_a
        length = skb.frame.length
        limited = self.queue is not None or self.queue_bytes is not None
        if limited:
            finishing = way.finishing
            while finishing and finishing[0][0] <= now:
                way.backlog -= finishing.popleft()[1]
            if self.queue is not None and len(finishing) > self.queue:  # one on the wire, `queue` waiting
                skb.drop(node, sender.name, DropReason.QDISC_DROP, f"{self.queue} frames already wait for the link")
                return None
            if self.queue_bytes is not None and finishing and \
                    way.backlog - finishing[0][1] + length > self.queue_bytes:  # what waits, not what is on the wire
                skb.drop(node, sender.name, DropReason.QDISC_DROP,
                         f"{way.backlog - finishing[0][1]} bytes already wait for the link (limit {self.queue_bytes})")
                return None
        done = (now if now > way.busy else way.busy) + ((length if length > MIN_FRAME else MIN_FRAME)
                                                         + WIRE_OVERHEAD) * 8 / self.bandwidth
        way.busy = done
        if limited:
            way.finishing.append((done, length))
            way.backlog += length
        if self.loss and self.rng.random() < self.loss:
            sched.call_at(done, skb.drop, node, sender.name, DropReason.LINK_LOSS,
                          f"lost on the wire (loss {self.loss:g})")
            return None
        return done + self.latency

    def _fits(self, sender: LinkEnd, skb: Skb, node: str) -> bool:
        """Carrier, and a frame the path's MTU carries; else the drop."""
        if not self.up:
            skb.drop(node, sender.name, DropReason.DEV_DOWN, "no carrier")
            return False
        if self.mtu is not None:
            pkt = skb.frame.payload
            if type(pkt) is IPv4 and skb.ip_length(pkt) > self.mtu:
                skb.drop(node, sender.name, DropReason.FRAME_TOO_LONG,
                         f"{skb.ip_length(pkt)} bytes on a path of mtu {self.mtu}")
                return False
        return True

    def peer(self, end: LinkEnd) -> LinkEnd:
        return self.b if end is self.a else self.a

    def __repr__(self) -> str:
        return f"<Link {self.a.name} <-> {self.b.name} {self.latency * 1e6:g}us {self.bandwidth / 1e9:g}Gbps>"
