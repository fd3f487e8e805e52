"""Time for the forwarding core: every hop is a call scheduled after a delay.

Devices never loop over packets themselves; they hand the next hop to a scheduler with
``call_later(delay, fn, skb)``.  ``InstantScheduler`` runs those calls from a heap as fast as
it can (reachability, traces); ``SimpyScheduler`` runs them in simulated time next to other
simpy processes (ping RTTs, traffic, the swarm's protocols).  One forwarding implementation,
two clocks.

A hop in simulated time is not a simpy event: a ``Timeout`` object, its callback list and a
closure per hop cost more than the hop's own work.  ``Environment`` keeps the packets' calls in a
heap of their own beside simpy's and merges the two in exactly simpy's order (time, then
priority, then the event id drawn from simpy's own counter), so users and the control plane
still see one simpy clock and a run is event for event what it was with one timeout per hop.
"""

from __future__ import annotations

import gc
import heapq
from contextlib import contextmanager
from itertools import count
from typing import Any, Callable, Iterator, Protocol

import simpy
from simpy.events import EventPriority

from .flowcache import note_call, note_call_at
from .state import STATE


class Scheduler(Protocol):
    #: whether this clock is the simulation's own (traffic queues, loss and timing count), or an
    #: instant query's (structure only: links neither queue nor lose)
    timed: bool

    @property
    def now(self) -> float: ...

    def call_later(self, delay: float, fn: Callable[..., Any], *args: Any) -> None: ...

    def call_at(self, when: float, fn: Callable[..., Any], *args: Any) -> None: ...


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

    def call_at(self, when: float, fn: Callable[..., Any], *args: Any) -> None:
        heapq.heappush(self._queue, (when, next(self._seq), fn, args))

    def run(self, until: float | None = None) -> None:
        queue = self._queue
        while queue:
            if until is not None and queue[0][0] > until:
                self._now = until
                return
            self._now, _, fn, args = heapq.heappop(queue)
            fn(*args)


NORMAL = 1  # simpy's priority for a timeout: URGENT (0) events at the same instant go first
_LAST = EventPriority(2)  # after every event of its instant, even those scheduled while they run


class Environment(simpy.Environment):
    """simpy's environment with a second heap for the forwarding core's calls (see the module)."""

    def __init__(self, initial_time: float = 0) -> None:
        super().__init__(initial_time)
        self._calls: list[tuple[float, int, int, Callable[..., Any], tuple[Any, ...]]] = []

    def call_at(self, when: float, fn: Callable[..., Any], *args: Any) -> None:
        heapq.heappush(self._calls, (when, NORMAL, next(self._eid), fn, args))

    def peek(self) -> float:
        calls = self._calls
        return min(calls[0][0], super().peek()) if calls else super().peek()

    def step(self) -> None:
        """Run the packets' calls that come before simpy's next event, then that event.

        A run's horizon is always one of simpy's events (``run(until=...)`` schedules one), so a
        batch of calls never passes it."""
        calls, events, pop = self._calls, self._queue, heapq.heappop
        while calls:
            call = calls[0]
            when = call[0]
            if events:
                head = events[0]
                if head[0] <= when and (head[0] < when or head[1] < NORMAL or (
                        head[1] == NORMAL and head[2] < call[2])):
                    break
            pop(calls)
            self._now = when
            call[3](*call[4])
        super().step()

    def run_through(self, until: float) -> None:
        """Run up to ``until`` and everything due at it, which ``run(until)`` leaves for later."""
        if until < self._now:
            return
        with young_collections_rarer():
            self._run_through(until)

    def _run_through(self, until: float) -> None:
        if until > self._now:
            self.run(until=until)
        last = self.event()
        last._ok, last._value = True, None
        self.schedule(last, _LAST, until - self._now)
        self.run(until=last)
        if self._queue and self._queue[0][3] is last:  # simpy puts back the event that stopped it
            heapq.heappop(self._queue)


#: Objects allocated between collections of the youngest generation while a simulation runs.
#: A run allocates small containers by the million (frames are nested tuples, rows dicts, and a
#: capture keeps every frame): at CPython's default of 700, collections cost as much as the
#: forwarding itself (measured with benchmarks/docker_path.py: 59k against 157k packets/s).
_YOUNG = 50_000


@contextmanager
def young_collections_rarer() -> Iterator[None]:
    saved = gc.get_threshold()
    gc.set_threshold(max(saved[0], _YOUNG), *saved[1:])
    try:
        yield
    finally:
        gc.set_threshold(*saved)


class SimpyScheduler:
    timed = True

    def __init__(self, env: Environment) -> None:
        self.env = env

    @property
    def now(self) -> float:
        return float(self.env.now)

    def call_later(self, delay: float, fn: Callable[..., Any], *args: Any) -> None:
        env = self.env
        if STATE.recording:
            note_call(delay, fn, args)
        env.call_at(env._now + delay, fn, *args)

    def call_at(self, when: float, fn: Callable[..., Any], *args: Any) -> None:
        if STATE.recording:
            note_call_at(fn, args)
        self.env.call_at(when, fn, *args)
