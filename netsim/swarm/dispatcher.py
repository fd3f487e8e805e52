"""The dispatcher: nodes' heartbeats to the leader, and when it marks a node Down (B55).

Every node sends a heartbeat to the leader every ``period`` (5 s) give or take ``jitter``
(0.5 s).  The leader gives each node ``3 x period`` (13.5 to 16.5 s with the jitter) after its
last heartbeat before marking it ``Down``; after a leader change every node first gets twice
that grace, as swarmkit's dispatcher treats nodes it does not know yet.  Heartbeats travel as
TCP segments on 2377 through the transport, so a blocked 2377 or a partition stops them.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any, Callable, Generator, Optional

if TYPE_CHECKING:
    import simpy

    from .transport import Transport

__all__ = ["Dispatcher", "DispatcherConfig", "READY", "DOWN", "UNKNOWN"]

READY, DOWN, UNKNOWN = "Ready", "Down", "Unknown"


@dataclass(frozen=True)
class DispatcherConfig:
    period: float = 5.0  # swarmkit DefaultHeartBeatPeriod
    jitter: float = 0.5
    grace_multiplier: int = 3  # Down after 3 periods without a heartbeat
    unknown_multiplier: int = 2  # and twice that for nodes a new leader has not heard from yet


@dataclass
class Dispatcher:
    """One node's heartbeat loop, and, while it leads, the table of everyone's expiry."""

    env: "simpy.Environment"
    name: str
    transport: "Transport"
    rng: random.Random
    leader_address: Callable[[], Optional[int]]
    config: DispatcherConfig = DispatcherConfig()
    frozen: bool = False
    running: bool = True
    expiry: dict[str, float] = field(default_factory=dict)  # on the leader: node -> when it goes Down
    down: set[str] = field(default_factory=set)  # on the leader: the nodes it marked Down
    #: called on the leader as a node goes Down or comes back Ready: (node, READY or DOWN)
    on_status: list[Callable[[str, str], None]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.env.process(self._heartbeats())

    def _period(self) -> float:
        return self.config.period + self.rng.uniform(-self.config.jitter, self.config.jitter)

    def _heartbeats(self) -> Generator[Any, Any, None]:
        while self.running:
            if not self.frozen:
                leader = self.leader_address()
                if leader is not None:
                    self.transport.send(leader, json.dumps({"p": "hb", "from": self.name}).encode())
            yield self.env.timeout(self._period())

    def lead(self, nodes: list[str]) -> None:
        """This node became leader: every node starts with the grace of an unknown one."""
        grace = self.config.grace_multiplier * self.config.unknown_multiplier * self.config.period
        self.expiry, self.down = {}, set()
        for node in nodes:
            self.expect(node, self.env.now + grace)

    def expect(self, node: str, deadline: float) -> None:
        """swarmkit's heartbeat timer (dispatcher/heartbeat): the node is Down at the deadline
        unless a heartbeat moves it first."""
        self.expiry[node] = deadline
        self.env.timeout(max(0.0, deadline - self.env.now)).callbacks.append(partial(self._expired, node, deadline))

    def _expired(self, node: str, deadline: float, _: object = None) -> None:
        if self.expiry.get(node) != deadline or node in self.down or self.frozen or not self.running:
            return
        self.down.add(node)
        for listener in self.on_status:
            listener(node, DOWN)

    def receive(self, message: dict[str, Any]) -> None:
        if self.frozen or not self.running:
            return
        node = message["from"]
        self.expect(node, self.env.now + self.config.grace_multiplier * self._period())
        if node in self.down:
            self.down.discard(node)
            for listener in self.on_status:
                listener(node, READY)

    def status(self, node: str) -> str:
        deadline = self.expiry.get(node)
        if deadline is None:
            return UNKNOWN
        if node in self.down:
            return DOWN
        return READY if self.env.now <= deadline else DOWN
