"""Exact conversion between the header records of ``packet`` and real frames.

``to_scapy`` builds a scapy frame from an ``Ether`` record and sets every header field
itself, checksums included. scapy's defaults differ from what Linux sends: VXLAN GPE flags,
``conf.neighbor`` lookups for a missing MAC, the local route for a missing ARP ``psrc``.
So a frame depends only on its record, never on the host or on other code that has imported
scapy. ``to_bytes`` encodes the same bytes with ``struct``, fast enough for packet captures;
the tests hold it to ``bytes(to_scapy(frame))`` for every kind of record.

``from_bytes`` goes the other way. It decodes the wire layout with ``struct``, not with
scapy's dissector, for two reasons. First, the round-trip tests then check scapy's encoder
against a second, independent decoder. Second, parsing does not depend on which layers
other code has bound in scapy's process-wide tables. ``from_scapy`` is ``from_bytes`` of a
frame's bytes, so it accepts scapy frames built by hand as well as dissected ones.

This module changes no scapy state at import time. It does not import
``scapy.layers.vxlan``, because that module binds UDP/4789 (and more) to VXLAN for the whole
process. Instead it defines its own private ``_VXLANHeader`` (RFC 7348, 8 bytes). A class
whose name starts with ``_`` is not added to ``conf.layers``, and no ``bind_layers`` call
names it. A decoder recognises VXLAN only by calling ``_vxlan_of`` itself.

The rule both directions share: a record converts if and only if its bytes decode back to
an equal record. So ``to_scapy`` also rejects a record that would not come back unchanged
(an IP fragment, VXLAN without the I flag, raw UDP/4789 bytes that would decode as VXLAN).
``from_bytes`` rejects bytes that a record cannot hold (other ethertypes, IP options,
fragments, TCP options but MSS). Checksums are not checked on input, and they are recomputed on output.
"""

from __future__ import annotations

import hashlib
import struct
from typing import Any, Union

from scapy.fields import FlagsField, ThreeBytesField, X3BytesField, XByteField
from scapy.layers.inet import ICMP as ScapyICMP
from scapy.layers.inet import IP as ScapyIP
from scapy.layers.inet import TCP as ScapyTCP
from scapy.layers.inet import UDP as ScapyUDP
from scapy.layers.l2 import ARP as ScapyARP
from scapy.layers.l2 import Dot1Q as ScapyDot1Q
from scapy.layers.l2 import Ether as ScapyEther
from scapy.packet import Packet, Raw
from scapy.utils import checksum

from netsim.datapath.addr import ip_str, mac_str
from netsim.datapath.packet import (
    ARP,
    ETH_P_8021Q,
    ETH_P_ARP,
    ETH_P_IP,
    ESP,
    ESP_HEADER,
    ICMP,
    ICMP_QUOTE_MAX,
    IPPROTO_ESP,
    IPPROTO_ICMP,
    IPPROTO_TCP,
    IPPROTO_UDP,
    TCP,
    UDP,
    VXLAN,
    VXLAN_FLAG_I,
    VXLAN_PORT,
    Ether,
    IPv4,
)

__all__ = ["from_bytes", "from_scapy", "to_bytes", "to_scapy"]

_IP_MF = 0x1  # "more fragments" bit of the 3-bit IPv4 flags field
_ARP_HEADER = struct.pack("!HHBB", 1, ETH_P_IP, 6, 4)  # Ethernet/IPv4 ARP (RFC 826)

# ICMP types whose scapy header is longer than the 8 bytes that ICMP records hold. scapy
# reads the extra fields from the start of the data: three 32-bit timestamps (types 13
# and 14), an address mask (17 and 18), or a 32-bit "unused" word after id/seq (the
# obsolete domain name request/reply, 37 and 38).
_ICMP_EXTRA = {13: 12, 14: 12, 17: 4, 18: 4, 37: 4, 38: 4}


class _VXLANHeader(Packet):
    """The 8-byte RFC 7348 header exactly as Linux writes it (``vxlan_build_skb``).

    This is not ``scapy.layers.vxlan.VXLAN``. That class reads bytes 1-2 as GPE fields when
    flag 0x04 is set, and importing its module binds UDP/4789 for the whole process.
    """

    name = "VXLAN"
    fields_desc = [
        FlagsField("flags", VXLAN_FLAG_I, 8, ["OAM", "R", "NextProtocol", "Instance", "V1", "V2", "R", "G"]),
        X3BytesField("reserved1", 0),
        ThreeBytesField("vni", 0),
        XByteField("reserved2", 0),
    ]


# --- records -> scapy ---------------------------------------------------------------------


def to_scapy(frame: Ether) -> ScapyEther:
    """A scapy frame whose bytes are exactly what the record describes (no FCS, no padding)."""
    body = frame.payload
    body_pkt = _arp_to_scapy(body) if type(body) is ARP else _ipv4_to_scapy(body)  # type: ignore[arg-type]
    if frame.vlan is None:
        return ScapyEther(dst=mac_str(frame.dst), src=mac_str(frame.src), type=frame.ethertype) / body_pkt
    tag = ScapyDot1Q(prio=0, dei=0, vlan=frame.vlan, type=frame.ethertype)
    return ScapyEther(dst=mac_str(frame.dst), src=mac_str(frame.src), type=ETH_P_8021Q) / tag / body_pkt


def to_bytes(frame: Ether) -> bytes:
    """The frame's bytes, encoded with ``struct`` (a packet capture writes thousands a second).
    ``bytes(to_scapy(frame))`` is the same; the tests hold the two encoders to each other."""
    body = frame.payload
    raw = _arp_bytes(body) if type(body) is ARP else _ipv4_bytes(body)  # type: ignore[arg-type]
    macs = frame.dst.to_bytes(6, "big") + frame.src.to_bytes(6, "big")
    if frame.vlan is None:
        return macs + struct.pack("!H", frame.ethertype) + raw
    return macs + struct.pack("!HHH", ETH_P_8021Q, frame.vlan & 0xFFF, frame.ethertype) + raw


def _arp_bytes(arp: ARP) -> bytes:
    return _ARP_HEADER + struct.pack("!H6sI6sI", arp.op, arp.hwsrc.to_bytes(6, "big"), arp.psrc,
                                     arp.hwdst.to_bytes(6, "big"), arp.pdst)


def _ipv4_bytes(pkt: IPv4) -> bytes:
    if pkt.flags & _IP_MF:
        raise ValueError("IPv4 records cannot be fragments: flags must not contain MF (0x1)")
    seg = pkt.payload
    if type(seg) is ICMP:
        l4 = _icmp_bytes(seg)
    elif type(seg) is TCP:
        # data offset 5 words (6 with the MSS option), then 3 reserved bits and 9 flag bits (NS is bit 8)
        offset = 6 if seg.mss else 5
        head = struct.pack("!HHIIHHHH", seg.sport, seg.dport, seg.seq, seg.ack, offset << 12 | seg.flags,
                           seg.window, 0, 0)
        if seg.mss:
            head += struct.pack("!BBH", 2, 4, seg.mss)
        l4 = _with_checksum(head + seg.data, 16, _pseudo_header(pkt))
    elif type(seg) is ESP:
        l4 = _esp_bytes(pkt, seg)
    else:
        l4 = _udp_bytes(pkt, seg)  # type: ignore[arg-type]
    header = struct.pack("!BBHHHBBHII", 0x45, pkt.tos, pkt.length, pkt.ident, pkt.flags << 13, pkt.ttl, pkt.proto,
                         0, pkt.src, pkt.dst)
    return _with_checksum(header, 10) + l4


def _with_checksum(data: bytes, at: int, pseudo: bytes = b"", zero_as: int = 0) -> bytes:
    value = checksum(pseudo + data) or zero_as
    return data[:at] + struct.pack("!H", value) + data[at + 2:]


def _icmp_bytes(seg: ICMP) -> bytes:
    data: bytes = _ipv4_bytes(seg.quoted)[:ICMP_QUOTE_MAX] if seg.quoted is not None else seg.data  # type: ignore[assignment]
    extra = _ICMP_EXTRA.get(seg.type, 0)
    if len(data) < extra:
        raise ValueError(f"ICMP type {seg.type} needs at least {extra} data bytes (timestamps / address mask)")
    return _with_checksum(struct.pack("!BBHHH", seg.type, seg.code, 0, seg.ident, seg.seq) + data, 2)


def _udp_bytes(pkt: IPv4, seg: UDP) -> bytes:
    data = seg.data
    if type(data) is VXLAN:
        if not data.flags & VXLAN_FLAG_I:
            raise ValueError(f"VXLAN flags {data.flags:#04x} lack the I flag (0x08): the VNI would not be valid")
        # The outer checksum stays 0 ("none"), as Linux sends VXLAN over IPv4 (see _udp_to_scapy).
        vxlan = struct.pack("!B3sI", data.flags, bytes(3), data.vni << 8) + to_bytes(data.inner)
        return struct.pack("!HHHH", seg.sport, seg.dport, pkt.length - 20, 0) + vxlan
    if _vxlan_of(seg.dport, data) is not None:  # type: ignore[arg-type]
        raise ValueError("raw UDP payload to the VXLAN port reads as a VXLAN header: use a VXLAN record")
    head = struct.pack("!HHHH", seg.sport, seg.dport, pkt.length - 20, 0)
    return _with_checksum(head + data, 6, _pseudo_header(pkt), zero_as=0xFFFF)  # type: ignore[operator]


def _arp_to_scapy(arp: ARP) -> ScapyARP:
    return ScapyARP(
        hwtype=1, ptype=ETH_P_IP, hwlen=6, plen=4, op=arp.op,
        hwsrc=mac_str(arp.hwsrc), psrc=ip_str(arp.psrc), hwdst=mac_str(arp.hwdst), pdst=ip_str(arp.pdst),
    )


def _ipv4_to_scapy(pkt: IPv4) -> Packet:
    if pkt.flags & _IP_MF:
        raise ValueError("IPv4 records cannot be fragments: flags must not contain MF (0x1)")
    header = ScapyIP(
        version=4, ihl=5, tos=pkt.tos, len=pkt.length, id=pkt.ident, flags=pkt.flags, frag=0,
        ttl=pkt.ttl, proto=pkt.proto, chksum=0, src=ip_str(pkt.src), dst=ip_str(pkt.dst), options=[],
    )
    header.chksum = checksum(bytes(header))
    return header / _l4_to_scapy(pkt)


def _l4_to_scapy(pkt: IPv4) -> Packet:
    seg = pkt.payload
    if type(seg) is ICMP:
        return _icmp_to_scapy(seg)
    if type(seg) is TCP:
        tcp = _with_data(ScapyTCP(
            sport=seg.sport, dport=seg.dport, seq=seg.seq, ack=seg.ack, dataofs=6 if seg.mss else 5, reserved=0,
            flags=seg.flags, window=seg.window, chksum=0, urgptr=0, options=[("MSS", seg.mss)] if seg.mss else [],
        ), seg.data)
        tcp.chksum = checksum(_pseudo_header(pkt) + bytes(tcp))
        return tcp
    if type(seg) is ESP:
        return Raw(_esp_bytes(pkt, seg))
    return _udp_to_scapy(pkt, seg)  # type: ignore[arg-type]


# ESP (RFC 4303, transport mode) as Docker's encrypted overlays send it: SPI, sequence, an 8-byte
# IV, the encrypted payload with its padding, pad length and next header, and an 8-byte ICV.
# netsim holds no keys: the "ciphertext" is the plaintext XOR a keystream drawn from SHA-256 of
# the SPI, sequence and IV, and the ICV the first 8 bytes of SHA-256 of everything before it. So
# lengths, headers and offsets are Linux's, the bytes do not show the payload, and a frame decodes
# back to its record; they are not AES-GCM and no other tool can decrypt them.

def _keystream(spi: int, seq: int, iv: bytes, length: int) -> bytes:
    out = bytearray()
    block = 0
    while len(out) < length:
        out += hashlib.sha256(struct.pack("!IIQ", spi, seq, block) + iv).digest()
        block += 1
    return bytes(out[:length])


def _esp_bytes(pkt: IPv4, esp: ESP) -> bytes:
    inner = _udp_bytes(pkt._replace(payload=esp.inner), esp.inner)
    plain = inner + bytes(range(1, esp.padding + 1)) + bytes((esp.padding, IPPROTO_UDP))
    iv = struct.pack("!Q", esp.seq)
    cipher = bytes(a ^ b for a, b in zip(plain, _keystream(esp.spi, esp.seq, iv, len(plain))))
    head = struct.pack("!II", esp.spi, esp.seq) + iv + cipher
    return head + hashlib.sha256(head).digest()[:8]


def _esp_from_bytes(seg: bytes) -> ESP:
    if len(seg) < ESP_HEADER + 10:
        raise ValueError(f"truncated ESP: {len(seg)} bytes")
    spi, seq = struct.unpack("!II", seg[:8])
    iv, cipher, icv = seg[8:16], seg[16:-8], seg[-8:]
    if hashlib.sha256(seg[:-8]).digest()[:8] != icv:
        raise ValueError("ESP integrity check failed: not a frame netsim wrote")
    plain = bytes(a ^ b for a, b in zip(cipher, _keystream(spi, seq, iv, len(cipher))))
    pad, next_header = plain[-2], plain[-1]
    if next_header != IPPROTO_UDP:
        raise ValueError(f"ESP carrying IP protocol {next_header} cannot be represented (only UDP)")
    return ESP(spi, seq, _udp_from_bytes(plain[:-2 - pad]))


def _udp_to_scapy(pkt: IPv4, seg: UDP) -> Packet:
    data = seg.data
    if type(data) is VXLAN:
        if not data.flags & VXLAN_FLAG_I:
            raise ValueError(f"VXLAN flags {data.flags:#04x} lack the I flag (0x08): the VNI would not be valid")
        # The outer UDP checksum stays 0, which RFC 768 reads as "no checksum". Linux sends 0
        # for VXLAN over IPv4 unless the device has `udpcsum`, which is off by default and
        # which Docker's overlay driver does not set. RFC 7348 §5 also says it SHOULD be 0.
        vxlan = _VXLANHeader(flags=data.flags, reserved1=0, vni=data.vni, reserved2=0) / to_scapy(data.inner)
        return ScapyUDP(sport=seg.sport, dport=seg.dport, len=pkt.length - 20, chksum=0) / vxlan
    if _vxlan_of(seg.dport, data) is not None:  # type: ignore[arg-type]
        raise ValueError("raw UDP payload to the VXLAN port reads as a VXLAN header: use a VXLAN record")
    udp = _with_data(ScapyUDP(sport=seg.sport, dport=seg.dport, len=pkt.length - 20, chksum=0), data)  # type: ignore[arg-type]
    # RFC 768: a computed 0 goes on the wire as 0xffff, because 0 means "none".
    udp.chksum = checksum(_pseudo_header(pkt) + bytes(udp)) or 0xFFFF
    return udp


def _icmp_to_scapy(seg: ICMP) -> Packet:
    # scapy names the 32-bit "rest of header" differently for each type. The record always
    # holds it as ident (high 16 bits) and seq (low 16 bits). The table below follows the ICMP
    # fields_desc of scapy 2.8. test_every_icmp_type_keeps_its_rest_of_header pins all 256
    # types, so a scapy release that changes the layout fails that test.
    t, rest = seg.type, seg.ident << 16 | seg.seq
    quoted = seg.quoted
    data: bytes = bytes(_ipv4_to_scapy(quoted))[:ICMP_QUOTE_MAX] if quoted is not None else seg.data  # type: ignore[assignment]
    fields: dict[str, Any]
    if t in (0, 8, 13, 14, 15, 16, 17, 18, 37, 38):  # scapy's icmp_id_seq_types
        fields = {"id": seg.ident, "seq": seg.seq}
        extra = _ICMP_EXTRA.get(t, 0)
        if len(data) < extra:
            raise ValueError(f"ICMP type {t} needs at least {extra} data bytes (timestamps / address mask)")
        if extra == 12:
            fields.update(zip(("ts_ori", "ts_rx", "ts_tx"), struct.unpack("!III", data[:12])))
        elif t in (37, 38):
            fields["unused"] = int.from_bytes(data[:4], "big")
        elif extra == 4:
            fields["addr_mask"] = ip_str(int.from_bytes(data[:4], "big"))
        data = data[extra:]
    elif t == 3:
        fields = {"reserved": rest >> 24, "length": rest >> 16 & 0xFF, "nexthopmtu": seg.seq}
    elif t in (11, 12):
        fields = {"reserved" if t == 11 else "ptr": rest >> 24, "length": rest >> 16 & 0xFF, "unused": seg.seq}
    elif t == 5:
        fields = {"gw": ip_str(rest)}
    else:
        fields = {"unused": rest}
    icmp = _with_data(ScapyICMP(type=t, code=seg.code, chksum=0, **fields), data)
    icmp.chksum = checksum(bytes(icmp))
    return icmp


def _pseudo_header(pkt: IPv4) -> bytes:
    """The IPv4 pseudo-header that the TCP and UDP checksums cover (RFC 793, RFC 768)."""
    return struct.pack("!IIBBH", pkt.src, pkt.dst, 0, pkt.proto, pkt.length - 20)


def _with_data(header: Packet, data: bytes) -> Packet:
    # An empty Raw layer adds no bytes. Leaving it out keeps show() output the same as a
    # dissected frame's.
    return header / Raw(load=data) if data else header


# --- bytes / scapy -> records -------------------------------------------------------------


def from_scapy(pkt: Packet) -> Ether:
    """The record for a scapy Ethernet frame, whether built or dissected (see ``from_bytes``)."""
    return from_bytes(bytes(pkt))


def from_bytes(data: bytes) -> Ether:
    """The record for an Ethernet frame without FCS. Trailing padding is ignored.

    Raises ValueError for a frame that the records cannot represent.
    """
    if len(data) < 14:
        raise ValueError(f"truncated Ethernet header: {len(data)} bytes")
    dst, src, ethertype = int.from_bytes(data[0:6], "big"), int.from_bytes(data[6:12], "big"), _u16(data, 12)
    vlan = None
    off = 14
    if ethertype == ETH_P_8021Q:
        if len(data) < 18:
            raise ValueError("truncated 802.1Q tag")
        tci, ethertype = _u16(data, 14), _u16(data, 16)
        if tci >> 12:
            raise ValueError(f"802.1Q priority/DEI {tci >> 12:#x} cannot be represented (records carry only the VLAN id)")
        vlan, off = tci & 0xFFF, 18
    if ethertype == ETH_P_ARP:
        return Ether(dst, src, _arp_from_bytes(data[off:]), vlan)
    if ethertype == ETH_P_IP:
        return Ether(dst, src, _ipv4_from_bytes(data[off:]), vlan)
    raise ValueError(f"ethertype {ethertype:#06x} cannot be represented (only IPv4, ARP, one 802.1Q tag)")


def _arp_from_bytes(data: bytes) -> ARP:
    if len(data) < 28:
        raise ValueError(f"truncated ARP packet: {len(data)} bytes")
    if data[:6] != _ARP_HEADER:
        raise ValueError(f"ARP for hardware/protocol {data[:6].hex()} cannot be represented (only Ethernet/IPv4)")
    op, hwsrc, psrc, hwdst, pdst = struct.unpack("!H6sI6sI", data[6:28])
    return ARP(op, int.from_bytes(hwsrc, "big"), psrc, int.from_bytes(hwdst, "big"), pdst)


def _ipv4_from_bytes(data: bytes) -> IPv4:
    if len(data) < 20:
        raise ValueError(f"truncated IPv4 header: {len(data)} bytes")
    ver_ihl, tos, length, ident, flags_frag, ttl, proto, _csum, src, dst = struct.unpack("!BBHHHBBHII", data[:20])
    if ver_ihl >> 4 != 4:
        raise ValueError(f"IP version {ver_ihl >> 4} in an IPv4 ethertype frame")
    if ver_ihl & 0xF != 5:
        raise ValueError(f"IPv4 options (ihl={ver_ihl & 0xF}) cannot be represented")
    if not 20 <= length <= len(data):
        raise ValueError(f"IPv4 total length {length} does not fit the {len(data)} bytes after the link header")
    flags = flags_frag >> 13
    if flags & _IP_MF or flags_frag & 0x1FFF:
        raise ValueError("IPv4 fragments cannot be represented")
    seg = data[20:length]
    if proto == IPPROTO_ICMP:
        payload: Union[ICMP, TCP, UDP, ESP] = _icmp_from_bytes(seg)
    elif proto == IPPROTO_TCP:
        payload = _tcp_from_bytes(seg)
    elif proto == IPPROTO_UDP:
        payload = _udp_from_bytes(seg)
    elif proto == IPPROTO_ESP:
        payload = _esp_from_bytes(seg)
    else:
        raise ValueError(f"IP protocol {proto} cannot be represented (only ICMP, TCP, UDP)")
    return IPv4(src, dst, payload, ttl=ttl, ident=ident, tos=tos, flags=flags)


def _icmp_from_bytes(seg: bytes) -> ICMP:
    if len(seg) < 8:
        raise ValueError(f"truncated ICMP header: {len(seg)} bytes")
    t, code, _csum, ident, seq = struct.unpack("!BBHHH", seg[:8])
    if len(seg) - 8 < _ICMP_EXTRA.get(t, 0):
        raise ValueError(f"truncated ICMP type {t} (timestamps / address mask)")
    return ICMP(t, code, ident, seq, seg[8:])


def _tcp_from_bytes(seg: bytes) -> TCP:
    if len(seg) < 20:
        raise ValueError(f"truncated TCP header: {len(seg)} bytes")
    sport, dport, seq, ack, off_flags, window, _csum, urgptr = struct.unpack("!HHIIHHHH", seg[:20])
    mss = 0
    if off_flags >> 12 == 6 and len(seg) >= 24 and seg[20:22] == b"\x02\x04":
        mss = struct.unpack("!H", seg[22:24])[0]
    if off_flags >> 12 != 5 and not mss:
        raise ValueError(f"TCP options (data offset {off_flags >> 12}) other than one MSS cannot be represented")
    if off_flags & 0x0E00 or urgptr:
        raise ValueError("TCP reserved bits or urgent pointer cannot be represented")
    return TCP(sport, dport, seq, ack, off_flags & 0x1FF, window, seg[24 if mss else 20:], mss)


def _udp_from_bytes(seg: bytes) -> UDP:
    if len(seg) < 8:
        raise ValueError(f"truncated UDP header: {len(seg)} bytes")
    sport, dport, length, _csum = struct.unpack("!HHHH", seg[:8])
    if length != len(seg):
        raise ValueError(f"UDP length {length} differs from the {len(seg)} bytes the IPv4 header gives it")
    data = seg[8:]
    vxlan = _vxlan_of(dport, data)
    return UDP(sport, dport, data if vxlan is None else vxlan)


def _vxlan_of(dport: int, data: bytes) -> VXLAN | None:
    """The VXLAN record in a UDP payload, or None if the payload is not VXLAN.

    This is the explicit dispatch that replaces ``bind_layers(UDP, VXLAN)``. The rule is
    the one Linux ``vxlan_rcv`` applies: destination port 4789, the I flag set, and the
    reserved fields zero. A VXLAN header around an inner frame that the records cannot
    represent raises ValueError.
    """
    if dport != VXLAN_PORT or len(data) < 8:
        return None
    flags, reserved1, vni_reserved2 = struct.unpack("!B3sI", data[:8])
    if not flags & VXLAN_FLAG_I or reserved1 != b"\0\0\0" or vni_reserved2 & 0xFF:
        return None
    try:
        inner = from_bytes(data[8:])
    except ValueError as exc:
        raise ValueError(f"inside VXLAN: {exc}") from exc
    return VXLAN(vni_reserved2 >> 8, inner, flags)


def _u16(data: bytes, off: int) -> int:
    return int.from_bytes(data[off : off + 2], "big")
