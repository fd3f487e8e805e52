"""``tcp`` flows: one bulk transfer from a container, as ``iperf3 -n BYTES [-M MSS]`` sends it.

Bulk, not request/response, because the failure only TCP shows on Docker's paths is a bulk one:
on an overlay over a smaller path MTU (K3) the handshake and small requests pass while every
full-sized segment dies, so a transfer stalls where ping and a short exchange say all is well.

One connection, through the same datapath as everything else, with a window model that is small
enough to read (each number below is Linux's or its RFC's):

* Handshake: a SYN carrying the MSS option, the sending device's MTU less 40 or ``mss:``
  (``iperf3 -M``, ``TCP_MAXSEG``) if smaller; the listener answers with its own, and segments carry
  the smaller of the two.  An unanswered SYN is sent again after 1, 2, 4 ... s
  (``TCP_TIMEOUT_INIT``, ``tcp_syn_retries`` 6), then ``connect: Connection timed out``; a RST
  is ``Connection refused``.
* Data: Reno with NewReno's partial ACKs (RFC 5681, RFC 6582): an initial window of 10 segments
  (RFC 6928, ``TCP_INIT_CWND``), slow start, congestion avoidance, fast retransmit on the third
  duplicate ACK; the retransmission timer from RFC 6298's estimator with Karn's rule, at least
  200 ms (``TCP_RTO_MIN``) and at most 120 s (``TCP_RTO_MAX``), doubling on each expiry; after
  ``tcp_retries2`` = 15 expiries for one segment the connection times out.  The sender never has
  more than ``window`` bytes in flight (the receiver's window; default 3 MiB, what Linux
  advertises from ``tcp_rmem``'s 6 MiB maximum with ``tcp_adv_win_scale`` 1).
* The receiver ACKs every segment at once (Linux's quick-ACK mode at a connection's start) and
  keeps out-of-order segments (no SACK).  Segments leave with DF set, as Linux's do (PMTU
  discovery on); with ``tcp_mtu_probing`` 0, Linux's default, nothing recovers from a black hole.

Not modelled: FIN and close, SACK, timestamps, delayed ACKs, Cubic (Linux's default; Reno shares
its slow start and loss response in kind), PMTU probing.  As for ``udp``, the receiver listens
where the segments land, asked of the datapath at the start (a host's published port: the
container behind its DNAT).  Every data segment
sent is one row of the packet table, received (one-way delay) or dropped with its reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Generator, Optional

from ..datapath.addr import ip
from ..datapath.drop import DropReason
from ..datapath.packet import ESP, IP_DF, TCP, TCP_ACK, TCP_PSH, TCP_RST, TCP_SYN, VXLAN, Ether, IPv4
from ..datapath.skb import Skb
from . import register, required, start_stop

if TYPE_CHECKING:
    from ..datapath.netns import Namespace
    from ..simulation import Simulation

__all__ = ["TcpFlow"]

DRAIN = 1.0  # after stop, what is in flight may still arrive
INIT_CWND = 10  # segments, RFC 6928
RTO_INIT, RTO_MIN, RTO_MAX = 1.0, 0.2, 120.0  # seconds: TCP_TIMEOUT_INIT, TCP_RTO_MIN, TCP_RTO_MAX
SYN_RETRIES, RETRIES2 = 6, 15  # net.ipv4.tcp_syn_retries, net.ipv4.tcp_retries2
WINDOW = 3 * 2**20  # bytes the receiver lets be in flight
EPHEMERAL = range(32768, 61000)  # net.ipv4.ip_local_port_range, where a client's port comes from


@register
@dataclass(frozen=True)
class TcpFlow:
    KIND: ClassVar[str] = "tcp"
    KEYS: ClassVar[tuple[str, ...]] = ("from", "to", "bytes", "port", "start", "stop", "mss", "window")

    key_path: str
    src: str
    dst: str
    size: int = 1_000_000  # bytes to transfer (the file's ``bytes:``)
    port: int = 5201  # iperf3's
    start: float = 0.0
    stop: float = 30.0  # the sender gives up what is not acknowledged by then
    mss: int = 0  # 0: from the device's MTU
    window: int = WINDOW

    @classmethod
    def parse(cls, loader: Any, body: dict[str, Any], path: str) -> "TcpFlow":
        required(loader, body, path, "tcp", ("from", "to"), "{tcp: {from: web, to: db, bytes: 10MB}}")
        start, stop = start_stop(loader, body, path, 30.0)
        return cls(path, loader.container_ref(body["from"], f"{path}.from"), loader.string(body["to"], f"{path}.to"),
                   size=loader.size(body.get("bytes", 1_000_000), f"{path}.bytes"),
                   port=loader.integer(body.get("port", 5201), f"{path}.port", 1, 65535),
                   start=start, stop=stop,
                   mss=loader.integer(body.get("mss", 0), f"{path}.mss", 0, 65495) if "mss" in body else 0,
                   window=loader.size(body.get("window", WINDOW), f"{path}.window"))

    def end(self) -> float:
        return self.stop + DRAIN

    def run(self, sim: "Simulation", record: "list[dict[str, Any]]") -> Generator[Any, Any, None]:
        from ..analysis.trace import aim, landing

        env = sim.env
        yield env.timeout(max(0.0, self.start - env.now))
        target = aim(sim, self.src, self.dst)
        sink_ns, sink_port = landing(sim, self.src, target, "tcp", self.port)
        conn = _Connection(self, sim, record, sim.endpoint(self.src).ns, target.addr, sink_ns, sink_port)
        conn.connect()
        yield env.timeout(max(0.0, self.stop - env.now))
        conn.give_up()
        yield env.timeout(DRAIN)
        conn.close()


class _Connection:
    """Both ends of one transfer: the sender's state machine and the receiver's reassembly."""

    def __init__(self, flow: TcpFlow, sim: "Simulation", record: "list[dict[str, Any]]", ns: "Namespace",
                 addr: Optional[Any], sink_ns: "Optional[Namespace]", sink_port: int) -> None:
        self.flow, self.sim, self.record, self.ns = flow, sim, record, ns
        self.addr, self.sink_ns, self.sink_port = addr, sink_ns, sink_port
        self.rows: dict[int, dict[str, Any]] = {}  # IP id of a segment in flight -> its row
        self.tx = 0  # segments sent, so far; the IP id of the next is tx + 1 (mod 2^16)
        self.src = self.dst_ip = 0
        self.sport = 0  # the client's port, taken at connect
        self.mss = 0
        self.outcome = "not started"
        self.listened = False  # whether the flow opened the receiver's port
        self.syn_sent = (0.0, False)  # when the last SYN left, and whether it was a retransmission
        self.connected: Optional[float] = None
        self.done = False
        # sender: RFC 793's names
        self.snd_una = self.snd_nxt = 0
        self.cwnd, self.ssthresh = float(INIT_CWND), float("inf")
        self.dupacks, self.recover, self.in_recovery = 0, 0, False
        self.srtt: Optional[float] = None
        self.rttvar, self.rto, self.backoffs = 0.0, RTO_INIT, 0
        self.timer = 0  # the current retransmission timer's number: an older one that fires does nothing
        self.sent_at: dict[int, tuple[float, bool]] = {}  # segment start -> (first sent, retransmitted)
        # receiver
        self.rcv_nxt = 0
        self.out_of_order: dict[int, int] = {}  # start -> length

    # ---- the sender ------------------------------------------------------------------------------

    def _note(self, outcome: str, done: bool = False) -> None:
        self.outcome, self.done = outcome, done
        took = self.sim.now - self.flow.start if done and outcome == "completed" else None
        self.sim.flow_results[self.flow.key_path] = {
            "outcome": outcome, "completed_s": round(took, 9) if took is not None else None,
            # what the application got: the bytes over the time to the last acknowledgement
            "goodput_bps": round(self.flow.size * 8 / took, 1) if took else None}

    def connect(self) -> None:
        flow = self.flow
        if self.addr is None:
            return self._note(f"{flow.dst}: NXDOMAIN", done=True)
        self.dst_ip = ip(self.addr)
        route, src = self.ns.route_output(self.dst_ip)
        if route is None:
            return self._note("connect: Network is unreachable", done=True)
        self.src = src or 0
        own = route.dev.mtu - 40
        self.mss = min(own, flow.mss) if flow.mss else own
        self.sport = next(port for port in EPHEMERAL if ("tcp", port) not in self.ns.sockets)
        self.ns.sockets[("tcp", self.sport)] = self._from_receiver
        if self.sink_ns is not None:
            self.listened = ("tcp", 0, self.sink_port) not in self.sink_ns.listening
            self.sink_ns.listening.add(("tcp", 0, self.sink_port))
            self.sink_ns.sockets[("tcp", self.sink_port)] = self._from_sender
        self._note("connecting")
        self._syn(0)

    def _syn(self, attempt: int) -> None:
        if self.outcome != "connecting":
            return
        if attempt > SYN_RETRIES:
            return self._note("connect: Connection timed out", done=True)
        self.syn_sent = (self.sim.now, attempt > 0)
        self._out(TCP(self.sport, self.flow.port, 0, 0, TCP_SYN, min(self.flow.window, 65535), mss=self.mss))
        self.sim.env.call_at(self.sim.now + RTO_INIT * 2**attempt, self._syn, attempt + 1)

    def _from_receiver(self, ns: "Namespace", skb: Skb) -> None:
        seg = _segment(skb)
        if seg is None or self.done:
            return
        if seg.flags & TCP_RST:
            return self._note("connect: Connection refused" if self.outcome == "connecting" else
                              "read: Connection reset by peer", done=True)
        if seg.flags & TCP_SYN:
            if self.outcome == "connecting" and seg.flags & TCP_ACK:
                if seg.mss:
                    self.mss = min(self.mss, seg.mss)
                if not self.syn_sent[1]:  # the handshake's round trip is the first sample (Karn permitting)
                    self._sample(self.sim.now - self.syn_sent[0])
                self.connected = self.sim.now
                self._note("transferring")
                self._out(TCP(self.sport, self.flow.port, 1, 1, TCP_ACK, min(self.flow.window, 65535)))
                self._send()
            return
        if seg.flags & TCP_ACK and self.outcome == "transferring":
            self._ack(seg.ack - 1)  # data starts at sequence 1, after the SYN

    def _ack(self, ack: int) -> None:
        if ack > self.snd_una:
            sent = self.sent_at.get(self.snd_una)
            if sent is not None and not sent[1]:  # Karn: no sample from a retransmitted segment
                self._sample(self.sim.now - sent[0])
            for start in [s for s in self.sent_at if s < ack]:
                del self.sent_at[start]
            newly = ack - self.snd_una
            self.snd_una = ack
            self.snd_nxt = max(self.snd_nxt, ack)
            self.backoffs = 0
            if self.in_recovery:
                if ack >= self.recover:  # full ACK: recovery is over
                    self.in_recovery, self.cwnd = False, self.ssthresh
                else:  # partial ACK: the next hole goes at once (NewReno)
                    self._segment_at(self.snd_una, retransmit=True)
                    self.cwnd = max(1.0, self.cwnd - newly / self.mss + 1)
            elif self.cwnd < self.ssthresh:
                self.cwnd += 1
            else:
                self.cwnd += 1 / self.cwnd
            self.dupacks = 0
            if self.snd_una >= self.flow.size:
                return self._note("completed", done=True)
            self._arm()
        elif ack == self.snd_una and self.snd_nxt > self.snd_una:
            self.dupacks += 1
            if self.dupacks == 3 and not self.in_recovery:
                self.ssthresh = max(self._flight() / 2, 2.0)
                self.cwnd, self.recover, self.in_recovery = self.ssthresh + 3, self.snd_nxt, True
                self._segment_at(self.snd_una, retransmit=True)
                self._arm()
            elif self.in_recovery:
                self.cwnd += 1
        self._send()

    def _flight(self) -> float:
        return (self.snd_nxt - self.snd_una) / self.mss

    def _sample(self, rtt: float) -> None:
        """RFC 6298 section 2."""
        if self.srtt is None:
            self.srtt, self.rttvar = rtt, rtt / 2
        else:
            self.rttvar = 0.75 * self.rttvar + 0.25 * abs(self.srtt - rtt)
            self.srtt = 0.875 * self.srtt + 0.125 * rtt
        self.rto = min(RTO_MAX, max(RTO_MIN, self.srtt + 4 * self.rttvar))

    def _send(self) -> None:
        """Everything the windows allow."""
        limit = self.snd_una + min(int(self.cwnd) * self.mss, self.flow.window)
        while self.snd_nxt < self.flow.size and self.snd_nxt < limit and not self.done:
            self._segment_at(self.snd_nxt, retransmit=self.snd_nxt in self.sent_at)
            self.snd_nxt += min(self.mss, self.flow.size - self.snd_nxt)
        if self.snd_nxt > self.snd_una:
            self._arm(keep=True)

    def _segment_at(self, start: int, retransmit: bool) -> None:
        length = min(self.mss, self.flow.size - start)
        first = self.sent_at.get(start)
        self.sent_at[start] = (first[0] if first else self.sim.now, retransmit or first is not None)
        self._out(TCP(self.sport, self.flow.port, start + 1, 1, TCP_ACK | TCP_PSH, min(self.flow.window, 65535),
                      bytes(length)), length)

    def _arm(self, keep: bool = False) -> None:
        """(Re)start the retransmission timer; ``keep``: only if none runs."""
        if keep and self.timer > 0:
            return
        self.timer = abs(self.timer) + 1
        self.sim.env.call_at(self.sim.now + min(RTO_MAX, self.rto * 2**self.backoffs), self._expired, self.timer)

    def _expired(self, timer: int) -> None:
        if timer != self.timer or self.done or self.snd_una >= self.snd_nxt:
            if timer == self.timer:
                self.timer = -self.timer  # no timer runs
            return
        self.backoffs += 1
        if self.backoffs > RETRIES2:
            return self._note("write: Connection timed out", done=True)
        self.ssthresh = max(self._flight() / 2, 2.0)
        self.cwnd, self.in_recovery, self.dupacks = 1.0, False, 0
        self.snd_nxt = self.snd_una  # go back: everything after the hole is sent again as the window opens
        self.timer = -self.timer
        self._send()

    def give_up(self) -> None:
        if not self.done:
            acked = max(0, self.snd_una)
            self._note(f"unfinished: connected at {self.connected:g}s, {acked} of {self.flow.size} bytes "
                       f"acknowledged by {self.flow.stop:g}s"
                       if self.outcome == "transferring" else f"{self.outcome} at {self.flow.stop:g}s", done=True)

    def close(self) -> None:
        if self.ns.sockets.get(("tcp", self.sport)) == self._from_receiver:
            del self.ns.sockets[("tcp", self.sport)]
        sink = self.sink_ns
        if sink is not None and sink.sockets.get(("tcp", self.sink_port)) == self._from_sender:
            del sink.sockets[("tcp", self.sink_port)]
            if self.listened:  # a port the container listens on anyway stays open
                sink.listening.discard(("tcp", 0, self.sink_port))
        for row in self.rows.values():
            if row["disposition"] == "IN_FLIGHT":
                row["disposition"], row["detail"] = "NO_REPLY", "not delivered by the end of the flow"

    def _out(self, seg: TCP, payload: int = -1) -> None:
        """A segment from the sender; ``payload`` >= 0 makes it a data segment with a row."""
        self.tx += 1
        ident = self.tx & 0xFFFF
        observer: Any = None
        if payload >= 0:
            flow = self.flow
            row = {"flow": flow.key_path, "kind": flow.KIND, "seq": self.tx, "sent": self.sim.now, "src": flow.src,
                   "dst": flow.dst, "addr": str(self.addr), "bytes": payload, "received": None, "delay_us": None,
                   "disposition": "IN_FLIGHT", "detail": ""}
            self.rows[ident] = row
            self.record.append(row)
            observer = self
        pkt = IPv4(self.src, self.dst_ip, seg, ttl=64, ident=ident, flags=IP_DF)
        self.ns.world.flowcache.output(self.ns, Skb(Ether(0, 0, pkt), observer, origin=self.ns))

    def dropped(self, skb: Skb, reason: DropReason, detail: str) -> None:
        if reason.noise:
            return
        row = self.rows.get(_ident(skb))
        if row is not None and row["disposition"] == "IN_FLIGHT":
            row["disposition"], row["detail"] = reason.value, detail

    # ---- the receiver ----------------------------------------------------------------------------

    def _from_sender(self, ns: "Namespace", skb: Skb) -> None:
        seg = _segment(skb)
        if seg is None or not seg.data:
            return
        row = self.rows.get(_ident(skb))
        if row is not None and row["disposition"] == "IN_FLIGHT":
            now = self.sim.now
            row["received"], row["delay_us"], row["disposition"] = now, round((now - row["sent"]) * 1e6, 3), "RECEIVED"
        start = seg.seq - 1
        if start == self.rcv_nxt:
            self.rcv_nxt += len(seg.data)
            while self.rcv_nxt in self.out_of_order:
                self.rcv_nxt += self.out_of_order.pop(self.rcv_nxt)
        elif start > self.rcv_nxt:
            self.out_of_order.setdefault(start, len(seg.data))
        pkt = _inner_ip(skb)
        if pkt is None:
            return
        ack = TCP(seg.dport, seg.sport, 1, self.rcv_nxt + 1, TCP_ACK, min(self.flow.window, 65535))
        ns.world.flowcache.output(ns, Skb(Ether(0, 0, IPv4(pkt.dst, pkt.src, ack, ttl=64, flags=IP_DF)), origin=ns))


def _inner_ip(skb: Skb) -> Optional[IPv4]:
    """The TCP segment's own IP header, inside whatever tunnel carries it now (VXLAN, ESP)."""
    pkt: Any = skb.frame.payload
    while type(pkt) is IPv4:
        seg = pkt.payload
        if type(seg) is ESP:
            seg = seg.inner
        if type(seg) is TCP:
            return pkt if type(pkt.payload) is TCP else pkt._replace(payload=seg)
        data = getattr(seg, "data", None)
        if type(data) is not VXLAN:
            return None
        pkt = data.inner.payload
    return None


def _segment(skb: Skb) -> Optional[TCP]:
    pkt = _inner_ip(skb)
    return pkt.payload if pkt is not None and type(pkt.payload) is TCP else None


def _ident(skb: Skb) -> int:
    pkt = _inner_ip(skb)
    return pkt.ident if pkt is not None else -1

