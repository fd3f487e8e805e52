"""How swarm protocols reach the network: memberlist's ``Transport`` pattern.

NetworkDB (and, later, memberlist and raft) send and receive datagrams only through a
``Transport``, so they run unchanged over the simulated underlay (``SimTransport``: UDP on
7946 in the host's namespace, through its routes, netfilter and NIC, so a blocked port or a
partition really stops them) and over a ``MockNetwork`` for unit tests of thousands of nodes.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Callable, Protocol

from ..datapath.packet import TCP, TCP_ACK, TCP_PSH, UDP, Ether, IPv4
from ..datapath.skb import Skb

if TYPE_CHECKING:
    import simpy

    from ..datapath.netns import Namespace

__all__ = ["Transport", "SimTransport", "MockNetwork", "GOSSIP_PORT", "UDP_BUFFER_SIZE", "pack"]

GOSSIP_PORT = 7946  # memberlist's BindPort; NetworkDB's, not configurable (B44)
MANAGER_PORT = 2377  # the managers' API: raft between managers, the dispatcher's heartbeats (B44, B51)
#: memberlist's UDPBufferSize as NetworkDB sets it (control-plane MTU 1500 less 100): no datagram is larger.
UDP_BUFFER_SIZE = 1400

Receiver = Callable[[int, bytes], None]  # (source address, datagram)


def pack(items: list[dict[str, Any]], room: int) -> list[list[dict[str, Any]]]:
    """memberlist's compound messages: as many queued items per datagram as ``room`` bytes hold
    (at least one each), in queue order."""
    batches: list[list[dict[str, Any]]] = []
    size = room
    for item in items:
        length = len(json.dumps(item, sort_keys=True, separators=(",", ":"))) + 1
        if batches and size + length <= room:
            batches[-1].append(item)
            size += length
        else:
            batches.append([item])
            size = length
    return batches


class Transport(Protocol):
    address: int

    def send(self, dst: int, data: bytes) -> None: ...

    def listen(self, receiver: Receiver) -> None: ...


class SimTransport:
    """Messages from and to one host namespace: UDP datagrams on the gossip port, or, with
    ``proto="tcp"``, messages on connections (memberlist's stream on 7946, raft and the
    dispatcher on 2377): a message goes from a source port of its own as one TCP skb, which
    GSO cuts into MSS-sized segments on the wire (``Skb.gso_size``: MTU checks look at those),
    and is handed on when it arrives.  A lost skb loses its message: the handshake and
    retransmissions are not modelled."""

    def __init__(self, ns: "Namespace", address: int, port: int = GOSSIP_PORT, proto: str = "udp") -> None:
        self.ns = ns
        self.address = address
        self.port = port
        self.proto = proto
        self.sent = 0
        self._receiver: "Receiver | None" = None
        self._next_port = _EPHEMERAL[0]

    def listen(self, receiver: Receiver) -> None:
        self._receiver = receiver
        self.ns.sockets[(self.proto, self.port)] = self._deliver

    def close(self) -> None:
        if self.ns.sockets.get((self.proto, self.port)) == self._deliver:
            del self.ns.sockets[(self.proto, self.port)]

    def send(self, dst: int, data: bytes) -> None:
        self.sent += 1
        if self.proto != "tcp":
            # A UDP socket without IP_PMTUDISC_DO: no DF, the kernel would fragment what does not fit.
            self._out(IPv4(self.address, dst, UDP(self.port, self.port, data), ttl=64, flags=0))
            return
        # memberlist dials a connection per message (raft's are not modelled otherwise): its own
        # source port, its bytes in one GSO skb cut into MSS-sized segments on the wire.
        sport = self._next_port
        self._next_port = sport + 1 if sport < _EPHEMERAL[1] else _EPHEMERAL[0]
        route, _ = self.ns.route_output(dst)
        mss = (route.dev.mtu if route is not None else 1500) - 40
        pkt = IPv4(self.address, dst, TCP(sport, self.port, 1, 1, TCP_ACK | TCP_PSH, data=data), ttl=64)
        self._out(pkt, mss if len(data) > mss else 0)

    def _out(self, pkt: IPv4, gso_size: int = 0) -> None:
        skb = Skb(Ether(0, 0, pkt), origin=self.ns)
        skb.gso_size = gso_size
        self.ns.ip_local_out(skb)

    def _deliver(self, ns: "Namespace", skb: Skb) -> None:
        pkt: IPv4 = skb.frame.payload  # type: ignore[assignment]
        data = pkt.payload.data  # type: ignore[union-attr]
        if self._receiver is not None and isinstance(data, bytes):
            self._receiver(pkt.src, data)


_EPHEMERAL = (32768, 60999)  # net.ipv4.ip_local_port_range


class MockNetwork:
    """Every node one hop from every other, ``latency`` apart; ``cut`` pairs hear nothing of each other."""

    def __init__(self, env: "simpy.Environment", latency: float = 0.0005) -> None:
        self.env = env
        self.latency = latency
        self.nodes: dict[int, "MockTransport"] = {}
        self.cut: set[frozenset[int]] = set()
        self.sent = 0

    def transport(self, address: int) -> "MockTransport":
        node = MockTransport(self, address)
        self.nodes[address] = node
        return node

    def deliver(self, src: int, dst: int, data: bytes) -> None:
        self.sent += 1
        target = self.nodes.get(dst)
        if target is None or frozenset((src, dst)) in self.cut:
            return
        self.env.timeout(self.latency).callbacks.append(lambda _e: target.receive(src, data))


class MockTransport:
    def __init__(self, network: MockNetwork, address: int) -> None:
        self.network = network
        self.address = address
        self._receiver: "Receiver | None" = None

    def listen(self, receiver: Receiver) -> None:
        self._receiver = receiver

    def send(self, dst: int, data: bytes) -> None:
        self.network.deliver(self.address, dst, data)

    def receive(self, src: int, data: bytes) -> None:
        if self._receiver is not None:
            self._receiver(src, data)
