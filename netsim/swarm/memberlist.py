"""memberlist: SWIM membership with Lifeguard, as hashicorp/memberlist runs it under NetworkDB.

Every ``probe_interval`` (1 s, stretched by the node's awareness up to x8) a node probes the next
member of its shuffled list: a ``ping`` answered by an ``ack`` within ``probe_timeout`` (500 ms).
Without one it asks ``indirect_checks`` (3) other members to ping the target for it
(``ping-req``); if no ack has come back by the end of the probe interval, the target is
**suspected**.  A suspicion is gossiped; it becomes **dead** when its timer runs out.  The timer
starts at ``max = suspicion_max_timeout_mult x min`` and shrinks towards
``min = suspicion_mult x max(1, log10 N) x probe_interval`` as independent confirmations arrive
(Lifeguard's formula, suspicion.go), so a crash is declared within B56's window.  A member that
hears it is suspected or dead refutes it with a higher incarnation, and a graceful leave is
announced at once (``dead`` from the node itself, no suspicion).

State changes spread by gossip: every ``gossip_interval`` (200 ms) a packet to each of
``gossip_nodes`` (3) random members, each message ``retransmit_mult x ceil(log10(N + 1))`` times
in all (``broadcast.TransmitLimitedQueue``).  A ``join`` is a
push-pull of the whole member list with a known member, and every ``push_pull_interval`` (30 s)
a node push-pulls with one random member; the delegate's own state rides along
(``local_state``/``merge_remote_state``, as NetworkDB's network attachments do).  What rides on
top gets its messages through ``send_user``/``on_user`` (``reliable=True``: memberlist's
SendReliable), and hears of members joining, failing and leaving through ``on_change``.

Two transports reach the network, as memberlist's NetTransport does on one port: datagrams
(pings, acks, gossip; UDP 7946) and a stream (push-pull, reliable user messages, and the
fallback ping a prober sends straight to its target over TCP when the UDP ping goes
unanswered: a node that only UDP fails to reach is not suspected, and memberlist warns that the
network may be misconfigured).  Without a stream transport (the mock network) both are one.

Not modelled: connection set-up and its timeouts (a stream message is one segment), message
packing limits, gossip to the dead (GossipToTheDeadTime).
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Generator, Optional, Protocol

from .broadcast import TransmitLimitedQueue
from .transport import UDP_BUFFER_SIZE

if TYPE_CHECKING:
    import simpy

    from .transport import Transport

__all__ = ["Memberlist", "MemberlistConfig", "ALIVE", "SUSPECT", "DEAD", "LEFT"]

ALIVE, SUSPECT, DEAD, LEFT = "alive", "suspect", "dead", "left"


@dataclass(frozen=True)
class MemberlistConfig:
    """memberlist's DefaultLANConfig, as NetworkDB uses it (B56)."""

    probe_interval: float = 1.0
    probe_timeout: float = 0.5
    indirect_checks: int = 3
    suspicion_mult: int = 4
    suspicion_max_timeout_mult: int = 6
    awareness_max_multiplier: int = 8
    gossip_interval: float = 0.2
    gossip_nodes: int = 3
    retransmit_mult: int = 4
    push_pull_interval: float = 30.0


@dataclass
class Member:
    name: str
    address: int
    state: str = ALIVE
    incarnation: int = 0
    since: float = 0.0


@dataclass
class _Suspicion:
    started: float
    k: int
    min: float
    max: float
    confirmations: set[str] = field(default_factory=set)
    incarnation: int = 0

    def timeout(self) -> float:
        """Lifeguard: from max down towards min, log-scaled by the confirmations (suspicion.go)."""
        if self.k < 1:
            return self.min
        frac = math.log(len(self.confirmations) + 1) / math.log(self.k + 1)
        return max(self.min, self.max - frac * (self.max - self.min))


Change = Callable[[Member], None]


class Delegate(Protocol):
    """What rides on memberlist's push-pulls (hashicorp/memberlist's Delegate)."""

    def local_state(self) -> Any: ...

    def merge_remote_state(self, sender: str, state: Any) -> None: ...

    def reconnected(self, name: str) -> None:
        """The push-pull this node sent a dead member to rejoin it was answered (NetworkDB's
        reconnectNode: memberlist.Join returned)."""


class Memberlist:
    def __init__(self, env: "simpy.Environment", name: str, transport: "Transport", rng: random.Random,
                 config: MemberlistConfig = MemberlistConfig(), stream: "Optional[Transport]" = None) -> None:
        self.env = env
        self.name = name
        self.transport = transport
        self.stream = stream if stream is not None else transport
        self.rng = rng
        self.config = config
        self.members: dict[str, Member] = {name: Member(name, transport.address)}
        self.awareness = 0  # Lifeguard's health score, 0 (healthy) to awareness_max_multiplier - 1
        self.frozen = False  # node_fail: the machine sends, receives and decides nothing
        self.running = True
        self.messages_sent = 0
        self.on_user: Callable[[str, bytes], None] = lambda sender, data: None
        self.on_change: list[Change] = []
        self.delegate: Optional[Delegate] = None
        self.log: Callable[[str, str], None] = lambda level, message: None  # the daemon's log
        self._broadcasts = TransmitLimitedQueue(self.num_members, config.retransmit_mult)
        self._suspicions: dict[str, _Suspicion] = {}
        self._acks: dict[int, Callable[[], None]] = {}
        self._relays: dict[int, tuple[str, int]] = {}  # my seq -> (who asked, their seq)
        self._seq = 0
        self._probe_order: list[str] = []
        transport.listen(self._receive)
        if self.stream is not transport:
            self.stream.listen(self._receive)
        env.process(self._probe_loop())
        env.process(self._gossip_loop())
        env.process(self._reconnect_loop())
        env.process(self._push_pull_loop())

    # ---- membership -----------------------------------------------------------------------------

    def join(self, peers: dict[str, int]) -> None:
        """memberlist.Join: push-pull with the known members; the others hear of us by gossip."""
        for name, address in sorted(peers.items()):
            if name != self.name:
                self._push_pull(address)
        self._broadcast({"k": "alive", "node": self.name, "addr": self.transport.address,
                         "inc": self.members[self.name].incarnation})

    def leave(self) -> None:
        """A graceful leave: everyone is told at once (memberlist Leave, then Shutdown)."""
        me = self.members[self.name]
        me.incarnation += 1
        message = {"k": "dead", "node": self.name, "inc": me.incarnation, "from": self.name}
        for member in self.alive_members():
            self._send(member.address, {"k": "batch", "m": [message]})
        self.running = False

    def alive_members(self) -> list[Member]:
        """The other members this node believes alive or suspect (suspects still get traffic)."""
        return [m for n, m in sorted(self.members.items()) if n != self.name and m.state in (ALIVE, SUSPECT)]

    def send_user(self, name: str, data: bytes, reliable: bool = False) -> None:
        """SendBestEffort (a datagram) or, ``reliable``, SendReliable (the stream)."""
        member = self.members.get(name)
        if member is not None:
            self._send(member.address, {"k": "user", "d": data.decode()}, stream=reliable)

    def num_members(self) -> int:
        return sum(1 for m in self.members.values() if m.state in (ALIVE, SUSPECT))

    # ---- probing --------------------------------------------------------------------------------

    def _scaled(self, value: float) -> float:
        return value * (self.awareness + 1)

    def _probe_loop(self) -> Generator[Any, Any, None]:
        while self.running:
            interval = self._scaled(self.config.probe_interval)
            yield self.env.timeout(interval)
            if self.frozen or not self.running:
                continue
            target = self._next_target()
            if target is not None:
                self.env.process(self._probe(target, interval))

    def _next_target(self) -> Optional[Member]:
        for _ in range(2):
            while self._probe_order:
                name = self._probe_order.pop(0)
                member = self.members.get(name)
                if member is not None and member.state in (ALIVE, SUSPECT) and name != self.name:
                    return member
            self._probe_order = [n for n in self.members if n != self.name]
            self.rng.shuffle(self._probe_order)
        return None

    def _probe(self, target: Member, interval: float) -> Generator[Any, Any, None]:
        acked = self.env.event()

        def on_ack() -> None:
            if not acked.triggered:
                acked.succeed()

        seq = self._ack_handler(on_ack)
        self._send(target.address, {"k": "ping", "seq": seq, "node": target.name})
        yield self.env.any_of([acked, self.env.timeout(self._scaled(self.config.probe_timeout))])
        fallback: list[bool] = []
        tcp_seq: Optional[int] = None
        if not acked.triggered and not self.frozen:
            helpers = [m for m in self.alive_members() if m.name != target.name]
            for helper in self.rng.sample(helpers, min(self.config.indirect_checks, len(helpers))):
                self._send(helper.address, {"k": "ping-req", "seq": seq, "node": target.name,
                                            "addr": target.address})
            if self.stream is not self.transport:
                tcp_seq = self._ack_handler(lambda: fallback.append(True))
                self._send(target.address, {"k": "ping", "seq": tcp_seq, "node": target.name, "tcp": True},
                           stream=True)
            rest = max(0.0, interval - self._scaled(self.config.probe_timeout))
            yield self.env.any_of([acked, self.env.timeout(rest)])
        self._acks.pop(seq, None)
        if tcp_seq is not None:
            self._acks.pop(tcp_seq, None)
        if self.frozen or not self.running:
            return
        if acked.triggered:
            self.awareness = max(0, self.awareness - 1)
        elif fallback:
            self.log("warning", f"memberlist: Was able to connect to {target.name} over TCP but UDP probes "
                                "failed, network may be misconfigured")
        else:
            self.awareness = min(self.config.awareness_max_multiplier - 1, self.awareness + 1)
            if target.state == ALIVE:
                self._suspect(target.name, target.incarnation, self.name)

    def _ack_handler(self, fn: Callable[[], None]) -> int:
        self._seq += 1
        self._acks[self._seq] = fn
        return self._seq

    # ---- suspicion ------------------------------------------------------------------------------

    def _suspect(self, name: str, incarnation: int, source: str) -> None:
        member = self.members.get(name)
        if member is None or incarnation < member.incarnation or member.state in (DEAD, LEFT):
            return
        if name == self.name:
            self._refute(incarnation)
            return
        current = self._suspicions.get(name)
        if current is not None and member.state == SUSPECT:
            if source not in current.confirmations and source != self.name:
                current.confirmations.add(source)
                self._broadcast({"k": "suspect", "node": name, "inc": incarnation, "from": source})
            return
        n = self.num_members()
        low = self.config.suspicion_mult * max(1.0, math.log10(max(n, 1))) * self.config.probe_interval
        k = self.config.suspicion_mult - 2 if n - 2 >= self.config.suspicion_mult - 2 else 0
        suspicion = _Suspicion(self.env.now, k, low, self.config.suspicion_max_timeout_mult * low,
                               incarnation=incarnation)
        if source != self.name:
            suspicion.confirmations.add(source)
        self._suspicions[name] = suspicion
        member.state, member.incarnation, member.since = SUSPECT, incarnation, self.env.now
        self._notify(member)
        self._broadcast({"k": "suspect", "node": name, "inc": incarnation, "from": source})
        self.env.process(self._suspicion_timer(name, suspicion))

    def _suspicion_timer(self, name: str, suspicion: _Suspicion) -> Generator[Any, Any, None]:
        while True:
            deadline = suspicion.started + suspicion.timeout()
            if self.env.now >= deadline:
                break
            yield self.env.timeout(min(deadline - self.env.now, self.config.probe_interval))
            if self._suspicions.get(name) is not suspicion:
                return  # refuted, or superseded
        if self.frozen or not self.running:
            self._suspicions.pop(name, None)
            return
        member = self.members[name]
        if member.state == SUSPECT and self._suspicions.get(name) is suspicion:
            del self._suspicions[name]
            self._dead(name, member.incarnation, self.name)

    def _dead(self, name: str, incarnation: int, source: str) -> None:
        member = self.members.get(name)
        if member is None or incarnation < member.incarnation or member.state in (DEAD, LEFT):
            return
        if name == self.name:
            if self.running:
                self._refute(incarnation)
            return
        self._suspicions.pop(name, None)
        member.state = LEFT if source == name else DEAD
        member.incarnation, member.since = incarnation, self.env.now
        self._notify(member)
        self._broadcast({"k": "dead", "node": name, "inc": incarnation, "from": source})

    def _alive(self, name: str, address: int, incarnation: int) -> None:
        member = self.members.get(name)
        if name == self.name:
            return
        if member is None:
            member = self.members[name] = Member(name, address, ALIVE, incarnation, self.env.now)
            self._notify(member)
            self._broadcast({"k": "alive", "node": name, "addr": address, "inc": incarnation})
            return
        if incarnation <= member.incarnation:
            return  # old news; a member declared dead comes back only by refuting with a newer incarnation
        was = member.state
        self._suspicions.pop(name, None)
        member.state, member.incarnation, member.address, member.since = ALIVE, incarnation, address, self.env.now
        if was != ALIVE:
            self._notify(member)
        self._broadcast({"k": "alive", "node": name, "addr": address, "inc": incarnation})

    def _refute(self, incarnation: int) -> None:
        me = self.members[self.name]
        me.incarnation = max(me.incarnation, incarnation) + 1
        self._broadcast({"k": "alive", "node": self.name, "addr": self.transport.address, "inc": me.incarnation})

    def _notify(self, member: Member) -> None:
        for fn in self.on_change:
            fn(member)

    def _reconnect_loop(self) -> Generator[Any, Any, None]:
        """NetworkDB's reconnectNode: every second, try to join one random failed member again (B57b)."""
        while self.running:
            yield self.env.timeout(1.0)
            failed = [m for n, m in sorted(self.members.items()) if m.state == DEAD]
            if failed and not self.frozen:
                self._push_pull(self.rng.choice(failed).address, why="reconnect")

    def _push_pull_loop(self) -> Generator[Any, Any, None]:
        """pushPull: every push_pull_interval a full state exchange with one random live member."""
        while self.running:
            yield self.env.timeout(self.config.push_pull_interval)
            members = self.alive_members()
            if members and not self.frozen:
                self._push_pull(self.rng.choice(members).address, why="periodic")

    def _push_pull(self, address: int, why: str = "join", reply: bool = True) -> None:
        message: dict[str, Any] = {"k": "pushpull", "members": self._state(), "reply": reply, "why": why}
        if self.delegate is not None:
            message["user"] = self.delegate.local_state()
        self._send(address, message, stream=True)

    # ---- gossip ---------------------------------------------------------------------------------

    def _broadcast(self, message: dict[str, Any]) -> None:
        self._broadcasts.queue(message, name=message.get("node"))  # news of a node replaces older news of it

    def _gossip_loop(self) -> Generator[Any, Any, None]:
        while self.running:
            yield self.env.timeout(self.config.gossip_interval)
            if self.frozen or not self._broadcasts:
                continue
            members = self.alive_members()
            for member in self.rng.sample(members, min(self.config.gossip_nodes, len(members))):
                batch = self._broadcasts.get(UDP_BUFFER_SIZE - 100)  # one packet per target
                if not batch:
                    break
                self._send(member.address, {"k": "batch", "m": batch})

    # ---- the wire -------------------------------------------------------------------------------

    def _state(self) -> list[list[Any]]:
        return [[m.name, m.address, m.state, m.incarnation] for m in sorted(self.members.values(), key=lambda m: m.name)]

    def _send(self, address: int, message: dict[str, Any], stream: bool = False) -> None:
        if self.frozen:
            return
        self.messages_sent += 1
        (self.stream if stream else self.transport).send(
            address, json.dumps({"from": self.name, **message}, sort_keys=True, separators=(",", ":")).encode())

    def _receive(self, src: int, data: bytes) -> None:
        if self.frozen or not self.running:
            return
        try:
            message = json.loads(data)
        except ValueError:
            return
        sender, kind = message.get("from", ""), message.get("k")
        if kind == "user":
            self.on_user(sender, message["d"].encode())
        elif kind == "ping":
            if message.get("node") == self.name:  # answered the way it came (a TCP ping on its stream)
                self._send(src, {"k": "ack", "seq": message["seq"]}, stream=bool(message.get("tcp")))
        elif kind == "ack":
            handler = self._acks.get(message["seq"])
            if handler is not None:
                handler()
            relay = self._relays.pop(message["seq"], None)
            if relay is not None:
                asker = self.members.get(relay[0])
                if asker is not None:
                    self._send(asker.address, {"k": "ack", "seq": relay[1]})
        elif kind == "ping-req":
            seq = self._ack_handler(lambda: None)
            self._relays[seq] = (sender, message["seq"])
            self._send(message["addr"], {"k": "ping", "seq": seq, "node": message["node"]})
        elif kind == "pushpull":
            self._merge(message["members"])
            if self.delegate is not None and "user" in message:
                self.delegate.merge_remote_state(sender, message["user"])
            if message.get("reply"):
                self._push_pull(src, message.get("why", "join"), reply=False)
            elif self.delegate is not None and message.get("why") == "reconnect":
                self.delegate.reconnected(sender)
        elif kind == "batch":
            for item in message["m"]:
                self._handle(item)

    def _handle(self, item: dict[str, Any]) -> None:
        kind = item.get("k")
        if kind == "alive":
            self._alive(item["node"], item["addr"], item["inc"])
        elif kind == "suspect":
            self._suspect(item["node"], item["inc"], item["from"])
        elif kind == "dead":
            self._dead(item["node"], item["inc"], item["from"])

    def _merge(self, members: list[list[Any]]) -> None:
        for name, address, state, incarnation in members:
            if state in (ALIVE, SUSPECT):
                self._alive(name, address, incarnation)
            elif state in (DEAD, LEFT) and name in self.members:
                self._dead(name, incarnation, name if state == LEFT else "")
