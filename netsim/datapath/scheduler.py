"""Time for the forwarding core: every hop is a call scheduled after a delay.

Devices never loop over packets themselves; they hand the next hop to a scheduler with
``call_later(delay, fn, skb)``.  ``InstantScheduler`` runs those calls from a heap as fast as
it can (reachability, traces); ``SimpyScheduler`` turns each one into a simpy timeout so the
same hops happen in simulated time next to other simpy processes (ping RTTs, traffic).
One forwarding implementation, two clocks.
"""

from __future__ import annotations

import heapq
from itertools import count
from typing import Any, Callable, Protocol

import simpy


class Scheduler(Protocol):
    #: whether this clock is the simulation's own (traffic queues, loss and timing count), or an
    #: instant query's (structure only: links neither queue nor lose)
    timed: bool

    @property
    def now(self) -> float: ...

    def call_later(self, delay: float, fn: Callable[..., Any], *args: Any) -> None: ...


class InstantScheduler:
    """A heap of (time, sequence, call): ties run in the order they were scheduled."""

    timed = False

    def __init__(self, start: float = 0.0) -> None:
        self._now = start
        self._queue: list[tuple[float, int, Callable[..., Any], tuple[Any, ...]]] = []
        self._seq = count()

    @property
    def now(self) -> float:
        return self._now

    def call_later(self, delay: float, fn: Callable[..., Any], *args: Any) -> None:
        heapq.heappush(self._queue, (self._now + delay, next(self._seq), fn, args))

    def run(self, until: float | None = None) -> None:
        queue = self._queue
        while queue:
            if until is not None and queue[0][0] > until:
                self._now = until
                return
            self._now, _, fn, args = heapq.heappop(queue)
            fn(*args)


class SimpyScheduler:
    timed = True

    def __init__(self, env: simpy.Environment) -> None:
        self.env = env

    @property
    def now(self) -> float:
        return float(self.env.now)

    def call_later(self, delay: float, fn: Callable[..., Any], *args: Any) -> None:
        self.env.timeout(delay).callbacks.append(lambda _event: fn(*args))
