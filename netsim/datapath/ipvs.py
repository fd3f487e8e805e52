"""IPVS, the kernel's connection-level load balancer (net/netfilter/ipvs), as Docker programs it.

Docker's load-balancer sandboxes (``lb-NETWORK``, ``ingress-sbox``) hold one virtual service per
service and network, keyed by a firewall mark (``ipvsadm -A -f MARK -s rr``), with the task
addresses as real servers in NAT ("masquerading") mode (service_linux.go ``addLBBackend``); a
mangle rule marks what goes to the VIP, or to a published port.

- **Where**: ``ip_vs_remote_request4`` at LOCAL_IN, after filter INPUT: a packet for a local
  address (the VIP is an alias of the sandbox's interface) that carries a service's mark.
  ``Namespace.ip_local_deliver`` calls ``local_in``.
- **Which real server**: a connection already in the table keeps its server; a new one is
  scheduled (TCP only by its SYN: ``tcp_conn_schedule``, a mid-stream segment with no entry is
  left to the local stack, which answers RST).  Round robin (``ip_vs_rr_schedule``) walks the
  destination list from where it stopped to the next server with weight above 0; a server
  added goes to the head of the list (``list_add`` in ``__ip_vs_update_dest``), so the newest
  is tried first from a fresh start.
- **NAT**: the destination becomes the real server, port kept (a firewall-mark service has
  none); with ``net.ipv4.vs.conntrack=1``, as Docker sets it, the connection's conntrack entry is
  altered so that replies match it, which netsim models as a DNAT binding on the entry: the
  sandbox's SNAT rule (``-m ipvs --ipvs``) and the reverse translation of replies are
  conntrack's.  The packet is routed to the server (``ip_vs_nat_xmit``) and leaves through
  POSTROUTING.
- **Timeouts** (``ipvsadm --set``, the kernel's defaults, B59/T10): an established TCP
  connection 900 s idle, FIN_WAIT 120 s, SYN_RECV 60 s, CLOSE 10 s, UDP 300 s.  An entry that
  expires takes its conntrack entry with it (``ip_vs_conn_drop_conntrack``), so the next
  segment of an idle TCP connection is a stranger.

The connection table and the round-robin position are learned state, flushed for an instant
question like conntrack.  ICMP is not IPVS's: a ping to a VIP is answered by the sandbox.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional

from .addr import ip_str
from .drop import DropReason
from .packet import ICMP, TCP, TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN, UDP, IPv4, with_ports
from .state import Versioned

if TYPE_CHECKING:
    from .device import NetDevice
    from .netns import Namespace
    from .skb import Skb

__all__ = ["Ipvs", "VirtualService", "Destination", "TIMEOUTS"]

#: seconds an idle connection lives in each state (ip_vs_proto_tcp.c tcp_timeouts, udp_timeouts)
TIMEOUTS = {"ESTABLISHED": 900.0, "FIN_WAIT": 120.0, "SYN_RECV": 60.0, "CLOSE": 10.0, "UDP": 300.0}

_Key = tuple[int, int, int, int, int]  # proto, client, client port, virtual address, virtual port


@dataclass
class Destination:
    address: int
    weight: int = 1


@dataclass
class _Conn:
    dest: int  # the real server
    state: str
    expires: float


class VirtualService(Versioned):
    """``ipvsadm -A -f FWMARK -s rr`` and its real servers (``-a -r ADDR -m``)."""

    WATCHED = frozenset({"destinations"})
    QUIET = frozenset({"_at"})  # the round-robin position: learned, like a connection

    def __init__(self, fwmark: int, scheduler: str = "rr") -> None:
        self.fwmark = fwmark
        self.scheduler = scheduler
        self.destinations: list[Destination] = []  # newest first, as the kernel's list
        self._at: Optional[int] = None  # the address rr gave last (None: the list's head)

    def add(self, address: int, weight: int = 1) -> None:
        if any(d.address == address for d in self.destinations):
            return  # EEXIST: addLBBackend ignores it
        self.destinations = [Destination(address, weight), *self.destinations]

    def remove(self, address: int) -> None:
        self.destinations = [d for d in self.destinations if d.address != address]

    def schedule(self) -> Optional[int]:
        """ip_vs_rr_schedule: the next server after the last one given with weight above 0."""
        dests = self.destinations
        if not dests:
            return None
        start = next((i + 1 for i, d in enumerate(dests) if d.address == self._at), 0)
        for step in range(len(dests)):
            d = dests[(start + step) % len(dests)]
            if d.weight > 0:
                self._at = d.address
                return d.address
        return None


class Ipvs(Versioned):
    """One namespace's virtual services and connection table."""

    WATCHED = frozenset({"services"})
    QUIET = frozenset({"conns"})

    def __init__(self) -> None:
        self.services: dict[int, VirtualService] = {}  # by fwmark
        self.conns: dict[_Key, _Conn] = {}

    def service(self, fwmark: int) -> VirtualService:
        """The virtual service of ``fwmark``, made on first use (``ipvsadm -A -f``)."""
        svc = self.services.get(fwmark)
        if svc is None:
            svc = self.services[fwmark] = VirtualService(fwmark)
        return svc

    def local_in(self, ns: "Namespace", dev: "NetDevice", skb: "Skb") -> bool:
        """IPVS's LOCAL_IN hook: True when it took the packet (sent on, or dropped)."""
        svc = self.services.get(skb.mark)
        pkt: IPv4 = skb.frame.payload  # type: ignore[assignment]
        seg = pkt.payload
        if svc is None or type(seg) is ICMP or type(seg) not in (TCP, UDP):
            return False
        now = ns.world.sched.now
        key = (pkt.proto, pkt.src, seg.sport, pkt.dst, seg.dport)  # type: ignore[union-attr]
        conn = self.conns.get(key)
        if conn is not None and conn.expires <= now:
            self._expire(ns, key)
            conn = None
        if conn is None:
            if type(seg) is TCP and not (seg.flags & TCP_SYN and not seg.flags & TCP_ACK):
                return False  # tcp_conn_schedule: only a SYN starts a connection; the stack answers the rest
            dest = svc.schedule()
            if dest is None:
                skb.drop(ns.name, dev.name, DropReason.IPVS_NO_DEST,
                         f"IPVS: fwmark {svc.fwmark} has no real server with weight above 0")
                return True
            conn = _Conn(dest, "", now)
            self.conns[key] = conn
            what = f"fwmark {svc.fwmark} {svc.scheduler}: new connection to real server {ip_str(dest)}"
        else:
            what = f"fwmark {svc.fwmark}: connection to real server {ip_str(conn.dest)}"
        conn.state = _state(seg, conn.state)
        conn.expires = now + TIMEOUTS[conn.state]
        skb.step(ns.name, dev.name, "IPVS", what)
        if skb.ct is not None and skb.ct_new:
            skb.ct.ipvs_alter(conn.dest)  # vs/conntrack=1: replies match the connection
        skb.ipvs = True
        new = with_ports(pkt, pkt.src, conn.dest, seg.sport, seg.dport)  # type: ignore[union-attr]
        frame = skb.frame
        skb.frame = type(frame)(frame.dst, frame.src, new, frame.vlan)
        route = ns.routes.lookup(conn.dest)
        if route is None:
            skb.drop(ns.name, dev.name, DropReason.NO_ROUTE, f"IPVS: no route to real server {ip_str(conn.dest)}")
            return True
        ns.ip_finish_output(route, skb)  # ip_vs_nat_xmit: out through POSTROUTING
        return True

    def _expire(self, ns: "Namespace", key: _Key) -> None:
        """ip_vs_conn_expire: the entry goes, and with it the conntrack entry it altered."""
        del self.conns[key]
        proto, src, sport, dst, dport = key
        ns.ct.forget((proto, src, sport, dst, dport))

    # ---- learned state -----------------------------------------------------------------------

    def learned(self) -> object:
        return self.conns, {mark: svc._at for mark, svc in self.services.items()}

    def relearn(self, learned: object) -> None:
        conns: dict[_Key, _Conn]
        positions: dict[int, Optional[int]]
        conns, positions = learned  # type: ignore[misc]
        self.conns = conns
        for mark, at in positions.items():
            if mark in self.services:
                self.services[mark]._at = at

    def flush_learned(self) -> None:
        self.conns = {}
        for svc in self.services.values():
            svc._at = None


def _state(seg: object, state: str) -> str:
    """The connection's state after this segment (ip_vs_proto_tcp's table, coarsely)."""
    if type(seg) is not TCP:
        return "UDP"
    flags = seg.flags
    if flags & TCP_RST:
        return "CLOSE"
    if flags & TCP_FIN or state == "FIN_WAIT":
        return "FIN_WAIT"
    if flags & TCP_SYN and not flags & TCP_ACK:
        return "SYN_RECV"
    return "ESTABLISHED"
