"""Connection tracking with NAT bindings, per namespace (``nf_conntrack`` + ``nf_nat``).

A connection is keyed by its original tuple and by its reply tuple.  NAT rules are only
consulted for the first packet; the binding is stored as the reply tuple, and every later
packet in either direction is rewritten from it.  That is why a masqueraded echo reply finds
its way back to the container without any rule matching it.

An ICMP error is tracked as RELATED to the connection of the datagram it quotes
(``icmp_error_message``), and NAT rewrites the quoted datagram back along with the outer
header (``nf_nat_icmp_reply_translation``), so a port unreachable from behind a DNAT or a
masquerade reaches the sender about the addresses it used.
"""

from __future__ import annotations

from typing import Optional

from .packet import ICMP, ICMP_ECHO, ICMP_ECHOREPLY, IPv4, with_ports
from .state import Versioned

Tuple = tuple[int, int, int, int, int]  # proto, src, sport, dst, dport (ICMP: id, type)


def related(pkt: IPv4) -> bool:
    """Whether ``pkt`` is an ICMP error quoting a datagram (conntrack's RELATED, when tracked)."""
    seg = pkt.payload
    return type(seg) is ICMP and type(seg.data) is IPv4


def tuple_of(pkt: IPv4) -> Optional[Tuple]:
    seg = pkt.payload
    if type(seg) is ICMP:
        if not seg.is_echo:
            return None  # errors are RELATED to another connection; not tracked on their own
        return (1, pkt.src, seg.ident, pkt.dst, seg.type)
    return (pkt.proto, pkt.src, seg.sport, pkt.dst, seg.dport)  # type: ignore[union-attr]


def _related_tuple(pkt: IPv4) -> Optional[Tuple]:
    """The tuple a packet of the connection an ICMP error is about would have, travelling the error's way."""
    seg = pkt.payload
    quoted = seg.quoted if type(seg) is ICMP else None
    inner = tuple_of(quoted) if quoted is not None else None  # an error about an error has none
    return invert(inner) if inner is not None else None


def invert(t: Tuple) -> Tuple:
    proto, src, sport, dst, dport = t
    if proto == 1:
        return (1, dst, sport, src, ICMP_ECHOREPLY if dport == ICMP_ECHO else ICMP_ECHO)
    return (proto, dst, dport, src, sport)


class Conn:
    """One connection.  Not ``Versioned``: every packet of a new connection makes one, and only
    a confirmed one (in the table, a watched dict) decides anything; its one later change,
    ``seen_reply``, is counted where it is made."""

    __slots__ = ("orig", "reply", "seen_reply", "ipvs")

    def __init__(self, orig: Tuple) -> None:
        self.orig = orig
        self.reply = invert(orig)
        self.seen_reply = False
        #: IPVS altered the reply tuple (vs/conntrack): replies are translated back here, while
        #: each packet the other way is sent to its real server by IPVS itself, not by NAT
        self.ipvs = False

    def dnat(self, addr: int, port: Optional[int]) -> None:
        proto, _, sport, dst, dport = self.reply
        self.reply = (proto, addr, sport if proto == 1 or port is None else port, dst, dport)

    def ipvs_alter(self, addr: int) -> None:
        """ip_vs_update_conntrack: the reply comes from the real server ``addr``."""
        self.dnat(addr, None)
        self.ipvs = True

    def snat(self, addr: int) -> None:
        proto, src, sport, _, dport = self.reply
        self.reply = (proto, src, sport, addr, dport)

    def remap_source_port(self, port: int) -> None:
        """Give the translated source another port (ICMP: another echo id) to keep tuples unique."""
        proto, src, sport, dst, dport = self.reply
        self.reply = (proto, src, port, dst, dport) if proto == 1 else (proto, src, sport, dst, port)

    @property
    def source_port(self) -> int:
        """The translated source port (ICMP: echo id) that replies will be addressed to."""
        return self.reply[2] if self.reply[0] == 1 else self.reply[4]

    def manip_related(self, pkt: IPv4, is_reply: bool, dst: bool) -> IPv4:
        """An ICMP error about this connection: the outer destination (or source) as the connection's
        packets get it, and the quoted datagram's source (or destination) translated to match."""
        if dst:
            addr, port = (self.orig[1], self.orig[2]) if is_reply else (self.reply[1], self.reply[2])
        else:
            addr, port = (self.orig[3], self.orig[4]) if is_reply else (self.reply[3], self.reply[4])
        icmp: ICMP = pkt.payload  # type: ignore[assignment]
        quoted: IPv4 = icmp.quoted  # type: ignore[assignment]
        if dst:
            if pkt.dst == addr and quoted.src == addr and _sport(quoted) == port:
                return pkt
            quoted = with_ports(quoted, addr, quoted.dst, port, _dport(quoted))
            return pkt._replace(dst=addr, payload=icmp._replace(data=quoted))
        if pkt.src == addr and quoted.dst == addr and _dport(quoted) == port:
            return pkt
        quoted = with_ports(quoted, quoted.src, addr, _sport(quoted), port)
        return pkt._replace(src=addr, payload=icmp._replace(data=quoted))

    # In both rewrites an ICMP echo's id plays the port: it sits at index 2 of both tuples.

    def manip_dst(self, pkt: IPv4, is_reply: bool) -> IPv4:
        """Destination rewrite (PREROUTING / OUTPUT)."""
        if self.ipvs and not is_reply:
            return pkt  # IPVS rewrites it at LOCAL_IN
        icmp = self.orig[0] == 1
        want, port = (self.orig[1], self.orig[2]) if is_reply else (self.reply[1], self.reply[2])
        if icmp and not is_reply:
            port = _sport(pkt)  # DNAT never changes the echo id
        if pkt.dst == want and (_sport(pkt) if icmp else _dport(pkt)) == port:
            return pkt
        if icmp:
            return with_ports(pkt, pkt.src, want, port, port)
        return with_ports(pkt, pkt.src, want, _sport(pkt), port)

    def manip_src(self, pkt: IPv4, is_reply: bool) -> IPv4:
        """Source rewrite (POSTROUTING / INPUT)."""
        icmp = self.orig[0] == 1
        want, port = (self.orig[3], self.orig[4]) if is_reply else (self.reply[3], self.reply[4])
        if icmp:
            port = _sport(pkt) if is_reply else self.reply[2]
        if pkt.src == want and _sport(pkt) == port:
            return pkt
        if icmp:
            return with_ports(pkt, want, pkt.dst, port, port)
        return with_ports(pkt, want, pkt.dst, port, _dport(pkt))


def _sport(pkt: IPv4) -> int:
    seg = pkt.payload
    return seg.ident if type(seg) is ICMP else seg.sport  # type: ignore[union-attr]


def _dport(pkt: IPv4) -> int:
    seg = pkt.payload
    return seg.ident if type(seg) is ICMP else seg.dport  # type: ignore[union-attr]


class Conntrack(Versioned):
    WATCHED = frozenset({"_table"})

    def __init__(self) -> None:
        self._table: dict[Tuple, tuple[Conn, bool]] = {}

    def lookup(self, pkt: IPv4) -> tuple[Optional[Conn], bool, bool]:
        """(connection, is_reply_direction, is_new); connection None for untracked packets.

        An ICMP error comes back with the connection it is RELATED to and is_new False; the
        caller tells it by its payload (``related``).
        """
        t = tuple_of(pkt)
        if t is None:
            related = _related_tuple(pkt)
            hit = self._table.get(related) if related is not None else None
            return (hit[0], hit[1], False) if hit is not None else (None, False, False)
        hit = self._table.get(t)
        if hit is not None:
            return hit[0], hit[1], False
        return Conn(t), False, True

    def make_unique(self, conn: Conn) -> bool:
        """After source NAT, move to the next free port if another connection has this reply tuple.

        The kernel's ``get_unique_tuple`` keeps the original port when it can and otherwise
        searches the range from a random offset; searching upwards from the original keeps
        runs reproducible and gives the same guarantee: two flows never share a reply tuple.
        False when every port is taken: ``nf_nat_setup_info`` then drops the packet.
        """
        first = conn.source_port
        low = 1 if conn.reply[0] == 1 else 1024
        port = first
        while conn.reply in self._table:
            port = port + 1 if port < 65535 else low
            if port == first:
                return False
            conn.remap_source_port(port)
        return True

    def confirm(self, conn: Conn) -> None:
        """Insert a new connection once its first packet survived the hooks."""
        self._table[conn.orig] = (conn, False)
        self._table[conn.reply] = (conn, True)

    def flush(self) -> None:
        self._table.clear()

    def forget(self, orig: Tuple) -> None:
        """Remove the connection whose original tuple is ``orig`` (``conntrack -D``), if any."""
        hit = self._table.get(orig)
        if hit is not None and not hit[1]:
            conn = hit[0]
            self._table.pop(conn.orig, None)
            self._table.pop(conn.reply, None)

    def __len__(self) -> int:
        return len(self._table) // 2
