"""Compact, immutable header records: what the forwarding core moves.

A frame is ``Ether`` whose payload is ``ARP`` or ``IPv4``; an ``IPv4`` carries ``ICMP``, ``UDP``
or ``TCP``; a ``UDP`` datagram to the VXLAN port carries ``VXLAN`` around an inner ``Ether``.
Addresses are ints (see ``addr``).  Records are NamedTuples because the core builds and
rewrites millions of them (NAT, TTL), and building a tuple is the cheapest immutable
update Python has.  ``netsim.datapath.frames`` converts them to and from scapy, byte-exact.
"""

from __future__ import annotations

from typing import NamedTuple, Optional, Union

ETH_P_IP = 0x0800
ETH_P_ARP = 0x0806
ETH_P_8021Q = 0x8100

IPPROTO_ICMP = 1
IPPROTO_TCP = 6
IPPROTO_UDP = 17
IPPROTO_ESP = 50

ICMP_ECHOREPLY = 0
ICMP_DEST_UNREACH = 3
ICMP_ECHO = 8
ICMP_TIME_EXCEEDED = 11
ICMP_PORT_UNREACH = 3  # a code of ICMP_DEST_UNREACH
ICMP_FRAG_NEEDED = 4  # a code of ICMP_DEST_UNREACH; the next-hop MTU sits in the low half of the rest

#: Linux quotes the offending datagram up to a 576-byte error (icmp_send): 576 - 20 - 8 bytes.
ICMP_QUOTE_MAX = 548

ARPOP_REQUEST = 1
ARPOP_REPLY = 2

IP_DF = 0x2  # the "don't fragment" bit of the 3-bit flags field

TCP_FIN, TCP_SYN, TCP_RST, TCP_PSH, TCP_ACK = 0x01, 0x02, 0x04, 0x08, 0x10

VXLAN_FLAG_I = 0x08
VXLAN_PORT = 4789  # IANA; Linux's own default would be 8472, Docker always passes 4789


class ICMP(NamedTuple):
    type: int
    code: int
    ident: int = 0  # echo: identifier; other types: high half of the 32-bit "rest of header"
    seq: int = 0  # echo: sequence number; other types: low half
    #: an error's quoted datagram is kept as its record, so conntrack and NAT can read and
    #: rewrite it (as the kernel does in place); on the wire it is its first ICMP_QUOTE_MAX bytes
    data: Union[bytes, "IPv4"] = b""

    @property
    def is_echo(self) -> bool:
        return self.type in (ICMP_ECHO, ICMP_ECHOREPLY)

    @property
    def quoted(self) -> Optional["IPv4"]:
        """The datagram an error message is about, if this is one."""
        return self.data if type(self.data) is IPv4 else None


class TCP(NamedTuple):
    sport: int
    dport: int
    seq: int = 0
    ack: int = 0
    flags: int = TCP_SYN
    window: int = 64240
    data: bytes = b""
    mss: int = 0  # the MSS option a SYN carries (RFC 9293 3.7.1); 0: no option, the only one modelled


class VXLAN(NamedTuple):
    vni: int
    inner: "Ether"
    flags: int = VXLAN_FLAG_I


class UDP(NamedTuple):
    sport: int
    dport: int
    data: Union[bytes, VXLAN] = b""


class ESP(NamedTuple):
    """IPsec ESP in transport mode (RFC 4303) around a datagram, as Docker's encrypted overlays send
    VXLAN: AES-GCM (``rfc4106(gcm(aes))``) with an 8-byte IV and an 8-byte ICV (encryption.go)."""

    spi: int
    seq: int
    inner: "UDP"  # the protected payload
    sport: int = 0  # ESP has no ports: conntrack and netfilter see it as the generic protocol 50
    dport: int = 0

    @property
    def padding(self) -> int:
        """Bytes of padding so payload, pad length and next header end on a 4-byte boundary."""
        return -(l4_length(self.inner) + 2) % 4

    @property
    def length(self) -> int:
        return ESP_HEADER + l4_length(self.inner) + self.padding + ESP_TRAILER


ESP_HEADER = 16  # SPI 4 + sequence 4 + IV 8
ESP_TRAILER = 10  # pad length 1 + next header 1 + ICV 8
#: What ESP adds before padding (B49): 26 bytes, so an encrypted overlay's MTU is (1450 - 26) & ~3.
ESP_OVERHEAD = ESP_HEADER + ESP_TRAILER

L4 = Union[ICMP, TCP, UDP, ESP]


class IPv4(NamedTuple):
    src: int
    dst: int
    payload: L4
    ttl: int = 64
    ident: int = 0
    tos: int = 0
    flags: int = IP_DF

    @property
    def proto(self) -> int:
        return _PROTO_OF[type(self.payload)]

    @property
    def length(self) -> int:
        return 20 + l4_length(self.payload)


class ARP(NamedTuple):
    op: int
    hwsrc: int
    psrc: int
    hwdst: int
    pdst: int


class Ether(NamedTuple):
    dst: int
    src: int
    payload: Union[IPv4, ARP]
    vlan: Optional[int] = None  # 802.1Q VLAN id, None = untagged

    @property
    def ethertype(self) -> int:
        return ETH_P_ARP if type(self.payload) is ARP else ETH_P_IP

    @property
    def length(self) -> int:
        """Bytes on the wire without FCS (no padding to 60: that is the NIC's business)."""
        body = 28 if type(self.payload) is ARP else self.payload.length  # type: ignore[union-attr]
        return 14 + (4 if self.vlan is not None else 0) + body


_PROTO_OF = {ICMP: IPPROTO_ICMP, TCP: IPPROTO_TCP, UDP: IPPROTO_UDP, ESP: IPPROTO_ESP}


def l4_length(seg: L4) -> int:
    if type(seg) is ICMP:
        quoted = seg.data  # on the hot path: no property call
        return 8 + (min(quoted.length, ICMP_QUOTE_MAX) if type(quoted) is IPv4 else len(quoted))
    if type(seg) is TCP:
        return (24 if seg.mss else 20) + len(seg.data)
    if type(seg) is ESP:
        return seg.length
    data = seg.data  # type: ignore[union-attr]  # UDP
    return 8 + (8 + data.inner.length if type(data) is VXLAN else len(data))


def ports(pkt: IPv4) -> tuple[int, int]:
    """The (source, destination) "ports" conntrack keys a packet on; ICMP echo uses its id."""
    seg = pkt.payload
    if type(seg) is ICMP:
        return seg.ident, seg.ident
    return seg.sport, seg.dport  # type: ignore[union-attr]


def with_ports(pkt: IPv4, src: int, dst: int, sport: int, dport: int) -> IPv4:
    """A copy with rewritten addresses and ports, as NAT does (ICMP echo: the id is the port)."""
    seg = pkt.payload
    if isinstance(seg, ICMP):
        if seg.is_echo and seg.ident != sport:
            seg = seg._replace(ident=sport)
    elif seg.sport != sport or seg.dport != dport:
        seg = seg._replace(sport=sport, dport=dport)
    return IPv4(src, dst, seg, pkt.ttl, pkt.ident, pkt.tos, pkt.flags)
