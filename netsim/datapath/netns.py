"""A network namespace and its IPv4 stack: addresses, routes, neighbours, netfilter, conntrack.

The receive path follows Linux's order: ``netif_receive`` (MAC filter, ARP or IP) ->
``ip_rcv`` (martian check, PREROUTING, routing decision) -> local delivery via INPUT, or
``ip_forward`` via FORWARD -> ``ip_finish_output`` (POSTROUTING, neighbour resolution) ->
``dev.xmit``.  Locally generated packets enter at ``ip_local_out`` (OUTPUT).  Neighbour
resolution sends real ARP frames through the same devices, one a second, so a missing ARP owner
is a ``NEIGH_FAILED`` drop three seconds later, as with the kernel's default ``mcast_solicit=3``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Optional

from .addr import BROADCAST_MAC, ip_str, mac_str, prefix_mask
from .conntrack import Conntrack, related
from .device import Loopback, NetDevice
from .drop import DropReason
from .netfilter import Netfilter, Packet, Rule, describe
from .packet import (ARP, ARPOP_REPLY, ARPOP_REQUEST, ESP, ICMP, ICMP_DEST_UNREACH, ICMP_ECHO, ICMP_ECHOREPLY,
                     ICMP_FRAG_NEEDED, ICMP_PORT_UNREACH, IP_DF, TCP,
                     TCP_ACK, TCP_RST, TCP_SYN, UDP, VXLAN, Ether, IPv4)
from .route import Route, RouteTable
from .skb import Skb
from .state import STATE, Versioned

if TYPE_CHECKING:
    from .ipvs import Ipvs
    from .world import World

LOOPBACK = 0x7F000001
ARP_MCAST_SOLICIT = 3  # neigh/default/mcast_solicit: broadcast requests before giving up
ARP_RETRANS_TIME = 1.0  # neigh/default/retrans_time_ms: between them
ARP_LOCKTIME = 1.0  # neigh/default/locktime: a resolved entry ignores other answers this long

# Neighbour (NUD) states, as in include/uapi/linux/neighbour.h: what ARP learned, and what was
# written (`ip neigh replace ... nud permanent`, as Docker's overlay driver does from gossip),
# which no ARP answer overrides and no flush of learned state removes.
NUD_INCOMPLETE, NUD_FAILED, NUD_REACHABLE, NUD_PERMANENT = 0, 1, 2, 3  # from NUD_REACHABLE up: a MAC to use

#: The mark Docker's mangle rules put on an encrypted overlay's VXLAN datagrams; its xfrm policy
#: sends what carries it through the SA to the destination in ESP transport mode (encryption.go).
XFRM_MARK = 0xD0C4E3


# The kernel's ICMP socket sends replies and errors with IP_PMTUDISC_DONT (icmp_sk_init): no DF,
# so an echo reply that does not fit the way back is fragmented rather than refused.
_ICMP_SOCKET_FLAGS = 0

class Neighbour(Versioned):
    __slots__ = ("state", "mac", "queue", "updated", "lost")

    def __init__(self, state: int, mac: int = 0, updated: float = 0.0) -> None:
        self.state = state
        self.mac = mac
        self.queue: list[Skb] = []
        self.updated = updated
        self.lost = ""  # where a request or its answer last died, for the NEIGH_FAILED that follows

    def dropped(self, skb: Skb, reason: DropReason, detail: str) -> None:
        """The Observer of its solicitations and their replies: remember where one died."""
        if not reason.noise:
            node, where = skb.steps[-1][0], skb.steps[-1][1]
            what = "reply" if type(skb.frame.payload) is ARP and skb.frame.payload.op == ARPOP_REPLY else "request"
            self.lost = f"the {what} died at {node}:{where}: {reason.value}" + (f" ({detail})" if detail else "")


class Address:
    __slots__ = ("dev", "addr", "plen")

    def __init__(self, dev: NetDevice, addr: int, plen: int) -> None:
        self.dev, self.addr, self.plen = dev, addr, plen

    def __str__(self) -> str:
        return f"{ip_str(self.addr)}/{self.plen} dev {self.dev.name}"


# What an open socket does with a datagram delivered to it (ICMP echo replies by identifier, UDP by port).
SocketHandler = Callable[["Namespace", Skb], None]


class Namespace(Versioned):
    """A network namespace: devices, addresses, routes, neighbours, netfilter, conntrack, sockets.

    ``name`` is what it is called (a machine's name, a container's name); ``host`` is the
    machine it lives on (itself, for a machine's own namespace).  The world knows it by
    ``key = (host, name)``, so two daemons may each run a container called ``web``.
    """

    WATCHED = frozenset({"neigh", "sockets", "listening", "local", "devices", "addresses", "xfrm_out", "xfrm_in"})
    QUIET = frozenset({"_next_ident"})  # IP ids: a header's, no decision's

    def __init__(self, world: "World", name: str, host: Optional[str] = None) -> None:
        self.world = world
        self.name = name
        self.host = host or name
        self.key = (self.host, name)
        self.devices: dict[str, NetDevice] = {}
        self.addresses: list[Address] = []
        self.local: set[int] = set()
        self.routes = RouteTable()
        self.neigh: dict[tuple[str, int], Neighbour] = {}
        self.ip_forward = False
        self.br_nf_call_iptables = False  # net.bridge.bridge-nf-call-iptables (br_netfilter)
        self.nf = Netfilter()
        self.ct = Conntrack()
        self.ipvs: Optional["Ipvs"] = None  # virtual servers (ipvsadm), in a load-balancer sandbox
        self.listening: set[tuple[str, int, int]] = set()  # (protocol, bound address or 0 = any, port)
        # IPsec SAs (`ip xfrm state`): outbound SPI by peer address, inbound peer address by SPI.
        self.xfrm_out: dict[int, int] = {}
        self.xfrm_in: dict[int, int] = {}
        self._esp_seq: dict[int, int] = {}
        # Open sockets by (protocol, local port); ICMP echo sockets by ("icmp", echo id), as ping's are.
        self.sockets: dict[tuple[str, int], SocketHandler] = {}
        self._next_ident = 0
        if self.key in world.namespaces:
            raise ValueError(f"a namespace named {name} exists on {self.host}")  # it would be hidden from every lookup
        lo = Loopback(world, "lo", 0)
        self.add_device(lo)
        self.add_address(lo, LOOPBACK, 8)
        world.namespaces[self.key] = self

    def charge(self, skb: Skb, kind: str, times: int = 1) -> None:
        """The packet owes this namespace's processing, paid at its next device, cable or socket
        (datapath.costs); instant questions pay nothing."""
        if self.world.sched.timed:
            skb.debt += self.world.costs_of(self.host).get(kind, 0.0) * times

    # ---- configuration (what `ip link/addr/route` does) -------------------------------------

    def add_device(self, dev: NetDevice) -> None:
        if dev.name in self.devices:
            raise ValueError(f"{self.name}: device {dev.name} exists")
        dev.ns = self
        self.devices[dev.name] = dev

    def remove_device(self, dev: NetDevice) -> None:
        del self.devices[dev.name]
        self.addresses = [a for a in self.addresses if a.dev is not dev]
        self.local = {a.addr for a in self.addresses}
        self.routes.remove(lambda r: r.dev is dev)
        self.neigh = {k: v for k, v in self.neigh.items() if k[0] != dev.name}
        dev.ns = None

    def add_address(self, dev: NetDevice, addr: int, plen: int) -> None:
        """`ip addr add`: also installs the kernel's connected route, as Linux does."""
        self.addresses.append(Address(dev, addr, plen))
        self.local.add(addr)
        if plen < 32 and not isinstance(dev, Loopback):
            self.routes.add(Route(addr & prefix_mask(plen), plen, dev, None, addr))

    def remove_address(self, dev: NetDevice, addr: int) -> None:
        """`ip addr del`: with its connected route."""
        gone = [a for a in self.addresses if a.dev is dev and a.addr == addr]
        self.addresses = [a for a in self.addresses if a not in gone]
        self.local = {a.addr for a in self.addresses}
        for a in gone:
            if a.plen < 32:
                self.routes.remove(lambda r, a=a: r.dev is dev and r.src == addr and r.plen == a.plen)

    def add_route(self, network: int, plen: int, dev: NetDevice, gateway: Optional[int] = None,
                  metric: int = 0) -> None:
        self.routes.add(Route(network, plen, dev, gateway, None, metric))

    def primary_address(self, dev: NetDevice) -> Optional[int]:
        for a in self.addresses:
            if a.dev is dev:
                return a.addr
        return None

    def is_local(self, addr: int) -> bool:
        return addr in self.local or addr >> 24 == 127

    def neigh_add(self, dev: NetDevice, addr: int, mac: int, replace: bool = True) -> bool:
        """``ip neigh replace ADDR lladdr MAC dev DEV nud permanent``; with ``replace=False`` an
        exclusive ``ip neigh add``, which fails (False) when the address has an entry in any state."""
        if not replace and (dev.name, addr) in self.neigh:
            return False
        self.neigh[(dev.name, addr)] = Neighbour(NUD_PERMANENT, mac)
        return True

    def flush_learned(self) -> None:
        """Forget what traffic taught this stack (resolved neighbours, connections); configuration
        and permanent neighbours stay.  New containers replace the old ones, so what ``learned``
        handed out stays as it was."""
        self.neigh = {k: v for k, v in self.neigh.items() if v.state == NUD_PERMANENT}
        self.ct = Conntrack()
        self.sockets = dict(self.sockets)  # open sockets stay open; a query's own come and go
        if self.ipvs is not None:
            self.ipvs.flush_learned()

    def learned(self) -> object:
        """The learned state, as the objects themselves, for ``relearn`` to put back."""
        return self.neigh, self.ct, self.sockets, self._next_ident, \
            self.ipvs.learned() if self.ipvs is not None else None

    def relearn(self, learned: object) -> None:
        ipvs: object
        self.neigh, self.ct, self.sockets, self._next_ident, ipvs = learned  # type: ignore[misc]
        if self.ipvs is not None and ipvs is not None:
            self.ipvs.relearn(ipvs)

    # ---- sending from this namespace (a ping, a connect) -------------------------------------

    def route_output(self, dst: int) -> tuple[Optional[Route], Optional[int]]:
        """The route and source address a socket would use (`ip route get`)."""
        if self.is_local(dst):
            lo = self.devices["lo"]
            return Route(dst, 32, lo, None, dst if dst in self.local else LOOPBACK), (
                dst if dst in self.local else LOOPBACK)
        route = self.routes.lookup(dst)
        if route is None:
            return None, None
        src = route.src if route.src is not None else self.primary_address(route.dev)
        return route, src

    def new_ident(self) -> int:
        self._next_ident = (self._next_ident + 1) & 0xFFFF
        return self._next_ident

    def ip_local_out(self, skb: Skb) -> None:
        """A locally generated packet, its source address already chosen by ``route_output``."""
        if self.host in self.world.frozen:
            skb.drop(self.name, "-", DropReason.NODE_FROZEN, f"{self.host} is frozen")
            return
        dst = skb.frame.payload.dst  # type: ignore[union-attr]
        route, _ = self.route_output(dst)
        if route is None:
            skb.drop(self.name, "-", DropReason.NO_ROUTE, f"connect: Network is unreachable ({ip_str(dst)})")
            return
        if not self._ct_in(skb, "OUTPUT", "", route.dev.name, "raw"):
            return
        if not self._filter(skb, "OUTPUT", "", route.dev.name):
            return
        pkt: IPv4 = skb.frame.payload  # type: ignore[assignment]
        if skb.mark == XFRM_MARK and not self._xfrm_output(skb, pkt):
            return
        pkt = skb.frame.payload  # type: ignore[assignment]
        if pkt.dst != dst:  # OUTPUT DNAT: route again
            route, _ = self.route_output(pkt.dst)
            if route is None:
                skb.drop(self.name, "-", DropReason.NO_ROUTE, ip_str(pkt.dst))
                return
        skb.step(self.name, route.dev.name, "ROUTED", (str, route))
        if pkt.flags & IP_DF and skb.ip_length(pkt) > route.dev.mtu:
            # The sender's own link is too small: the socket gets EMSGSIZE, as ``ping -M do`` reports.
            skb.drop(self.name, route.dev.name, DropReason.MESSAGE_TOO_LONG,
                     f"message too long, mtu={route.dev.mtu}")
            return
        self.ip_finish_output(route, skb)

    # ---- receive path --------------------------------------------------------------------------

    def netif_receive(self, dev: NetDevice, skb: Skb) -> None:
        if self.host in self.world.frozen:
            skb.drop(self.name, dev.name, DropReason.NODE_FROZEN, f"{self.host} is frozen")
            return
        frame = skb.frame
        if frame.dst != dev.mac and frame.dst != BROADCAST_MAC and not isinstance(dev, Loopback):
            skb.drop(self.name, dev.name, DropReason.OTHERHOST)
            return
        payload = frame.payload
        if type(payload) is ARP:
            self.arp_rcv(dev, skb, payload)
        else:
            self.ip_rcv(dev, skb)

    def arp_rcv(self, dev: NetDevice, skb: Skb, arp: ARP) -> None:
        if arp.op == ARPOP_REQUEST:
            # arp_ignore=0 (the default): answer for any local address, on any interface.
            if arp.pdst in self.local and arp.pdst >> 24 != 127:
                self._neigh_learn(dev, arp.psrc, arp.hwsrc, create=True)
                reply = Ether(arp.hwsrc, dev.mac, ARP(ARPOP_REPLY, dev.mac, arp.pdst, arp.hwsrc, arp.psrc))
                dev.xmit(Skb(reply, skb.observer))
            elif arp.psrc == arp.pdst:
                # A gratuitous request (an unsolicited ARP, sender = target) updates an existing
                # entry for its sender, even within locktime; arp_accept=0 creates none.  The
                # kernel's arp_process also lets any other request override an entry past its
                # locktime; that is not modelled: in an instant table it would make who answers
                # depend on the order of unrelated probes (the kernel cross-check's seed 606).
                self._neigh_learn(dev, arp.psrc, arp.hwsrc, create=False, override=True)
        elif arp.op == ARPOP_REPLY:
            self._neigh_learn(dev, arp.psrc, arp.hwsrc, create=False)

    def ip_rcv(self, dev: NetDevice, skb: Skb) -> None:
        pkt: IPv4 = skb.frame.payload  # type: ignore[assignment]
        if not isinstance(dev, Loopback) and pkt.src in self.local:
            skb.drop(self.name, dev.name, DropReason.MARTIAN_SOURCE, f"{ip_str(pkt.src)} is local")
            return
        skb.step(self.name, dev.name, "RECEIVED", (_describe_ip, pkt))
        if not self._raw(skb, "PREROUTING", dev.name, ""):
            return
        if not self._ct_in(skb, "PREROUTING", dev.name, "", None):
            return
        pkt = skb.frame.payload  # type: ignore[assignment]
        if self.is_local(pkt.dst):
            self.ip_local_deliver(dev, skb)
            return
        if not self.ip_forward:
            skb.drop(self.name, dev.name, DropReason.NOT_FORWARDING, f"{ip_str(pkt.dst)} is not local")
            return
        route = self.routes.lookup(pkt.dst)
        if route is None:
            skb.drop(self.name, dev.name, DropReason.NO_ROUTE, f"{self.name} has no route to {ip_str(pkt.dst)}")
            return
        if pkt.ttl <= 1:
            skb.drop(self.name, dev.name, DropReason.TTL_EXPIRED)
            return
        if pkt.flags & IP_DF and skb.ip_length(pkt) > route.dev.mtu:
            # ip_forward: a datagram too big for the next link with DF set is refused with ICMP
            # "fragmentation needed", carrying the link's MTU, before the FORWARD hook sees it.
            mtu = route.dev.mtu
            back, source = self.route_output(pkt.src)
            if back is not None and source is not None:
                error = ICMP(ICMP_DEST_UNREACH, ICMP_FRAG_NEEDED, 0, mtu, pkt)
                self._reply(skb, IPv4(source, pkt.src, error, ttl=64, flags=_ICMP_SOCKET_FLAGS))
            skb.drop(self.name, route.dev.name, DropReason.FRAG_NEEDED,
                     f"{pkt.length} bytes with DF set, mtu {mtu} on {route.dev.name}")
            return
        frame = skb.frame
        skb.frame = Ether(frame.dst, frame.src, IPv4(pkt.src, pkt.dst, pkt.payload, pkt.ttl - 1, pkt.ident,
                                                     pkt.tos, pkt.flags), frame.vlan)
        skb.step(self.name, route.dev.name, "ROUTED", (str, route))
        self.charge(skb, "forward")
        if not self._filter(skb, "FORWARD", dev.name, route.dev.name):
            return
        self.ip_finish_output(route, skb)

    def ip_local_deliver(self, dev: NetDevice, skb: Skb) -> None:
        if not self.nf.empty and not self._mangle(skb, "INPUT", dev.name, ""):
            return
        if not self._filter(skb, "INPUT", dev.name, ""):
            return
        if self.ipvs is not None and self.ipvs.local_in(self, dev, skb):
            return  # IPVS took it (ip_vs_remote_request4, after filter INPUT): on to a real server
        if not self._post(skb, "INPUT", dev.name, ""):
            return
        pkt: IPv4 = skb.frame.payload  # type: ignore[assignment]
        seg = pkt.payload
        if skb.csum_bad and (type(seg) is TCP or type(seg) is UDP and type(seg.data) is not VXLAN):
            skb.drop(self.name, dev.name, DropReason.CSUM_ERROR, f"bad {type(seg).__name__} checksum")
            return
        if type(seg) is ICMP:
            self.icmp_rcv(skb, pkt, seg)
        elif type(seg) is TCP:
            self.tcp_rcv(dev, skb, pkt, seg)
        elif type(seg) is ESP:
            self._xfrm_input(dev, skb, pkt, seg)
        else:
            self.udp_rcv(skb, pkt, seg)  # type: ignore[arg-type]

    # ---- IPsec (xfrm), transport mode -----------------------------------------------------------

    def xfrm_add(self, peer: int, spi_out: int, spi_in: int) -> None:
        """``ip xfrm state add``: a pair of SAs with ``peer``, one each way."""
        self.xfrm_out[peer] = spi_out
        self.xfrm_in[spi_in] = peer

    def _xfrm_output(self, skb: Skb, pkt: IPv4) -> bool:
        spi = self.xfrm_out.get(pkt.dst)
        if spi is None:  # the policy demands ESP, and no SA exists: XfrmOutNoStates
            skb.drop(self.name, "-", DropReason.XFRM_NO_STATE, f"no SA to {ip_str(pkt.dst)}")
            return False
        seq = self._esp_seq[spi] = self._esp_seq.get(spi, 0) + 1
        skb.frame = Ether(0, 0, pkt._replace(payload=ESP(spi, seq, pkt.payload)))  # type: ignore[arg-type]
        # xfrm_output resets the plaintext's conntrack (nf_reset_ct): the ESP packet is a new one.
        skb.ct, skb.ct_new, skb.ct_reply = None, False, False
        skb.step(self.name, "-", "ENCRYPTED", f"ESP spi={spi:#x} seq={seq} to {ip_str(pkt.dst)}")
        self.charge(skb, "esp")
        if skb.recorder is not None:  # each ESP packet has a sequence number of its own
            skb.recorder.fail()
        return True

    def _xfrm_input(self, dev: NetDevice, skb: Skb, pkt: IPv4, esp: ESP) -> None:
        if self.xfrm_in.get(esp.spi) != pkt.src:
            skb.drop(self.name, dev.name, DropReason.XFRM_NO_STATE, f"no SA for spi {esp.spi:#x} from {ip_str(pkt.src)}")
            return
        frame = skb.frame
        skb.frame = Ether(frame.dst, frame.src, pkt._replace(payload=esp.inner), frame.vlan)
        skb.secpath = True
        skb.step(self.name, dev.name, "DECRYPTED", f"ESP spi={esp.spi:#x} seq={esp.seq}")
        self.charge(skb, "esp")
        self.ip_local_deliver(dev, skb)  # xfrm reinjects the plaintext: INPUT sees it again

    def icmp_rcv(self, skb: Skb, pkt: IPv4, icmp: ICMP) -> None:
        if icmp.type == ICMP_ECHO:
            skb.step(self.name, "-", "DELIVERED", f"echo request id={icmp.ident} seq={icmp.seq}")
            reply = IPv4(pkt.dst, pkt.src, icmp._replace(type=ICMP_ECHOREPLY), ttl=64, ident=pkt.ident,
                         flags=_ICMP_SOCKET_FLAGS)
            self._reply(skb, reply)
        elif icmp.type == ICMP_ECHOREPLY:
            self._to_socket(skb, ("icmp", icmp.ident), f"echo reply id={icmp.ident} seq={icmp.seq}")
        elif icmp.quoted is not None and (type(icmp.quoted.payload) is not ICMP or icmp.quoted.payload.is_echo):
            # An error about a datagram this stack sent: the socket it came from hears of it.
            inner = icmp.quoted.payload
            key = ("icmp", inner.ident) if type(inner) is ICMP else \
                ("tcp" if type(inner) is TCP else "udp", inner.sport)  # type: ignore[union-attr]
            self._to_socket(skb, key, f"icmp type {icmp.type} code {icmp.code} for {key[0]} {key[1]}")
        else:
            skb.drop(self.name, "-", DropReason.NO_SOCKET, f"icmp type {icmp.type}")

    def listens(self, proto: str, addr: int, port: int) -> bool:
        return (proto, addr, port) in self.listening or (proto, 0, port) in self.listening

    def udp_rcv(self, skb: Skb, pkt: IPv4, udp: UDP) -> None:
        """A waiting probe takes its answer; a listening service echoes the datagram back (an echo
        service, as the UDP tests of Docker's suite run); a closed port answers ICMP port
        unreachable, quoting the datagram (``__udp4_lib_rcv`` -> ``icmp_send``).  Errors are not
        rate-limited (``icmp_ratelimit``): every probe gets its answer."""
        if ("udp", udp.dport) in self.sockets:
            self._to_socket(skb, ("udp", udp.dport), f"udp datagram to port {udp.dport}")
        elif self.listens("udp", pkt.dst, udp.dport):
            skb.step(self.name, "-", "DELIVERED", f"datagram to listening port {udp.dport}: echoed")
            self._reply(skb, IPv4(pkt.dst, pkt.src, UDP(udp.dport, udp.sport, udp.data), ttl=64))
        else:
            skb.step(self.name, "-", "DELIVERED", f"datagram to closed port {udp.dport}: ICMP port unreachable")
            error = ICMP(ICMP_DEST_UNREACH, ICMP_PORT_UNREACH, data=pkt)
            self._reply(skb, IPv4(pkt.dst, pkt.src, error, ttl=64, flags=_ICMP_SOCKET_FLAGS))

    def tcp_rcv(self, dev: NetDevice, skb: Skb, pkt: IPv4, tcp: TCP) -> None:
        """A SYN to a listening port gets its SYN-ACK here, with the MSS this end can take (the
        device's MTU less 40, as ``tcp_mss_clamp``/``dst_metric_advmss`` give it); a closed port
        answers RST.  Everything else goes to the socket of its port."""
        if tcp.flags & TCP_SYN and not tcp.flags & TCP_ACK:
            if self.listens("tcp", pkt.dst, tcp.dport):
                skb.step(self.name, "-", "DELIVERED", f"SYN to listening port {tcp.dport}")
                flags = TCP_SYN | TCP_ACK
            else:
                skb.step(self.name, "-", "DELIVERED", f"SYN to closed port {tcp.dport}: RST")
                flags = TCP_RST | TCP_ACK
            seg = TCP(tcp.dport, tcp.sport, seq=0, ack=tcp.seq + 1, flags=flags,
                      mss=dev.mtu - 40 if flags & TCP_SYN else 0)
            self._reply(skb, IPv4(pkt.dst, pkt.src, seg, ttl=64))
            return
        self._to_socket(skb, ("tcp", tcp.dport), f"tcp flags {tcp.flags:#x} to port {tcp.dport}")

    def _to_socket(self, skb: Skb, key: tuple[str, int], what: str) -> None:
        """Hand an answer to the probe socket waiting for it (by echo id or local port)."""
        sock = self.sockets.get(key)
        if sock is None:
            skb.drop(self.name, "-", DropReason.NO_SOCKET, what)
            return
        skb.step(self.name, "-", "DELIVERED", what)
        if not getattr(getattr(sock, "__self__", None), "udp_encap", False):  # a tunnel's socket stays in the kernel
            self.charge(skb, "stack")
            if skb.recorder is not None:  # datapath.flowcache: the path ends here
                skb.recorder.delivered(sock, self, skb.debt)
        if skb.debt:
            debt, skb.debt = skb.debt, 0.0
            self.world.sched.call_later(debt, sock, self, skb)
        else:
            sock(self, skb)

    def _reply(self, request: Skb, pkt: IPv4) -> None:
        """The kernel's own answer (echo reply, SYN-ACK, RST, ICMP error), once the request is handled."""
        if request.recorder is not None:  # a new packet: datapath.flowcache replays no answers
            request.recorder.fail()
        self.charge(request, "stack")
        reply = Skb(Ether(0, 0, pkt), request.observer, request.steps, origin=self)
        reply.debt, request.debt = request.debt, 0.0
        self.ip_local_out(reply)

    # ---- output path -------------------------------------------------------------------------

    def ip_finish_output(self, route: Route, skb: Skb) -> None:
        if not self._post(skb, "POSTROUTING", "", route.dev.name):
            return
        pkt: IPv4 = skb.frame.payload  # type: ignore[assignment]
        if isinstance(route.dev, Loopback):
            skb.frame = Ether(0, 0, pkt)
            route.dev.xmit(skb)
            return
        nexthop = route.gateway if route.gateway is not None else pkt.dst
        self.neigh_output(route.dev, nexthop, skb)

    def neigh_output(self, dev: NetDevice, nexthop: int, skb: Skb) -> None:
        if dev.noarp:  # arp_constructor: NUD_NOARP, the device's own address
            self._xmit_to(dev, dev.mac, skb)
            return
        entry = self.neigh.get((dev.name, nexthop))
        if entry is not None and entry.state >= NUD_REACHABLE:
            self._xmit_to(dev, entry.mac, skb)
        elif entry is not None and entry.state == NUD_INCOMPLETE:
            if skb.recorder is not None:  # it waits for ARP: a later packet will not
                skb.recorder.fail()
            entry.queue.append(skb)
        else:
            # No entry, or one that failed: __neigh_event_send starts a new resolution either way.
            entry = Neighbour(NUD_INCOMPLETE)
            self.neigh[(dev.name, nexthop)] = entry
            if skb.recorder is not None:  # it waits for ARP: a later packet will not
                skb.recorder.fail()
            entry.queue.append(skb)
            pkt: IPv4 = skb.frame.payload  # type: ignore[assignment]
            src = pkt.src if pkt.src in self.local else (self.primary_address(dev) or 0)
            self._neigh_solicit(dev, nexthop, src, entry, 1)

    def _neigh_solicit(self, dev: NetDevice, addr: int, src: int, entry: Neighbour, sent: int) -> None:
        """neigh_timer_handler: one broadcast request per retrans_time, mcast_solicit in all."""
        dev.xmit(Skb(Ether(BROADCAST_MAC, dev.mac, ARP(ARPOP_REQUEST, dev.mac, src, 0, addr)), entry))
        self.world.sched.call_later(ARP_RETRANS_TIME, self._neigh_timeout, dev, addr, src, entry, sent)

    def _xmit_to(self, dev: NetDevice, dst_mac: int, skb: Skb) -> None:
        skb.frame = Ether(dst_mac, dev.mac, skb.frame.payload)
        dev.xmit(skb)

    def _neigh_learn(self, dev: NetDevice, addr: int, mac: int, create: bool, override: bool = False) -> None:
        key = (dev.name, addr)
        entry = self.neigh.get(key)
        now = self.world.sched.now
        if entry is None:
            if create:
                self.neigh[key] = Neighbour(NUD_REACHABLE, mac, now)
            return
        if entry.state == NUD_PERMANENT:
            return  # neigh_update refuses a NUD_PERMANENT entry to anything but the administrator
        if entry.state == NUD_REACHABLE and entry.mac != mac and now - entry.updated < ARP_LOCKTIME and not override:
            # arp_process overrides a resolved entry only after locktime: when two hosts answer
            # for one address, the first answer wins.
            return
        entry.state, entry.mac, entry.updated = NUD_REACHABLE, mac, now
        queue, entry.queue = entry.queue, []
        for skb in queue:
            skb.step(self.name, dev.name, "NEIGH", (_describe_neigh, addr, mac))
            self._xmit_to(dev, mac, skb)

    def _neigh_timeout(self, dev: NetDevice, addr: int, src: int, entry: Neighbour, sent: int) -> None:
        if entry.state != NUD_INCOMPLETE:
            return
        if sent < ARP_MCAST_SOLICIT and dev.ns is self:
            self._neigh_solicit(dev, addr, src, entry, sent + 1)
            return
        entry.state = NUD_FAILED
        queue, entry.queue = entry.queue, []
        why = f"; {entry.lost}" if entry.lost else ""
        for skb in queue:
            skb.drop(self.name, dev.name, DropReason.NEIGH_FAILED,
                     f"no ARP reply for {ip_str(addr)} on {self.name}:{dev.name}{why}")

    # ---- netfilter hooks -----------------------------------------------------------------------

    def _nf_packet(self, skb: Skb, iif: str, oif: str) -> Packet:
        pkt: IPv4 = skb.frame.payload  # type: ignore[assignment]
        seg = pkt.payload
        if type(seg) is ICMP:
            sport = dport = None
        else:
            sport, dport = seg.sport, seg.dport  # type: ignore[union-attr]
        ct = skb.ct
        if ct is None:
            state = "UNTRACKED"
        elif related(pkt):
            state = "RELATED"
        elif skb.ct_reply or ct.seen_reply:
            state = "ESTABLISHED"
        else:
            state = "NEW"
        return Packet(pkt.src, pkt.dst, pkt.proto, sport, dport, iif, oif, state, self.is_local, skb.ipvs)

    def _verdict(self, skb: Skb, table: str, chain: str, iif: str, oif: str) -> tuple[str, Optional[Rule]]:
        policy = self.nf.trivial(table, chain)
        if policy is not None:
            verdict, rule = policy, None
        else:
            verdict, rule = self.nf.evaluate(table, chain, self._nf_packet(skb, iif, oif))
            self.charge(skb, "netfilter_rule", self.nf.walked)
        if verdict == "DROP":
            label = rule.label if rule is not None else ""
            skb.drop(self.name, iif or oif or "-", DropReason.NETFILTER_DROP,
                     (f"[{label}] " if label else "") + describe(rule, table, chain, verdict))
        elif rule is not None:
            skb.step(self.name, iif or oif or "-", "FILTER" if table != "nat" else "NAT",
                     (_describe_verdict, rule, table, chain, verdict))
        return verdict, rule

    def _raw(self, skb: Skb, chain: str, iif: str, oif: str) -> bool:
        return self._verdict(skb, "raw", chain, iif, oif)[0] != "DROP"

    def _mangle(self, skb: Skb, chain: str, iif: str, oif: str) -> bool:
        """The mangle table: what it marks (``MARK --set-mark``) the packet carries on (skb->mark)."""
        if self.nf.trivial("mangle", chain) is not None:
            return True
        verdict = self._verdict(skb, "mangle", chain, iif, oif)[0]
        if self.nf.mark is not None:
            skb.mark = self.nf.mark
        return verdict != "DROP"

    def _filter(self, skb: Skb, chain: str, iif: str, oif: str) -> bool:
        return self._verdict(skb, "filter", chain, iif, oif)[0] != "DROP"

    def _ct_in(self, skb: Skb, chain: str, iif: str, oif: str, raw_first: Optional[str]) -> bool:
        """Conntrack lookup, NAT rules for new connections, then the destination rewrite."""
        if raw_first and not self._raw(skb, chain, iif, oif):
            return False
        if self.nf.empty:
            # A namespace without rules registers no netfilter hooks: no conntrack, no NAT.
            skb.ct = None
            return True
        pkt: IPv4 = skb.frame.payload  # type: ignore[assignment]
        conn, is_reply, is_new = self.ct.lookup(pkt)
        skb.ct, skb.ct_reply, skb.ct_new = conn, is_reply, is_new
        self.charge(skb, "conntrack")
        if not self._mangle(skb, chain, iif, oif):  # after conntrack (-200), before nat (-100)
            return False
        if conn is None:
            return True
        if is_new:
            verdict, rule = self._verdict(skb, "nat", chain, iif, oif)
            if verdict == "DROP":
                return False
            if verdict == "DNAT" and rule is not None:
                conn.dnat(rule.target.to_addr, rule.target.to_port)  # type: ignore[arg-type]
            elif verdict == "REDIRECT" and rule is not None:
                # to the incoming interface's primary address (127.0.0.1 for a local packet), the port given
                dev = self.devices.get(iif)
                addr = self.primary_address(dev) if dev is not None else None
                conn.dnat(addr if addr is not None else LOOPBACK, rule.target.to_port)
        new = conn.manip_related(pkt, is_reply, dst=True) if related(pkt) else conn.manip_dst(pkt, is_reply)
        if new is not pkt:
            skb.step(self.name, iif or oif, "NAT", (_describe_nat, "dst", pkt, new))
            self.charge(skb, "nat")
            skb.frame = Ether(skb.frame.dst, skb.frame.src, new, skb.frame.vlan)
        return True

    def _post(self, skb: Skb, chain: str, iif: str, oif: str) -> bool:
        """Source NAT for new connections, the source rewrite, then conntrack confirmation."""
        conn = skb.ct
        if conn is None:
            return True
        pkt: IPv4 = skb.frame.payload  # type: ignore[assignment]
        if skb.ct_new:
            verdict, rule = self._verdict(skb, "nat", chain, iif, oif)
            if verdict == "DROP":
                return False
            source = None
            if verdict == "MASQUERADE":
                out = self.devices.get(oif)
                source = self.primary_address(out) if out is not None else None
            elif verdict == "SNAT" and rule is not None:
                source = rule.target.to_addr
            if source is not None:
                conn.snat(source)
                if not self.ct.make_unique(conn):
                    skb.drop(self.name, oif or iif, DropReason.NAT_EXHAUSTED,
                             f"no free source port on {ip_str(source)} for {verdict}")
                    return False
            self.ct.confirm(conn)
            skb.ct_new = False
        elif skb.ct_reply and not related(pkt) and not conn.seen_reply:
            conn.seen_reply = True
            STATE.changed()  # ESTABLISHED from now on
        new = conn.manip_related(pkt, skb.ct_reply, dst=False) if related(pkt) else conn.manip_src(pkt, skb.ct_reply)
        if new is not pkt:
            skb.step(self.name, oif or iif, "NAT", (_describe_nat, "src", pkt, new))
            self.charge(skb, "nat")
            skb.frame = Ether(skb.frame.dst, skb.frame.src, new, skb.frame.vlan)
        skb.ct = None  # the next namespace tracks it afresh
        return True

    def br_netfilter_forward(self, bridge: NetDevice, skb: Skb) -> bool:
        """br_netfilter: a frame bridged between two ports of ``bridge`` meets iptables."""
        name = bridge.name
        if not self._raw(skb, "PREROUTING", name, ""):
            return False
        if not self._ct_in(skb, "PREROUTING", name, "", None):
            return False
        if not self._filter(skb, "FORWARD", name, name):
            return False
        return self._post(skb, "POSTROUTING", name, name)


def _describe_ip(pkt: IPv4) -> str:
    return f"{ip_str(pkt.src)} > {ip_str(pkt.dst)} {_l4(pkt)}"


def _describe_neigh(addr: int, mac: int) -> str:
    return f"{ip_str(addr)} is-at {mac_str(mac)}"


def _describe_verdict(rule: Optional[Rule], table: str, chain: str, verdict: str) -> str:
    return f"{verdict} by {describe(rule, table, chain, verdict)}"


def _describe_nat(which: str, old: IPv4, new: IPv4) -> str:
    """``dst 10.0.0.6 -> 10.0.0.7``, with the ports when they changed (a REDIRECT, a DNAT to another port)."""
    port = "dport" if which == "dst" else "sport"
    before, after = getattr(old.payload, port, None), getattr(new.payload, port, None)
    if before == after:
        return f"{which} {ip_str(getattr(old, which))} -> {ip_str(getattr(new, which))}"
    return f"{which} {ip_str(getattr(old, which))}:{before} -> {ip_str(getattr(new, which))}:{after}"


def _l4(pkt: IPv4) -> str:
    seg = pkt.payload
    if type(seg) is ICMP:
        kind = {ICMP_ECHO: "echo request", ICMP_ECHOREPLY: "echo reply"}.get(seg.type, f"type {seg.type}")
        return f"ICMP {kind} id={seg.ident} seq={seg.seq} ttl={pkt.ttl}"
    if type(seg) is TCP:
        return f"TCP {seg.sport} > {seg.dport} flags={seg.flags:#x}"
    if type(seg) is ESP:
        return f"ESP spi={seg.spi:#x} seq={seg.seq}"
    return f"UDP {seg.sport} > {seg.dport}"  # type: ignore[union-attr]


__all__ = ["Namespace", "Neighbour", "Address"]
