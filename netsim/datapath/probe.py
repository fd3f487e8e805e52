"""A probe: one ICMP echo (or TCP SYN, or UDP datagram) sent from a namespace, and everything that befell it.

The probe registers a socket in its source namespace, sends one packet through the forwarding
core, and listens: which namespace answered, whether the answer came back (and when), and
every drop on the way, with the steps that led there.  It does not decide what the outcome
means; ``netsim.analysis`` turns it into a disposition.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Callable, NamedTuple, Optional

from .addr import ip_str
from .drop import DropReason
from .packet import (ICMP, ICMP_ECHO, ICMP_FRAG_NEEDED, ICMP_PORT_UNREACH, IP_DF, TCP, TCP_RST, TCP_SYN, UDP, Ether,
                     IPv4)
from .skb import Skb, Step

if TYPE_CHECKING:
    from .netns import Namespace

PING_DATA = bytes(range(0x10, 0x10 + 48))  # iputils pads 56 bytes: 8 timestamp + 48 pattern


class Drop(NamedTuple):
    reason: DropReason
    detail: str
    steps: tuple[Step, ...]


@functools.lru_cache(maxsize=64)  # built once per size: every probe of a sweep carries the same bytes
def _echo_payload(size: int) -> bytes:
    """What iputils ping sends: 8 bytes of timestamp, then the 0x10, 0x11, ... pattern, ``size`` in all."""
    pattern = bytes((0x10 + i) % 256 for i in range(max(size - 8, 0)))
    return (bytes(8) + pattern)[:size]


class Probe:
    def __init__(self, src: "Namespace", dst: int, proto: str = "icmp", port: int = 0,
                 on_reply: Optional[Callable[[], object]] = None, size: int = 56, df: bool = True,
                 echo: Optional[tuple[int, int]] = None) -> None:
        """``size`` is the ICMP echo payload (``ping -s``, 56 by default), ``df`` the DF bit (``ping -M do``).

        ``echo`` is (id, seq) of one echo of a ping run whose socket is the caller's (one id,
        seq counting up, as ping(8) sends them); the caller hands the probe its answer
        (``received``).  Without it the probe has an id and a socket of its own."""
        self.echo = echo
        self.size = size
        self.df = df
        self.src = src
        self.on_reply = on_reply
        self.dst = dst
        self.proto = proto
        self.port = port
        self.sent_at: Optional[float] = None
        self.replied_at: Optional[float] = None
        self.responder: Optional["Namespace"] = None  # whose stack sent the reply that came back
        self.drops: list[Drop] = []
        self.reply_steps: tuple[Step, ...] = ()
        self.refused = ""  # why the destination turned the probe down: a TCP RST, an ICMP unreachable
        self.refused_as = "REFUSED"  # the disposition that says so
        self.no_route = False
        self._socket = ("", -1)  # (protocol, echo id or local port) the answer is delivered to

    # -- sending ------------------------------------------------------------------------------

    def send(self) -> None:
        ns = self.src
        self.sent_at = ns.world.sched.now
        route, src = ns.route_output(self.dst)
        ident, seq = self.echo if self.echo is not None else (ns.new_ident(), 1)
        if self.proto == "icmp":
            seg: ICMP | TCP | UDP = ICMP(ICMP_ECHO, 0, ident, seq, _echo_payload(self.size))
            self._socket = ("icmp", ident)
        else:
            sport = 32768 + ident  # an ephemeral port, unique per probe in this namespace
            seg = TCP(sport, self.port, seq=1000, flags=TCP_SYN) if self.proto == "tcp" else \
                UDP(sport, self.port, PING_DATA)
            self._socket = (self.proto, sport)
        if self.echo is None:
            ns.sockets[self._socket] = self.received
        skb = Skb(Ether(0, 0, IPv4(src or 0, self.dst, seg, ident=ident, flags=IP_DF if self.df else 0)), self,
                  origin=ns)
        if route is None:
            self.no_route = True
            skb.drop(ns.name, "-", DropReason.NO_ROUTE, f"connect: Network is unreachable ({ip_str(self.dst)})")
            return
        skb.step(ns.name, "-", "ORIGINATED", (self._describe, src or 0))
        ns.ip_local_out(skb)

    def _describe(self, src: int) -> str:
        return f"{ip_str(src)} > {ip_str(self.dst)} {self.proto}" + (f"/{self.port}" if self.port else "")

    def close(self) -> None:
        """Unregister the socket (the ping has given up or got its answer); late replies find none."""
        if self.src.sockets.get(self._socket) == self.received:
            del self.src.sockets[self._socket]

    # -- observer callbacks -----------------------------------------------------------------

    def received(self, ns: "Namespace", skb: Skb) -> None:
        """The answer came to the probe's socket (an echo reply, a RST, an ICMP error)."""
        if self.replied_at is not None:
            return
        seg = skb.frame.payload.payload  # type: ignore[union-attr]
        if type(seg) is TCP and seg.flags & TCP_RST:
            self.refused = "connection refused (RST)"
        elif type(seg) is ICMP and seg.quoted is not None and seg.code == ICMP_FRAG_NEEDED:
            router = ip_str(skb.frame.payload.src)  # type: ignore[union-attr]
            self.refused = f"frag needed and DF set (mtu = {seg.seq}) from {router}"
            self.refused_as = "FRAG_NEEDED"
        elif type(seg) is ICMP and seg.quoted is not None:
            self.refused = f"ICMP destination unreachable, code {seg.code}" + \
                (" (port unreachable)" if seg.code == ICMP_PORT_UNREACH else "")
        self.replied_at = ns.world.sched.now
        self.responder = skb.origin
        self.reply_steps = tuple(skb.steps)
        if self.on_reply is not None:
            self.on_reply()

    def dropped(self, skb: Skb, reason: DropReason, detail: str) -> None:
        if not reason.noise:
            self.drops.append(Drop(reason, detail, tuple(skb.steps)))

    # -- results ----------------------------------------------------------------------------

    @property
    def rtt(self) -> Optional[float]:
        if self.replied_at is None or self.sent_at is None:
            return None
        return self.replied_at - self.sent_at

    def main_drop(self) -> Optional[Drop]:
        """The drop that got furthest: with floods, copies die everywhere; the longest path is the story."""
        if not self.drops:
            return None
        return max(self.drops, key=lambda d: len(d.steps))
