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
