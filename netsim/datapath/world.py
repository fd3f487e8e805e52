"""Everything the data plane holds for one simulation: namespaces, the underlay, the clock."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .bridge import Bridge
from .scheduler import InstantScheduler, Scheduler

if TYPE_CHECKING:
    from .netns import Namespace
    from .switch import Switch


class World:
    def __init__(self) -> None:
        self.sched: Scheduler = InstantScheduler()
        self.namespaces: dict[str, "Namespace"] = {}
        self.switches: list["Switch"] = []

    def learned(self) -> list[tuple[object, object]]:
        """Everything traffic taught the world (neighbours, FDBs, connections, sockets), to hand back
        to ``relearn``: an instant query starts from a flushed world and leaves the timed one as it
        found it, so asking a question mid-run changes no later result of the run."""
        state: list[tuple[object, object]] = []
        for ns in self.namespaces.values():
            state.append((ns, ns.learned()))
            state.extend((dev, dev.fdb) for dev in ns.devices.values() if isinstance(dev, Bridge))
        state.extend((switch, switch.fdb) for switch in self.switches)
        return state

    def relearn(self, state: list[tuple[object, object]]) -> None:
        for holder, learned in state:
            if hasattr(holder, "relearn"):
                holder.relearn(learned)
            else:
                holder.fdb = learned  # type: ignore[attr-defined]

    def flush_transient(self) -> None:
        """Forget everything learned from traffic (neighbours, FDBs, conntrack).

        Queries at one instant start from the same state whatever ran before, which keeps
        results independent of query order; configuration (addresses, routes, rules) stays.
        """
        for ns in self.namespaces.values():
            ns.flush_transient()
            for dev in ns.devices.values():
                if isinstance(dev, Bridge):
                    dev.flush()
        for switch in self.switches:
            switch.flush()
