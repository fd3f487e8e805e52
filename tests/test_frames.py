"""Tests for netsim.datapath.frames: exact conversion between records and wire bytes.

Three kinds of test live here. Hypothesis round trips cover every record type. Literal frames
are pinned as hex; their checksums are checked by this file's own RFC 1071 code, not by
scapy's. A subprocess test shows that importing the module leaves scapy's layer bindings alone.
"""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scapy.layers.inet import IP as ScapyIP
from scapy.layers.inet import UDP as ScapyUDP
from scapy.layers.l2 import Ether as ScapyEther
from scapy.packet import Raw

from netsim.datapath.addr import BROADCAST_MAC, ip, mac
from netsim.datapath.frames import from_bytes, from_scapy, to_bytes, to_scapy
from netsim.datapath.packet import (
    ARP,
    ARPOP_REPLY,
    ARPOP_REQUEST,
    ICMP,
    ICMP_DEST_UNREACH,
    ICMP_ECHO,
    ICMP_ECHOREPLY,
    ICMP_TIME_EXCEEDED,
    IP_DF,
    TCP,
    TCP_ACK,
    TCP_SYN,
    UDP,
    VXLAN,
    VXLAN_FLAG_I,
    VXLAN_PORT,
    Ether,
    IPv4,
)

REPO = Path(__file__).resolve().parents[1]


def rfc1071(data: bytes) -> int:
    """Internet checksum, written out here so that scapy's own code does not check itself."""
    if len(data) % 2:
        data += b"\0"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def test_rfc1071_known_answer() -> None:
    # The IPv4 header example from the Wikipedia "Internet checksum" article: the checksum is 0xb861.
    assert rfc1071(bytes.fromhex("450000730000400040110000c0a80001c0a800c7")) == 0xB861


# --- strategies ----------------------------------------------------------------------------

macs = st.integers(0, 2**48 - 1)
addrs = st.integers(0, 2**32 - 1)
u16 = st.integers(0, 0xFFFF)
u32 = st.integers(0, 0xFFFFFFFF)
payloads = st.binary(max_size=64)

icmp_echoes = st.builds(
    ICMP, type=st.sampled_from([ICMP_ECHO, ICMP_ECHOREPLY]), code=st.just(0), ident=u16, seq=u16, data=payloads
)
icmp_errors = st.builds(
    ICMP, type=st.sampled_from([ICMP_DEST_UNREACH, ICMP_TIME_EXCEEDED]), code=st.integers(0, 15),
    ident=u16, seq=u16, data=payloads,
)
tcps = st.builds(TCP, sport=u16, dport=u16, seq=u32, ack=u32, flags=st.integers(0, 0x1FF), window=u16, data=payloads,
                 mss=st.one_of(st.just(0), st.integers(1, 0xFFFF)))
# Raw bytes to the VXLAN port could read as a VXLAN header. to_scapy rejects those, and
# test_raw_udp_to_vxlan_port covers them, so the strategy leaves the port out.
udp_raws = st.builds(UDP, sport=u16, dport=u16.filter(lambda p: p != VXLAN_PORT), data=payloads)


def ipv4s(l4: st.SearchStrategy) -> st.SearchStrategy[IPv4]:
    return st.builds(
        IPv4, src=addrs, dst=addrs, payload=l4, ttl=st.integers(1, 255), ident=u16,
        tos=st.integers(0, 255), flags=st.sampled_from([0, IP_DF]),
    )


inner_frames = st.builds(Ether, dst=macs, src=macs, payload=ipv4s(icmp_echoes), vlan=st.none())
vxlans = st.builds(
    VXLAN, vni=st.integers(0, 2**24 - 1), inner=inner_frames,
    flags=st.just(VXLAN_FLAG_I) | st.integers(0, 255).map(lambda f: f | VXLAN_FLAG_I),
)
udp_vxlans = st.builds(UDP, sport=u16, dport=st.just(VXLAN_PORT), data=vxlans)
arps = st.builds(ARP, op=st.sampled_from([ARPOP_REQUEST, ARPOP_REPLY]), hwsrc=macs, psrc=addrs, hwdst=macs, pdst=addrs)
frames = st.builds(
    Ether, dst=macs, src=macs,
    payload=arps | ipv4s(icmp_echoes | icmp_errors | tcps | udp_raws | udp_vxlans),
    vlan=st.none() | st.integers(0, 4094),
)

ROUND_TRIP = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# --- round trips ---------------------------------------------------------------------------


@ROUND_TRIP
@given(frames)
def test_bytes_round_trip(frame: Ether) -> None:
    wire = to_bytes(frame)
    assert len(wire) == frame.length
    assert from_bytes(wire) == frame
    assert_checksums(frame, wire)


@ROUND_TRIP
@given(frames)
def test_scapy_round_trip(frame: Ether) -> None:
    pkt = to_scapy(frame)
    assert from_scapy(pkt) == frame
    # The bytes come from the record alone: building twice gives the same bytes.
    assert bytes(pkt) == to_bytes(frame)


@settings(max_examples=300, deadline=None)
@given(
    st.integers(0, 255), st.integers(0, 255), u16, u16, st.binary(max_size=200),
)
def test_every_icmp_type_keeps_its_rest_of_header(t: int, code: int, ident: int, seq: int, data: bytes) -> None:
    # scapy gives the 32-bit "rest of header" different field names for each ICMP type.
    # Whatever the type, the record's ident/seq must land at bytes 4..8 of the ICMP header.
    needed = {13: 12, 14: 12, 17: 4, 18: 4, 37: 4, 38: 4}.get(t, 0)
    frame = Ether(1, 2, IPv4(ip("10.0.0.1"), ip("10.0.0.2"), ICMP(t, code, ident, seq, data)))
    if len(data) < needed:
        with pytest.raises(ValueError, match="ICMP type"):
            to_bytes(frame)
        return
    wire = to_bytes(frame)
    assert wire[34:] == struct.pack("!BB", t, code) + wire[36:38] + struct.pack("!HH", ident, seq) + data
    assert rfc1071(wire[34:]) == 0
    assert from_bytes(wire) == frame


def assert_checksums(frame: Ether, wire: bytes) -> None:
    """Check every checksum in ``wire`` with this file's RFC 1071, walking along the record."""
    off = 14 if frame.vlan is None else 18
    pkt = frame.payload
    if isinstance(pkt, ARP):
        return
    assert rfc1071(wire[off : off + 20]) == 0, "IPv4 header checksum"
    seg = wire[off + 20 : off + pkt.length]
    pseudo = struct.pack("!IIBBH", pkt.src, pkt.dst, 0, pkt.proto, len(seg))
    l4 = pkt.payload
    if type(l4) is ICMP:
        assert rfc1071(seg) == 0, "ICMP checksum"
    elif type(l4) is TCP:
        assert rfc1071(pseudo + seg) == 0, "TCP checksum"
    elif type(l4.data) is VXLAN:
        assert seg[6:8] == b"\0\0", "outer UDP checksum of VXLAN is 0"
        assert_checksums(l4.data.inner, seg[16:])
    else:
        assert seg[6:8] != b"\0\0", "a UDP checksum that is computed is never sent as 0"
        assert rfc1071(pseudo + seg) == 0, "UDP checksum"


# --- pinned frames -------------------------------------------------------------------------

ECHO_PAYLOAD = bytes(range(56))  # ping's default 56 data bytes, as a recognisable pattern


def test_icmp_echo_request_bytes() -> None:
    frame = Ether(
        mac("02:42:ac:11:00:03"), mac("02:42:ac:11:00:02"),
        IPv4(ip("172.17.0.2"), ip("172.17.0.3"), ICMP(ICMP_ECHO, 0, 0x1234, 1, ECHO_PAYLOAD), ident=0xB7C1),
    )
    expected = bytes.fromhex(
        "0242ac110003 0242ac110002 0800"  # Ether: dst, src, IPv4
        "45 00 0054 b7c1 4000 40 01 2ac0 ac110002 ac110003"  # IPv4: len 84, DF, ttl 64, ICMP, csum
        "08 00 eeb7 1234 0001"  # ICMP echo request, csum, id, seq
    ) + ECHO_PAYLOAD
    assert to_bytes(frame) == expected
    assert len(expected) == 14 + 84 == frame.length
    assert rfc1071(expected[14:34]) == 0 and rfc1071(expected[34:]) == 0
    assert from_bytes(expected) == frame


def test_arp_request_bytes() -> None:
    # Linux asks "who-has 172.17.0.3 tell 172.17.0.2" with a broadcast destination and an all-zero target MAC.
    frame = Ether(
        BROADCAST_MAC, mac("02:42:ac:11:00:02"),
        ARP(ARPOP_REQUEST, mac("02:42:ac:11:00:02"), ip("172.17.0.2"), 0, ip("172.17.0.3")),
    )
    expected = bytes.fromhex(
        "ffffffffffff 0242ac110002 0806"  # Ether: broadcast, src, ARP
        "0001 0800 06 04 0001"  # Ethernet/IPv4, hlen 6, plen 4, request
        "0242ac110002 ac110002 000000000000 ac110003"  # sender MAC/IP, target MAC/IP
    )
    assert to_bytes(frame) == expected
    assert len(expected) == 42 == frame.length
    # A NIC pads a 42-byte frame to 60. The padding is not part of the record.
    assert from_bytes(expected + bytes(18)) == frame


def test_vxlan_frame_bytes_b41() -> None:
    # docker-semantics B41: alpine1 (10.0.1.4 on H1) pings alpine2 (10.0.1.5 on H2) over overlay o1, VNI 4097.
    inner = Ether(
        mac("02:42:0a:00:01:05"), mac("02:42:0a:00:01:04"),
        IPv4(ip("10.0.1.4"), ip("10.0.1.5"), ICMP(ICMP_ECHO, 0, 0x1234, 1, ECHO_PAYLOAD), ident=0x5C21),
    )
    frame = Ether(
        mac("52:54:00:00:00:12"), mac("52:54:00:00:00:11"),
        # Linux's VXLAN device leaves DF clear on the outer header by default (df unset).
        IPv4(ip("192.168.1.11"), ip("192.168.1.12"), UDP(49152, VXLAN_PORT, VXLAN(4097, inner)), ident=0x3A7F, flags=0),
    )
    vxlan_header = bytes.fromhex("08 000000 001001 00")  # I flag, reserved, VNI 4097, reserved
    assert vxlan_header == bytes.fromhex("0800000000100100")
    expected = bytes.fromhex(
        "525400000012 525400000011 0800"  # outer Ether
        "45 00 0086 3a7f 0000 40 11 bc80 c0a8010b c0a8010c"  # outer IPv4: len 134, no DF, UDP
        "c000 12b5 0072 0000"  # UDP 49152 -> 4789, len 114, checksum 0
    ) + vxlan_header + bytes.fromhex(
        "02420a000105 02420a000104 0800"  # inner Ether
        "45 00 0054 5c21 4000 40 01 c87f 0a000104 0a000105"  # inner IPv4: len 84, DF
        "08 00 eeb7 1234 0001"  # ICMP echo request
    ) + ECHO_PAYLOAD
    wire = to_bytes(frame)
    assert wire == expected
    assert wire[42:50] == vxlan_header
    inner_ip_length = 84
    assert len(wire) == inner_ip_length + 50 + 14 == frame.length
    assert rfc1071(wire[14:34]) == 0 and rfc1071(wire[64:84]) == 0 and rfc1071(wire[84:]) == 0
    assert from_bytes(wire) == frame


def test_vlan_tag_bytes() -> None:
    frame = Ether(BROADCAST_MAC, 2, ARP(ARPOP_REPLY, 2, 1, 3, 4), vlan=100)
    assert to_bytes(frame)[12:18] == bytes.fromhex("8100 0064 0806")  # TPID, PCP 0 DEI 0 VID 100, ARP


# --- scapy frames from elsewhere -----------------------------------------------------------


def test_from_scapy_fills_unset_fields_like_scapy() -> None:
    # A hand-built frame with scapy's automatic lengths and checksums.
    pkt = ScapyEther(dst="02:42:ac:11:00:03", src="02:42:ac:11:00:02") / ScapyIP(
        src="172.17.0.2", dst="172.17.0.3", ttl=63, id=7, flags="DF"
    ) / ScapyUDP(sport=5353, dport=53) / Raw(b"query")
    assert from_scapy(pkt) == Ether(
        mac("02:42:ac:11:00:03"), mac("02:42:ac:11:00:02"),
        IPv4(ip("172.17.0.2"), ip("172.17.0.3"), UDP(5353, 53, b"query"), ttl=63, ident=7),
    )


def test_from_scapy_of_dissected_padded_frame() -> None:
    frame = Ether(1, 2, IPv4(3, 4, TCP(40000, 80, 1, 0, TCP_SYN)))
    assert from_scapy(ScapyEther(to_bytes(frame) + bytes(6))) == frame


# --- what records cannot represent ---------------------------------------------------------

_BASE = to_bytes(Ether(1, 2, IPv4(3, 4, UDP(1000, 2000, b"data"))))  # IPv4 at 14, UDP at 34


def _patched(data: bytes, off: int, new: bytes) -> bytes:
    return data[:off] + new + data[off + len(new) :]


@pytest.mark.parametrize(
    ("wire", "message"),
    [
        (_patched(_BASE, 12, b"\x86\xdd"), "ethertype 0x86dd"),
        (_patched(_BASE, 14, b"\x46"), "IPv4 options"),
        (_patched(_BASE, 20, b"\x20\x00"), "fragments"),  # MF set
        (_patched(_BASE, 20, b"\x00\x10"), "fragments"),  # fragment offset 16
        (_patched(_BASE, 23, b"\x2f"), "IP protocol 47"),  # GRE
        (_patched(_BASE, 16, b"\x00\xff"), "total length 255"),
        (_patched(_BASE, 38, b"\x00\x09"), "UDP length 9"),
        (_BASE[:30], "truncated IPv4"),
        (to_bytes(Ether(1, 2, IPv4(3, 4, TCP(1, 2)))).replace(b"\x50\x02", b"\x60\x02", 1) + bytes(4), "TCP options"),
        (_patched(to_bytes(Ether(1, 2, ARP(1, 2, 3, 4, 5))), 14, b"\x00\x06"), "only Ethernet/IPv4"),
        (_patched(to_bytes(Ether(1, 2, ARP(1, 2, 3, 4, 5), vlan=7)), 14, b"\xa0\x07"), "priority"),
    ],
)
def test_unrepresentable_bytes_are_rejected(wire: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        from_bytes(wire)


def test_vxlan_with_unrepresentable_inner_frame() -> None:
    wire = to_bytes(Ether(1, 2, IPv4(3, 4, UDP(1, VXLAN_PORT, VXLAN(5, Ether(6, 7, ARP(1, 2, 3, 4, 5)))))))
    with pytest.raises(ValueError, match="inside VXLAN: ethertype 0x86dd"):
        from_bytes(_patched(wire, 42 + 8 + 12, b"\x86\xdd"))


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (Ether(1, 2, IPv4(3, 4, UDP(1, 2), flags=IP_DF | 0x1)), "fragments"),
        (Ether(1, 2, IPv4(3, 4, UDP(1, VXLAN_PORT, VXLAN(5, Ether(6, 7, ARP(1, 2, 3, 4, 5)), flags=0)))), "I flag"),
    ],
)
def test_records_that_would_not_come_back_are_rejected(frame: Ether, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        to_scapy(frame)


def test_raw_udp_to_vxlan_port() -> None:
    # Bytes that are not a VXLAN header stay bytes. Bytes that are one must be a VXLAN record.
    not_vxlan = Ether(1, 2, IPv4(3, 4, UDP(1, VXLAN_PORT, b"\x00" * 30)))
    assert from_bytes(to_bytes(not_vxlan)) == not_vxlan
    looks_like_vxlan = to_bytes(Ether(1, 2, IPv4(3, 4, UDP(1, VXLAN_PORT, VXLAN(9, Ether(6, 7, ARP(1, 2, 3, 4, 5)))))))
    raw = Ether(1, 2, IPv4(3, 4, UDP(1, VXLAN_PORT, looks_like_vxlan[42:])))
    with pytest.raises(ValueError, match="use a VXLAN record"):
        to_scapy(raw)


def test_tcp_flag_combinations_reach_the_wire() -> None:
    wire = to_bytes(Ether(1, 2, IPv4(3, 4, TCP(1, 2, flags=TCP_SYN | TCP_ACK))))
    assert wire[34 + 12 : 34 + 14] == b"\x50\x12"  # data offset 5, SYN+ACK


# --- no process-wide scapy state -----------------------------------------------------------

_BINDINGS_PROBE = textwrap.dedent(
    """
    import scapy.layers.inet, scapy.layers.l2
    from scapy.config import conf
    from scapy.layers.l2 import Ether

    def bindings():
        return {
            cls: (list(cls.payload_guess), repr(getattr(cls, "_overload_fields", {})))
            for cls in conf.layers
        }

    def udp_4789_payload(wire):
        return type(Ether(wire)["UDP"].payload).__name__

    before_layers, before = list(conf.layers), bindings()
    from netsim.datapath.frames import to_bytes
    from netsim.datapath.packet import ARP, IPv4, UDP, VXLAN, Ether as E
    wire = to_bytes(E(1, 2, IPv4(3, 4, UDP(1, 4789, VXLAN(5, E(6, 7, ARP(1, 2, 3, 4, 5)))))))
    assert "scapy.layers.vxlan" not in __import__("sys").modules, "scapy.layers.vxlan was imported"
    assert list(conf.layers) == before_layers, "conf.layers changed"
    assert bindings() == before, "layer bindings changed"
    assert udp_4789_payload(wire) == "Raw", udp_4789_payload(wire)
    """
)


def test_import_leaves_scapy_bindings_alone() -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    done = subprocess.run([sys.executable, "-c", _BINDINGS_PROBE], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("icmp_type", range(256))
def test_every_icmp_type_round_trips(icmp_type: int) -> None:
    """Exhaustive over types (the property test above samples them): 16 data bytes cover every extra field."""
    frame = Ether(1, 2, IPv4(ip("10.0.0.1"), ip("10.0.0.2"), ICMP(icmp_type, 0, 0x1234, 0x5678, bytes(range(16)))))
    assert from_bytes(to_bytes(frame)) == frame


def test_esp_transport_mode_bytes_have_linux_offsets_and_decode_back() -> None:
    # B49: SPI, sequence, 8-byte IV, then the (pseudo-)ciphertext with padding, pad length,
    # next header (17), and an 8-byte ICV: 26 bytes and the padding on top of the datagram.
    from netsim.datapath.packet import ESP, UDP, VXLAN, ARP, ARPOP_REQUEST, Ether as E, IPv4 as IP4

    inner = UDP(40000, 4789, VXLAN(4097, E(0xFFFFFFFFFFFF, 0x02420A000102, ARP(ARPOP_REQUEST, 0x02420A000102, 1, 0, 2))))
    esp = ESP(0x1234, 7, inner)
    frame = E(0x525400000002, 0x525400000001, IP4(0xC0A8640B, 0xC0A8640C, esp, ttl=64))
    raw = to_bytes(frame)
    assert raw[14 + 9] == 50, "IP protocol ESP"
    assert raw[34:42] == bytes.fromhex("0000123400000007") and raw[42:50] == (7).to_bytes(8, "big")
    assert len(raw) == 14 + 20 + 16 + 8 + 8 + 42 + esp.padding + 10
    assert (8 + 8 + 42 + esp.padding + 2) % 4 == 0
    assert from_scapy(to_scapy(frame)) == frame
