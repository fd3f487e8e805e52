"""``udp`` flows: datagrams from a container at a constant bit rate or as a Poisson process.

``rate`` is the sending rate of UDP payload (``size`` bytes a datagram, iperf's ``-l``), from
``start`` to ``stop``: constant-bit-rate datagrams every ``size x 8 / rate`` seconds, or, with
``arrivals: poisson``, exponential gaps of that mean drawn from the flow's own seeded stream.
The destination (resolved once at ``start``, as for ping) listens on ``port`` (5001, iperf's)
for the flow: where the datagrams land, asked of the datapath at the start, so a flow to a
host's published port is received by the container behind its DNAT, on the container's port.
Every datagram ends received there, with its one-way delay, or dropped with the reason the
forwarding core gave, so a flow's table always adds up (packet conservation).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Generator, Optional

from ..datapath.addr import ip
from ..datapath.drop import DropReason
from ..datapath.packet import ESP, UDP, VXLAN
from ..datapath.skb import Skb, datagram
from . import register, required, start_stop

if TYPE_CHECKING:
    from ..datapath.netns import Namespace
    from ..simulation import Simulation

__all__ = ["UdpFlow"]

#: How long after ``stop`` the last datagrams may still arrive before the flow is over.
DRAIN = 1.0
_SPORT = 40000  # the sender's source port, as iperf's are ephemeral


@register
@dataclass(frozen=True)
class UdpFlow:
    KIND: ClassVar[str] = "udp"
    KEYS: ClassVar[tuple[str, ...]] = ("from", "to", "rate", "size", "start", "stop", "port", "arrivals")

    key_path: str
    src: str
    dst: str
    rate: float  # bits per second of payload
    size: int = 1000  # payload bytes per datagram
    start: float = 0.0
    stop: float = 1.0
    port: int = 5001
    arrivals: str = "cbr"

    @classmethod
    def parse(cls, loader: Any, body: dict[str, Any], path: str) -> "UdpFlow":
        required(loader, body, path, "udp", ("from", "to", "rate"), "{udp: {from: web, to: db, rate: 20Mbps}}")
        start, stop = start_stop(loader, body, path, 1.0)
        return cls(path, loader.container_ref(body["from"], f"{path}.from"), loader.string(body["to"], f"{path}.to"),
                   rate=loader.bandwidth(body["rate"], f"{path}.rate"),
                   size=loader.integer(body.get("size", 1000), f"{path}.size", 8, 65507),
                   start=start, stop=stop,
                   port=loader.integer(body.get("port", 5001), f"{path}.port", 1, 65535),
                   arrivals=loader.choice(body.get("arrivals", "cbr"), f"{path}.arrivals", ("cbr", "poisson"),
                                          "arrival process"))

    def end(self) -> float:
        return self.stop + DRAIN

    def run(self, sim: "Simulation", record: "list[dict[str, Any]]") -> Generator[Any, Any, None]:
        from ..analysis.trace import aim, landing

        env = sim.env
        yield env.timeout(max(0.0, self.start - env.now))
        target = aim(sim, self.src, self.dst)
        ns = sim.endpoint(self.src).ns
        sink_ns, sink_port = landing(sim, self.src, target, "udp", self.port)
        state = _State(self, sim, record, target.addr, sink_ns, sink_port, ns)
        if env.now < self.stop:
            state.fire(1, env.now)
        yield env.timeout(max(0.0, self.stop + DRAIN - env.now))
        state.close()


class _State:
    """One flow's bookkeeping: its rows, and the sink that receives its datagrams."""

    def __init__(self, flow: UdpFlow, sim: "Simulation", record: "list[dict[str, Any]]",
                 addr: Optional[Any], sink_ns: "Optional[Namespace]", sink_port: int, ns: "Namespace") -> None:
        self.flow, self.sim, self.record, self.ns = flow, sim, record, ns
        self.addr = addr
        self.rows: dict[int, dict[str, Any]] = {}
        self.sink_ns, self.sink_port = sink_ns, sink_port
        # what every datagram repeats, made once
        self.addr_text = str(addr) if addr is not None else None
        self.dst = ip(addr) if addr is not None else 0
        self.padding = bytes(flow.size - 8)
        if sink_ns is not None:
            sink_ns.sockets[("udp", sink_port)] = self._received
        self.gap = flow.size * 8 / flow.rate
        self.draws = sim.stream("traffic", flow.key_path)
        self.ahead: dict[int, float] = {}  # Poisson send times drawn ahead of their sends, by seq
        self.vectorizer = sim.world.vectorizer
        self.vectorizer.sources.append(self)

    # The send schedule, as datapath.vectorized.Source: the event core and the vectorized mode
    # take the same times from it (and the same draws, in the same order).

    def following(self, seq: int, at: float) -> Optional[tuple[int, float]]:
        flow = self.flow
        if flow.arrivals == "poisson":
            nxt = self.ahead.get(seq + 1)
            if nxt is None:
                nxt = self.ahead[seq + 1] = at + self.draws.expovariate(1 / self.gap)
        else:  # CBR times are start + k x gap, computed, not summed, so none drifts past stop
            nxt = flow.start + seq * self.gap
        return (seq + 1, nxt) if nxt < flow.stop else None

    def upcoming(self, seq: int, at: float, until: float) -> list[tuple[int, float]]:
        sends: list[tuple[int, float]] = []
        send: Optional[tuple[int, float]] = (seq, at)
        while send is not None and send[1] < until:
            sends.append(send)
            send = self.following(*send)
        return sends

    def commit(self, seq: int) -> None:
        for done in [k for k in self.ahead if k <= seq]:
            del self.ahead[done]


    def fire(self, seq: int, at: float) -> None:
        """A send: a call on the packets' heap, not a simpy timeout per datagram (the same
        instant and order, for a fraction of the work)."""
        if self.vectorizer.enabled and self.vectorizer.offer(self, seq, at):
            return
        self.send(self.ns, seq)
        nxt = self.following(seq, at)
        self.commit(seq)
        if nxt is not None:
            env = self.sim.env
            env.call_at(max(nxt[1], env.now), self.fire, *nxt)

    def probe(self) -> Optional[tuple["Namespace", Skb]]:
        if self.addr is None:
            return None
        route, src = self.ns.route_output(self.dst)
        if route is None:
            return None
        return self.ns, self._skb(src, self.padding + bytes(8))

    def emit(self, seq: int, at: float) -> bytes:
        self._row(seq, at)
        return struct.pack("!Q", seq) + self.padding

    def _skb(self, src: Optional[int], payload: bytes) -> Skb:
        flow = self.flow
        return datagram(src or 0, self.dst, _SPORT, flow.port, payload, self, self.ns, flags=0)

    def close(self) -> None:
        if self in self.vectorizer.sources:
            self.vectorizer.sources.remove(self)
        ns = self.sink_ns
        if ns is not None and ns.sockets.get(("udp", self.sink_port)) == self._received:
            del ns.sockets[("udp", self.sink_port)]
        for row in self.rows.values():
            if row["disposition"] == "IN_FLIGHT":
                row["disposition"], row["detail"] = "NO_REPLY", "not delivered by the end of the flow"

    def _row(self, seq: int, at: float) -> dict[str, Any]:
        flow = self.flow
        row = {"flow": flow.key_path, "kind": flow.KIND, "seq": seq, "sent": at, "src": flow.src,
               "dst": flow.dst, "addr": self.addr_text, "bytes": flow.size,
               "received": None, "delay_us": None, "disposition": "IN_FLIGHT", "detail": ""}
        self.rows[seq] = row
        self.record.append(row)
        return row

    def send(self, ns: "Namespace", seq: int) -> None:
        row = self._row(seq, self.sim.now)
        if self.addr is None:
            row["disposition"], row["detail"] = "NAME_UNRESOLVED", f"{self.flow.dst}: NXDOMAIN"
            return
        dst = self.dst
        route, src = ns.route_output(dst)
        if route is None:
            row["disposition"], row["detail"] = "NO_ROUTE", "connect: Network is unreachable"
            return
        ns.world.flowcache.output(ns, self._skb(src, struct.pack("!Q", seq) + self.padding))

    def _seq(self, skb: Skb) -> Optional[int]:
        """The datagram's number, inside whatever tunnel carries it now (VXLAN, ESP)."""
        pkt: Any = skb.frame.payload
        while True:
            seg = getattr(pkt, "payload", None)
            if type(seg) is ESP:  # transport mode: the IP header stays, ESP holds the datagram
                seg = seg.inner
            data = getattr(seg, "data", None)
            if type(data) is VXLAN:
                pkt = data.inner.payload
                continue
            if type(seg) is not UDP or seg.dport not in (self.flow.port, self.sink_port) or not isinstance(data, bytes) \
                    or len(data) < 8:
                return None
            return int(struct.unpack("!Q", data[:8])[0])

    def _received(self, ns: "Namespace", skb: Skb) -> None:
        self._arrived(self._seq(skb), self.sim.now)

    def received_many(self, payloads: list[bytes], times: list[float]) -> None:
        """``_received`` for datagrams the vectorized mode delivers at once, each at its time
        (``datapath.vectorized``): the payloads are what the socket's datagrams carry."""
        for data, now in zip(payloads, times):
            self._arrived(int(struct.unpack("!Q", data[:8])[0]) if len(data) >= 8 else None, now)

    def _arrived(self, seq: Optional[int], now: float) -> None:
        row = self.rows.get(seq or 0)
        if row is None or row["disposition"] != "IN_FLIGHT":
            return
        row["received"], row["delay_us"], row["disposition"] = now, round((now - row["sent"]) * 1e6, 3), "RECEIVED"

    def dropped(self, skb: Skb, reason: DropReason, detail: str) -> None:
        """Observer: a copy of one datagram died; flood copies that die elsewhere do not count."""
        if reason.noise:
            return
        row = self.rows.get(self._seq(skb) or 0)
        if row is not None and row["disposition"] == "IN_FLIGHT":
            row["disposition"], row["detail"] = reason.value, detail
