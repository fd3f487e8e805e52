"""Raft among the managers, as swarmkit configures etcd's raft (B53, B54).

One tick a second (``TickInterval``).  The leader sends a heartbeat every tick
(``HeartbeatTick = 1``); a follower that hears no leader for its randomised election timeout,
drawn in ``[ElectionTick, 2 x ElectionTick - 1]`` = 10 to 19 ticks, becomes a candidate: a new
term, its own vote, ``RequestVote`` to the others; a majority of the managers (``N // 2 + 1``)
makes it leader.  With ``CheckQuorum`` a leader that has not heard from a majority within an
election timeout steps down, so a leader cut off from the others stops leading.  Managers
vote once per term.  No log is replicated: what matters here is who leads and whether a
quorum exists, which gate what the managers decide (networks, attachments, joins).

Messages go through a ``Transport`` (TCP 2377 between managers), so blocking 2377 or a
partition stops them.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Generator, Optional

if TYPE_CHECKING:
    import simpy

    from .transport import Transport

__all__ = ["Raft", "RaftConfig", "FOLLOWER", "CANDIDATE", "LEADER"]

FOLLOWER, CANDIDATE, LEADER = "follower", "candidate", "leader"


@dataclass(frozen=True)
class RaftConfig:
    tick: float = 1.0  # swarmkit TickInterval
    heartbeat_tick: int = 1
    election_tick: int = 10


@dataclass
class Raft:
    env: "simpy.Environment"
    name: str
    transport: "Transport"
    rng: random.Random
    peers: dict[str, int] = field(default_factory=dict)  # the other managers: name -> address
    config: RaftConfig = RaftConfig()
    state: str = FOLLOWER
    term: int = 0
    voted_for: Optional[str] = None
    leader: Optional[str] = None
    frozen: bool = False
    running: bool = True
    on_change: list[Callable[["Raft"], None]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._elapsed = 0
        self._timeout = self._random_timeout()
        self._votes: set[str] = set()
        self._heard: set[str] = set()  # managers that answered since the last quorum check
        self._last_contact: dict[str, float] = {}
        self.env.process(self._ticker())

    # ---- what the swarm asks ----------------------------------------------------------------

    def bootstrap(self) -> None:
        """``swarm init``: a one-manager cluster elects itself at once."""
        self.term = 1
        self._become(LEADER, self.name)

    def add_peer(self, name: str, address: int) -> None:
        """A manager joined (a configuration change this manager just took part in: contact now)."""
        self.peers[name] = address
        self._last_contact[name] = self.env.now

    def has_quorum(self) -> bool:
        """Whether this manager leads with a majority behind it (what every cluster write needs)."""
        return self.state == LEADER and 1 + sum(self.reachable(p) for p in self.peers) >= self.quorum()

    def quorum(self) -> int:
        return (len(self.peers) + 1) // 2 + 1

    def reachable(self, name: str) -> bool:
        """The leader's view of a manager: heard from within an election timeout (``Reachable``)."""
        if name == self.name:
            return True
        last = self._last_contact.get(name)
        return last is not None and self.env.now - last <= self.config.election_tick * self.config.tick

    # ---- ticks ----------------------------------------------------------------------------------

    def _random_timeout(self) -> int:
        return self.config.election_tick + self.rng.randrange(self.config.election_tick)

    def _ticker(self) -> Generator[Any, Any, None]:
        while self.running:
            yield self.env.timeout(self.config.tick)
            if not self.frozen:
                self._tick()

    def _tick(self) -> None:
        self._elapsed += 1
        if self.state == LEADER:
            if self._elapsed % self.config.heartbeat_tick == 0:
                self._broadcast({"k": "append", "term": self.term})
            if self._elapsed >= self.config.election_tick:
                self._elapsed = 0
                quorum_seen = len(self._heard | {self.name}) >= self.quorum()
                self._heard = set()
                if not quorum_seen:  # CheckQuorum
                    self._become(FOLLOWER, None)
            return
        if self._elapsed >= self._timeout and self.peers:
            self._campaign()

    def _campaign(self) -> None:
        self.term += 1
        self.voted_for = self.name
        self._votes = {self.name}
        self._elapsed = 0
        self._timeout = self._random_timeout()
        self._become(CANDIDATE, None)
        self._broadcast({"k": "vote?", "term": self.term})

    def _become(self, state: str, leader: Optional[str]) -> None:
        changed = (state, leader) != (self.state, self.leader)
        self.state, self.leader = state, leader
        if state == LEADER:
            self._elapsed = 0
            self._heard = set()
            self._broadcast({"k": "append", "term": self.term})
        if changed:
            for fn in self.on_change:
                fn(self)

    # ---- messages -------------------------------------------------------------------------------

    def _broadcast(self, message: dict[str, Any]) -> None:
        for name in sorted(self.peers):
            self._send(name, message)

    def _send(self, name: str, message: dict[str, Any]) -> None:
        if self.frozen:
            return
        self.transport.send(self.peers[name], json.dumps({"p": "raft", "from": self.name, **message},
                                                         sort_keys=True).encode())

    def receive(self, message: dict[str, Any]) -> None:
        if self.frozen or not self.running:
            return
        sender, term, kind = message["from"], int(message["term"]), message["k"]
        if sender not in self.peers:
            return
        self._last_contact[sender] = self.env.now
        if term > self.term:
            self.term, self.voted_for = term, None
            if self.state != FOLLOWER or kind == "append":
                self._become(FOLLOWER, sender if kind == "append" else None)
        if kind == "append":
            if term == self.term:
                self._elapsed = 0
                if self.state != FOLLOWER or self.leader != sender:
                    self._become(FOLLOWER, sender)
                self._send(sender, {"k": "ack", "term": self.term})
        elif kind == "ack":
            if self.state == LEADER and term == self.term:
                self._heard.add(sender)
        elif kind == "vote?":
            grant = term == self.term and self.voted_for in (None, sender) and self.state != LEADER
            if grant:
                self.voted_for = sender
                self._elapsed = 0
            self._send(sender, {"k": "vote", "term": self.term, "granted": grant})
        elif kind == "vote":
            if self.state == CANDIDATE and term == self.term and message.get("granted"):
                self._votes.add(sender)
                if len(self._votes) >= self.quorum():
                    self._become(LEADER, self.name)
