"""A VXLAN device (``drivers/net/vxlan``): an L2 segment carried in UDP between hosts.

The device lives in one namespace (Docker's overlay namespace, enslaved to its bridge) while
its UDP socket belongs to another (the host's, where the device was created before being
moved): what it sends is encapsulated and handed to that namespace's ``ip_local_out``, and
what arrives on the socket's port is demultiplexed by VNI to the device (``vxlan_rcv``).

The FDB maps an inner MAC to the remote VTEP.  Docker's overlay driver writes static entries
from gossip (``bridge fdb add MAC dev vx-... dst VTEP self permanent``) and creates the device
with ``learning``, so a frame from an unknown MAC teaches its source VTEP (``vxlan_snoop``),
and a frame whose source contradicts a static entry is dropped.  With ``proxy`` on, the device
answers ARP requests from its namespace's neighbour table (``arp_reduce``) and nothing is
flooded: there is no all-zeros entry, so a frame for an unknown MAC, or a broadcast, goes
nowhere (B43).  A DF packet that would not fit the underlay after the 50 bytes of
encapsulation is answered with ICMP fragmentation needed, as ``skb_tunnel_check_pmtu`` does
for a bridged tunnel: the error comes back through the bridge, from the inner destination.
"""

from __future__ import annotations

import zlib
from typing import TYPE_CHECKING

from .addr import BROADCAST_MAC, ip_str, is_multicast_mac, mac_str
from .device import NetDevice
from .drop import DropReason
from .netns import NUD_REACHABLE, XFRM_MARK
from .packet import (ARP, ARPOP_REPLY, ARPOP_REQUEST, ICMP, ICMP_DEST_UNREACH, ICMP_FRAG_NEEDED, IP_DF, UDP, VXLAN,
                     VXLAN_FLAG_I, VXLAN_PORT, Ether, IPv4)
from .skb import Skb

if TYPE_CHECKING:
    from .netns import Namespace
    from .world import World

__all__ = ["Vxlan", "VxlanSocket", "VXLAN_OVERHEAD"]

#: What encapsulation adds against the underlay's IP MTU: inner Ethernet 14 + VXLAN 8 + UDP 8 + IPv4 20.
VXLAN_OVERHEAD = 50
#: A learned FDB entry lives this long after the last frame from its MAC (``ageing``, 300 s by default).
FDB_AGEING = 300.0
# udp_flow_src_port: the outer source port is a hash of the inner flow, in the local port range.
_SPORT_LOW, _SPORT_HIGH = 32768, 60999


class VxlanSocket:
    """The UDP socket of one (namespace, port): every VXLAN device created there shares it (vxlan_sock)."""

    udp_encap = True  # UDP_ENCAP_VXLAN: the kernel decapsulates, nothing is delivered up the stack

    def __init__(self, ns: "Namespace", port: int) -> None:
        self.ns = ns
        self.port = port
        self.devices: dict[int, "Vxlan"] = {}  # VNI -> device
        ns.sockets[("udp", port)] = self.rcv

    @classmethod
    def of(cls, ns: "Namespace", port: int) -> "VxlanSocket":
        owner = getattr(ns.sockets.get(("udp", port)), "__self__", None)
        return owner if isinstance(owner, cls) else cls(ns, port)

    def rcv(self, ns: "Namespace", skb: Skb) -> None:
        """vxlan_rcv: check the header, find the device by VNI, hand it the inner frame."""
        pkt: IPv4 = skb.frame.payload  # type: ignore[assignment]
        data = pkt.payload.data  # type: ignore[union-attr]
        if type(data) is not VXLAN or not data.flags & VXLAN_FLAG_I:
            skb.drop(ns.name, "-", DropReason.VXLAN_INVALID_HDR, f"udp/{self.port} datagram without a VXLAN header")
            return
        dev = self.devices.get(data.vni)
        if dev is None:
            skb.drop(ns.name, "-", DropReason.VXLAN_VNI_NOT_FOUND, f"vni {data.vni}")
            return
        if dev.encrypted and not skb.secpath:
            skb.drop(ns.name, "-", DropReason.NETFILTER_DROP,
                     f"plaintext VXLAN for encrypted vni {data.vni} (INPUT -m policy --dir in --pol none -j DROP)")
            return
        dev.vxlan_rcv(skb, pkt.src, data.inner)


class Vxlan(NetDevice):
    kind = "vxlan"
    WATCHED = NetDevice.WATCHED | {"fdb", "static"}  # not ``seen``: a refresh decides nothing until it ages

    def __init__(self, world: "World", name: str, mac: int, vni: int, underlay: "Namespace", local: int,
                 port: int = VXLAN_PORT, mtu: int = 1450, learning: bool = True, proxy: bool = True,
                 encrypted: bool = False) -> None:
        super().__init__(world, name, mac, mtu)
        self.vni = vni
        self.underlay = underlay  # the namespace of its socket, where encapsulated packets are routed
        self.local = local  # the outer source address (Docker's data-path address)
        self.port = port
        self.learning = learning
        self.proxy = proxy
        # An encrypted overlay: its datagrams carry the xfrm mark (Docker's mangle OUTPUT rule on
        # its VNI), and plaintext for its VNI is refused (INPUT -m policy --dir in --pol none -j DROP).
        self.encrypted = encrypted
        self.fdb: dict[int, int] = {}  # inner MAC -> remote VTEP address
        self.static: set[int] = set()  # MACs of entries written by the control plane
        self.seen: dict[int, float] = {}  # learned MAC -> when a frame from it last arrived
        self.ageing = FDB_AGEING
        self.sock = VxlanSocket.of(underlay, port)
        self.sock.devices[vni] = self

    def close(self) -> None:
        """The device is deleted: its VNI stops being received."""
        if self.sock.devices.get(self.vni) is self:
            del self.sock.devices[self.vni]

    # ---- the FDB ----------------------------------------------------------------------------

    def fdb_add(self, mac: int, remote: int, replace: bool = True) -> bool:
        """``bridge fdb replace MAC dev vx-... dst REMOTE self permanent``; with ``replace=False``
        an exclusive create (``bridge fdb add``), which fails with EEXIST, returning False, when
        any entry for the MAC is there, one the device learned included."""
        if not replace and mac in self.fdb and not self._expired(mac):
            return False
        self.fdb[mac] = remote
        self.static.add(mac)
        self.seen.pop(mac, None)
        return True

    def _expired(self, mac: int) -> bool:
        return mac not in self.static and self.world.sched.now - self.seen[mac] > self.ageing

    def fdb_del(self, mac: int) -> None:
        self.fdb.pop(mac, None)
        self.static.discard(mac)
        self.seen.pop(mac, None)

    def learned(self) -> object:
        return self.fdb, self.seen

    def relearn(self, learned: object) -> None:
        self.fdb, self.seen = learned  # type: ignore[misc]

    def flush_learned(self) -> None:
        self.fdb = {mac: self.fdb[mac] for mac in self.static}
        self.seen = {}

    # ---- transmit: vxlan_xmit -----------------------------------------------------------------

    def xmit(self, skb: Skb) -> None:
        frame = skb.frame
        dst = frame.dst
        if not self.up:
            skb.drop(self.node, self.name, DropReason.DEV_DOWN)
            return
        if dst == BROADCAST_MAC or is_multicast_mac(dst):
            arp = frame.payload
            if self.proxy and type(arp) is ARP and arp.op == ARPOP_REQUEST:
                self._arp_reduce(skb, arp)
            else:
                skb.drop(self.node, self.name, DropReason.VXLAN_NO_REMOTE,
                         "broadcast: no default destination (no all-zeros FDB entry)")
            return
        remote = self.fdb.get(dst)
        if remote is not None and self._expired(dst):
            del self.fdb[dst], self.seen[dst]  # the learned entry aged out (br_fdb_cleanup's vxlan twin)
            remote = None
        if remote is None:
            skb.drop(self.node, self.name, DropReason.VXLAN_NO_REMOTE, f"no FDB entry for {mac_str(dst)} (l2miss)")
            return
        if skb.recorder is not None and dst not in self.static:  # datapath.flowcache: a learned entry ages
            skb.recorder.relies_until(self.seen[dst] + self.ageing)
        inner = frame.payload
        route, _ = self.underlay.route_output(remote)
        if route is None:
            skb.drop(self.node, self.name, DropReason.NO_ROUTE, f"no route to VTEP {ip_str(remote)}")
            return
        if type(inner) is IPv4 and inner.flags & IP_DF and skb.ip_length(inner) + VXLAN_OVERHEAD > route.dev.mtu:
            self._frag_needed(skb, inner, route.dev.mtu - VXLAN_OVERHEAD)
            return
        sport = _SPORT_LOW + zlib.crc32(f"{frame.src}:{dst}:{getattr(inner, 'src', 0)}:{getattr(inner, 'dst', 0)}"
                                        .encode()) % (_SPORT_HIGH - _SPORT_LOW + 1)
        skb.step(self.node, self.name, "ENCAPSULATED", (_describe_encap, self.vni, dst, self.local, remote, self.port))
        skb.frame = Ether(0, 0, IPv4(self.local, remote, UDP(sport, self.port, VXLAN(self.vni, frame)), ttl=64))
        if self.encrypted:
            skb.mark = XFRM_MARK
        self.underlay.ip_local_out(skb)

    def _arp_reduce(self, skb: Skb, arp: ARP) -> None:
        """proxy: answer an ARP request from the neighbour table, never send it across hosts."""
        ns = self.ns
        entry = ns.neigh.get((self.name, arp.pdst)) if ns is not None else None
        if entry is None or entry.state < NUD_REACHABLE:  # nothing with a MAC for it here
            skb.drop(self.node, self.name, DropReason.VXLAN_NO_REMOTE, f"no neighbour for {ip_str(arp.pdst)} (l3miss)")
            return
        skb.step(self.node, self.name, "ARP_PROXY", f"{ip_str(arp.pdst)} is-at {mac_str(entry.mac)}")
        reply = Ether(arp.hwsrc, entry.mac, ARP(ARPOP_REPLY, entry.mac, arp.pdst, arp.hwsrc, arp.psrc))
        self.world.sched.call_later(0.0, self.rx, Skb(reply, skb.observer, skb.steps))

    def _frag_needed(self, skb: Skb, inner: IPv4, mtu: int) -> None:
        error = IPv4(inner.dst, inner.src, ICMP(ICMP_DEST_UNREACH, ICMP_FRAG_NEEDED, 0, mtu, inner), ttl=64)
        back = Skb(Ether(skb.frame.src, skb.frame.dst, error), skb.observer, skb.steps, origin=self.ns)
        skb.drop(self.node, self.name, DropReason.FRAG_NEEDED,
                 f"{inner.length} bytes with DF set do not fit the underlay after VXLAN: mtu {mtu}")
        self.world.sched.call_later(0.0, self.rx, back)

    # ---- receive: vxlan_rcv -------------------------------------------------------------------

    def vxlan_rcv(self, skb: Skb, remote: int, inner: Ether) -> None:
        src = inner.src
        if self.learning and not is_multicast_mac(src):  # vxlan_snoop
            known = self.fdb.get(src)
            if known is not None and known != remote and src in self.static:
                skb.drop(self.node, self.name, DropReason.VXLAN_ENTRY_EXISTS,
                         f"{mac_str(src)} is at {ip_str(known)} (permanent), not {ip_str(remote)}")
                return
            if src not in self.static:
                if self.fdb.get(src) != remote:
                    self.fdb[src] = remote
                self.seen[src] = self.world.sched.now
                if skb.recorder is not None:  # datapath.flowcache: a replay refreshes it too
                    skb.recorder.touch(self.seen.__setitem__, src)
        skb.frame = inner
        skb.step(self.node, self.name, "DECAPSULATED", f"vni {self.vni} from {ip_str(remote)}")
        self.rx(skb)


def _describe_encap(vni: int, dst: int, local: int, remote: int, port: int) -> str:
    return f"fdb {mac_str(dst)} -> {ip_str(remote)}: vni {vni}, {ip_str(local)} > {ip_str(remote)} udp/{port}"
