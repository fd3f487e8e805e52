"""Everything the data plane holds for one simulation: namespaces, the underlay, the clock."""

from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING, Iterator, Protocol

from .costs import DEFAULT_COSTS
from .flowcache import FlowCache
from .scheduler import InstantScheduler, Scheduler
from .state import Versioned
from .vectorized import Vectorizer

if TYPE_CHECKING:
    from .netns import Namespace
    from .switch import Switch


class Learner(Protocol):
    """Anything that learns from traffic: a namespace's stack, a device, a switch."""

    def learned(self) -> object: ...

    def relearn(self, learned: object) -> None: ...

    def flush_learned(self) -> None: ...


class World(Versioned):
    WATCHED = frozenset({"frozen", "costs", "host_costs", "switches", "namespaces"})

    def __init__(self) -> None:
        self.sched: Scheduler = InstantScheduler()
        self.namespaces: dict[tuple[str, str], "Namespace"] = {}  # by (host, name)
        self.switches: list["Switch"] = []
        self.frozen: set[str] = set()  # machines that neither send nor receive (node_fail)
        self.costs: dict[str, float] = dict(DEFAULT_COSTS)  # seconds, by kind (datapath.costs)
        self.host_costs: dict[str, dict[str, float]] = {}  # a host's own (hosts.NAME.costs), over those
        self.flowcache = FlowCache(self)  # traffic flows' paths, replayed (datapath.flowcache)
        self.vectorizer = Vectorizer(self)  # steady flows a window at a time (datapath.vectorized)

    def costs_of(self, host: str) -> dict[str, float]:
        return self.host_costs.get(host, self.costs)

    def learners(self) -> Iterator[Learner]:
        for ns in self.namespaces.values():
            yield ns
            yield from ns.devices.values()
        yield from self.switches

    def learned(self) -> list[tuple[Learner, object]]:
        """Everything traffic taught the world (neighbours, FDBs, connections), to hand back to
        ``relearn``: an instant query starts from a flushed world and leaves the timed one as it
        found it, so asking a question mid-run changes no later result of the run."""
        return [(learner, learner.learned()) for learner in self.learners()]

    def relearn(self, state: list[tuple[Learner, object]]) -> None:
        for learner, learned in state:
            learner.relearn(learned)

    def flush_learned(self) -> None:
        """Forget what traffic taught (resolved neighbours, learned FDB entries, conntrack).

        Queries at one instant start from the same state whatever ran before, which keeps
        results independent of query order; configuration (addresses, routes, rules, permanent
        neighbours, static FDB entries) stays.
        """
        for learner in self.learners():
            learner.flush_learned()

    @contextmanager
    def clock(self, sched: Scheduler) -> Iterator[Scheduler]:
        """Run the forwarding core on ``sched`` inside the block (an instant query's clock), and
        give the world its own clock back however the block ends."""
        saved, self.sched = self.sched, sched
        try:
            yield sched
        finally:
            self.sched = saved
